"""LangChain bridge: ``LlmotelCallbackHandler`` driven by real langchain-core runnables and its own
fake models (no network). Whole traces: names, kinds, parentage, attributes, events, status,
streaming, async, retries, tools, content capture, the bounded run map and context hygiene."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.callbacks import CallbackManagerForChainRun, CallbackManagerForLLMRun
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import ToolException, tool
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_none

import llmotel
from conftest import TRACER_PROVIDER, finished
from helpers.spans import attrs, is_child, named, one, parent_of
from llmotel import config
from llmotel import semconv as sc
from llmotel._safety import internal_error_counts
from llmotel.integrations.langchain import LangChainInstrumentor, LlmotelCallbackHandler
from llmotel.telemetry.spans import CHAIN_RUN_KEY, INFERENCE_SPAN_KEY

# --- helpers -------------------------------------------------------------------------------------


def events(span: ReadableSpan, name: str | None = None) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if name is None or e.name == name]


def context_is_clean() -> bool:
    return otel_context.get_value(INFERENCE_SPAN_KEY) is None and otel_context.get_value(CHAIN_RUN_KEY) is None


class OpenAIStyleChat(FakeMessagesListChatModel):
    """A fake chat model that reports LangSmith params the way langchain-openai does."""

    model_name: str = "gpt-4o-mini"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        params["ls_model_name"] = kwargs.get("model", self.model_name)
        return params


def usage_message(text: str = "Paris.", **extra: Any) -> AIMessage:
    return AIMessage(
        text,
        id="chatcmpl-123",
        usage_metadata={
            "input_tokens": 25,
            "output_tokens": 7,
            "total_tokens": 32,
            "input_token_details": {"cache_read": 10},
            "output_token_details": {"reasoning": 3},
        },
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
        **extra,
    )


def qa_chain(model: BaseChatModel) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "You answer geography questions."), ("human", "{q}")])
    return prompt | model | StrOutputParser()


@llmotel.trace_chat(provider="openai", model="gpt-inner")
def provider_call(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Stands in for an instrumented provider SDK call made inside a LangChain step."""
    return {"id": "resp-inner", "model": "gpt-inner", "choices": [{"finish_reason": "stop", "message": {}}]}


@llmotel.trace_chat(provider="openai", model="gpt-inner")
async def async_provider_call(messages: list[dict[str, Any]]) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"id": "resp-inner-async", "model": "gpt-inner", "choices": [{"finish_reason": "stop", "message": {}}]}


@pytest.fixture
def handler() -> LlmotelCallbackHandler:
    return LlmotelCallbackHandler()


@pytest.fixture
def cfg(handler: LlmotelCallbackHandler) -> RunnableConfig:
    return {"callbacks": [handler]}


@pytest.fixture(autouse=True)
def _hygiene(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: no context left behind, no detach errors, no swallowed handler errors."""
    caplog.set_level(logging.DEBUG)
    before, before_context = trace.get_current_span(), otel_context.get_current()
    yield
    assert trace.get_current_span() is before
    assert otel_context.get_current() is before_context  # sync runs: a real detach, in the same Context
    assert context_is_clean()
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    bad = [
        r.getMessage()
        for r in records
        if "Failed to detach context" in r.getMessage()
        or r.name == "opentelemetry.context"
        or (r.name.startswith("langchain_core") and r.levelno >= logging.WARNING)
    ]
    assert bad == []


# --- chat models in a chain ------------------------------------------------------------------------


def test_chain_trace_with_usage_and_request_params(handler: LlmotelCallbackHandler, cfg: RunnableConfig) -> None:
    model = OpenAIStyleChat(responses=[usage_message()]).bind(temperature=0.2, max_tokens=64, stop=["END"])
    assert qa_chain(model).invoke({"q": "Capital of France?"}, config=cfg) == "Paris."

    spans = finished()
    assert sorted(s.name for s in spans) == [
        "chat gpt-4o-mini",
        "invoke_workflow ChatPromptTemplate",
        "invoke_workflow RunnableSequence",
        "invoke_workflow StrOutputParser",
    ]
    root = one("invoke_workflow RunnableSequence")
    chat = one("chat gpt-4o-mini")
    assert root.parent is None
    for span in spans:
        if span is not root:
            assert is_child(span, root), span.name
    assert chat.kind is SpanKind.CLIENT
    assert root.kind is SpanKind.INTERNAL
    a = attrs(chat)
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a["llmotel.model.temperature"] == 0.2  # the run's invocation params, as model configuration
    assert a["llmotel.model.max_tokens"] == 64
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-123"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 25
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 10
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 3
    assert "llmotel.usage.unknown" not in a
    assert uuid.UUID(a["llmotel.langchain.run_id"])
    assert chat.status.status_code is StatusCode.UNSET
    # content is off by default
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for k in a)
    # the workflow span carries the run's token totals
    r = attrs(root)
    assert r[sc.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert r[sc.GEN_AI_WORKFLOW_NAME] == "RunnableSequence"
    assert (r[sc.GEN_AI_USAGE_INPUT_TOKENS], r[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (25, 7)
    assert handler.open_runs == 0


def test_usage_and_finish_reason_from_llm_output(cfg: RunnableConfig) -> None:
    class LegacyShapeChat(BaseChatModel):
        """Reports usage only in ``llm_output`` and the finish reason in ``generation_info``."""

        @property
        def _llm_type(self) -> str:
            return "legacy-shape"

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            generation = ChatGeneration(message=AIMessage("cut"), generation_info={"finish_reason": "length"})
            return ChatResult(
                generations=[generation],
                llm_output={"token_usage": {"prompt_tokens": 11, "completion_tokens": 3}, "model_name": "gpt-x-01"},
            )

    LegacyShapeChat().invoke("hi", config={**cfg, "metadata": {"ls_model_name": "from-metadata"}})
    chat = one("chat from-metadata")  # no model in the invocation params: the run's ls_model_name
    a = attrs(chat)
    assert a[sc.GEN_AI_PROVIDER_NAME] == "legacyshape"  # LangChain's ls_provider (class name), kept as is
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-x-01"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (11, 3)
    assert sc.GEN_AI_RESPONSE_ID not in a


def test_token_totals_roll_up_to_enclosing_chains(cfg: RunnableConfig) -> None:
    model = OpenAIStyleChat(responses=[usage_message(), usage_message()])
    ask = RunnableLambda(lambda q: model.invoke(q).content).with_config(run_name="ask")
    (ask | ask).invoke("Capital of France?", config=cfg)
    asks = named("invoke_workflow ask")
    assert len(asks) == 2 and len(named("chat gpt-4o-mini")) == 2
    for span in asks:  # each step: the usage of its own model call
        assert (attrs(span)[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs(span)[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (25, 7)
    root = attrs(one("invoke_workflow RunnableSequence"))
    assert (root[sc.GEN_AI_USAGE_INPUT_TOKENS], root[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (50, 14)


@pytest.mark.parametrize(
    ("serialized", "metadata", "expected"),
    [
        (None, {"ls_provider": "openai"}, "openai"),
        (None, {"ls_provider": "anthropic"}, "anthropic"),
        (None, {"ls_provider": "azure"}, "azure.ai.openai"),
        (None, {"ls_provider": "google_vertexai"}, "gcp.vertex_ai"),
        (None, {"ls_provider": "my_gateway"}, "my_gateway"),
        ({"id": ["langchain_anthropic", "chat_models", "ChatAnthropic"]}, {}, "anthropic"),
        ({"id": ["langchain_openai", "chat_models", "azure", "AzureChatOpenAI"]}, None, "azure.ai.openai"),
        ({"id": ["my_pkg", "Model"]}, {}, "unknown"),
    ],
)
def test_provider_mapping(serialized: Any, metadata: Any, expected: str) -> None:
    from llmotel.integrations.langchain._extract import provider_of

    assert provider_of(serialized, metadata) == expected


def test_content_capture(capture_content: None, cfg: RunnableConfig) -> None:
    reply = usage_message(
        "",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call-9", "type": "tool_call"}],
    )
    qa_chain(OpenAIStyleChat(responses=[reply])).invoke({"q": "Weather in Paris?"}, config=cfg)
    a = attrs(one("chat gpt-4o-mini"))
    inputs = json.loads(a[sc.GEN_AI_INPUT_MESSAGES])
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "You answer geography questions."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    ]
    outputs = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call-9", "name": "get_weather", "arguments": {"city": "Paris"}}],
            "finish_reason": "stop",
        }
    ]


def test_text_completion_llm(capture_content: None, cfg: RunnableConfig) -> None:
    FakeListLLM(responses=["Bonjour"]).invoke("Say hello in French", config=cfg)
    span = one("text_completion")
    a = attrs(span)
    assert span.kind is SpanKind.CLIENT
    assert a[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "fakelist"
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello in French"}]}
    ]
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Bonjour"}], "finish_reason": "stop"}
    ]


def test_secrets_in_model_fields_never_reach_spans(capture_content: None, cfg: RunnableConfig) -> None:
    class KeyedChat(OpenAIStyleChat):
        api_key: str = "sk-test-secret-key-123"

        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model_name": self.model_name, "api_key": self.api_key}

    KeyedChat(responses=[AIMessage("ok")]).invoke("hi", config=cfg)
    span = one("chat gpt-4o-mini")
    assert attrs(span)["llmotel.model.model_name"] == "gpt-4o-mini"
    assert all("sk-test" not in str(v) for v in attrs(span).values())  # the scanner checks every span too


# --- errors ------------------------------------------------------------------------------------


def test_failing_step_marks_step_and_chain(cfg: RunnableConfig) -> None:
    def explode(_: Any) -> str:
        raise ValueError("bad input")

    chain = RunnableLambda(lambda x: x).with_config(run_name="prepare") | RunnableLambda(explode)
    with pytest.raises(ValueError, match="bad input"):
        chain.invoke("x", config=cfg)
    step, root = one("invoke_workflow explode"), one("invoke_workflow RunnableSequence")
    assert is_child(step, root)
    assert one("invoke_workflow prepare").status.status_code is StatusCode.UNSET
    for span in (step, root):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)[sc.ERROR_TYPE] == "ValueError"
        assert [e.name for e in span.events] == ["exception"]


def test_failing_model(cfg: RunnableConfig) -> None:
    class DownChat(GenericFakeChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise ConnectionError("provider down")

    with pytest.raises(ConnectionError):
        DownChat(messages=iter([])).invoke("hi", config=cfg)
    chat = one("chat")
    assert chat.status.status_code is StatusCode.ERROR
    assert attrs(chat)[sc.ERROR_TYPE] == "ConnectionError"
    assert events(chat, "exception")[0]["exception.message"] == "provider down"


# --- streaming -----------------------------------------------------------------------------------


def test_stream_counts_chunks_and_ends_with_the_stream(cfg: RunnableConfig) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | GenericFakeChatModel(
        messages=iter(["hello brave new world"])
    )
    stream = chain.stream({"q": "hi"}, config=cfg)
    received = [next(stream)]
    assert named("chat") == []  # the LLM span is still open while the caller reads
    received.extend(stream)
    chat = one("chat")
    a = attrs(chat)
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.LLMOTEL_STREAM_CHUNKS] == len(received) == 7
    assert a[sc.LLMOTEL_STREAM_COMPLETED] is True
    assert a[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    chunks = events(chat, sc.EVENT_STREAM_CHUNK)
    assert [c[sc.EVENT_CHUNK_INDEX] for c in chunks] == list(range(7))
    assert [c[sc.EVENT_CHUNK_SIZE] for c in chunks] == [5, 1, 5, 1, 3, 1, 5]
    assert all(sc.EVENT_CHUNK_CONTENT not in c for c in chunks)
    assert is_child(chat, one("invoke_workflow RunnableSequence"))


def test_stream_with_capture_records_output(capture_content: None, cfg: RunnableConfig) -> None:
    received = "".join(str(c.content) for c in GenericFakeChatModel(messages=iter(["a b"])).stream("x", config=cfg))
    a = attrs(one("chat"))
    assert received == "a b"
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "a b"}]
    assert [c[sc.EVENT_CHUNK_CONTENT] for c in events(one("chat"), sc.EVENT_STREAM_CHUNK)] == ["a", " ", "b"]


def test_stream_failing_midway(cfg: RunnableConfig) -> None:
    class BrokenStreamChat(GenericFakeChatModel):
        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            stream = super()._stream(*args, **kwargs)
            yield next(stream)
            raise ConnectionResetError("connection dropped")

    received = []
    with pytest.raises(ConnectionResetError):
        for chunk in BrokenStreamChat(messages=iter(["never finished"])).stream("hi", config=cfg):
            received.append(chunk)
    chat = one("chat")
    a = attrs(chat)
    assert len(received) == a[sc.LLMOTEL_STREAM_CHUNKS] == 1
    assert a[sc.LLMOTEL_STREAM_STOP_REASON] == "error"
    assert a[sc.ERROR_TYPE] == "ConnectionResetError"
    assert chat.status.status_code is StatusCode.ERROR


def test_stream_closed_early_is_not_an_error(cfg: RunnableConfig) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | GenericFakeChatModel(
        messages=iter(["one two three four"])
    )
    for _ in chain.stream({"q": "hi"}, config=cfg):
        break
    chat, root = one("chat"), one("invoke_workflow RunnableSequence")
    a = attrs(chat)
    assert a[sc.LLMOTEL_STREAM_COMPLETED] is False
    assert a[sc.LLMOTEL_STREAM_STOP_REASON] == "closed"
    assert a[sc.LLMOTEL_STREAM_CHUNKS] == 1
    assert chat.status.status_code is StatusCode.UNSET
    assert root.status.status_code is StatusCode.UNSET  # LangChain ends the chain normally


# --- async ---------------------------------------------------------------------------------------


async def test_ainvoke_trace_and_parentage(handler: LlmotelCallbackHandler, cfg: RunnableConfig) -> None:
    async def lookup(x: Any) -> Any:
        await async_provider_call([{"role": "user", "content": "x"}])
        return x

    chain = qa_chain(OpenAIStyleChat(responses=[usage_message()])) | RunnableLambda(lookup)
    before = trace.get_current_span()
    assert await chain.ainvoke({"q": "Capital?"}, config=cfg) == "Paris."
    assert trace.get_current_span() is before and context_is_clean()

    root, chat, step = (
        one("invoke_workflow RunnableSequence"),
        one("chat gpt-4o-mini"),
        one("invoke_workflow lookup"),
    )
    inner = one("chat gpt-inner")
    assert is_child(chat, root) and is_child(step, root) and is_child(inner, step)
    assert attrs(chat)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 25
    assert handler.open_runs == 0
    # after the run, the caller's context is what it was: a new call is a root span
    await async_provider_call([])
    assert named("chat gpt-inner")[-1].parent is None


async def test_astream(cfg: RunnableConfig) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | GenericFakeChatModel(messages=iter(["x y z"]))
    before = trace.get_current_span()
    received = [c async for c in chain.astream({"q": "hi"}, config=cfg)]
    assert trace.get_current_span() is before and context_is_clean()
    chat = one("chat")
    a = attrs(chat)
    assert a[sc.LLMOTEL_STREAM_CHUNKS] == len(received) == 5
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert a[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"
    assert is_child(chat, one("invoke_workflow RunnableSequence"))


async def test_async_error_and_context(cfg: RunnableConfig) -> None:
    async def explode(_: Any) -> str:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        await (RunnableLambda(lambda x: x) | RunnableLambda(explode)).ainvoke("x", config=cfg)
    step = one("invoke_workflow explode")
    assert step.status.status_code is StatusCode.ERROR
    assert attrs(step)[sc.ERROR_TYPE] == "KeyError"
    assert context_is_clean()


async def test_cancelled_async_run_ends_its_spans(handler: LlmotelCallbackHandler, cfg: RunnableConfig) -> None:
    started = asyncio.Event()

    async def wait_forever(x: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future((RunnableLambda(lambda x: x) | RunnableLambda(wait_forever)).ainvoke("x", config=cfg))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    step, root = one("invoke_workflow wait_forever"), one("invoke_workflow RunnableSequence")
    assert is_child(step, root)
    for span in (step, root):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)[sc.ERROR_TYPE] == "asyncio.exceptions.CancelledError"
    assert handler.open_runs == 0 and context_is_clean()


async def test_concurrent_async_runs_keep_their_own_parents(cfg: RunnableConfig) -> None:
    async def work(x: str) -> str:
        await asyncio.sleep(0)  # yield: the five runs interleave
        await async_provider_call([{"role": "user", "content": x}])
        return x

    chains = [RunnableLambda(work).with_config(run_name=f"job-{i}") for i in range(5)]
    await asyncio.gather(*(c.ainvoke(str(i), config=cfg) for i, c in enumerate(chains)))
    inner = named("chat gpt-inner")
    assert len(inner) == 5
    assert sorted(parent_of(s).name for s in inner) == [f"invoke_workflow job-{i}" for i in range(5)]  # type: ignore[union-attr]


# --- parentage of spans made inside LangChain steps -----------------------------------------------


def test_decorated_call_inside_a_step_gets_the_step_as_parent(cfg: RunnableConfig) -> None:
    def lookup(x: Any) -> Any:
        provider_call([{"role": "user", "content": "x"}])
        return x

    chain = RunnableLambda(lambda x: x).with_config(run_name="prepare") | RunnableLambda(lookup)
    with TRACER_PROVIDER.get_tracer("tests").start_as_current_span("request") as outer:
        chain.invoke("q", config=cfg)
        assert trace.get_current_span() is outer
    inner, step = one("chat gpt-inner"), one("invoke_workflow lookup")
    root = one("invoke_workflow RunnableSequence")
    assert is_child(inner, step) and is_child(step, root) and is_child(root, one("request"))


async def test_sync_step_under_ainvoke_gets_the_step_as_parent(cfg: RunnableConfig) -> None:
    def lookup(x: Any) -> Any:  # a sync function: LangChain runs it in an executor thread
        provider_call([{"role": "user", "content": "x"}])
        return x

    await (RunnableLambda(lambda x: x) | RunnableLambda(lookup)).ainvoke("q", config=cfg)
    assert is_child(one("chat gpt-inner"), one("invoke_workflow lookup"))


class WrappingChat(GenericFakeChatModel):
    """A LangChain model whose implementation calls an llmotel-instrumented provider function."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        provider_call([{"role": "user", "content": "hi"}])
        return super()._generate(messages, *args, **kwargs)

    async def _agenerate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        await async_provider_call([{"role": "user", "content": "hi"}])
        return super()._generate(messages, *args, **kwargs)


def test_provider_call_inside_a_model_run_is_not_traced_twice(cfg: RunnableConfig) -> None:
    WrappingChat(messages=iter(["hello"])).invoke("hi", config=cfg)
    assert [s.name for s in finished()] == ["chat"]


async def test_provider_call_inside_an_async_model_run_is_not_traced_twice(cfg: RunnableConfig) -> None:
    await WrappingChat(messages=iter(["hello"])).ainvoke("hi", config=cfg)
    assert [s.name for s in finished()] == ["chat"]


def test_model_run_inside_a_decorated_call_is_not_traced_twice(cfg: RunnableConfig) -> None:
    model = FakeListChatModel(responses=["inner"])

    @llmotel.trace_chat(provider="openai", model="outer-model")
    def outer(prompt: str) -> Any:
        return model.invoke(prompt, config=cfg)

    outer("hi")
    assert [s.name for s in finished()] == ["chat outer-model"]


# --- tools ---------------------------------------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


@tool
def lookup_user(name: str) -> str:
    """Look a user up."""
    raise ToolException(f"no user {name}")


lookup_user.handle_tool_error = True


def tool_call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "args": args, "id": call_id}


def test_tool_span_under_chain(cfg: RunnableConfig) -> None:
    chain = RunnableLambda(lambda x: tool_call("add", x, "call-1")).with_config(run_name="plan") | add
    message = chain.invoke({"a": 2, "b": 3}, config=cfg)
    assert message.content == "5"
    span = one("execute_tool add")
    a = attrs(span)
    assert span.kind is SpanKind.INTERNAL
    assert is_child(span, one("invoke_workflow RunnableSequence"))
    assert a[sc.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert a[sc.GEN_AI_TOOL_NAME] == "add"
    assert a[sc.GEN_AI_TOOL_CALL_ID] == "call-1"
    assert a[sc.GEN_AI_TOOL_DESCRIPTION] == "Add two integers."
    assert span.status.status_code is StatusCode.OK
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in a and sc.GEN_AI_TOOL_CALL_RESULT not in a


def test_tool_content_with_capture(capture_content: None, cfg: RunnableConfig) -> None:
    add.invoke(tool_call("add", {"a": 1, "b": 2}, "call-2"), config=cfg)
    a = attrs(one("execute_tool add"))
    assert json.loads(a[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"a": 1, "b": 2}
    assert json.loads(a[sc.GEN_AI_TOOL_CALL_RESULT]) == "3"


def test_tool_errors(cfg: RunnableConfig) -> None:
    with pytest.raises(ZeroDivisionError):
        divide.invoke({"a": 1, "b": 0}, config=cfg)
    span = one("execute_tool divide")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "ZeroDivisionError"
    assert [e.name for e in span.events] == ["exception"]

    message = lookup_user.invoke(tool_call("lookup_user", {"name": "bob"}, "call-3"), config=cfg)
    assert message.status == "error"  # LangChain handled the ToolException and returned it
    handled = one("execute_tool lookup_user")
    assert handled.status.status_code is StatusCode.ERROR
    assert attrs(handled)[sc.ERROR_TYPE] == "tool_error"
    assert attrs(handled)[sc.GEN_AI_TOOL_CALL_ID] == "call-3"
    assert handled.status.description == "tool_error"  # the returned error text is content: capture is off


async def test_async_tool_call(cfg: RunnableConfig) -> None:
    before = otel_context.get_current()
    await add.ainvoke(tool_call("add", {"a": 4, "b": 4}, "call-4"), config=cfg)
    assert otel_context.get_current() is before  # async tool end runs inline: a real detach
    span = one("execute_tool add")
    assert attrs(span)[sc.GEN_AI_TOOL_CALL_ID] == "call-4"
    assert span.status.status_code is StatusCode.OK


# --- retries, agents, custom events ---------------------------------------------------------------


def test_with_retry_records_attempts(cfg: RunnableConfig) -> None:
    calls = itertools.count(1)

    def flaky(x: str) -> str:
        if next(calls) < 3:
            raise TimeoutError("slow")
        return x

    retrying = RunnableLambda(flaky).with_retry(
        retry_if_exception_type=(TimeoutError,), stop_after_attempt=3, wait_exponential_jitter=False
    )
    assert retrying.invoke("ok", config=cfg) == "ok"
    spans = named("invoke_workflow flaky")  # the retrying binding carries the bound runnable's name
    (retry_span,) = [s for s in spans if s.parent is None]
    attempts = sorted((s for s in spans if s is not retry_span), key=lambda s: s.start_time or 0)
    assert len(attempts) == 3 and all(is_child(s, retry_span) for s in attempts)
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert [attrs(s).get("llmotel.retry.attempt") for s in attempts] == [None, 2, 3]
    assert [e["llmotel.retry.attempt"] for e in events(retry_span, "llmotel.retry")] == [2, 3]
    assert retry_span.status.status_code is StatusCode.UNSET


def test_on_retry_callback_becomes_an_event(cfg: RunnableConfig) -> None:
    class FlakyChat(GenericFakeChatModel):
        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            assert run_manager is not None
            failures = iter([ConnectionError("reset"), ConnectionError("reset")])
            for attempt in Retrying(
                stop=stop_after_attempt(3),
                wait=wait_none(),
                retry=retry_if_exception_type(ConnectionError),
                before_sleep=run_manager.on_retry,
                reraise=True,
            ):
                with attempt:
                    error = next(failures, None)
                    if error is not None:
                        raise error
            return super()._generate(messages, stop, run_manager, **kwargs)

    FlakyChat(messages=iter(["done"])).invoke("hi", config=cfg)
    retries = events(one("chat"), "llmotel.retry")
    assert [r["llmotel.retry.attempt"] for r in retries] == [2, 3]
    assert all(r[sc.ERROR_TYPE] == "ConnectionError" for r in retries)


def agent_step(x: Any, run_manager: CallbackManagerForChainRun) -> str:
    run_manager.on_agent_action(AgentAction(tool="search", tool_input={"q": "otel"}, log="I should search"))
    run_manager.on_agent_finish(AgentFinish(return_values={"output": "done"}, log="Final answer"))
    dispatch_custom_event("checkpoint", {"step": 1})
    return "done"


def test_agent_span_and_events(cfg: RunnableConfig) -> None:
    RunnableLambda(agent_step).with_config(run_name="research agent").invoke("go", config=cfg)
    span = one("invoke_agent research agent")
    a = attrs(span)
    assert a[sc.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert a[sc.GEN_AI_AGENT_NAME] == "research agent"
    assert [e.name for e in span.events] == ["llmotel.agent.action", "llmotel.agent.finish", "llmotel.custom_event"]
    action, finish, custom = events(span)
    assert action == {sc.GEN_AI_TOOL_NAME: "search"}  # no tool input, no log without capture
    assert finish == {}
    assert custom == {"llmotel.custom_event.name": "checkpoint"}


def test_agent_events_with_capture(capture_content: None, cfg: RunnableConfig) -> None:
    RunnableLambda(agent_step).with_config(run_name="research agent").invoke("go", config=cfg)
    action, finish, custom = events(one("invoke_agent research agent"))
    assert action["llmotel.agent.log"] == "I should search"
    assert json.loads(action[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"q": "otel"}
    assert json.loads(finish["llmotel.agent.output"]) == {"output": "done"}
    assert json.loads(custom["llmotel.custom_event.data"]) == {"step": 1}


def test_conversation_id_from_thread_metadata(cfg: RunnableConfig) -> None:
    qa_chain(OpenAIStyleChat(responses=[AIMessage("x")])).invoke(
        {"q": "hi"}, config={**cfg, "metadata": {"thread_id": "thread-42"}}
    )
    for span in finished():
        assert attrs(span)[sc.GEN_AI_CONVERSATION_ID] == "thread-42", span.name


# --- options, run map, robustness -----------------------------------------------------------------


def test_named_chain_spans_skip_plumbing() -> None:
    handler = LlmotelCallbackHandler(chain_spans="named")
    chain = qa_chain(OpenAIStyleChat(responses=[AIMessage("x")])) | RunnableLambda(lambda s: s).with_config(
        run_name="postprocess"
    )
    chain.invoke({"q": "hi"}, config={"callbacks": [handler]})
    root = one("invoke_workflow RunnableSequence")
    assert sorted(s.name for s in finished()) == [
        "chat gpt-4o-mini",
        "invoke_workflow RunnableSequence",
        "invoke_workflow postprocess",
    ]
    assert is_child(one("chat gpt-4o-mini"), root) and is_child(one("invoke_workflow postprocess"), root)
    assert handler.open_runs == 0
    with pytest.raises(ValueError, match="chain_spans"):
        LlmotelCallbackHandler(chain_spans="some")  # type: ignore[arg-type]


def test_bounded_run_map_abandons_the_oldest_run() -> None:
    handler = LlmotelCallbackHandler(max_runs=2)
    ids = [uuid.uuid4() for _ in range(3)]
    for i, run_id in enumerate(ids):
        handler.on_chain_start({"name": f"run-{i}"}, {}, run_id=run_id, parent_run_id=None)
    assert handler.open_runs == 2
    abandoned = one("invoke_workflow run-0")
    assert attrs(abandoned)["llmotel.run.abandoned"] is True
    handler.on_chain_end({}, run_id=ids[1])
    handler.on_chain_error(RuntimeError("x"), run_id=ids[2])
    handler.on_chain_end({}, run_id=ids[0])  # unknown by now: ignored
    assert handler.open_runs == 0
    assert len(finished()) == 3
    assert context_is_clean()


def test_runs_are_released_after_batches_in_threads(handler: LlmotelCallbackHandler, cfg: RunnableConfig) -> None:
    model = OpenAIStyleChat(responses=[AIMessage(str(i)) for i in range(4)])
    results = qa_chain(model).batch([{"q": str(i)} for i in range(4)], config={**cfg, "max_concurrency": 4})
    assert len(results) == 4
    roots = named("invoke_workflow RunnableSequence")
    chats = named("chat gpt-4o-mini")
    assert len(roots) == len(chats) == 4
    assert {parent_of(c).context.span_id for c in chats} == {r.context.span_id for r in roots}  # type: ignore[union-attr]
    assert handler.open_runs == 0


def test_handler_errors_never_reach_langchain_outside_strict_mode(
    env: Any, monkeypatch: pytest.MonkeyPatch, cfg: RunnableConfig, handler: LlmotelCallbackHandler
) -> None:
    env(LLMOTEL_STRICT="0")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(handler._extractor, "request", broken)
    assert qa_chain(OpenAIStyleChat(responses=[AIMessage("still works")])).invoke({"q": "hi"}, config=cfg) == (
        "still works"
    )
    assert internal_error_counts().get("langchain on_chat_model_start") == 1
    assert handler.raise_error is False
    config.reload_settings()


def test_strict_mode_surfaces_handler_errors(
    monkeypatch: pytest.MonkeyPatch, handler: LlmotelCallbackHandler, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(handler._extractor, "request", broken)
    assert handler.raise_error is True
    with pytest.raises(llmotel._safety.InternalError):
        FakeListChatModel(responses=["x"]).invoke("hi", config={"callbacks": [handler]})
    assert [r.name for r in caplog.records if "LlmotelCallbackHandler" in r.getMessage()] == [
        "langchain_core.callbacks.manager"
    ]
    caplog.clear()  # the expected report; the hygiene check looks at everything else


def test_attach_context_off_keeps_langchain_parentage_only(cfg: RunnableConfig) -> None:
    handler = LlmotelCallbackHandler(attach_context=False)

    def lookup(x: Any) -> Any:
        assert trace.get_current_span() is trace.INVALID_SPAN
        return x

    (RunnableLambda(lambda x: x) | RunnableLambda(lookup)).invoke("q", config={"callbacks": [handler]})
    assert is_child(one("invoke_workflow lookup"), one("invoke_workflow RunnableSequence"))


def test_copies_of_a_config_share_the_handler(handler: LlmotelCallbackHandler) -> None:
    import copy

    assert copy.deepcopy({"callbacks": [handler]})["callbacks"][0] is handler
    assert copy.copy(handler) is handler


def test_own_tracer_provider() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = LlmotelCallbackHandler(tracer_provider=provider)
    FakeListChatModel(responses=["x"]).invoke("hi", config={"callbacks": [handler]})
    assert [s.name for s in exporter.get_finished_spans()] == ["chat"]
    assert finished() == []


def test_instrumentor_traces_runs_without_callbacks() -> None:
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument()
    try:
        qa_chain(OpenAIStyleChat(responses=[usage_message()])).invoke({"q": "Capital?"})
        assert is_child(one("chat gpt-4o-mini"), one("invoke_workflow RunnableSequence"))
        # a handler the user passes as well is not doubled
        FakeListChatModel(responses=["x"]).invoke("hi", config={"callbacks": [LlmotelCallbackHandler()]})
        assert len(named("chat")) == 1
    finally:
        instrumentor.uninstrument()
    FakeListChatModel(responses=["y"]).invoke("hi")
    assert len(named("chat")) == 1 and len(finished()) == 5


def test_instrumentor_waits_for_langchain_to_be_imported() -> None:
    code = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
from llmotel.integrations.langchain import LangChainInstrumentor

LangChainInstrumentor().instrument(tracer_provider=provider)
assert not [m for m in sys.modules if m.startswith("langchain")], "langchain imported too early"
from langchain_core.language_models.fake_chat_models import FakeListChatModel

FakeListChatModel(responses=["x"]).invoke("hi")
print([s.name for s in exporter.get_finished_spans()])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "['chat']"
    assert out.stderr == ""


def test_import_llmotel_does_not_import_langchain() -> None:
    code = "import sys, llmotel; assert not [m for m in sys.modules if m.startswith('langchain')], 'langchain imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- async stream consumers: the handler's context never leaks into the caller --------------------


async def _consume(stream: AsyncIterator[Any]) -> int:
    return len([c async for c in stream])


async def test_interleaved_async_streams_restore_context(cfg: RunnableConfig) -> None:
    a = GenericFakeChatModel(messages=iter(["a b c"])).astream("x", config=cfg)
    b = GenericFakeChatModel(messages=iter(["d e"])).astream("y", config=cfg)
    counts = await asyncio.gather(_consume(a), _consume(b))
    assert counts == [5, 3]
    assert sorted(attrs(s)[sc.LLMOTEL_STREAM_CHUNKS] for s in named("chat")) == [3, 5]
    assert context_is_clean()
