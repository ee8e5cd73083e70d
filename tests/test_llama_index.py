"""LlamaIndex bridge: real llama-index-core (its dispatcher, MockLLM, CustomLLM, FunctionTool,
VectorStoreIndex with MockEmbedding, FunctionAgent with MockFunctionCallingLLM), no network.

Whole traces are checked: names, kinds, parentage, attributes, events, status, stream ends,
context after the call, and llmotel's own errors (which LlamaIndex's dispatcher would swallow).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events.agent import AgentToolCallEvent
from llama_index.core.llms import CustomLLM, MockLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.tools import FunctionTool, ToolMetadata, ToolOutput
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmotel
from conftest import FAKE_SECRETS, finished, metric_points
from helpers.spans import attrs, one, parent_of
from llmotel import _safety
from llmotel.integrations import llama_index as li

try:  # llama-index-core >= 0.14.10 (older releases have no function-calling mock LLM)
    from llama_index.core.llms.mock import MockFunctionCallingLLM
except ImportError:
    MockFunctionCallingLLM = None  # type: ignore[assignment,misc]

needs_mock_function_calling_llm = pytest.mark.skipif(
    MockFunctionCallingLLM is None,
    reason="this llama-index-core has no llama_index.core.llms.mock.MockFunctionCallingLLM (added in 0.14.10)",
)

DISPATCHER = get_dispatcher("tests.test_llama_index")
USER = [ChatMessage(role=MessageRole.USER, content="Hi there")]
CHAT_RAW = {
    "id": "chatcmpl-1",
    "model": "fake-model-2024-01",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3},
}
COMPLETION_RAW = {
    "id": "cmpl-1",
    "model": "fake-model-2024-01",
    "choices": [{"index": 0, "text": "done", "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1},
}


def chunk_raw(piece: str, last: bool) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "chatcmpl-s1",
        "model": "fake-model-2024-01",
        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": "stop" if last else None}],
    }
    if last:
        raw["usage"] = {"prompt_tokens": 9, "completion_tokens": 4}
    return raw


class FakeLLM(CustomLLM):
    """A provider-shaped LLM: OpenAI-like ``raw`` on every response and chunk, native async."""

    model: str = "fake-model"
    temperature: float = 0.25
    max_tokens: int = 64
    api_key: str = FAKE_SECRETS[0]
    fail_with: Any = None
    stream_fail_after: Any = None
    pieces: list[str] = ["Hel", "lo", "!"]
    chunk_barrier: Any = None
    """A ``threading.Barrier`` every stream waits on at its second chunk (threads mid-stream together)."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True, num_output=self.max_tokens)

    def _chunks(self) -> Generator[ChatResponse, None, None]:
        text = ""
        for i, piece in enumerate(self.pieces):
            if self.stream_fail_after is not None and i >= self.stream_fail_after:
                raise RuntimeError("stream broke")
            if self.chunk_barrier is not None and i == 1:
                self.chunk_barrier.wait(timeout=30)
            text += piece
            yield ChatResponse(
                message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                delta=piece,
                raw=chunk_raw(piece, i == len(self.pieces) - 1),
            )

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.fail_with is not None:
            raise self.fail_with
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="Hello!"), raw=CHAT_RAW)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._chunks()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="Hello!"), raw=CHAT_RAW)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        async def gen() -> AsyncGenerator[ChatResponse, None]:
            for item in self._chunks():
                await asyncio.sleep(0)
                yield item

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="done", raw=COMPLETION_RAW)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> Generator[CompletionResponse, None, None]:
            yield CompletionResponse(text="done", delta="done", raw=COMPLETION_RAW)

        return gen()


class InnerUsageLLM(CustomLLM):
    """Only ``complete``/``stream_complete``: ``chat``/``stream_chat`` come from ``CustomLLM`` and
    convert, which moves ``additional_kwargs`` (with the usage) off the response."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="inner-model")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(
            text="ok", raw={"id": "inner-1"}, additional_kwargs={"prompt_tokens": 21, "completion_tokens": 2}
        )

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> Generator[CompletionResponse, None, None]:
            yield CompletionResponse(text="o", delta="o", raw={"id": "inner-s"})
            yield CompletionResponse(
                text="ok",
                delta="k",
                raw={"id": "inner-s"},
                additional_kwargs={"prompt_tokens": 8, "completion_tokens": 2},
            )

        return gen()


class NoCallbackLLM(CustomLLM):
    """``chat`` without ``@llm_chat_callback()``: LlamaIndex fires no LLM events for it."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="plain")

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="x"))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="x")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield CompletionResponse(text="x", delta="x")


def add(a: int = 1, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_internal_errors_no_leak() -> Iterator[None]:
    """LlamaIndex swallows handler exceptions: check llmotel's error counts and the context."""
    yield
    assert _safety.internal_error_counts() == {}
    assert not trace.get_current_span().get_span_context().is_valid, "a span stayed current"
    assert li.attached() is None


@pytest.fixture
def bridge() -> Iterator[li.Bridge]:
    handler = li.attach()
    yield handler.bridge
    gc.collect()
    counts = handler.bridge.open_counts()
    li.detach()
    assert counts == (0, 0), "state left behind"


def ancestry(span: ReadableSpan) -> list[str]:
    names = []
    current = parent_of(span)
    while current is not None:
        names.append(current.name)
        current = parent_of(current)
    return names


def events(span: ReadableSpan, name: str) -> list[Any]:
    return [e for e in span.events if e.name == name]


def content_keys(span: ReadableSpan) -> set[str]:
    keys = {k for k in attrs(span) if k in ("gen_ai.input.messages", "gen_ai.output.messages")}
    keys |= {k for k in attrs(span) if k.startswith("gen_ai.tool.call.") and k != "gen_ai.tool.call.id"}
    keys |= {k for e in span.events for k in (e.attributes or {}) if k.endswith(".content")}
    return keys


# --- plain LLM calls -----------------------------------------------------------------------------


def test_chat_is_one_client_span_with_request_and_response_facts(bridge: li.Bridge) -> None:
    response = FakeLLM().chat(USER, temperature=0.5)

    assert response.message.content == "Hello!"
    [span] = finished()
    assert (span.name, span.kind, span.parent) == ("chat fake-model", SpanKind.CLIENT, None)
    a = attrs(span)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "fake-model"
    assert a["gen_ai.request.temperature"] == 0.5  # the call's kwarg wins over the field
    assert a["gen_ai.request.max_tokens"] == 64
    assert (a["gen_ai.response.id"], a["gen_ai.response.model"]) == ("chatcmpl-1", "fake-model-2024-01")
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 3)
    assert "gen_ai.request.stream" not in a
    assert not any("api_key" in k for k in a)
    assert content_keys(span) == set()
    assert span.status.status_code == StatusCode.UNSET
    points = metric_points("gen_ai.client.operation.duration")
    assert any(p.attributes.get("gen_ai.request.model") == "fake-model" for p in points)


def test_content_is_recorded_only_with_capture(bridge: li.Bridge, capture_content: None) -> None:
    FakeLLM().chat(USER)
    FakeLLM().complete("Say done")

    chat = one("chat fake-model")
    assert json.loads(attrs(chat)["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}
    ]
    output = json.loads(attrs(chat)["gen_ai.output.messages"])
    assert output[0]["role"] == "assistant"
    assert output[0]["parts"] == [{"type": "text", "content": "Hello!"}]
    completion = one("text_completion fake-model")
    assert "Say done" in attrs(completion)["gen_ai.input.messages"]
    assert "done" in attrs(completion)["gen_ai.output.messages"]


def test_completion_span(bridge: li.Bridge) -> None:
    assert FakeLLM().complete("Say done").text == "done"

    span = one("text_completion fake-model")
    a = attrs(span)
    assert (span.kind, a["gen_ai.operation.name"]) == (SpanKind.CLIENT, "text_completion")
    assert (a["gen_ai.response.id"], a["gen_ai.response.finish_reasons"]) == ("cmpl-1", ("length",))
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (5, 1)
    assert content_keys(span) == set()


def test_llm_error_is_recorded_and_raised_unchanged(bridge: li.Bridge) -> None:
    error = ValueError("bad request")
    with pytest.raises(ValueError) as raised:
        FakeLLM(fail_with=error).chat(USER)

    assert raised.value is error
    span = one("chat fake-model")
    assert span.status.status_code == StatusCode.ERROR
    assert "bad request" in (span.status.description or "")
    assert attrs(span)["error.type"] == "ValueError"
    [exception] = events(span, "exception")
    assert exception.attributes["exception.type"] == "ValueError"
    assert "gen_ai.usage.input_tokens" not in attrs(span)


async def test_async_chat_and_async_error(bridge: li.Bridge) -> None:
    await FakeLLM().achat(USER)
    with pytest.raises(KeyError):
        await FakeLLM(fail_with=KeyError("gone")).achat(USER)

    ok, failed = sorted((s for s in finished() if s.name == "chat fake-model"), key=lambda s: s.start_time or 0)
    assert attrs(ok)["gen_ai.usage.output_tokens"] == 3
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert attrs(failed)["error.type"] == "KeyError"


def test_custom_llm_nested_methods_make_one_span_each(bridge: li.Bridge) -> None:
    """MockLLM.chat runs ``complete`` inside: one chat span, no text_completion span."""
    llm = MockLLM(max_tokens=3)
    llm.chat(USER)
    list(llm.stream_chat(USER))
    llm.complete("x")

    names = sorted(s.name for s in finished())
    assert names == ["chat", "chat", "text_completion"]
    stream = next(s for s in finished() if attrs(s).get("gen_ai.request.stream"))
    assert attrs(stream)["llmotel.stream.chunks"] == 3  # the inner stream_complete's 3 are not added
    assert all(s.kind == SpanKind.CLIENT and s.parent is None for s in finished())
    assert all("gen_ai.request.model" not in attrs(s) for s in finished())  # "unknown" is not a model


async def test_mock_llm_async_methods_make_one_span_each(bridge: li.Bridge) -> None:
    """achat -> chat -> complete by parentage; astream_chat's generator runs stream_chat, whose
    dispatcher parent is lost: still one span, with 3 chunks (not 6, not 9)."""
    llm = MockLLM(max_tokens=3)
    await llm.achat(USER)
    await llm.acomplete("x")
    stream = await llm.astream_chat(USER)
    chunks = [c async for c in stream]

    assert len(chunks) == 3
    assert sorted(s.name for s in finished()) == ["chat", "chat", "text_completion"]
    streamed = [s for s in finished() if attrs(s).get("gen_ai.request.stream")]
    assert [attrs(s)["llmotel.stream.chunks"] for s in streamed] == [3]
    assert attrs(streamed[0])["llmotel.stream.stop_reason"] == "exhausted"


def test_usage_reported_by_the_inner_completion_reaches_the_chat_span(bridge: li.Bridge) -> None:
    """CustomLLM.chat converts complete()'s response and drops its additional_kwargs (the usage):
    the nested call's end event still brings them to the one span."""
    llm = InnerUsageLLM()
    llm.chat(USER)
    assert "".join(c.delta or "" for c in llm.stream_chat(USER)) == "ok"

    plain, streamed = sorted(finished(), key=lambda s: bool(attrs(s).get("gen_ai.request.stream")))
    assert (plain.name, streamed.name) == ("chat inner-model", "chat inner-model")
    assert (attrs(plain)["gen_ai.usage.input_tokens"], attrs(plain)["gen_ai.response.id"]) == (21, "inner-1")
    assert attrs(streamed)["gen_ai.usage.input_tokens"] == 8
    assert attrs(streamed)["llmotel.stream.chunks"] == 2


def test_model_placeholder_is_not_a_model(bridge: li.Bridge) -> None:
    """LLMMetadata's default model_name is "unknown": the instance's ``model`` field is used instead."""

    class FieldModelLLM(FakeLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata()

    FieldModelLLM(model="field-model").chat(USER)
    MockLLM().chat(USER)

    assert sorted(s.name for s in finished()) == ["chat", "chat field-model"]


def test_llm_callback_without_its_own_dispatcher_span(bridge: li.Bridge) -> None:
    """The LLM events fire under an enclosing chain span (no dispatcher span of the LLM method):
    the LLM span is a child of the chain; a stream returned out of the chain still ends with it."""
    llm = FakeLLM()
    chat = FakeLLM.chat.__wrapped__  # the llm_chat_callback wrapper, without dispatcher.span
    stream_chat = FakeLLM.stream_chat.__wrapped__

    @DISPATCHER.span
    def pipeline() -> ChatResponseGen:
        chat(llm, USER)
        return stream_chat(llm, USER)  # type: ignore[no-any-return]

    stream = pipeline()
    assert [s.name for s in finished()] == [
        "chat fake-model",
        "invoke_workflow test_llm_callback_without_its_own_dispatcher_span.<locals>.pipeline",
    ]
    assert len(list(stream)) == 3

    plain, streamed = (s for s in finished() if s.name == "chat fake-model")
    assert (
        ancestry(plain)
        == ancestry(streamed)
        == ["invoke_workflow test_llm_callback_without_its_own_dispatcher_span.<locals>.pipeline"]
    )
    assert attrs(plain)["gen_ai.usage.input_tokens"] == 11
    assert (attrs(streamed)["llmotel.stream.chunks"], attrs(streamed)["llmotel.stream.stop_reason"]) == (
        3,
        "exhausted",
    )


def test_llm_method_without_callback_is_a_chain_span(bridge: li.Bridge) -> None:
    NoCallbackLLM().chat(USER)

    [span] = finished()
    assert (span.name, span.kind) == ("invoke_workflow NoCallbackLLM.chat", SpanKind.INTERNAL)


# --- streams ---------------------------------------------------------------------------------------


def test_stream_span_ends_after_the_last_chunk(bridge: li.Bridge) -> None:
    stream = FakeLLM().stream_chat(USER)
    assert finished() == []
    assert sum(range(300_000)) > 0  # the caller does other work before reading (no sleep)
    before_first_read = time.time_ns()
    first = next(stream)
    assert first.delta == "Hel"
    assert finished() == []
    rest = list(stream)

    assert [c.delta for c in rest] == ["lo", "!"]
    span = one("chat fake-model")
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True
    assert (a["llmotel.stream.chunks"], a["llmotel.stream.completed"]) == (3, True)
    assert a["llmotel.stream.stop_reason"] == "exhausted"
    # from the call, not from the first next(): it includes the caller's work before reading
    assert a["gen_ai.response.time_to_first_chunk"] * 1e9 >= before_first_read - span.start_time - 500_000
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (9, 4)
    assert a["gen_ai.response.id"] == "chatcmpl-s1"
    chunks = events(span, "llmotel.stream.chunk")
    assert [e.attributes["llmotel.chunk.index"] for e in chunks] == [0, 1, 2]
    assert chunks[-1].attributes["llmotel.chunk.finish_reason"] == "stop"
    assert content_keys(span) == set()
    assert span.end_time is not None and span.end_time >= chunks[-1].timestamp


def test_stream_chunk_content_with_capture(bridge: li.Bridge, capture_content: None) -> None:
    list(FakeLLM().stream_chat(USER))

    span = one("chat fake-model")
    chunks = events(span, "llmotel.stream.chunk")
    assert [e.attributes["llmotel.chunk.content"] for e in chunks] == ["Hel", "lo", "!"]
    assert "Hello!" in attrs(span)["gen_ai.output.messages"]


def test_stream_closed_early_ends_once_not_as_error(bridge: li.Bridge) -> None:
    stream = FakeLLM().stream_chat(USER)
    next(stream)
    stream.close()
    stream.close()
    del stream
    gc.collect()

    span = one("chat fake-model")
    a = attrs(span)
    assert (a["llmotel.stream.stop_reason"], a["llmotel.stream.completed"]) == ("closed", False)
    assert a["llmotel.stream.chunks"] == 1
    assert span.status.status_code == StatusCode.UNSET
    assert "error.type" not in a


@pytest.mark.parametrize("read", [0, 1])
def test_abandoned_stream_ends_when_garbage_collected(bridge: li.Bridge, read: int) -> None:
    stream = FakeLLM().stream_chat(USER)
    for _ in range(read):
        next(stream)
    assert finished() == []
    del stream
    gc.collect()

    span = one("chat fake-model")
    assert attrs(span)["llmotel.stream.stop_reason"] == "garbage_collected"
    assert attrs(span)["llmotel.stream.chunks"] == read


def test_stream_error_mid_stream(bridge: li.Bridge) -> None:
    stream = FakeLLM(stream_fail_after=1).stream_chat(USER)
    next(stream)
    with pytest.raises(RuntimeError, match="stream broke"):
        next(stream)

    span = one("chat fake-model")
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == "RuntimeError"
    assert attrs(span)["llmotel.stream.stop_reason"] == "error"
    assert attrs(span)["llmotel.stream.chunks"] == 1
    assert len(events(span, "exception")) == 1


async def test_async_stream_and_early_aclose(bridge: li.Bridge) -> None:
    llm = FakeLLM()
    stream = await llm.astream_chat(USER)
    assert finished() == []
    assert [c.delta async for c in stream] == ["Hel", "lo", "!"]
    early = await llm.astream_chat(USER)
    await early.__anext__()
    await early.aclose()

    full, closed = sorted(finished(), key=lambda s: s.start_time or 0)
    assert (attrs(full)["llmotel.stream.chunks"], attrs(full)["llmotel.stream.stop_reason"]) == (3, "exhausted")
    assert attrs(full)["gen_ai.usage.output_tokens"] == 4
    assert (attrs(closed)["llmotel.stream.chunks"], attrs(closed)["llmotel.stream.stop_reason"]) == (1, "closed")
    assert closed.status.status_code == StatusCode.UNSET


async def test_concurrent_async_streams_of_one_model_stay_apart(bridge: li.Bridge) -> None:
    llm = MockLLM(max_tokens=3)

    async def one_stream() -> int:
        stream = await llm.astream_chat(USER)
        await asyncio.sleep(0)  # every stream is returned before any is read
        return len([c async for c in stream])

    assert await asyncio.gather(*(one_stream() for _ in range(5))) == [3] * 5
    spans = finished()
    assert len(spans) == 5
    assert [attrs(s)["llmotel.stream.chunks"] for s in spans] == [3] * 5
    assert len({s.context.trace_id for s in spans}) == 5


# --- chains, tools, agents -------------------------------------------------------------------------


def test_query_engine_trace(bridge: li.Bridge) -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text="llmotel traces LLM calls")], embed_model=MockEmbedding(embed_dim=8)
    )
    engine = index.as_query_engine(llm=FakeLLM())
    indexing = {s.context.span_id for s in finished()}  # splitting and embedding the document

    response = engine.query("What does llmotel do?")

    assert str(response) == "Hello!"
    spans = [s for s in finished() if s.context.span_id not in indexing]
    assert len(spans) >= 10
    root = one("invoke_workflow RetrieverQueryEngine.query")
    assert (root.kind, root.parent) == (SpanKind.INTERNAL, None)
    assert attrs(root)["gen_ai.workflow.name"] == "RetrieverQueryEngine.query"
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    llm = one("chat fake-model")
    assert llm.kind == SpanKind.CLIENT
    assert ancestry(llm)[0] == "invoke_workflow FakeLLM.predict"
    assert ancestry(llm)[-1] == "invoke_workflow RetrieverQueryEngine.query"
    assert "invoke_workflow CompactAndRefine.synthesize" in ancestry(llm)
    retrieve = one("invoke_workflow VectorIndexRetriever.retrieve")
    assert ancestry(retrieve) == ["invoke_workflow RetrieverQueryEngine._query", root.name]
    predict = one("invoke_workflow FakeLLM.predict")
    assert attrs(predict)["gen_ai.usage.input_tokens"] == 11  # the chain's totals from its LLM span
    assert all(s.kind == SpanKind.INTERNAL for s in spans if s is not llm)
    assert all(s.end_time is not None and root.end_time is not None and s.end_time <= root.end_time for s in spans)


def test_streaming_query_engine_ends_llm_span_with_the_stream(bridge: li.Bridge) -> None:
    index = VectorStoreIndex.from_documents([Document(text="a b c")], embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=FakeLLM(), streaming=True)

    response = engine.query("q")
    assert [s for s in finished() if s.kind == SpanKind.CLIENT] == []
    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == "Hello!"

    span = one("chat fake-model")
    assert attrs(span)["llmotel.stream.stop_reason"] == "exhausted"
    assert attrs(span)["llmotel.stream.chunks"] == 3


def test_function_tool_is_one_execute_tool_span(bridge: li.Bridge) -> None:
    tool = FunctionTool.from_defaults(add)
    assert tool(a=2, b=3).raw_output == 5  # __call__ -> call: two dispatcher spans, one tool call

    span = one("execute_tool add")
    a = attrs(span)
    assert (span.kind, a["gen_ai.operation.name"], a["gen_ai.tool.name"]) == (SpanKind.INTERNAL, "execute_tool", "add")
    assert "Add two numbers." in a["gen_ai.tool.description"]
    assert a["llmotel.tool.completed"] is True
    assert span.status.status_code == StatusCode.OK
    assert content_keys(span) == set()
    assert len(finished()) == 1


def test_tool_arguments_and_result_with_capture(bridge: li.Bridge, capture_content: None) -> None:
    FunctionTool.from_defaults(add).call(a=2, b=3)

    a = attrs(one("execute_tool add"))
    assert json.loads(a["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert json.loads(a["gen_ai.tool.call.result"]) == "5"


def test_tool_failures(bridge: li.Bridge) -> None:
    def explode() -> str:
        """Always fails."""
        raise KeyError("missing")

    def refuse(output: Any) -> ToolOutput:
        return ToolOutput(tool_name="refuse", content="nope", raw_input={}, raw_output=None, is_error=True)

    with pytest.raises(KeyError):
        FunctionTool.from_defaults(explode).call()
    FunctionTool.from_defaults(add, name="refuse", callback=refuse).call()

    raised = one("execute_tool explode")
    assert (raised.status.status_code, attrs(raised)["error.type"]) == (StatusCode.ERROR, "KeyError")
    returned = one("execute_tool refuse")
    assert (returned.status.status_code, attrs(returned)["error.type"]) == (StatusCode.ERROR, "tool_error")


@needs_mock_function_calling_llm
def test_predict_and_call_trace(bridge: li.Bridge) -> None:
    llm = MockFunctionCallingLLM()
    result = llm.predict_and_call([FunctionTool.from_defaults(add)], "add please")

    assert str(result) == "3"
    root = one("invoke_workflow MockFunctionCallingLLM.predict_and_call")
    chat = one("chat")
    tool = one("execute_tool add")
    assert parent_of(chat) is not None and parent_of(chat).name == root.name  # type: ignore[union-attr]
    assert ancestry(tool) == [root.name]
    assert chat.kind == SpanKind.CLIENT
    assert len([s for s in finished() if s.name.startswith("execute_tool")]) == 1


@needs_mock_function_calling_llm
@pytest.mark.filterwarnings(
    "ignore:The `__fields__` attribute is deprecated:pydantic.warnings.PydanticDeprecatedSince20",
    "ignore:The `__fields_set__` attribute is deprecated:pydantic.warnings.PydanticDeprecatedSince20",
    "ignore:Accessing the 'model_computed_fields' attribute on the instance:pydantic.warnings.PydanticDeprecatedSince211",
    "ignore:Accessing the 'model_fields' attribute on the instance:pydantic.warnings.PydanticDeprecatedSince211",
)
async def test_function_agent_trace(bridge: li.Bridge, caplog: pytest.LogCaptureFixture) -> None:
    from llama_index.core.agent.workflow import FunctionAgent

    caplog.set_level(logging.DEBUG)

    agent = FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=MockFunctionCallingLLM(), name="calc")
    result = await agent.run("add please")

    assert "Tool calls complete." in str(result)
    root = one("invoke_agent calc")
    assert (root.parent, attrs(root)["gen_ai.agent.name"]) == (None, "calc")
    assert {s.context.trace_id for s in finished()} == {root.context.trace_id}
    tool = one("execute_tool add")
    assert attrs(tool)["gen_ai.tool.call.id"].startswith("mock-tool-call-")
    assert ancestry(tool) == ["invoke_workflow BaseWorkflowAgent.call_tool", root.name]
    chats = [s for s in finished() if s.name == "chat"]
    assert len(chats) == 2
    for chat in chats:
        assert ancestry(chat) == ["invoke_workflow BaseWorkflowAgent.run_agent_step", root.name]
        assert attrs(chat)["llmotel.stream.stop_reason"] == "exhausted"
    assert not trace.get_current_span().get_span_context().is_valid
    assert [r.getMessage() for r in caplog.records if "detach" in r.getMessage().lower()] == []


def test_agent_tool_call_event_is_a_span_event(bridge: li.Bridge, capture_content: None) -> None:
    @DISPATCHER.span
    def step() -> None:
        DISPATCHER.event(AgentToolCallEvent(arguments='{"a": 1}', tool=ToolMetadata(name="add", description="Adds")))

    step()

    span = one("invoke_workflow test_agent_tool_call_event_is_a_span_event.<locals>.step")
    [event] = events(span, "llmotel.llama_index.agent_tool_call")
    assert event.attributes["gen_ai.tool.name"] == "add"
    assert json.loads(event.attributes["gen_ai.tool.call.arguments"]) == {"a": 1}


# --- context -------------------------------------------------------------------------------------


def test_spans_made_inside_components_are_children(bridge: li.Bridge, tracer: trace.Tracer) -> None:
    @llmotel.trace_chat(provider="openai", model="inner-model")
    def provider_call() -> dict[str, Any]:
        return {"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]}

    def lookup(q: str = "q") -> str:
        """Looks things up."""
        with tracer.start_as_current_span("user-step"):
            provider_call()
            FakeLLM().complete("inside")
        return "found"

    with tracer.start_as_current_span("request") as request:
        FunctionTool.from_defaults(lookup).call()
        assert trace.get_current_span() is request

    tool = one("execute_tool lookup")
    assert ancestry(tool) == ["request"]
    assert ancestry(one("user-step")) == ["execute_tool lookup", "request"]
    assert ancestry(one("chat inner-model")) == ["user-step", "execute_tool lookup", "request"]
    assert ancestry(one("text_completion fake-model")) == ["user-step", "execute_tool lookup", "request"]


def test_calls_inside_the_llm_call_are_its_children_and_not_duplicated(bridge: li.Bridge, tracer: trace.Tracer) -> None:
    """A provider instrumentation (here a trace_chat function) inside the LLM span is the same call."""

    @llmotel.trace_chat(provider="openai")
    def sdk_call(messages: Any) -> dict[str, Any]:
        with tracer.start_as_current_span("http POST"):
            return CHAT_RAW

    class WrappingLLM(FakeLLM):
        @llm_chat_callback()
        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            raw = sdk_call(messages)
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="Hello!"), raw=raw)

    WrappingLLM().chat(USER)

    assert sorted(s.name for s in finished()) == ["chat fake-model", "http POST"]
    assert ancestry(one("http POST")) == ["chat fake-model"]


def test_no_detach_errors_and_no_context_left(bridge: li.Bridge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    llm = FakeLLM()
    llm.chat(USER)
    list(llm.stream_chat(USER))
    stream = llm.stream_chat(USER)
    next(stream)
    stream.close()
    with pytest.raises(ValueError):
        FakeLLM(fail_with=ValueError("x")).chat(USER)
    FunctionTool.from_defaults(add).call()

    async def run_async() -> None:
        await llm.achat(USER)
        async for _ in await llm.astream_chat(USER):
            pass

    asyncio.run(run_async())
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: llm.predict(llm_prompt()), range(8)))

    assert not trace.get_current_span().get_span_context().is_valid
    assert [r.getMessage() for r in caplog.records if "detach" in r.getMessage().lower()] == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    predicts = [s for s in finished() if s.name == "invoke_workflow FakeLLM.predict"]
    assert len(predicts) == 8
    for predict in predicts:  # each thread's LLM span under its own predict span
        children = [s for s in finished() if s.parent is not None and s.parent.span_id == predict.context.span_id]
        assert [c.name for c in children] == ["chat fake-model"]


def llm_prompt() -> Any:
    from llama_index.core.prompts import PromptTemplate

    return PromptTemplate("Say {x}")


async def test_future_returning_method_exits_in_another_context(
    bridge: li.Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    """A sync method returning a Future exits from the Future's done-callback (another Context).
    Declared as returning a Future: its span is never made current. Not declared: it is current
    until the Future is done, then the caller's context is back to what it was. Never a
    "Failed to detach context"."""
    caplog.set_level(logging.DEBUG)
    loop = asyncio.get_running_loop()

    @DISPATCHER.span
    def declared() -> asyncio.Future[int]:
        future: asyncio.Future[int] = loop.create_future()
        loop.call_later(0.01, future.set_result, 7)
        return future

    @DISPATCHER.span
    def undeclared():  # type: ignore[no-untyped-def]
        future: asyncio.Future[int] = loop.create_future()
        loop.call_later(0.01, future.set_result, 8)
        return future

    async def caller() -> list[int]:
        first = declared()
        assert not trace.get_current_span().get_span_context().is_valid
        results = [await first]
        second = undeclared()
        assert trace.get_current_span().is_recording()  # pending: still the current span
        results.append(await second)
        await asyncio.sleep(0)
        assert not trace.get_current_span().get_span_context().is_valid  # done: the caller's context again
        return results

    task = contextvars.copy_context().run(asyncio.ensure_future, caller())  # a Context of its own
    assert await task == [7, 8]

    for name in ("declared", "undeclared"):
        span = one(f"invoke_workflow test_future_returning_method_exits_in_another_context.<locals>.{name}")
        assert span.end_time is not None
    assert [r.getMessage() for r in caplog.records if "Failed to detach" in r.getMessage()] == []


# --- lifecycle and bounded state -----------------------------------------------------------------


def test_attach_is_idempotent_and_detach_removes_the_handlers() -> None:
    root = get_dispatcher()

    def ours() -> tuple[int, int]:
        return (
            sum(isinstance(h, li.LlmotelSpanHandler) for h in root.span_handlers),
            sum(isinstance(h, li.LlmotelEventHandler) for h in root.event_handlers),
        )

    first = li.attach()
    try:
        assert li.attach() is first
        assert ours() == (1, 1)
    finally:
        assert li.detach() is True
    assert ours() == (0, 0)
    assert li.detach() is False
    by_hand = li.LlmotelSpanHandler()
    root.add_span_handler(by_hand)
    try:
        assert li.attach() is by_hand  # adopted, not doubled; its event handler is added
        assert ours() == (1, 1)
    finally:
        li.detach()
    assert ours() == (0, 0)
    FakeLLM().chat(USER)
    list(FakeLLM().stream_chat(USER))
    assert finished() == []


def test_detach_ends_streams_in_flight_as_abandoned() -> None:
    li.attach()
    try:
        stream = FakeLLM().stream_chat(USER)
        next(stream)
    finally:
        li.detach()
    assert [c.delta for c in stream] == ["lo", "!"]  # the stream itself goes on

    span = one("chat fake-model")
    assert attrs(span)[li.ABANDONED] is True
    assert attrs(span)["llmotel.stream.stop_reason"] == "abandoned"


def test_handler_close_on_dispatcher_shutdown_ends_what_is_open() -> None:
    handler = li.attach()
    try:
        stream = FakeLLM().stream_chat(USER)
        handler.close()  # what Dispatcher.shutdown() calls after dropping the open spans
        assert handler.bridge.open_counts() == (0, 0)
    finally:
        li.detach()
    assert len(list(stream)) == 3
    assert attrs(one("chat fake-model"))["llmotel.stream.stop_reason"] == "abandoned"


def test_instrumentor_instrument_and_uninstrument() -> None:
    instrumentor = li.LlamaIndexInstrumentor()
    instrumentor.instrument()
    try:
        assert li.attached() is not None
        assert any(isinstance(h, li.LlmotelSpanHandler) for h in get_dispatcher().span_handlers)
        FakeLLM().chat(USER)
    finally:
        instrumentor.uninstrument()
    assert li.attached() is None
    assert not any(isinstance(h, li.LlmotelSpanHandler) for h in get_dispatcher().span_handlers)
    assert not any(isinstance(h, li.LlmotelEventHandler) for h in get_dispatcher().event_handlers)
    assert [s.name for s in finished()] == ["chat fake-model"]


def test_custom_tracer_provider() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    li.attach(tracer_provider=provider)
    try:
        FakeLLM().chat(USER)
    finally:
        li.detach()
    assert finished() == []
    assert [s.name for s in exporter.get_finished_spans()] == ["chat fake-model"]


def test_open_dispatcher_spans_are_bounded(bridge: li.Bridge, caplog: pytest.LogCaptureFixture) -> None:
    bridge.max_entries = 3

    @DISPATCHER.span
    def recurse(n: int) -> str:
        assert bridge.open_counts()[0] <= 3
        return recurse(n - 1) if n else "bottom"

    assert contextvars.copy_context().run(recurse, 6) == "bottom"

    spans = finished()
    assert len(spans) == 7
    assert len({s.context.span_id for s in spans}) == 7
    abandoned = [s for s in spans if attrs(s).get(li.ABANDONED)]
    assert len(abandoned) == 4
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # no span ended twice


def test_llm_spans_in_flight_are_bounded(bridge: li.Bridge) -> None:
    bridge.max_llm_spans = 2
    llm = FakeLLM()
    streams = [llm.stream_chat(USER) for _ in range(4)]
    assert len(finished()) == 2
    for stream in streams:
        assert len(list(stream)) == 3

    spans = sorted(finished(), key=lambda s: s.start_time or 0)
    assert len(spans) == 4
    assert [attrs(s)["llmotel.stream.stop_reason"] for s in spans] == [
        "abandoned",
        "abandoned",
        "exhausted",
        "exhausted",
    ]
    assert [attrs(s).get(li.ABANDONED, False) for s in spans] == [True, True, False, False]


def test_handler_errors_never_reach_llama_index(bridge: li.Bridge, env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env(LLMOTEL_STRICT="0")

    def broken(*args: Any) -> None:
        raise RuntimeError("llmotel bug")

    monkeypatch.setattr(bridge, "enter", broken)
    monkeypatch.setattr(bridge, "event", broken)
    response = FakeLLM().chat(USER)

    assert response.message.content == "Hello!"
    counts = _safety.internal_error_counts()
    _safety.reset_internal_errors()
    assert counts.get("llama_index span enter", 0) >= 1
    assert counts.get("llama_index event", 0) >= 1


LAZY_PRELUDE = """
import sys
import llmotel, llmotel.integrations, llmotel.integrations.llama_index as li
loaded = lambda: sorted(m for m in sys.modules if m.startswith("llama_index"))
assert loaded() == [], loaded()
instrumentor = li.LlamaIndexInstrumentor()
"""
LAZY_CASES = {
    "attaches when llama_index is imported": """
instrumentor.instrument()
assert loaded() == [] and li.attached() is None
from llama_index.core.llms import MockLLM
assert li.attached() is not None
instrumentor.uninstrument()
""",
    "an uninstrument before the import cancels": """
instrumentor.instrument()
instrumentor.uninstrument()
import llama_index.core
assert li.attached() is None
instrumentor.instrument()  # imported now: attaches at once
assert li.attached() is not None
instrumentor.uninstrument()
""",
}


@pytest.mark.parametrize("case", list(LAZY_CASES))
def test_imports_are_lazy_and_instrument_waits_for_llama_index(case: str) -> None:
    """Neither ``import llmotel`` nor this integration imports LlamaIndex; ``instrument()`` before
    LlamaIndex is imported attaches when it is."""
    code = (
        LAZY_PRELUDE
        + LAZY_CASES[case]
        + """
from llama_index.core.instrumentation import get_dispatcher
assert li.attached() is None
assert not any(type(h).__name__.startswith("Llmotel") for h in get_dispatcher().span_handlers)
print("ok")
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "ok", "")


def test_concurrent_threads_keep_their_own_spans(bridge: li.Bridge) -> None:
    llm = FakeLLM(chunk_barrier=threading.Barrier(4))  # all four streams are open at the same time
    barrier = threading.Barrier(4)

    def work(_: int) -> int:
        barrier.wait()
        llm.chat(USER)
        return len(list(llm.stream_chat(USER)))

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(4))) == [3] * 4

    spans = finished()
    assert len(spans) == 8
    assert all(s.parent is None for s in spans)
    assert sorted(attrs(s).get("llmotel.stream.chunks", 0) for s in spans) == [0] * 4 + [3] * 4
