"""Tool spans: ``execute_tool {name}`` INTERNAL spans started from a ``ToolCall`` record.

``ToolRun`` is one tool execution in flight, whoever produces it (chain callbacks, the LangChain
handler, the LlamaIndex bridge); it ends exactly once, OK, ERROR or abandoned. ``ToolSpans`` pairs
starts with ends by tool-call id (falling back to the name) for producers that only have the tool
call itself at the end (chain callbacks), bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmotel import semconv as sc
from llmotel.config import settings
from llmotel.records import ToolCall
from llmotel.telemetry.attributes import bounded_json
from llmotel.telemetry.context import Context, conversation_in, span_context
from llmotel.telemetry.errors import record_error, safe_str, set_error_status, set_ok_status
from llmotel.telemetry.events import add_event

__all__ = ["MAX_IDENTIFIED", "MAX_OPEN_TOOLS", "TOOL_COMPLETED", "ToolRun", "ToolSpans"]

MAX_OPEN_TOOLS = 256
"""Open tool spans kept per run (or per handler outside a chain); the oldest is ended beyond it."""
MAX_IDENTIFIED = 256
TOOL_COMPLETED = "llmotel.tool.completed"
_DESCRIPTION_MAX = 256


def content_json(value: Any) -> str:
    """A content value as bounded JSON (``LLMOTEL_CONTENT_MAX_LENGTH``)."""
    return bounded_json([value], settings().content_max_length)[1:-1] or "null"


class ToolRun:
    """One ``execute_tool`` span in flight. ``capture``: record arguments and result (content)."""

    __slots__ = ("capture", "context", "span")

    def __init__(
        self,
        tracer: trace.Tracer,
        tool: ToolCall,
        parent: Context | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        capture = settings().capture_content
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: tool.name,
            sc.GEN_AI_TOOL_TYPE: tool.type or "function",
        }
        if tool.call_id:
            attrs[sc.GEN_AI_TOOL_CALL_ID] = tool.call_id
        if tool.description:
            attrs[sc.GEN_AI_TOOL_DESCRIPTION] = tool.description[:_DESCRIPTION_MAX]
        if attributes:
            attrs.update(attributes)
        conversation = conversation_in(parent)
        if conversation is not None:
            attrs[sc.GEN_AI_CONVERSATION_ID] = conversation
        if capture and tool.arguments is not None:
            attrs[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = content_json(tool.arguments)
        self.span = span = tracer.start_span(
            f"{sc.OP_EXECUTE_TOOL} {tool.name}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs
        )
        self.capture = capture and span.is_recording()
        self.context = span_context(span, parent)
        """The context the tool's children start in."""

    def context_in(self, base: Context | None = None) -> Context:
        """``base`` (default: current) with the tool span current."""
        return span_context(self.span, base)

    def set_call_id(self, call_id: str) -> None:
        """The call id, when it is known only at the end."""
        if self.span.is_recording():
            self.span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, call_id)

    def add_event(self, name: str, attributes: Mapping[str, Any]) -> None:
        add_event(self.span, name, attributes)

    def complete(self, result: Any = None) -> None:
        """The tool finished: OK status, ``result`` with content capture. The span always ends."""
        span = self.span
        try:
            span.set_attribute(TOOL_COMPLETED, True)
            set_ok_status(span)
            if self.capture and result is not None:
                span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, content_json(result))
        finally:
            span.end()

    def fail(self, error: Any, error_kind: str) -> None:
        """The tool raised or returned an error: ERROR status with ``error.type``; always ends.

        An exception is recorded as exceptions are (an ``exception`` event). An error the tool
        *returned* (a message, a dict) is tool output, so its text is content: it becomes the status
        description only with content capture on; otherwise the description is the error type.
        """
        span = self.span
        try:
            span.set_attribute(sc.ERROR_TYPE, error_kind)
            span.set_attribute(TOOL_COMPLETED, True)
            if isinstance(error, BaseException):
                record_error(span, error, escaped=False)
            else:
                set_error_status(span, safe_str(error)[:512] if settings().capture_content else error_kind)
        finally:
            span.end()

    def abandon(self, marker: str | None = None) -> None:
        """End a tool its producer will never finish: ``llmotel.tool.completed=false`` (and ``marker``)."""
        span = self.span
        try:
            if marker is not None:
                span.set_attribute(marker, True)
            span.set_attribute(TOOL_COMPLETED, False)
        finally:
            span.end()


class ToolSpans:
    """Open ``ToolRun`` s keyed by call id (or name), bounded; and identified-but-not-started calls."""

    __slots__ = ("_lock", "_open", "identified", "tracer")

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self._open: OrderedDict[str, ToolRun] = OrderedDict()
        self.identified: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def identify(self, tool: ToolCall) -> None:
        with self._lock:
            self.identified[tool.key] = tool.name
            while len(self.identified) > MAX_IDENTIFIED:
                self.identified.popitem(last=False)

    def start(self, tool: ToolCall, parent: Context | None) -> ToolRun:
        run = ToolRun(self.tracer, tool, parent)
        key = tool.key
        evicted: list[ToolRun] = []
        with self._lock:
            self.identified.pop(key, None)
            previous = self._open.pop(key, None)
            if previous is not None:
                evicted.append(previous)
            self._open[key] = run
            while len(self._open) > MAX_OPEN_TOOLS:
                evicted.append(self._open.popitem(last=False)[1])
        for old in evicted:
            old.abandon()
        return run

    def pop(self, tool: ToolCall) -> ToolRun | None:
        with self._lock:
            run = self._open.pop(tool.key, None)
            if run is None and tool.call_id:  # started without an id, finished with one
                run = self._open.pop(tool.name, None)
        return run

    def close_all(self) -> int:
        """End every still-open tool span (abandoned); return how many identified calls never started."""
        with self._lock:
            runs = list(self._open.values())
            self._open.clear()
            never_started = len(self.identified)
            self.identified.clear()
        for run in runs:
            run.abandon()
        return never_started
