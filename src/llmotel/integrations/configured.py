"""Any class, by configuration: ``LLMOTEL_INSTRUMENT`` names methods to trace without code changes.

Format: comma-separated ``module:Qualified.name=operation`` entries, for example
``mypkg.llm:MyLLM.chat=chat,mypkg.llm:MyLLM.stream_complete=text_completion``. The operation is
optional (default ``chat``). Each method is wrapped with the same wrapper as ``llmotel.trace_chat``
(the shape — sync, async, generator, async generator — is read from the method), when its module
is imported. A name that does not resolve is reported with a warning.
"""

from __future__ import annotations

import logging
import os
from importlib.util import find_spec
from typing import Any

from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFn
from llmotel.wrap.decorators import CallSpec

_log = logging.getLogger("llmotel")

INSTRUMENT_ENV = "LLMOTEL_INSTRUMENT"


class ConfigError(ValueError):
    """An ``LLMOTEL_INSTRUMENT`` entry that cannot be understood."""


def parse(spec: str) -> list[tuple[str, str, str]]:
    """``(module, attribute, operation)`` for each entry of an ``LLMOTEL_INSTRUMENT`` value."""
    entries = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        target, _, operation = item.partition("=")
        module, sep, attribute = target.strip().partition(":")
        if not sep or not module or not attribute:
            raise ConfigError(f"{INSTRUMENT_ENV} entry {item!r} is not 'module:Class.method[=operation]'")
        entries.append((module.strip(), attribute.strip(), operation.strip() or sc.OP_CHAT))
    return entries


def _factory(operation: str) -> Any:
    def factory(options: dict[str, Any], original: Any) -> WrapperFn:
        spec = CallSpec(
            operation,
            provider=options.get("provider"),
            tracer_provider=options.get("tracer_provider"),
            meter_provider=options.get("meter_provider"),
            logger_provider=options.get("logger_provider"),
        )
        return spec.wrapper_for(original)

    return factory


class ConfiguredInstrumentor(PatchingInstrumentor):
    """Traces the methods named in ``LLMOTEL_INSTRUMENT`` (entry point ``llmotel_configured``).

    ``instrument(targets="mod:Cls.meth=chat,...")`` takes the list directly instead of the variable.
    """

    library = "configured classes"
    distribution = "llmotel"

    def library_available(self) -> bool:
        return True

    def instrumentation_dependencies(self) -> tuple[str, ...]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        spec = kwargs.get("targets")
        if spec is None:
            spec = os.environ.get(INSTRUMENT_ENV, "")
        try:
            entries = parse(spec)
        except ConfigError as exc:
            _log.warning("llmotel: %s", exc)
            entries = []
        for module, _, _ in entries:
            if find_spec(module.split(".")[0]) is None:
                _log.warning("llmotel: %s names module %r, which is not installed", INSTRUMENT_ENV, module)
        self.patches = tuple(Patch(m, a, _factory(op)) for m, a, op in entries)
        super()._instrument(**kwargs)

    def missing(self, patch: Patch) -> None:
        """A configured name that does not resolve is the user's typo: say so at warning level."""
        _log.warning("llmotel: %s: %s has no attribute %r; not traced", INSTRUMENT_ENV, patch.module, patch.attribute)


def post_instrument() -> None:
    """``opentelemetry_post_instrument`` hook: apply ``LLMOTEL_INSTRUMENT`` under
    ``opentelemetry-instrument`` even when the loader skipped ``llmotel_configured`` because none of
    the supported libraries is installed (the ``instruments-any`` check)."""
    if not os.environ.get(INSTRUMENT_ENV, "").strip():
        return
    disabled = {n.strip() for n in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    if "llmotel_configured" in disabled or "*" in disabled:
        return
    instrumentor = ConfiguredInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
