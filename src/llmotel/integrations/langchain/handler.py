"""``LlmotelCallbackHandler``: LangChain's callback lifecycle as llmotel spans and events.

Every LangChain run with a span is kept in a bounded map ``run_id -> _Run``: the span handle
(``LLMSpan`` / ``ChainRun`` / tool span), the context its children are parented to, and the
attachment that made it current (see ``_context``). Children find their parent by
``parent_run_id`` first (robust whatever thread or task a callback runs in), by the current
context otherwise.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, Literal, ParamSpec
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.config import settings
from llmotel.extract import callbacks as cx
from llmotel.extract._access import as_float, as_int, as_str, maybe_json
from llmotel.integrations.langchain._context import Attachment
from llmotel.integrations.langchain._extract import LangChainExtractor, ModelParams, provider_of
from llmotel.records import LLMCall
from llmotel.telemetry.attributes import bounded_json, error_type
from llmotel.telemetry.chains import ChainRun, add_event, complete_tool, fail_tool
from llmotel.telemetry.spans import (
    CHAIN_RUN_KEY,
    INFERENCE_SPAN_KEY,
    InferenceMarker,
    LLMSpan,
    Telemetry,
    inference_context,
)
from llmotel.wrap.decorators import default_telemetry

if TYPE_CHECKING:
    from langchain_core.agents import AgentAction, AgentFinish
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult
    from tenacity import RetryCallState

__all__ = ["DEFAULT_MAX_RUNS", "LlmotelCallbackHandler"]

DEFAULT_MAX_RUNS = 10_000
"""Runs kept open at most; beyond it the oldest is ended (``llmotel.run.abandoned=true``)."""

P = ParamSpec("P")

ChainSpans = Literal["all", "named"]

RUN_ID = "llmotel.langchain.run_id"
RETRY_ATTEMPT = "llmotel.retry.attempt"
ABANDONED = "llmotel.run.abandoned"
STOP_REASON = "llmotel.run.stop_reason"

_RETRY_TAG = re.compile(r"^retry:attempt:(\d+)$")
_PLUMBING = frozenset(
    {
        "RunnableSequence",
        "RunnableParallel",
        "RunnableMap",
        "RunnablePassthrough",
        "RunnableAssign",
        "RunnablePick",
        "RunnableBranch",
        "RunnableEach",
        "RunnableBinding",
        "RunnableRetry",
        "RunnableWithFallbacks",
        "RunnableLambda",
        "ChannelWrite",
        "ChannelRead",
        "Branch",
        "__start__",
        "__end__",
        "_write",
    }
)


def _guarded(method: Callable[P, None]) -> Callable[P, None]:
    """Run a callback under llmotel's guard: never raise into LangChain (raise in strict mode)."""
    kind = f"langchain {method.__name__}"

    @wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as exc:
            internal_error(kind, exc)

    return guarded


@dataclass(slots=True, eq=False)
class _Run:
    """One LangChain run we track: its span handle and the context its children are parented to."""

    kind: Literal["llm", "chain", "tool", "pass"]
    parent_id: UUID | None
    context: otel_context.Context
    llm: LLMSpan | None = None
    chain: ChainRun | None = None
    span: trace.Span | None = None
    attachment: Attachment | None = None


def _json(value: Any) -> str:
    return bounded_json([value], settings().content_max_length)[1:-1] or "null"


def _cut(text: str) -> str:
    limit = settings().content_max_length
    return text if limit <= 0 or len(text) <= limit else text[:limit] + "…"


def _retry_attempt(tags: Sequence[str] | None) -> int | None:
    """The attempt number LangChain's ``with_retry`` tags a retried attempt with (2, 3, ...)."""
    for tag in tags or ():
        match = _RETRY_TAG.match(tag) if isinstance(tag, str) else None
        if match:
            return int(match.group(1))
    return None


def _run_name(serialized: Any, kwargs: Mapping[str, Any], default: str) -> str:
    name = as_str(kwargs.get("name"))
    if name:
        return name
    if isinstance(serialized, Mapping):
        name = as_str(serialized.get("name"))
        if name:
            return name
        path = serialized.get("id")
        if isinstance(path, (list, tuple)) and path and isinstance(path[-1], str):
            return path[-1]
    return default


def _conversation_id(metadata: Any) -> str | None:
    if not isinstance(metadata, Mapping):
        return None
    for key in ("conversation_id", "thread_id"):
        value = metadata.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
    return None


def _in_inference(ctx: otel_context.Context) -> bool:
    """True when ``ctx``'s current span is an llmotel inference span (a call directly inside one)."""
    outer = otel_context.get_value(INFERENCE_SPAN_KEY, ctx)
    return isinstance(outer, InferenceMarker) and outer.span is trace.get_current_span(ctx)


class LlmotelCallbackHandler(BaseCallbackHandler):
    """LangChain callback handler that records runs as llmotel spans (GenAI semantic conventions).

    ::

        from llmotel.integrations.langchain import LlmotelCallbackHandler

        handler = LlmotelCallbackHandler()
        chain.invoke(x, config={"callbacks": [handler]})

    - chat models / LLMs: ``chat {model}`` / ``text_completion {model}`` CLIENT spans (request
      parameters, response id / model / finish reasons, token usage, streaming: time to first
      chunk, chunk count, chunk events; content only with content capture);
    - chains: ``invoke_workflow {name}`` INTERNAL spans (``invoke_agent {name}`` when the name or
      a tag mentions an agent), with the token totals of the LLM calls beneath them;
    - tools: ``execute_tool {name}`` INTERNAL spans (arguments / result only with capture);
    - retries, agent actions, agent finishes and custom events: span events.

    ``chain_spans="named"`` leaves out chain spans for LangChain's plumbing below the top-level
    run (prompt templates, output parsers, ``RunnableSequence`` / ``RunnableParallel`` /
    ``RunnableLambda``-named runs that were not given a name, LangGraph's hidden runs): their
    children are parented to the nearest recorded ancestor. The default ``"all"`` records every
    chain run, like LangSmith does.

    ``attach_context`` (default on) makes each run's span the current span while the run's body
    executes, so spans made by provider instrumentation or llmotel decorators inside a chain step
    get the right parent, and an llmotel-decorated call directly inside a LangChain model run is
    not traced twice. The context is always restored when the run ends, on the sync and the async
    path (see ``_context``). While a ``stream()`` / ``astream()`` is being read, the streaming
    run's span is current in the reading code between chunks too (LangChain runs the callbacks in
    the consumer's context); it is restored when the stream ends or is closed.
    """

    run_inline = True
    """Called inline in the caller's context on the async path too (needed to attach context)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
        *,
        chain_spans: ChainSpans = "all",
        attach_context: bool = True,
        max_runs: int = DEFAULT_MAX_RUNS,
    ) -> None:
        super().__init__()
        if chain_spans not in ("all", "named"):
            raise ValueError(f"chain_spans must be 'all' or 'named', not {chain_spans!r}")
        if tracer_provider is None and meter_provider is None:
            self._telemetry = default_telemetry()
        else:
            self._telemetry = Telemetry(tracer_provider, meter_provider)
        self._tracer = self._telemetry.tracer
        self._extractor = LangChainExtractor()
        self.chain_spans: ChainSpans = chain_spans
        self.attach_context = attach_context
        self.max_runs = max(1, max_runs)
        self._runs: OrderedDict[UUID, _Run] = OrderedDict()
        self._lock = threading.Lock()
        self._raise_error: bool | None = None

    def __copy__(self) -> LlmotelCallbackHandler:
        return self  # a handler is a shared sink: copies of a config keep pointing at it

    def __deepcopy__(self, memo: dict[int, Any]) -> LlmotelCallbackHandler:
        return self

    @property
    def raise_error(self) -> bool:
        """LangChain re-raises handler errors only in llmotel's strict mode (the test suite)."""
        if self._raise_error is not None:
            return self._raise_error
        return settings().strict

    @raise_error.setter
    def raise_error(self, value: bool) -> None:
        self._raise_error = value

    @property
    def open_runs(self) -> int:
        """How many runs are in flight (bounded by ``max_runs``)."""
        return len(self._runs)

    # --- run map -------------------------------------------------------------------------------

    def _add(self, run_id: UUID, run: _Run) -> None:
        evicted: list[_Run] = []
        with self._lock:
            previous = self._runs.pop(run_id, None)
            if previous is not None:
                evicted.append(previous)
            self._runs[run_id] = run
            while len(self._runs) > self.max_runs:
                evicted.append(self._runs.popitem(last=False)[1])
        for old in evicted:
            self._abandon(old)

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def _get(self, run_id: UUID | None) -> _Run | None:
        if run_id is None:
            return None
        with self._lock:
            return self._runs.get(run_id)

    def _parent(self, parent_run_id: UUID | None) -> otel_context.Context | None:
        """The parent context: the parent run's, else ``None`` (= the current context)."""
        run = self._get(parent_run_id)
        return run.context if run is not None else None

    def _attach(self, run: _Run, ctx: otel_context.Context) -> None:
        if self.attach_context:
            run.attachment = Attachment(ctx)

    @staticmethod
    def _release(run: _Run) -> None:
        if run.attachment is not None:
            run.attachment.release()

    def _passthrough(self, run_id: UUID, parent_run_id: UUID | None, parent: otel_context.Context | None) -> None:
        """Track a run without a span: its children are parented to its parent."""
        self._add(run_id, _Run("pass", parent_run_id, parent if parent is not None else otel_context.get_current()))

    def _abandon(self, run: _Run) -> None:
        """End a run LangChain never finished (evicted from the map)."""
        try:
            self._release(run)
            if run.llm is not None:
                llm = run.llm
                if llm.recording:
                    llm.span.set_attribute(ABANDONED, True)
                if llm.call.stream_state is not None:
                    llm.finish_stream("abandoned")
                else:
                    llm.end(None)
            elif run.chain is not None:
                run.chain.span.set_attribute(ABANDONED, True)
                run.chain.end()
            elif run.span is not None:
                run.span.set_attribute(ABANDONED, True)
                run.span.set_attribute("llmotel.tool.completed", False)
                run.span.end()
        except Exception as exc:
            internal_error("langchain abandon", exc)

    def _event(self, run_id: UUID, name: str, attributes: dict[str, Any]) -> None:
        """An event on the run's span (the nearest recorded ancestor's for a run without one)."""
        run = self._get(run_id)
        span = trace.get_current_span(run.context) if run is not None else trace.get_current_span()
        add_event(span, name, attributes)

    def _note_retry(self, parent: otel_context.Context | None, tags: Sequence[str] | None) -> int | None:
        """``with_retry`` tags attempt N>1 with ``retry:attempt:N``: an event on the retrying run."""
        attempt = _retry_attempt(tags)
        if attempt is not None and attempt > 1:
            span = trace.get_current_span(parent) if parent is not None else trace.get_current_span()
            add_event(span, "llmotel.retry", {RETRY_ATTEMPT: attempt})
        return attempt

    # --- models --------------------------------------------------------------------------------

    @_guarded
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model run starts: a ``chat {model}`` span."""
        payload = messages[0] if messages else None
        self._start_llm(sc.OP_CHAT, serialized, payload, run_id, parent_run_id, tags, metadata, kwargs)

    @_guarded
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A (text completion) LLM run starts: a ``text_completion {model}`` span."""
        prompt: Any = prompts[0] if len(prompts) == 1 else prompts or None
        self._start_llm(sc.OP_TEXT_COMPLETION, serialized, prompt, run_id, parent_run_id, tags, metadata, kwargs)

    def _start_llm(
        self,
        operation: str,
        serialized: Any,
        payload: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        parent = self._parent(parent_run_id)
        if not is_instrumentation_enabled() or _in_inference(
            parent if parent is not None else otel_context.get_current()
        ):
            self._passthrough(run_id, parent_run_id, parent)  # already inside an llmotel inference span
            return
        attempt = self._note_retry(parent, tags)
        raw = kwargs.get("invocation_params")
        params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        request = {"invocation_params": params, "metadata": metadata}
        call = LLMCall(operation, provider_of(serialized, metadata))
        self._extractor.request(call, None, (payload,), request)
        instance = ModelParams(params)
        llm = self._telemetry.start(call, self._extractor, instance, (payload,), request, parent=parent)
        if llm.recording:
            extra: dict[str, Any] = {RUN_ID: str(run_id)}
            conversation = _conversation_id(metadata)
            if conversation:
                extra[sc.GEN_AI_CONVERSATION_ID] = conversation
            if attempt is not None:
                extra[RETRY_ATTEMPT] = attempt
            llm.span.set_attributes(extra)
        children = inference_context(llm, parent)
        run = _Run("llm", parent_run_id, children, llm=llm)
        self._add(run_id, run)
        self._attach(run, inference_context(llm))

    @_guarded
    def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """A streamed chunk: counted, timed (first chunk), sampled for chunk events."""
        run = self._get(run_id)
        if run is None or run.llm is None:
            return
        llm = run.llm
        if llm.call.stream_state is None:
            llm.start_stream()
        llm.chunk(chunk if chunk is not None else token)

    @_guarded
    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """The model returned: response facts, usage, output (with capture); the span ends."""
        run = self._pop(run_id)
        if run is None:
            return
        self._release(run)
        llm = run.llm
        if llm is None:
            return
        if llm.call.stream_state is None:
            llm.end(response)
            return
        try:
            llm.extractor.response(llm.call, response, llm.capture)
        except Exception as exc:
            internal_error("langchain stream response", exc)
        llm.finish_stream("exhausted")

    @_guarded
    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """The model call failed: ``error.type``, an exception event, status ERROR."""
        run = self._pop(run_id)
        if run is None:
            return
        self._release(run)
        llm = run.llm
        if llm is None:
            return
        if llm.call.stream_state is None:
            llm.fail(error)
        elif isinstance(error, GeneratorExit):
            llm.finish_stream("closed", error)
        elif isinstance(error, asyncio.CancelledError):
            llm.finish_stream("cancelled", error)
        else:
            llm.finish_stream("error", error)

    # --- chains --------------------------------------------------------------------------------

    @_guarded
    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chain run starts: an ``invoke_workflow {name}`` (or ``invoke_agent {name}``) span."""
        parent = self._parent(parent_run_id)
        name = _run_name(serialized, kwargs, "chain")
        if not is_instrumentation_enabled() or (
            self.chain_spans == "named"
            and parent_run_id is not None
            and self._is_plumbing(name, tags, kwargs.get("run_type"))
        ):
            self._passthrough(run_id, parent_run_id, parent)
            return
        attempt = self._note_retry(parent, tags)
        attributes: dict[str, Any] = {RUN_ID: str(run_id)}
        conversation = _conversation_id(metadata)
        if conversation:
            attributes[sc.GEN_AI_CONVERSATION_ID] = conversation
        if attempt is not None:
            attributes[RETRY_ATTEMPT] = attempt
        agent = "agent" in name.lower() or any(isinstance(t, str) and "agent" in t.lower() for t in tags or ())
        provider = provider_of(None, metadata) if agent and metadata and metadata.get("ls_provider") else None
        chain = ChainRun(
            name, agent=agent, provider=provider, attributes=attributes, tracer=self._tracer, parent=parent
        )
        run = _Run("chain", parent_run_id, chain.context, chain=chain)
        self._add(run_id, run)
        self._attach(run, otel_context.set_value(CHAIN_RUN_KEY, chain, trace.set_span_in_context(chain.span)))

    @staticmethod
    def _is_plumbing(name: str, tags: Sequence[str] | None, run_type: Any) -> bool:
        if run_type in ("prompt", "parser"):
            return True
        if tags and "langsmith:hidden" in tags:
            return True
        return name.split("<", 1)[0] in _PLUMBING

    @_guarded
    def on_chain_end(
        self,
        outputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """The chain finished: status unset (OK), token totals handed to the enclosing chain."""
        self._end_chain(run_id, None)

    @_guarded
    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """The chain raised (or was cancelled): ``error.type``, exception event, ERROR.

        A ``GeneratorExit`` (the consumer closed a stream early) is not an error: the span ends
        with ``llmotel.run.stop_reason="closed"``. LangChain itself currently swallows it and
        calls ``on_chain_end`` instead."""
        self._end_chain(run_id, error)

    def _end_chain(self, run_id: UUID, error: BaseException | None) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        self._release(run)
        chain = run.chain
        if chain is None:
            return
        if isinstance(error, GeneratorExit):  # the consumer closed a stream: not a failure of the chain
            chain.span.set_attribute(STOP_REASON, "closed")
            error = None
        chain.end(error)
        if not chain.usage.is_empty():
            ancestor = self._enclosing_chain(run.parent_id)
            if ancestor is not None:
                ancestor.add_usage(chain.usage)

    def _enclosing_chain(self, run_id: UUID | None) -> ChainRun | None:
        with self._lock:
            seen = 0
            while run_id is not None and seen < 1024:
                run = self._runs.get(run_id)
                if run is None:
                    return None
                if run.chain is not None:
                    return run.chain
                run_id = run.parent_id
                seen += 1
        return None

    # --- tools ---------------------------------------------------------------------------------

    @_guarded
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool runs: an ``execute_tool {name}`` span (arguments only with content capture)."""
        parent = self._parent(parent_run_id)
        if not is_instrumentation_enabled():
            self._passthrough(run_id, parent_run_id, parent)
            return
        attempt = self._note_retry(parent, tags)
        name = _run_name(serialized, kwargs, "unknown_tool")
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: name,
            sc.GEN_AI_TOOL_TYPE: "function",
            RUN_ID: str(run_id),
        }
        call_id = as_str(kwargs.get("tool_call_id"))
        if call_id:
            attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id
        description = as_str(serialized.get("description")) if isinstance(serialized, Mapping) else None
        if description:
            attributes[sc.GEN_AI_TOOL_DESCRIPTION] = description[:256]
        if attempt is not None:
            attributes[RETRY_ATTEMPT] = attempt
        if settings().capture_content:
            arguments = inputs if inputs is not None else maybe_json(input_str)
            if arguments is not None:
                attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(arguments)
        span = self._tracer.start_span(
            f"{sc.OP_EXECUTE_TOOL} {name}", context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        run = _Run("tool", parent_run_id, trace.set_span_in_context(span, parent), span=span)
        self._add(run_id, run)
        self._attach(run, trace.set_span_in_context(span))

    @_guarded
    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """The tool returned: OK (result only with capture); a ``ToolMessage`` with
        ``status="error"`` (a handled tool error) ends the span ERROR."""
        run = self._pop(run_id)
        if run is None:
            return
        self._release(run)
        span = run.span
        if span is None:
            return
        call_id = as_str(getattr(output, "tool_call_id", None))
        if call_id and span.is_recording():
            span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, call_id)
        capture = settings().capture_content and span.is_recording()
        if getattr(output, "status", None) == "error":
            fail_tool(span, str(cx.tool_result_content(output))[:512], "tool_error")
            return
        complete_tool(span, cx.tool_result_content(output) if capture else None, capture)

    @_guarded
    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """The tool raised: ``error.type``, exception event, ERROR."""
        run = self._pop(run_id)
        if run is None:
            return
        self._release(run)
        if run.span is not None:
            fail_tool(run.span, error, error_type(error))

    # --- retriever runs: no span, but their children keep their parentage --------------------

    @_guarded
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Retrievers get no span of their own (no GenAI operation for them here)."""
        self._passthrough(run_id, parent_run_id, self._parent(parent_run_id))

    @_guarded
    def on_retriever_end(
        self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Forget the retriever run."""
        self._pop(run_id)

    @_guarded
    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Forget the retriever run."""
        self._pop(run_id)

    # --- events --------------------------------------------------------------------------------

    @_guarded
    def on_retry(
        self,
        retry_state: RetryCallState,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """A retry is about to happen: ``llmotel.retry`` with the upcoming attempt number."""
        attributes: dict[str, Any] = {}
        attempt = as_int(getattr(retry_state, "attempt_number", None))
        if attempt is not None:
            attributes[RETRY_ATTEMPT] = attempt + 1  # the attempt about to start, as with_retry tags it
        outcome = getattr(retry_state, "outcome", None)
        if outcome is not None and getattr(outcome, "failed", False):
            exc = outcome.exception()
            if isinstance(exc, BaseException):
                attributes[sc.ERROR_TYPE] = error_type(exc)
        sleep = as_float(getattr(getattr(retry_state, "next_action", None), "sleep", None))
        if sleep is not None:
            attributes["llmotel.retry.sleep_s"] = sleep
        self._event(run_id, "llmotel.retry", attributes)

    @_guarded
    def on_agent_action(
        self,
        action: AgentAction,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """The agent chose a tool: ``llmotel.agent.action`` (tool input and log only with capture)."""
        attributes: dict[str, Any] = {sc.GEN_AI_TOOL_NAME: as_str(getattr(action, "tool", None)) or "unknown_tool"}
        if settings().capture_content:
            tool_input = getattr(action, "tool_input", None)
            if tool_input is not None:
                attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = _json(tool_input)
            log = getattr(action, "log", None)
            if isinstance(log, str) and log:
                attributes["llmotel.agent.log"] = _cut(log)
        self._event(run_id, "llmotel.agent.action", attributes)

    @_guarded
    def on_agent_finish(
        self,
        finish: AgentFinish,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """The agent finished: ``llmotel.agent.finish`` (output and log only with capture)."""
        attributes: dict[str, Any] = {}
        if settings().capture_content:
            values = getattr(finish, "return_values", None)
            if values is not None:
                attributes["llmotel.agent.output"] = _json(values)
            log = getattr(finish, "log", None)
            if isinstance(log, str) and log:
                attributes["llmotel.agent.log"] = _cut(log)
        self._event(run_id, "llmotel.agent.finish", attributes)

    @_guarded
    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``dispatch_custom_event``: ``llmotel.custom_event`` with its name (data only with capture)."""
        attributes: dict[str, Any] = {"llmotel.custom_event.name": str(name)}
        if settings().capture_content and data is not None:
            attributes["llmotel.custom_event.data"] = _json(data)
        self._event(run_id, "llmotel.custom_event", attributes)
