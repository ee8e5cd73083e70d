"""Chain spans and tool spans: the part of telemetry that chain callbacks drive.

A ``ChainRun`` is one ``invoke_workflow``/``invoke_agent`` span in flight. LLM spans started under
it (the decorators, framework bridges) register themselves as its active LLM calls, so callbacks
fired with the chain (from any thread or task) land on the right span. Tool executions become
``execute_tool {name}`` child spans, paired by tool-call id (falling back to the name). All
per-run state is bounded and released when the chain span ends.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel._version import __version__
from llmotel.config import settings
from llmotel.records import Usage
from llmotel.telemetry.attributes import bounded_json, error_type
from llmotel.telemetry.spans import (
    CHAIN_RUN_KEY,
    EVENT_LOCK,
    INSTRUMENTATION_NAME,
    SCHEMA_URL,
    LLMSpan,
    record_error,
    safe_str,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_OPEN_TOOLS = 256
"""Open tool spans kept per run (or per handler outside a chain); the oldest is ended beyond it."""
MAX_IDENTIFIED = 256
_MAX_INT64 = 2**63 - 1
MAX_ACTIVE_RUNS = 4096

_registry_lock = threading.Lock()
_runs_by_chain: OrderedDict[int, ChainRun] = OrderedDict()


def tracer_for(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """llmotel's tracer (global provider unless one is given)."""
    return trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider, schema_url=SCHEMA_URL)


def add_event(span: trace.Span, name: str, attributes: Mapping[str, Any]) -> None:
    """Add a callback event, ordered with every other callback event (explicit, monotonic stamp)."""
    if span.is_recording():
        with EVENT_LOCK:
            span.add_event(name, attributes, timestamp=time_ns())


def _json(value: Any) -> str:
    return bounded_json([value], settings().content_max_length)[1:-1] or "null"


class ToolSpans:
    """Open ``execute_tool`` spans keyed by call id (or name), bounded."""

    __slots__ = ("_lock", "_open", "identified", "tracer")

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self._open: OrderedDict[str, trace.Span] = OrderedDict()
        self.identified: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(facts: Mapping[str, Any]) -> str:
        return str(facts.get("call_id") or facts.get("name"))

    def identify(self, facts: Mapping[str, Any]) -> None:
        with self._lock:
            self.identified[self.key(facts)] = str(facts.get("name"))
            while len(self.identified) > MAX_IDENTIFIED:
                self.identified.popitem(last=False)

    def start(self, facts: Mapping[str, Any], parent: otel_context.Context | None, capture: bool) -> trace.Span:
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: facts["name"],
            sc.GEN_AI_TOOL_TYPE: facts.get("type") or "function",
        }
        if facts.get("call_id"):
            attrs[sc.GEN_AI_TOOL_CALL_ID] = facts["call_id"]
        if facts.get("description"):
            attrs[sc.GEN_AI_TOOL_DESCRIPTION] = facts["description"]
        if capture and facts.get("arguments") is not None:
            attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(facts["arguments"])
        span = self.tracer.start_span(
            f"{sc.OP_EXECUTE_TOOL} {facts['name']}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs
        )
        key = self.key(facts)
        evicted: list[trace.Span] = []
        with self._lock:
            self.identified.pop(key, None)
            previous = self._open.pop(key, None)
            if previous is not None:
                evicted.append(previous)
            self._open[key] = span
            while len(self._open) > MAX_OPEN_TOOLS:
                evicted.append(self._open.popitem(last=False)[1])
        for old in evicted:
            _abandon(old)
        return span

    def pop(self, facts: Mapping[str, Any]) -> trace.Span | None:
        key = self.key(facts)
        with self._lock:
            span = self._open.pop(key, None)
            if span is None and facts.get("call_id"):  # started without an id, finished with one
                span = self._open.pop(str(facts.get("name")), None)
        return span

    def close_all(self) -> int:
        """End every still-open tool span (abandoned); return how many identified calls never started."""
        with self._lock:
            spans = list(self._open.values())
            self._open.clear()
            never_started = len(self.identified)
            self.identified.clear()
        for span in spans:
            _abandon(span)
        return never_started


def _abandon(span: trace.Span) -> None:
    span.set_attribute("llmotel.tool.completed", False)
    span.end()


def complete_tool(span: trace.Span, result: Any, capture: bool) -> None:
    """The tool finished: OK status, result with content capture. The span always ends."""
    try:
        span.set_attribute("llmotel.tool.completed", True)
        span.set_status(Status(StatusCode.OK))
        if capture and result is not None:
            span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, _json(result))
    finally:
        span.end()


def fail_tool(span: trace.Span, error: Any, error_kind: str) -> None:
    """The tool raised or returned an error: ERROR status with ``error.type``. The span always ends.

    An exception is recorded as exceptions are (an ``exception`` event). An error the tool
    *returned* (a message, a dict) is tool output, so its text is content: it becomes the status
    description only with content capture on; otherwise the description is the error type.
    """
    try:
        span.set_attribute(sc.ERROR_TYPE, error_kind)
        span.set_attribute("llmotel.tool.completed", True)
        if isinstance(error, BaseException):
            record_error(span, error, escaped=False)
        else:
            text = safe_str(error)[:512] if settings().capture_content else error_kind
            span.set_status(Status(StatusCode.ERROR, text))
    finally:
        span.end()


class ChainRun:
    """One chain span in flight (``invoke_workflow`` / ``invoke_agent``)."""

    def __init__(
        self,
        name: str,
        *,
        agent: bool = False,
        provider: str | None = None,
        chain: Any = None,
        attributes: Mapping[str, Any] | None = None,
        tracer: trace.Tracer | None = None,
        parent: otel_context.Context | None = None,
    ) -> None:
        self.name = name
        self.tracer = tracer or tracer_for()
        operation = sc.OP_INVOKE_AGENT if agent else sc.OP_INVOKE_WORKFLOW
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation}
        if agent:
            attrs[sc.GEN_AI_AGENT_NAME] = name
            attrs[sc.GEN_AI_PROVIDER_NAME] = provider or "unknown"
        else:
            attrs[sc.GEN_AI_WORKFLOW_NAME] = name
        if attributes:
            attrs.update(attributes)
        self.span = self.tracer.start_span(
            f"{operation} {name}" if name else operation, context=parent, kind=SpanKind.INTERNAL, attributes=attrs
        )
        self.context = otel_context.set_value(CHAIN_RUN_KEY, self, trace.set_span_in_context(self.span, parent))
        self.tools = ToolSpans(self.tracer)
        self._lock = threading.Lock()
        self._llm: list[LLMSpan] = []
        self.usage = Usage()
        self.failure: str | None = None
        self.ended = False
        self._chain_id: int | None = None
        if chain is not None:
            self.register(chain)

    # --- context -----------------------------------------------------------------------------

    def attach(self) -> object:
        """Make the chain span current (pair with ``detach`` in the same frame or task)."""
        return otel_context.attach(self.context)

    @staticmethod
    def detach(token: object) -> None:
        """Undo ``attach``."""
        otel_context.detach(token)  # type: ignore[arg-type]

    # --- lookup ------------------------------------------------------------------------------

    def register(self, chain: Any) -> None:
        """Route callbacks fired with ``chain`` (the user's chain object) to this run."""
        self._chain_id = id(chain)
        with _registry_lock:
            _runs_by_chain[id(chain)] = self
            while len(_runs_by_chain) > MAX_ACTIVE_RUNS:
                _runs_by_chain.popitem(last=False)

    @staticmethod
    def for_chain(chain: Any) -> ChainRun | None:
        """The run a callback's chain argument belongs to: the run itself, a registered chain
        object, or the chain span the current code runs under."""
        if isinstance(chain, ChainRun):
            return chain
        if chain is not None:
            run = _runs_by_chain.get(id(chain))
            if run is not None:
                return run
        current = otel_context.get_value(CHAIN_RUN_KEY)
        return current if isinstance(current, ChainRun) else None

    # --- LLM spans under this run ------------------------------------------------------------

    def llm_started(self, llm: LLMSpan) -> None:
        with self._lock:
            self._llm.append(llm)
            if len(self._llm) > 64:
                del self._llm[0]

    def llm_finished(self, llm: LLMSpan) -> None:
        with self._lock:
            if llm in self._llm:
                self._llm.remove(llm)
        if llm.call.usage is not None and llm.call.usage is not self.usage:
            self.add_usage(llm.call.usage, from_llm=True)

    def active_llm(self) -> LLMSpan | None:
        with self._lock:
            return self._llm[-1] if self._llm else None

    def add_usage(self, usage: Usage, *, from_llm: bool = False) -> None:
        """Add to the chain's running token totals."""
        with self._lock:
            if usage.input_tokens is not None:
                self.usage.input_tokens = min(_MAX_INT64, (self.usage.input_tokens or 0) + usage.input_tokens)
            if usage.output_tokens is not None:
                self.usage.output_tokens = min(_MAX_INT64, (self.usage.output_tokens or 0) + usage.output_tokens)
            totals = {
                k: v
                for k, v in (
                    (sc.GEN_AI_USAGE_INPUT_TOKENS, self.usage.input_tokens),
                    (sc.GEN_AI_USAGE_OUTPUT_TOKENS, self.usage.output_tokens),
                )
                if v is not None
            }
        if totals and not self.ended:
            self.span.set_attributes(totals)

    # --- end ---------------------------------------------------------------------------------

    def fail(self, failure: str) -> None:
        """Mark the chain as failed (e.g. ``retries_exceeded``); applied when the span ends."""
        self.failure = failure

    def end(self, exc: BaseException | None = None) -> None:
        """End the chain span (once): close open tools, apply failure status, release state."""
        with self._lock:
            if self.ended:
                return
            self.ended = True
        try:
            never_started = self.tools.close_all()
            if never_started:
                self.span.set_attribute("llmotel.chain.tools_never_started", never_started)
        except Exception as internal:
            internal_error("chain end", internal)
        try:
            if exc is not None:
                self.span.set_attribute(sc.ERROR_TYPE, error_type(exc))
                record_error(self.span, exc)
            elif self.failure is not None:
                self.span.set_attribute(sc.ERROR_TYPE, self.failure)
                self.span.set_status(Status(StatusCode.ERROR, self.failure))
        finally:
            self.span.end()
        with _registry_lock:
            if self._chain_id is not None and _runs_by_chain.get(self._chain_id) is self:
                del _runs_by_chain[self._chain_id]
        with self._lock:
            self._llm.clear()
