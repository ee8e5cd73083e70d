"""``LangChainInstrumentor``: every LangChain run traced without ``callbacks=`` in user code.

It uses LangChain's own extension point, ``register_configure_hook``: each time a callback manager
is configured (every ``invoke`` / ``stream`` / ...), LangChain asks each hook's variable for a
handler and adds it, as an inheritable handler, unless a handler of that class is already there
(so a user's own ``LlmotelCallbackHandler`` in ``config["callbacks"]`` is not doubled). Our
"variable" is a small object whose ``get()`` returns the handler while instrumented and ``None``
after ``uninstrument()``, in every thread and task.

Importing this module does not import LangChain: when ``langchain_core`` is not imported yet,
``instrument()`` waits for its import (a post-import hook), so ``opentelemetry-instrument`` does
not load LangChain into applications that never use it.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from llmotel._safety import internal_error

__all__ = ["LangChainInstrumentor"]

_log = logging.getLogger("llmotel")


class _HandlerSlot:
    """Read by LangChain like a ``ContextVar``: ``get()`` is the handler, or ``None`` when off."""

    def __init__(self) -> None:
        self.handler: Any = None
        self.options: dict[str, Any] | None = None
        self.registered = False
        self.waiting = False
        self.lock = threading.Lock()

    def get(self) -> Any:
        return self.handler


_SLOT = _HandlerSlot()


def _activate() -> None:
    """Create the handler and register the configure hook (once per process)."""
    from langchain_core.tracers.context import register_configure_hook

    from llmotel.integrations.langchain.handler import LlmotelCallbackHandler

    with _SLOT.lock:
        options = _SLOT.options
        if options is None:  # uninstrumented before LangChain was imported
            return
        _SLOT.handler = LlmotelCallbackHandler(**options)
        if not _SLOT.registered:
            register_configure_hook(_SLOT, True, LlmotelCallbackHandler)  # type: ignore[arg-type]
            _SLOT.registered = True


def _on_import(module: Any) -> None:
    try:
        _activate()
    except Exception as exc:
        internal_error("langchain instrument", exc)


class LangChainInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """``LangChainInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` adds one
    ``LlmotelCallbackHandler`` to every LangChain run; ``uninstrument()`` stops adding it."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """langchain-core with ``register_configure_hook``."""
        return ("langchain-core >= 0.3.10",)

    def _instrument(self, **kwargs: Any) -> None:
        options: dict[str, Any] = {
            "tracer_provider": kwargs.get("tracer_provider"),
            "meter_provider": kwargs.get("meter_provider"),
            "logger_provider": kwargs.get("logger_provider"),
        }
        for name in ("chain_spans", "attach_context", "max_runs"):
            if name in kwargs:
                options[name] = kwargs[name]
        with _SLOT.lock:
            _SLOT.options = options
        if "langchain_core" in sys.modules:
            _activate()
            return
        if importlib.util.find_spec("langchain_core") is None:
            _log.debug("llmotel: langchain-core is not installed; LangChain instrumentation is a no-op")
            return
        with _SLOT.lock:
            if _SLOT.waiting:
                return
            _SLOT.waiting = True
        wrapt.register_post_import_hook(_on_import, "langchain_core")

    def _uninstrument(self, **kwargs: Any) -> None:
        with _SLOT.lock:
            _SLOT.options = None
            _SLOT.handler = None
