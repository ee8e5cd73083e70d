"""``TracingHandler``: records every chain callback in the trace, on the right span.

Routing: a callback lands on the LLM span that is active for its chain (an llmotel LLM span in
flight under the chain span, or the one the current code runs in), else on the chain span, else
on the current span. Tool executions become ``execute_tool`` child spans of the chain span.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmotel._safety import internal_error
from llmotel.config import settings
from llmotel.extract import callbacks as cx
from llmotel.extract import content as content_map
from llmotel.records import ToolCall
from llmotel.telemetry import attributes as attrs_
from llmotel.telemetry.chains import ChainRun
from llmotel.telemetry.context import Context, current_span
from llmotel.telemetry.errors import bounded_text
from llmotel.telemetry.events import add_event
from llmotel.telemetry.spans import LLMSpan, active_llm_span, tracer_for
from llmotel.telemetry.tools import ToolRun, ToolSpans

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

_log = logging.getLogger("llmotel")

PREFIX = "llmotel."
_MAX_DELTA_EVENTS_FLOOR = 4
_lock = threading.Lock()
_unrouted_counts: Counter[str] = Counter()


def _unrouted(name: str) -> None:
    """A callback with nowhere to go: no chain span for its chain object, no span current (a chain
    started without ``chain=``, fired from a thread that does not carry the context). Counted, and
    said once."""
    with _lock:
        first = not _unrouted_counts
        _unrouted_counts[name] += 1
    if first:
        _log.warning(
            "llmotel: a %s callback had no span to go on (its chain was started without chain=, and it "
            "was fired where no span is current: another thread without the context?); such callbacks "
            "are counted in llmotel.callbacks.unrouted_counts() (said once)",
            name,
        )


def unrouted_counts() -> dict[str, int]:
    """How many callbacks of each kind had no span to be recorded on (see ``TracingHandler``)."""
    with _lock:
        return dict(_unrouted_counts)


def reset_unrouted_counts() -> None:
    """Forget the counts (tests)."""
    with _lock:
        _unrouted_counts.clear()


class TracingHandler:
    """The handler that turns chain callbacks into span events and tool spans.

    Add it to a chain's handlers next to your own: ``fire([mine, TracingHandler()], ...)``.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer = tracer_for(tracer_provider)
        self._tools = ToolSpans(self._tracer)  # tools fired outside any chain span
        self._delta_counts: dict[int, int] = {}

    # --- routing -----------------------------------------------------------------------------

    def _targets(self, chain: Any) -> tuple[ChainRun | None, LLMSpan | None]:
        run = ChainRun.for_chain(chain)
        llm = active_llm_span()
        if llm is None and run is not None:
            llm = run.active_llm()
        return run, llm

    def _event(self, chain: Any, name: str, attributes: dict[str, Any], *, llm_first: bool = True) -> None:
        run, llm = self._targets(chain)
        if llm_first and llm is not None:
            llm.add_event(PREFIX + name, attributes)
        elif run is not None:
            add_event(run.span, PREFIX + name, attributes)
        else:
            span = current_span()
            if span.get_span_context().is_valid:  # (an unsampled span drops it by sampling: not counted)
                add_event(span, PREFIX + name, attributes)
            else:
                _unrouted(name)

    def _guard(self, kind: str, exc: Exception) -> None:
        internal_error(f"callback {kind}", exc)

    # --- model-level callbacks ---------------------------------------------------------------

    def on_llm_new_delta(self, chain: Any, deltas: Any) -> None:
        """Deltas arrived: a bounded number of delta events (first ones, then at powers of two)."""
        try:
            texts = cx.delta_texts(deltas)
            run, llm = self._targets(chain)
            owner: Any = llm or run
            span = owner.span if owner is not None else current_span()
            key = span.get_span_context().span_id  # unique per span, unlike id() of a finished one
            n = self._delta_counts.get(key, 0) + 1
            if len(self._delta_counts) > 1024:
                self._delta_counts.clear()
            self._delta_counts[key] = n
            cap = settings().stream_chunk_events
            if n > cap or (n > _MAX_DELTA_EVENTS_FLOOR and n & (n - 1)):
                return
            attributes: dict[str, Any] = {
                "llmotel.delta.index": n - 1,
                "llmotel.delta.count": len(texts),
                "llmotel.delta.size": sum(len(t) for t in texts),
            }
            if settings().capture_content:
                attributes["llmotel.delta.content"] = bounded_text("".join(texts), settings().content_max_length)
            self._event(chain, "llm.new_delta", attributes)
        except Exception as exc:
            self._guard("on_llm_new_delta", exc)

    def on_llm_new_message(self, chain: Any, message: Any) -> None:
        """A non-streaming LLM returned a full message."""
        self._message_event(chain, "llm.new_message", message, llm_first=True)

    def on_llm_ratelimit_info(self, chain: Any, info: Any) -> None:
        """Rate-limit figures: an event, and the latest figures as attributes of the LLM span."""
        self._facts_event(chain, "llm.ratelimit_info", cx.ratelimit_attributes, info)

    def on_llm_token_usage(self, chain: Any, usage: Any) -> None:
        """Token usage: on the LLM span (merged into its record) and into the chain's totals."""
        try:
            parsed = cx.usage_of(usage)
            facts: dict[str, Any] = {}
            if parsed is not None:
                attrs_.usage_attributes(parsed, facts)
            self._event(chain, "llm.token_usage", facts)
            if parsed is None:
                return
            run, llm = self._targets(chain)
            if llm is not None:
                llm.add_usage(parsed)  # reaches the chain's totals when the LLM span ends
            elif run is not None:
                run.add_usage(parsed)
            else:
                span = current_span()
                if span.is_recording():
                    span.set_attributes(facts)
        except Exception as exc:
            self._guard("on_llm_token_usage", exc)

    def on_llm_response_headers(self, chain: Any, headers: Any) -> None:
        """Response headers: allow-listed facts only (request id, timing, rate limits)."""
        self._facts_event(chain, "llm.response_headers", cx.header_attributes, headers)

    def _facts_event(self, chain: Any, name: str, read: Callable[[Any], dict[str, Any]], value: Any) -> None:
        """An event with the facts ``read`` finds in ``value``, also set on the LLM span."""
        try:
            facts = read(value)
            self._event(chain, name, facts)
            self._set_on_llm(chain, facts)
        except Exception as exc:
            self._guard("on_" + name.replace(".", "_"), exc)

    def _set_on_llm(self, chain: Any, facts: dict[str, Any]) -> None:
        if not facts:
            return
        run, llm = self._targets(chain)
        span = llm.span if llm is not None else run.span if run is not None else current_span()
        if span.is_recording():
            span.set_attributes(facts)

    # --- chain-level callbacks ---------------------------------------------------------------

    def on_message_processed(self, chain: Any, message: Any) -> None:
        """The chain finished processing an assistant message."""
        self._message_event(chain, "chain.message_processed", message, llm_first=False)

    def on_message_processing_error(self, chain: Any, message: Any) -> None:
        """Processing a received message failed."""
        self._message_event(chain, "chain.message_processing_error", message, llm_first=False)

    def on_error_message_created(self, chain: Any, message: Any) -> None:
        """The chain made an automatic reply to an LLM error."""
        self._message_event(chain, "chain.error_message_created", message, llm_first=False)

    def on_tool_response_created(self, chain: Any, message: Any) -> None:
        """Tool results were assembled into a tool message."""
        self._message_event(chain, "chain.tool_response_created", message, llm_first=False)

    def _message_event(self, chain: Any, name: str, message: Any, *, llm_first: bool) -> None:
        try:
            facts = cx.message_facts(message)
            if settings().capture_content:
                facts["llmotel.message.content"] = attrs_.bounded_json(
                    [content_map.message(message)], settings().content_max_length
                )
            self._event(chain, name, facts, llm_first=llm_first)
        except Exception as exc:
            self._guard(name, exc)

    def on_retries_exceeded(self, chain: Any) -> None:
        """The chain gave up: an event, and the chain span will end with ERROR."""
        try:
            self._event(chain, "chain.retries_exceeded", {}, llm_first=False)
            run = ChainRun.for_chain(chain)
            if run is not None:
                run.fail("retries_exceeded")
        except Exception as exc:
            self._guard("on_retries_exceeded", exc)

    # --- tools -------------------------------------------------------------------------------

    def _tool_state(self, chain: Any) -> tuple[ChainRun | None, ToolSpans]:
        run = ChainRun.for_chain(chain)
        return run, (run.tools if run is not None else self._tools)

    def on_tool_call_identified(self, chain: Any, tool_call: Any, function: Any = None) -> None:
        """A tool call was recognised in the stream: an event (and remembered until it starts)."""
        try:
            tool = ToolCall(**cx.tool_call_facts(tool_call, function))
            _, tools = self._tool_state(chain)
            tools.identify(tool)
            event = {"gen_ai.tool.name": tool.name}
            if tool.call_id:
                event["gen_ai.tool.call.id"] = tool.call_id
            self._event(chain, "tool.call_identified", event)
        except Exception as exc:
            self._guard("on_tool_call_identified", exc)

    def on_tool_execution_started(self, chain: Any, tool_call: Any, function: Any = None) -> None:
        """A tool started: an ``execute_tool {name}`` span, child of the chain span."""
        try:
            tool = ToolCall(**cx.tool_call_facts(tool_call, function))
            run, tools = self._tool_state(chain)
            tools.start(tool, run.context if run is not None else None)
        except Exception as exc:
            self._guard("on_tool_execution_started", exc)

    def _open_tool(self, chain: Any, tool_call: Any) -> ToolRun:
        """The tool run a completion or failure ends (one of zero length if it never started)."""
        tool = ToolCall(**cx.tool_call_facts(tool_call))
        _, tools = self._tool_state(chain)
        run = tools.pop(tool)
        if run is None:  # ended without a start: a complete span of zero length
            run = tools.start(tool, self._parent(chain))
            tools.pop(tool)
        return run

    def on_tool_execution_completed(self, chain: Any, tool_call: Any, result: Any = None) -> None:
        """The tool finished: its span ends OK (result recorded with content capture)."""
        try:
            tool = self._open_tool(chain, tool_call)
            content = None
            try:
                if tool.capture:
                    content = cx.tool_result_content(result)
            finally:  # a result that cannot be read loses its content, never its span's end
                tool.complete(content)
        except Exception as exc:
            self._guard("on_tool_execution_completed", exc)

    def on_tool_execution_failed(self, chain: Any, tool_call: Any, error: Any = None) -> None:
        """The tool raised or returned an error: its span ends ERROR with ``error.type``."""
        try:
            self._open_tool(chain, tool_call).fail(error, cx.error_type_of(error))
        except Exception as exc:
            self._guard("on_tool_execution_failed", exc)

    def _parent(self, chain: Any) -> Context | None:
        run = ChainRun.for_chain(chain)
        return run.context if run is not None else None

    # --- anything else -----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """Callbacks outside the known set (newer chain versions) become plain events."""
        if not name.startswith("on_"):
            raise AttributeError(name)

        def record(chain: Any, *args: Any) -> None:
            try:
                self._event(chain, "callback." + name[3:], {"llmotel.callback.args": len(args)}, llm_first=False)
            except Exception as exc:
                self._guard(name, exc)

        return record
