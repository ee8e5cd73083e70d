"""Firing chain callbacks on any number of handlers, with each handler isolated.

A handler is a mapping from callback name to a callable, or any object with methods of those
names. ``fire(handlers, name, chain, *args)`` calls every handler that has ``name``, in order.
A handler that raises does not stop the others or the chain: the error is counted and logged
once per (handler, callback), never raised into the chain and never silently lost.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_log = logging.getLogger("llmotel")

CALLBACK_NAMES: tuple[str, ...] = (
    "on_llm_new_delta",
    "on_llm_new_message",
    "on_llm_ratelimit_info",
    "on_llm_token_usage",
    "on_llm_response_headers",
    "on_message_processed",
    "on_message_processing_error",
    "on_error_message_created",
    "on_tool_call_identified",
    "on_tool_execution_started",
    "on_tool_execution_completed",
    "on_tool_execution_failed",
    "on_tool_response_created",
    "on_retries_exceeded",
)
"""Every callback of the set, in lifecycle order."""

Handler = Mapping[str, Callable[..., Any]] | object

_lock = threading.Lock()
_errors: Counter[str] = Counter()
_logged: set[str] = set()


def _callable_for(handler: Handler, name: str) -> Callable[..., Any] | None:
    if isinstance(handler, Mapping):
        fn = handler.get(name)
    else:
        fn = getattr(handler, name, None)
    return fn if callable(fn) else None


def _handler_name(handler: Handler) -> str:
    return "handler map" if isinstance(handler, Mapping) else type(handler).__qualname__


def fire(handlers: Iterable[Handler] | Handler, name: str, chain: Any, *args: Any) -> None:
    """Call callback ``name`` as ``fn(chain, *args)`` on every handler that defines it."""
    if isinstance(handlers, Mapping) or not isinstance(handlers, Iterable):
        handlers = (handlers,)
    for handler in handlers:
        fn = _callable_for(handler, name)
        if fn is None:
            continue
        try:
            fn(chain, *args)
        except Exception as exc:
            kind = f"{_handler_name(handler)}.{name}"
            with _lock:
                _errors[kind] += 1
                first = kind not in _logged
                _logged.add(kind)
            if first:
                _log.warning(
                    "llmotel: callback %s raised; the other handlers and the chain went on (logged once)",
                    kind,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )


def handler_error_counts() -> dict[str, int]:
    """How many times each (handler, callback) raised, since start or the last reset."""
    with _lock:
        return dict(_errors)


def reset_handler_errors() -> None:
    """Forget counted handler errors (tests)."""
    with _lock:
        _errors.clear()
        _logged.clear()


class Callbacks:
    """A list of handlers with a ``fire`` method: ``callbacks.fire("on_llm_new_delta", chain, deltas)``."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers: list[Handler] = list(handlers)

    def add(self, handler: Handler) -> None:
        """Add a handler (fired after the ones already there)."""
        self.handlers.append(handler)

    def fire(self, name: str, chain: Any, *args: Any) -> None:
        """Fire ``name`` on every handler."""
        fire(self.handlers, name, chain, *args)
