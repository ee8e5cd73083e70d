"""``LlmotelCallbackHandler``: LangChain's callback lifecycle mapped onto llmotel's telemetry.

Each callback becomes a call of the telemetry lifecycle (``Telemetry.start`` for model runs,
``ChainRun`` for chains, ``ToolRun`` for tools, events): no span or context API here. The runs in
flight and their contexts are kept by ``_runs.Runs``; LangChain objects are read by ``_extract``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from llmotel import semconv as sc
from llmotel.config import settings
from llmotel.extract import callbacks as cx
from llmotel.extract._access import as_str, maybe_json
from llmotel.integrations.langchain._events import RETRY_ATTEMPT, EventCallbacks, guarded
from llmotel.integrations.langchain._extract import (
    LangChainExtractor,
    ModelParams,
    conversation_id,
    is_agent,
    is_plumbing,
    provider_of,
    retry_attempt,
    run_name,
)
from llmotel.integrations.langchain._runs import ABANDONED, Runs
from llmotel.records import Chain, LLMCall, ToolCall
from llmotel.telemetry.attributes import error_type
from llmotel.telemetry.chains import ChainRun
from llmotel.telemetry.context import Context, instrumentation_enabled
from llmotel.telemetry.events import event_in
from llmotel.telemetry.spans import Telemetry, inside_inference
from llmotel.telemetry.tools import ToolRun
from llmotel.wrap.decorators import default_telemetry

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult
    from opentelemetry._logs import LoggerProvider
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["ABANDONED", "DEFAULT_MAX_RUNS", "LlmotelCallbackHandler"]

DEFAULT_MAX_RUNS = 10_000
"""Runs kept open at most; beyond it the oldest is ended (``llmotel.run.abandoned=true``)."""

ChainSpans = Literal["all", "named"]

RUN_ID = "llmotel.langchain.run_id"
STOP_REASON = "llmotel.run.stop_reason"


class LlmotelCallbackHandler(EventCallbacks, BaseCallbackHandler):
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
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        *,
        chain_spans: ChainSpans = "all",
        attach_context: bool = True,
        max_runs: int = DEFAULT_MAX_RUNS,
    ) -> None:
        super().__init__()
        if chain_spans not in ("all", "named"):
            raise ValueError(f"chain_spans must be 'all' or 'named', not {chain_spans!r}")
        if tracer_provider is None and meter_provider is None and logger_provider is None:
            self._telemetry = default_telemetry()
        else:
            self._telemetry = Telemetry(tracer_provider, meter_provider, logger_provider)
        self._tracer = self._telemetry.tracer
        self._extractor = LangChainExtractor()
        self.chain_spans: ChainSpans = chain_spans
        self.attach_context = attach_context
        self._runs = Runs(max_runs, attach_context)
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

    @property
    def max_runs(self) -> int:
        """Runs kept open at most."""
        return self._runs.limit

    def _note_retry(self, parent: Context | None, tags: Sequence[str] | None) -> int | None:
        """``with_retry`` tags attempt N>1 with ``retry:attempt:N``: an event on the retrying run."""
        attempt = retry_attempt(tags)
        if attempt is not None and attempt > 1:
            event_in(parent, "llmotel.retry", {RETRY_ATTEMPT: attempt})
        return attempt

    def _common(self, run_id: UUID, attempt: int | None) -> dict[str, Any]:
        """The attributes every span of a run gets: run id, retry attempt (the conversation id
        goes in the run's record, so the details event and the spans inside carry it too)."""
        extra: dict[str, Any] = {RUN_ID: str(run_id)}
        if attempt is not None:
            extra[RETRY_ATTEMPT] = attempt
        return extra

    # --- models --------------------------------------------------------------------------------

    @guarded
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

    @guarded
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
        parent = self._runs.parent(parent_run_id)
        if not instrumentation_enabled() or inside_inference(parent):
            self._runs.passthrough(run_id, parent_run_id, parent)  # already inside an llmotel inference span
            return
        attempt = self._note_retry(parent, tags)
        raw = kwargs.get("invocation_params")
        params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        request = {"invocation_params": params, "metadata": metadata}
        call = LLMCall(operation, provider_of(serialized, metadata))
        self._extractor.request(call, None, (payload,), request)
        call.conversation_id = conversation_id(metadata)  # None: the context's, if any
        instance = ModelParams(params)
        llm = self._telemetry.start(call, self._extractor, (instance, (payload,), request), parent)
        llm.set_attributes(self._common(run_id, attempt))
        self._runs.start(run_id, parent_run_id, llm, parent, "llm")

    @guarded
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
        llm = self._runs.llm(run_id)
        if llm is None:
            return
        if llm.call.stream_state is None:
            llm.start_stream()
        llm.chunk(chunk if chunk is not None else token)

    @guarded
    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """The model returned: response facts, usage, output (with capture); the span ends."""
        llm = self._runs.finish_llm(run_id)
        if llm is not None:
            llm.finish(response)

    @guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The model call failed (or its stream was closed / cancelled): ``error.type``, ERROR."""
        llm = self._runs.finish_llm(run_id)
        if llm is not None:
            llm.finish_with_error(error)

    # --- chains --------------------------------------------------------------------------------

    @guarded
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
        parent = self._runs.parent(parent_run_id)
        name = run_name(serialized, kwargs, "chain")
        if not instrumentation_enabled() or (
            self.chain_spans == "named"
            and parent_run_id is not None
            and is_plumbing(name, tags, kwargs.get("run_type"))
        ):
            self._runs.passthrough(run_id, parent_run_id, parent)
            return
        attempt = self._note_retry(parent, tags)
        agent = is_agent(name, tags)
        provider = provider_of(None, metadata) if agent and metadata and metadata.get("ls_provider") else None
        record = Chain(name, agent, provider, self._common(run_id, attempt), conversation_id(metadata))
        chain = ChainRun(record, tracer=self._tracer, parent=parent)
        self._runs.start(run_id, parent_run_id, chain, parent, "chain")

    @guarded
    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """The chain finished: status unset (OK), token totals handed to the enclosing chain."""
        self._end_chain(run_id, None)

    @guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The chain raised (or was cancelled): ``error.type``, exception event, ERROR.

        A ``GeneratorExit`` (the consumer closed a stream early) is not an error: the span ends
        with ``llmotel.run.stop_reason="closed"``. LangChain itself currently swallows it and
        calls ``on_chain_end`` instead."""
        self._end_chain(run_id, error)

    def _end_chain(self, run_id: UUID, error: BaseException | None) -> None:
        run = self._runs.finish(run_id)
        chain = run.chain if run is not None else None
        if run is None or chain is None:
            return
        if isinstance(error, GeneratorExit):  # the consumer closed a stream: not a failure of the chain
            chain.set_attribute(STOP_REASON, "closed")
            error = None
        chain.end(error)
        if not chain.usage.is_empty():
            ancestor = self._runs.enclosing_chain(run.parent_id)
            if ancestor is not None:
                ancestor.add_usage(chain.usage)

    # --- tools ---------------------------------------------------------------------------------

    @guarded
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
        parent = self._runs.parent(parent_run_id)
        if not instrumentation_enabled():
            self._runs.passthrough(run_id, parent_run_id, parent)
            return
        attempt = self._note_retry(parent, tags)
        description = as_str(serialized.get("description")) if isinstance(serialized, Mapping) else None
        arguments = None
        if settings().capture_content:
            arguments = inputs if inputs is not None else maybe_json(input_str)
        tool = ToolCall(
            run_name(serialized, kwargs, "unknown_tool"),
            as_str(kwargs.get("tool_call_id")),
            description=description,
            arguments=arguments,
        )
        extra: dict[str, Any] = {RUN_ID: str(run_id)}
        if attempt is not None:
            extra[RETRY_ATTEMPT] = attempt
        self._runs.start(run_id, parent_run_id, ToolRun(self._tracer, tool, parent, extra), parent, "tool")

    @guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The tool returned: OK (result only with capture); a ``ToolMessage`` with
        ``status="error"`` (a handled tool error) ends the span ERROR."""
        run = self._runs.finish(run_id)
        tool = run.tool if run is not None else None
        if tool is None:
            return
        call_id = as_str(getattr(output, "tool_call_id", None))
        if call_id:
            tool.set_call_id(call_id)
        if getattr(output, "status", None) == "error":
            tool.fail(str(cx.tool_result_content(output))[:512], "tool_error")
            return
        tool.complete(cx.tool_result_content(output) if tool.capture else None)

    @guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The tool raised: ``error.type``, exception event, ERROR."""
        run = self._runs.finish(run_id)
        if run is not None and run.tool is not None:
            run.tool.fail(error, error_type(error))

    # --- retriever runs: no span, but their children keep their parentage --------------------

    @guarded
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
        self._runs.passthrough(run_id, parent_run_id, self._runs.parent(parent_run_id))

    @guarded
    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the retriever run."""
        self._runs.forget(run_id)

    @guarded
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the retriever run."""
        self._runs.forget(run_id)
