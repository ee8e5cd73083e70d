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

LLM spans are ``_LLM`` handles keyed by dispatcher span id in a second bounded map, because a
stream's span outlives its dispatcher span: the dispatcher exits when the generator is returned,
the span ends at the end event after the last chunk, at the exception event (``GeneratorExit`` of
an early ``close()``/``aclose()``, or an error), or when the generator is garbage collected
(``weakref.finalize``), exactly once.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
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
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.config import settings
from llmotel.extract import DEFAULT_EXTRACTOR, Extractor
from llmotel.extract._access import as_str, maybe_json
from llmotel.extract.callbacks import tool_result_content
from llmotel.extract.request import UNKNOWN_PROVIDER, infer_provider
from llmotel.integrations.llama_index import ABANDONED
from llmotel.integrations.llama_index._context import Attachment, current_attachment
from llmotel.records import LLMCall
from llmotel.telemetry.attributes import bounded_json, error_type
from llmotel.telemetry.chains import ChainRun, add_event, complete_tool, fail_tool
from llmotel.telemetry.spans import LLMSpan, Telemetry, inference_context

__all__ = ["Bridge", "SpanDropped"]

PENDING, CHAIN, TOOL, LLM, ALIAS = range(5)

LLM_METHODS = frozenset(
    {"chat", "achat", "stream_chat", "astream_chat", "complete", "acomplete", "stream_complete", "astream_complete"}
)
STREAM_METHODS = frozenset({"stream_chat", "astream_chat", "stream_complete", "astream_complete"})
TOOL_METHODS = frozenset({"__call__", "call", "acall"})
_UUID_SUFFIX = 37  # "-" + uuid4


class SpanDropped(Exception):
    """Stands in for the error when LlamaIndex drops a span without one."""


def span_name(span_id: str) -> str:
    """``RetrieverQueryEngine.query`` from ``RetrieverQueryEngine.query-<uuid4>``."""
    if len(span_id) > _UUID_SUFFIX and span_id[-_UUID_SUFFIX] == "-":
        return span_id[:-_UUID_SUFFIX]
    return span_id.rpartition("-")[0] or span_id


_agent_types: dict[type, bool] = {}


def _is_agent(instance: Any) -> bool:
    cls = type(instance)
    known = _agent_types.get(cls)
    if known is None:
        known = any(c.__name__ == "BaseWorkflowAgent" and c.__module__.startswith("llama_index.") for c in cls.__mro__)
        if len(_agent_types) < 256:
            _agent_types[cls] = known
    return known


def _is_stream(result: Any) -> bool:
    return isinstance(result, (Iterator, AsyncIterator)) and not isinstance(result, (str, bytes))


_FUTURE_WORDS = frozenset({"Future", "Task", "WorkflowHandler"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _returns_future(bound_args: Any) -> bool:
    """True when the method is declared to return a Future: it exits from the Future's done-callback,
    in another Context, so attaching in ``new_span`` would leave our span current in the caller
    until then. Such a span is not made current (its children still find it by dispatcher id)."""
    annotation = getattr(getattr(bound_args, "signature", None), "return_annotation", inspect.Signature.empty)
    if annotation is inspect.Signature.empty or annotation is None:
        return False
    if isinstance(annotation, str):
        return any(word in _FUTURE_WORDS for word in _IDENTIFIER.findall(annotation))
    origin = getattr(annotation, "__origin__", annotation)
    return isinstance(origin, type) and issubclass(origin, asyncio.Future)


def _json(value: Any) -> str:
    return bounded_json([value], settings().content_max_length)[1:-1] or "null"


def _tool_arguments(bound_args: Any) -> dict[str, Any]:
    """The arguments a tool was called with, flattened (``*args`` as a list, ``**kwargs`` merged)."""
    out: dict[str, Any] = {}
    parameters = bound_args.signature.parameters
    for name, value in bound_args.arguments.items():
        param = parameters.get(name)
        kind = param.kind if param is not None else None
        if kind is inspect.Parameter.VAR_KEYWORD and isinstance(value, Mapping):
            out.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                out[name] = list(value)
        else:
            out[name] = value
    return out


def _tool_call_of(bound_args: Any) -> tuple[str, str] | None:
    """``(tool name, tool call id)`` from a step's event argument (agents' ``ToolCall``), if any."""
    for value in bound_args.arguments.values():
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, Mapping) and "tool_id" in fields and "tool_name" in fields:
            name, call_id = as_str(getattr(value, "tool_name", None)), as_str(getattr(value, "tool_id", None))
            if name and call_id:
                return name, call_id
    return None


class _LLM:
    """One LLM span in flight, keyed by its dispatcher span id (and by its aliases' ids)."""

    __slots__ = (
        "aliases",
        "async_stream",
        "context",
        "done",
        "finalizer",
        "instance",
        "key",
        "method",
        "parent_id",
        "span",
        "streaming",
    )

    def __init__(
        self, key: str, span: LLMSpan, context: Context, instance: Any, method: str, parent_id: str | None
    ) -> None:
        self.key = key
        self.span = span
        self.context = context
        self.instance = instance
        self.method = method
        self.parent_id = parent_id
        self.aliases: list[str] = []
        self.streaming = False
        self.async_stream = False
        self.done = False
        self.finalizer: weakref.finalize[Any, Any] | None = None


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
        self.tool: trace.Span | None = None
        self.llm: _LLM | None = None
        self.alias_of: _LLM | None = None
        self.tool_call: tuple[str, str] | None = None


class Bridge:
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
                entry.parent_context = (
                    parent_context if parent_context is not None else Context(otel_context.get_current())
                )
        elif isinstance(instance, BaseTool) and entry.method in TOOL_METHODS:
            if parent is not None and parent.kind in (TOOL, ALIAS) and parent.tool is not None:
                entry.kind = ALIAS  # __call__ -> call of one tool call: one span
                entry.tool = parent.tool
                entry.context = parent.context
            else:
                self._start_tool(entry, instance, bound_args, parent, parent_context)
        else:
            self._start_chain(entry, instance, bound_args, parent_context)
        if entry.context is not None and entry.kind in (CHAIN, TOOL) and not _returns_future(bound_args):
            entry.attachment = Attachment(entry.context)
        return self._store(entry)

    def exit(self, id_: str, result: Any) -> None:
        """The dispatcher span's method returned ``result`` (a stream keeps its LLM span open)."""
        with self._lock:
            entry = self._entries.pop(id_, None)
            handle = self._llms.get(id_)
        if entry is not None:
            if entry.attachment is not None:
                entry.attachment.release()
            if entry.kind == PENDING:
                self._materialize(entry)
            if entry.run is not None:
                entry.run.end()
            elif entry.kind == TOOL and entry.tool is not None:
                self._complete_tool(entry.tool, result)
        if handle is not None and handle.key == id_ and not handle.done and not handle.streaming:
            if _is_stream(result):
                self._stream_returned(handle, result)
            else:
                self._end(handle, result if entry is None or entry.kind == LLM else None)

    def drop(self, id_: str, err: BaseException | None) -> None:
        """The dispatcher span's method raised ``err``."""
        exc = err if err is not None else SpanDropped("LlamaIndex dropped the span")
        with self._lock:
            entry = self._entries.pop(id_, None)
            handle = self._llms.get(id_)
        if entry is not None:
            if entry.attachment is not None:
                entry.attachment.release()
            if entry.kind == PENDING:
                self._materialize(entry)
            if entry.run is not None:
                entry.run.end(exc)
            elif entry.kind == TOOL and entry.tool is not None:
                fail_tool(entry.tool, exc, error_type(exc))
        if handle is not None and handle.key == id_ and not handle.done:
            if handle.streaming:
                self._finish_stream(handle, "error", exc)
            else:
                self._fail(handle, exc)

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
            attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(maybe_json(event.arguments))
        add_event(self._span_for(event.span_id), "llmotel.llama_index.agent_tool_call", attributes)

    def _span_for(self, sid: str | None) -> trace.Span:
        with self._lock:
            entry = self._entries.get(sid) if sid is not None else None
            handle = self._llms.get(sid) if sid is not None else None
        if handle is not None and not handle.done:
            return handle.span.span
        if entry is not None and entry.context is not None:
            return trace.get_current_span(entry.context)
        return trace.get_current_span()

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
        if instance is not None and entry.method == "run" and _is_agent(instance):
            name = as_str(getattr(instance, "name", None)) or entry.name
            provider = infer_provider(getattr(instance, "llm", None))
            run = ChainRun(name, agent=True, provider=provider, tracer=self.tracer, parent=parent)
        else:
            run = ChainRun(entry.name, tracer=self.tracer, parent=parent)
            if instance is None:
                entry.tool_call = _tool_call_of(bound_args)
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
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: name,
            sc.GEN_AI_TOOL_TYPE: "function",
        }
        description = as_str(getattr(metadata, "description", None))
        if description:
            attributes[sc.GEN_AI_TOOL_DESCRIPTION] = description[:256]
        if parent is not None and parent.tool_call is not None and parent.tool_call[0] == name:
            attributes[sc.GEN_AI_TOOL_CALL_ID] = parent.tool_call[1]
        if settings().capture_content:
            attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(_tool_arguments(bound_args))
        span = self.tracer.start_span(
            f"{sc.OP_EXECUTE_TOOL} {name}", context=context, kind=SpanKind.INTERNAL, attributes=attributes
        )
        entry.kind = TOOL
        entry.tool = span
        entry.context = trace.set_span_in_context(span, context)

    @staticmethod
    def _complete_tool(span: trace.Span, result: Any) -> None:
        if getattr(result, "is_error", False) is True:
            exception = getattr(result, "exception", None)
            if isinstance(exception, BaseException):
                fail_tool(span, exception, error_type(exception))
            else:
                fail_tool(span, "the tool returned an error", "tool_error")
            return
        capture = settings().capture_content
        complete_tool(span, tool_result_content(result) if capture else None, capture)

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

    def _claim_waiting(self, instance: Any, method: str, parent_id: str | None) -> _LLM | None:
        if method not in ("stream_chat", "stream_complete"):
            return None
        with self._lock:
            for handle in self._waiting:
                if handle.instance is instance and handle.parent_id == parent_id and handle.method == "a" + method:
                    self._waiting.remove(handle)
                    return handle
        return None

    def _unwait(self, handle: _LLM) -> None:
        with self._lock:
            if handle in self._waiting:
                self._waiting.remove(handle)

    def _start_llm(
        self,
        sid: str,
        event: Any,
        operation: str,
        instance: Any,
        parent: Context | None,
        method: str,
        parent_id: str | None,
    ) -> _LLM:
        call = LLMCall(operation, infer_provider(instance) if instance is not None else UNKNOWN_PROVIDER)
        model_dict = event.model_dict if isinstance(event.model_dict, Mapping) else {}
        kwargs: dict[str, Any] = dict(event.additional_kwargs) if isinstance(event.additional_kwargs, Mapping) else {}
        for value in (kwargs.get("model"), model_dict.get("model"), model_dict.get("model_name")):
            model = as_str(value)
            if model and model != "unknown":
                call.request_model = model
                break
        if method in STREAM_METHODS:
            call.stream = True
        if operation == sc.OP_CHAT:
            kwargs["messages"] = event.messages
        else:
            kwargs["prompt"] = event.prompt
        self.extractor.request(call, instance, (), kwargs)
        if call.request_model == "unknown":  # LLMMetadata's placeholder, not a model
            call.request_model = None
        llm = self.telemetry.start(call, self.extractor, instance, (), kwargs, parent=parent)
        context = inference_context(llm, parent)
        handle = _LLM(sid, llm, context, instance, method, parent_id)
        self._store_llm(sid, handle)
        return handle

    # --- ending LLM spans (each exactly once) --------------------------------------------------

    def _stream_returned(self, handle: _LLM, stream: Any) -> None:
        """The call returned a stream (or its first chunk arrived): the span now ends with it."""
        handle.span.start_stream()
        handle.streaming = True
        if stream is None:
            return
        try:
            finalizer = weakref.finalize(stream, self._collected, handle)
        except TypeError:  # not weak-referenceable: ends with its events, eviction or detach()
            pass
        else:
            finalizer.atexit = False
            handle.finalizer = finalizer
        if isinstance(stream, AsyncIterator) and handle.method.startswith("astream"):
            handle.async_stream = True
            with self._lock:
                self._waiting.append(handle)

    def _collected(self, handle: _LLM) -> None:
        try:
            self._finish_stream(handle, "garbage_collected", None)
        except Exception as exc:  # a finalizer must not raise
            internal_error("llama_index stream finalizer", exc)

    def _claim(self, handle: _LLM) -> bool:
        """Take the right to end ``handle`` (True exactly once) and forget it."""
        with self._lock:
            if handle.done:
                return False
            handle.done = True
            for key in (handle.key, *handle.aliases):
                if self._llms.get(key) is handle:
                    del self._llms[key]
            if handle in self._waiting:
                self._waiting.remove(handle)
        finalizer = handle.finalizer
        if finalizer is not None:
            handle.finalizer = None
            finalizer.detach()
        return True

    def _end(self, handle: _LLM, response: Any) -> None:
        if self._claim(handle):
            handle.span.end(response)

    def _fail(self, handle: _LLM, exc: BaseException) -> None:
        if self._claim(handle):
            handle.span.fail(exc)

    def _finish_stream(self, handle: _LLM, reason: str, exc: BaseException | None) -> None:
        if self._claim(handle):
            handle.span.finish_stream(reason, exc)

    def _abandon_llm(self, handle: _LLM) -> None:
        if not self._claim(handle):
            return
        llm = handle.span
        if llm.recording:
            llm.span.set_attribute(ABANDONED, True)
        if handle.streaming:
            llm.finish_stream("abandoned")
        else:
            llm.end(None)

    def _abandon_entry(self, entry: _Entry) -> None:
        if entry.attachment is not None:
            entry.attachment.abandon()
        if entry.run is not None:
            entry.run.span.set_attribute(ABANDONED, True)
            entry.run.end()
        elif entry.kind == TOOL and entry.tool is not None:
            entry.tool.set_attribute(ABANDONED, True)
            entry.tool.set_attribute("llmotel.tool.completed", False)
            entry.tool.end()
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

    def _store_llm(self, key: str, handle: _LLM) -> None:
        evicted: list[_LLM] = []
        with self._lock:
            self._llms[key] = handle
            while len(self._llms) > self.max_llm_spans:
                _, old = self._llms.popitem(last=False)
                if old.key == key and old is handle:  # never the one just added
                    self._llms[key] = handle
                    break
                if old not in evicted:
                    evicted.append(old)
        for old in evicted:
            self._abandon_llm(old)

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
