"""Chain spans: the part of telemetry that chain callbacks drive.

A ``ChainRun`` is one ``invoke_workflow``/``invoke_agent`` span in flight. LLM spans started under
it (the decorators, framework bridges) register themselves as its active LLM calls, so callbacks
fired with the chain (from any thread or task) land on the right span. Tool executions become
``execute_tool {name}`` child spans (``telemetry.tools``), paired by tool-call id (falling back to
the name). All per-run state is bounded and released when the chain span ends.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.records import Chain, Usage
from llmotel.telemetry.attributes import error_type
from llmotel.telemetry.context import (
    Context,
    RunMap,
    attach_context,
    chain_context,
    conversation_in,
    current_chain_run,
    detach_context,
)
from llmotel.telemetry.errors import record_error, set_error_status
from llmotel.telemetry.events import add_event
from llmotel.telemetry.spans import LLMSpan, tracer_for
from llmotel.telemetry.tools import MAX_IDENTIFIED, MAX_OPEN_TOOLS, ToolSpans

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_ACTIVE_RUNS",
    "MAX_IDENTIFIED",
    "MAX_OPEN_TOOLS",
    "ChainRun",
    "ToolSpans",
    "add_event",
    "tracer_for",
]

_MAX_INT64 = 2**63 - 1
MAX_ACTIVE_RUNS = 4096

_runs_by_chain: RunMap[int, ChainRun] = RunMap(MAX_ACTIVE_RUNS)
"""Runs by ``id()`` of the user's chain object (``chain=``); the oldest is forgotten beyond the bound."""


class ChainRun:
    """One chain span in flight (``invoke_workflow`` / ``invoke_agent``), started from a ``Chain``
    record (or just a name); ``chain=`` routes callbacks fired with that object to it."""

    def __init__(
        self,
        chain_record: Chain | str,
        *,
        chain: Any = None,
        tracer: trace.Tracer | None = None,
        parent: Context | None = None,
    ) -> None:
        spec = chain_record if isinstance(chain_record, Chain) else Chain(chain_record)
        self.name = name = spec.name
        self.tracer = tracer or tracer_for()
        operation = sc.OP_INVOKE_AGENT if spec.agent else sc.OP_INVOKE_WORKFLOW
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation}
        if spec.agent:
            attrs[sc.GEN_AI_AGENT_NAME] = name
            attrs[sc.GEN_AI_PROVIDER_NAME] = spec.provider or "unknown"
        else:
            attrs[sc.GEN_AI_WORKFLOW_NAME] = name
        if spec.attributes:
            attrs.update(spec.attributes)
        conversation = spec.conversation_id or conversation_in(parent)
        if conversation is not None:
            attrs[sc.GEN_AI_CONVERSATION_ID] = conversation
        self.span = self.tracer.start_span(
            f"{operation} {name}" if name else operation, context=parent, kind=SpanKind.INTERNAL, attributes=attrs
        )
        self.context = chain_context(self, self.span, parent, spec.conversation_id)
        """The context the chain's children start in."""
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
        return attach_context(self.context)

    @staticmethod
    def detach(token: object) -> None:
        """Undo ``attach``."""
        detach_context(token)

    def context_in(self, base: Context | None = None) -> Context:
        """``base`` (default: current) with the chain span current and this run as the chain run."""
        return chain_context(self, self.span, base)

    def set_attribute(self, key: str, value: Any) -> None:
        """An attribute a producer adds to the chain span."""
        if not self.ended:
            self.span.set_attribute(key, value)

    def add_event(self, name: str, attributes: Mapping[str, Any]) -> None:
        """A callback event on the chain span."""
        add_event(self.span, name, attributes)

    # --- lookup ------------------------------------------------------------------------------

    def register(self, chain: Any) -> None:
        """Route callbacks fired with ``chain`` (the user's chain object) to this run."""
        self._chain_id = id(chain)
        _runs_by_chain.add(id(chain), self)

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
        current = current_chain_run()
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

    def abandon(self, marker: str) -> None:
        """End a run its producer will never finish (evicted, detached): ``marker=true`` on it."""
        self.set_attribute(marker, True)
        self.end()

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
                set_error_status(self.span, self.failure)
        finally:
            self.span.end()
        if self._chain_id is not None:
            _runs_by_chain.discard(self._chain_id, self)
        with self._lock:
            self._llm.clear()
