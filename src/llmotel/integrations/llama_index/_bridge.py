"""The state machine behind the LlamaIndex span and event handlers (no pydantic here).

Every dispatcher span gets an ``_Entry`` (bounded, removed on exit/drop). Its kind decides what
it becomes in the trace:

``CHAIN``    an ``invoke_workflow {Qualname}`` span (``invoke_agent {name}`` for a workflow
             agent's ``run``), started and made current in ``new_span``;
``TOOL``     an ``execute_tool {tool name}`` span for ``BaseTool.__call__/call/acall``;
``PENDING``  an LLM entry method (``chat``, ``stream_complete``, ``astream_chat``...) of a
             ``BaseLLM``: no span yet. The LLM start event for its span id (fired by LlamaIndex's
             ``llm_chat_callback``/``llm_completion_callback`` before the model code runs) turns
             it into ``LLM``; anything else first (a child span, the exit) makes it a ``CHAIN``;
``LLM``      a CLIENT ``chat {model}`` / ``text_completion {model}`` span (an ``LLMSpan``);
``ALIAS``    an LLM (or tool) dispatcher span nested in another one for the same call
             (``CustomLLM.chat`` -> ``complete``, ``achat`` -> ``chat``, ``__call__`` -> ``call``):
             no span of its own, its response facts go to the outer call's span.

LLM spans are ``_LLM`` handles keyed by dispatcher span id in a second bounded map (``_llms``),
because a stream's span outlives its dispatcher span. Spans, contexts and events are made only
through ``llmotel.telemetry``; LlamaIndex objects are read by ``_extract``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.instrumentation.events.agent import AgentToolCallEvent
from llama_index.core.instrumentation.events.exception import ExceptionEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatInProgressEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionInProgressEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.tools.types import BaseTool

from llmotel import semconv as sc
from llmotel.config import settings
from llmotel.extract import DEFAULT_EXTRACTOR, Extractor
from llmotel.extract._access import as_str, maybe_json
from llmotel.extract.callbacks import tool_result_content
from llmotel.extract.request import infer_provider
from llmotel.integrations.llama_index._extract import (
    ABANDONED,
    SpanDropped,
    is_agent,
    is_stream,
    returns_future,
    span_name,
    tool_arguments,
    tool_call_of,
)
from llmotel.integrations.llama_index._llms import _LLM, LLMCalls
from llmotel.records import Chain, ToolCall
from llmotel.telemetry.attributes import error_type
from llmotel.telemetry.chains import ChainRun
from llmotel.telemetry.context import Attachment, Context, current_attachment, current_context
from llmotel.telemetry.events import event_in
from llmotel.telemetry.spans import Telemetry
from llmotel.telemetry.tools import ToolRun, content_json

__all__ = ["Bridge", "SpanDropped"]

PENDING, CHAIN, TOOL, LLM, ALIAS = range(5)

LLM_METHODS = frozenset(
    {"chat", "achat", "stream_chat", "astream_chat", "complete", "acomplete", "stream_complete", "astream_complete"}
)
TOOL_METHODS = frozenset({"__call__", "call", "acall"})


class _Entry:
    """One open dispatcher span."""

    __slots__ = (
        "alias_of",
        "attachment",
        "context",
        "id",
        "instance",
        "kind",
        "llm",
        "method",
        "name",
        "parent_context",
        "parent_id",
        "run",
        "tool",
        "tool_call",
    )

    def __init__(self, id_: str, parent_id: str | None, instance: Any) -> None:
        self.id = id_
        self.parent_id = parent_id
        self.instance = instance
        self.name = span_name(id_)
        self.method = self.name.rpartition(".")[2]
        self.kind = CHAIN
        self.context: Context | None = None
        """The context children of this dispatcher span start in."""
        self.parent_context: Context | None = None
        """PENDING only: the parent context for the span it will become."""
        self.attachment: Attachment | None = None
        self.run: ChainRun | None = None
        self.tool: ToolRun | None = None
        self.llm: _LLM | None = None
        self.alias_of: _LLM | None = None
        self.tool_call: tuple[str, str] | None = None


class Bridge(LLMCalls):
    """Dispatcher spans and LlamaIndex events in, llmotel spans out. Thread-safe, bounded."""

    max_entries = 4096
    """Open dispatcher spans tracked at most; the oldest is ended (abandoned) beyond it."""
    max_llm_spans = 1024
    """LLM spans in flight (streams included) tracked at most; the oldest is ended beyond it."""

    def __init__(self, telemetry: Telemetry, extractor: Extractor | None = None) -> None:
        self.telemetry = telemetry
        self.tracer = telemetry.tracer
        self.extractor = extractor or DEFAULT_EXTRACTOR
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._llms: OrderedDict[str, _LLM] = OrderedDict()
        self._waiting: list[_LLM] = []
        """Async streams returned but not read yet (see ``_owner_of``)."""
        self._events: dict[type, Callable[[Any], None]] = {
            LLMChatStartEvent: self._on_chat_start,
            LLMCompletionStartEvent: self._on_completion_start,
            LLMChatInProgressEvent: self._on_progress,
            LLMCompletionInProgressEvent: self._on_progress,
            LLMChatEndEvent: self._on_end,
            LLMCompletionEndEvent: self._on_end,
            ExceptionEvent: self._on_exception,
            AgentToolCallEvent: self._on_agent_tool_call,
        }

    # --- introspection (tests, diagnostics) ----------------------------------------------------

    def open_counts(self) -> tuple[int, int]:
        """``(open dispatcher spans, LLM spans in flight)`` currently tracked."""
        with self._lock:
            return len(self._entries), len({id(h) for h in self._llms.values()})

    # --- dispatcher spans ----------------------------------------------------------------------

    def enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> list[str]:
        """A dispatcher span started; returns the ids evicted to stay within ``max_entries``."""
        entry = _Entry(id_, parent_id, instance)
        with self._lock:
            parent = self._entries.get(parent_id) if parent_id is not None else None
        if parent is not None and parent.kind == PENDING:
            self._materialize(parent)
        parent_context = self._parent_context(parent)
        if isinstance(instance, BaseLLM) and entry.method in LLM_METHODS:
            owner = self._owner_of(parent, instance, entry.method, parent_id)
            if owner is not None:
                entry.kind = ALIAS
                entry.alias_of = owner
                entry.context = owner.context
            else:
                entry.kind = PENDING
                entry.parent_context = parent_context if parent_context is not None else Context(current_context())
        elif isinstance(instance, BaseTool) and entry.method in TOOL_METHODS:
            if parent is not None and parent.kind in (TOOL, ALIAS) and parent.tool is not None:
                entry.kind = ALIAS  # __call__ -> call of one tool call: one span
                entry.tool = parent.tool
                entry.context = parent.context
            else:
                self._start_tool(entry, instance, bound_args, parent, parent_context)
        else:
            self._start_chain(entry, instance, bound_args, parent_context)
        if entry.context is not None and entry.kind in (CHAIN, TOOL) and not returns_future(bound_args):
            entry.attachment = Attachment(entry.context)
        return self._store(entry)

    def exit(self, id_: str, result: Any) -> None:
        """The dispatcher span's method returned ``result`` (a stream keeps its LLM span open)."""
        entry, handle = self._close(id_)
        if entry is not None:
            if entry.run is not None:
                entry.run.end()
            elif entry.kind == TOOL and entry.tool is not None:
                self._complete_tool(entry.tool, result)
        if handle is not None and handle.key == id_ and not handle.done and not handle.streaming:
            if is_stream(result):
                self._stream_returned(handle, result)
            else:
                self._end(handle, result if entry is None or entry.kind == LLM else None)

    def drop(self, id_: str, err: BaseException | None) -> None:
        """The dispatcher span's method raised ``err``."""
        exc = err if err is not None else SpanDropped("LlamaIndex dropped the span")
        entry, handle = self._close(id_)
        if entry is not None:
            if entry.run is not None:
                entry.run.end(exc)
            elif entry.kind == TOOL and entry.tool is not None:
                entry.tool.fail(exc, error_type(exc))
        if handle is not None and handle.key == id_ and not handle.done:
            if handle.streaming:
                self._finish_stream(handle, "error", exc)
            else:
                self._fail(handle, exc)

    def _close(self, id_: str) -> tuple[_Entry | None, _LLM | None]:
        """Forget dispatcher span ``id_`` (its context restored); its entry and LLM handle."""
        with self._lock:
            entry = self._entries.pop(id_, None)
            handle = self._llms.get(id_)
        if entry is not None:
            if entry.attachment is not None:
                entry.attachment.release()
            if entry.kind == PENDING:
                self._materialize(entry)
        return entry, handle

    # --- events --------------------------------------------------------------------------------

    def event(self, event: Any) -> None:
        """One LlamaIndex instrumentation event (only the LLM, exception and tool events matter)."""
        handler = self._events.get(type(event))
        if handler is not None:
            handler(event)

    def _on_chat_start(self, event: Any) -> None:
        self._on_start(event, sc.OP_CHAT)

    def _on_completion_start(self, event: Any) -> None:
        self._on_start(event, sc.OP_TEXT_COMPLETION)

    def _on_start(self, event: Any, operation: str) -> None:
        sid = event.span_id
        if sid is None:
            return
        with self._lock:
            entry = self._entries.get(sid)
            known = sid in self._llms
        if known:
            return  # an alias, or a second start under one dispatcher span: one LLM span each
        if entry is None:  # attached mid-call: a span of its own, under the current context
            self._start_llm(sid, event, operation, None, None, "", None)
        elif entry.kind == PENDING:
            handle = self._start_llm(
                sid, event, operation, entry.instance, entry.parent_context, entry.method, entry.parent_id
            )
            entry.kind = LLM
            entry.llm = handle
            entry.context = handle.context
            entry.parent_context = None
            entry.attachment = Attachment(handle.context)
        elif entry.kind in (CHAIN, TOOL):  # an LLM method without its own dispatcher span
            self._start_llm(sid, event, operation, entry.instance, entry.context, "", entry.id)

    def _on_progress(self, event: Any) -> None:
        sid = event.span_id
        with self._lock:
            handle = self._llms.get(sid) if sid is not None else None
        if handle is None or handle.done:
            return
        llm = handle.span
        if handle.key != sid:  # an alias' chunk: its facts (usage...) only, never counted twice
            if handle.streaming and llm.call.stream_state is not None and event.response is not None:
                llm.hidden_chunk(event.response)
            return
        if not handle.streaming:
            self._stream_returned(handle, None)
        if handle.async_stream:
            self._unwait(handle)
        llm.chunk(event.response)

    def _on_end(self, event: Any) -> None:
        sid = event.span_id
        with self._lock:
            handle = self._llms.get(sid) if sid is not None else None
        if handle is None or handle.done:
            return
        if handle.key != sid:  # an alias ended first: its response facts go to the outer call
            if not handle.streaming and event.response is not None:
                self.extractor.response(handle.span.call, event.response, False)
            return
        if handle.streaming:
            self._finish_stream(handle, "exhausted", None)
        else:
            self._end(handle, event.response)

    def _on_exception(self, event: Any) -> None:
        sid = event.span_id
        with self._lock:
            handle = self._llms.get(sid) if sid is not None else None
        if handle is None or handle.key != sid or not handle.streaming:
            return  # non-stream failures arrive as a span drop, with the exception itself
        exc = event.exception
        if isinstance(exc, GeneratorExit):
            self._finish_stream(handle, "closed", None)
        elif isinstance(exc, asyncio.CancelledError):
            self._finish_stream(handle, "cancelled", None)
        else:
            self._finish_stream(handle, "error", exc)

    def _on_agent_tool_call(self, event: Any) -> None:
        """``AgentToolCallEvent`` (older agents): an event on the span of its dispatcher span."""
        tool = event.tool
        attributes: dict[str, Any] = {sc.GEN_AI_TOOL_NAME: as_str(getattr(tool, "name", None)) or "unknown_tool"}
        description = as_str(getattr(tool, "description", None))
        if description:
            attributes[sc.GEN_AI_TOOL_DESCRIPTION] = description[:256]
        if settings().capture_content and event.arguments is not None:
            attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = content_json(maybe_json(event.arguments))
        name = "llmotel.llama_index.agent_tool_call"
        sid = event.span_id
        with self._lock:
            entry = self._entries.get(sid) if sid is not None else None
            handle = self._llms.get(sid) if sid is not None else None
        if handle is not None and not handle.done:
            handle.span.add_event(name, attributes)
        else:
            event_in(entry.context if entry is not None else None, name, attributes)

    # --- building spans ------------------------------------------------------------------------

    def _parent_context(self, parent: _Entry | None) -> Context | None:
        """The context a child of ``parent`` starts in; ``None`` means the current context."""
        if parent is None:
            return None
        attachment = parent.attachment
        if attachment is not None and current_attachment() is attachment:
            return None  # running under the parent's attach: the current context may hold user spans
        return parent.context

    def _start_chain(self, entry: _Entry, instance: Any, bound_args: Any, parent: Context | None) -> None:
        if instance is not None and entry.method == "run" and is_agent(instance):
            name = as_str(getattr(instance, "name", None)) or entry.name
            provider = infer_provider(getattr(instance, "llm", None))
            run = ChainRun(Chain(name, agent=True, provider=provider), tracer=self.tracer, parent=parent)
        else:
            run = ChainRun(entry.name, tracer=self.tracer, parent=parent)
            if instance is None:
                entry.tool_call = tool_call_of(bound_args)
        entry.kind = CHAIN
        entry.run = run
        entry.context = run.context

    def _materialize(self, entry: _Entry) -> None:
        """A PENDING LLM entry method that got no LLM start event: a chain span after all."""
        with self._lock:
            if entry.kind != PENDING:
                return
            entry.kind = CHAIN
        run = ChainRun(entry.name, tracer=self.tracer, parent=entry.parent_context)
        entry.run = run
        entry.context = run.context
        entry.parent_context = None

    def _start_tool(
        self, entry: _Entry, instance: Any, bound_args: Any, parent: _Entry | None, context: Context | None
    ) -> None:
        try:
            metadata = instance.metadata
        except Exception:  # a tool whose metadata fails is still a tool call
            metadata = None
        name = as_str(getattr(metadata, "name", None)) or type(instance).__name__
        call_id = None
        if parent is not None and parent.tool_call is not None and parent.tool_call[0] == name:
            call_id = parent.tool_call[1]
        tool = ToolCall(
            name,
            call_id,
            description=as_str(getattr(metadata, "description", None)),
            arguments=tool_arguments(bound_args) if settings().capture_content else None,
        )
        entry.kind = TOOL
        entry.tool = run = ToolRun(self.tracer, tool, context)
        entry.context = run.context

    @staticmethod
    def _complete_tool(tool: ToolRun, result: Any) -> None:
        if getattr(result, "is_error", False) is True:
            exception = getattr(result, "exception", None)
            if isinstance(exception, BaseException):
                tool.fail(exception, error_type(exception))
            else:
                tool.fail("the tool returned an error", "tool_error")
            return
        tool.complete(tool_result_content(result) if tool.capture else None)

    def _owner_of(self, parent: _Entry | None, instance: Any, method: str, parent_id: str | None) -> _LLM | None:
        """The LLM call an LLM entry method belongs to when it is part of another one's work.

        Nested by dispatcher parentage (``CustomLLM.chat`` calling ``complete``), or, for a sync
        stream started while an async stream of the same model under the same parent is waiting
        for its first chunk, that async stream: ``CustomLLM.astream_chat`` iterates
        ``stream_chat`` from inside its generator, where LlamaIndex's parentage is lost.
        """
        if parent is not None:
            if parent.kind == LLM:
                return parent.llm
            if parent.kind == ALIAS and parent.alias_of is not None:
                return parent.alias_of
        return self._claim_waiting(instance, method, parent_id)

    def _abandon_entry(self, entry: _Entry) -> None:
        if entry.attachment is not None:
            entry.attachment.abandon()
        if entry.run is not None:
            entry.run.abandon(ABANDONED)
        elif entry.kind == TOOL and entry.tool is not None:
            entry.tool.abandon(ABANDONED)
        elif entry.llm is not None and not entry.llm.streaming:
            self._abandon_llm(entry.llm)

    # --- bounded maps --------------------------------------------------------------------------

    def _store(self, entry: _Entry) -> list[str]:
        evicted: list[_Entry] = []
        with self._lock:
            self._entries[entry.id] = entry
            if entry.kind == ALIAS and entry.alias_of is not None and not entry.alias_of.done:
                owner = entry.alias_of
                self._llms[entry.id] = owner
                owner.aliases.append(entry.id)
            while len(self._entries) > self.max_entries:
                evicted.append(self._entries.popitem(last=False)[1])
        for old in evicted:
            self._abandon_entry(old)
        return [old.id for old in evicted]

    def close(self) -> None:
        """End everything still open, marked abandoned (the integration is being detached)."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            handles = list({id(h): h for h in self._llms.values()}.values())
        for entry in reversed(entries):
            self._abandon_entry(entry)
        for handle in handles:
            self._abandon_llm(handle)
