"""OpenAIInstrumentor against the real openai SDK talking to a fake server (httpx.MockTransport).

The fake server answers with the JSON and SSE shapes api.openai.com sends (chat completions,
legacy completions, the Responses API, embeddings) and records every request, so the tests see
both what the caller gets back and what went over the wire. Whole exported spans are checked.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import openai
import openai.lib.streaming.chat._completions as chat_helper_module
import openai.lib.streaming.responses._responses as responses_helper_module
import openai.resources.chat.completions.completions as chat_module
import openai.resources.completions as completions_module
import openai.resources.embeddings as embeddings_module
import openai.resources.responses.responses as responses_module
import pytest
import wrapt
from openai import _base_client
from openai import _streaming as openai_streaming
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import llmotel
from conftest import finished, metric_points
from helpers import fake_openai
from helpers.fake_openai import (
    CHAT_COMPLETION,
    EMBEDDING,
    HOST,
    PORT,
    TOOL_CALL_COMPLETION,
    FakeOpenAI,
    chat_chunks,
    response_events,
)
from helpers.providers import instrumenting
from helpers.spans import (
    assert_ok,
    attrs,
    chunk_events,
    client_span_under,
    exception_event,
    only_client_span,
    spy_on_status_errors,
    stream_attrs,
    stream_end,
)
from llmotel import semconv as sc
from llmotel.integrations.openai import OpenAIInstrumentor

HEADER_ATTRS = {"llmotel.response.request_id": "req_7f3a9c"}
"""What a successful call records from its response headers by default (the SDK's request id)."""
PROCESSING_ATTRS = {"llmotel.response.processing_ms": 344}
"""... and with LLMOTEL_RESPONSE_HEADERS=true (or LLMOTEL_RATELIMIT_ATTRIBUTES=true)."""
RATELIMIT_ATTRS = {
    "llmotel.ratelimit.requests.limit": 10000,
    "llmotel.ratelimit.requests.remaining": 9999,
    "llmotel.ratelimit.requests.reset": "6ms",
    "llmotel.ratelimit.tokens.limit": 30000000,
    "llmotel.ratelimit.tokens.remaining": 29999990,
    "llmotel.ratelimit.tokens.reset": "0s",
}
"""... and with LLMOTEL_RATELIMIT_ATTRIBUTES=true."""

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def server() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with fake_openai.sync_client(server) as sdk:
        yield sdk


@pytest.fixture
async def aclient(server: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with fake_openai.async_client(server) as sdk:
        yield sdk


PATCHED_TARGETS: list[tuple[Any, str]] = [
    (chat_module.Completions, "create"),
    (chat_module.AsyncCompletions, "create"),
    (completions_module.Completions, "create"),
    (completions_module.AsyncCompletions, "create"),
    (responses_module.Responses, "create"),
    (responses_module.AsyncResponses, "create"),
    (embeddings_module.Embeddings, "create"),
    (embeddings_module.AsyncEmbeddings, "create"),
    *(STREAM_TARGETS := [(openai_streaming.Stream, "__init__"), (openai_streaming.AsyncStream, "__init__")]),
    (chat_helper_module.ChatCompletionStream, "close"),
    (chat_helper_module.AsyncChatCompletionStream, "close"),
    (responses_helper_module.ResponseStream, "close"),
    (responses_helper_module.AsyncResponseStream, "close"),
]
"""What instrument() wraps (uninstrument() must restore each)."""
HEADER_TARGETS: list[tuple[Any, str]] = [
    (_base_client.SyncAPIClient, "_process_response"),
    (_base_client.AsyncAPIClient, "_process_response"),
]
"""... instead of the streams' ``__init__`` with LLMOTEL_RESPONSE_HEADERS=true: every response's headers."""


@pytest.fixture
def instrument() -> Iterator[Callable[..., OpenAIInstrumentor]]:
    """``instrument(**options)`` instruments openai for this test only (undone at teardown)."""
    with instrumenting(OpenAIInstrumentor(), "openai", PATCHED_TARGETS + HEADER_TARGETS) as instrument:
        yield instrument


@pytest.fixture
def instrumented(instrument: Callable[..., OpenAIInstrumentor]) -> OpenAIInstrumentor:
    return instrument()


# --- helpers -------------------------------------------------------------------------------------

USER = [{"role": "user", "content": "What is the capital of France?"}]
BASE_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
}
CHAT_RESPONSE_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1117,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 46,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 12,
}
STREAM_RESPONSE_ATTRS = {
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: "chatcmpl-S1",
    sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
}
STREAM_USAGE_ATTRS = {
    sc.GEN_AI_USAGE_INPUT_TOKENS: 19,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
}
WHOLE_STREAM_ATTRS = {
    **BASE_ATTRS,
    **STREAM_RESPONSE_ATTRS,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.LLMOTEL_USAGE_UNKNOWN: True,
    **HEADER_ATTRS,
    **stream_end(4, True, "exhausted"),
}
"""A chat stream read to its end, without stream_options.include_usage (so no usage)."""
CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)


def one_span(name: str = "chat gpt-4o") -> ReadableSpan:
    """The only finished span: an llmotel CLIENT span called ``name``."""
    return only_client_span(name)


def full_chunk_events(finish: bool = True) -> list[dict[str, Any]]:
    """The chunk events of the whole four-chunk chat stream."""
    events: list[dict[str, Any]] = [
        {sc.EVENT_CHUNK_INDEX: i, sc.EVENT_CHUNK_SIZE: size} for i, size in enumerate((0, 5, 6, 0))
    ]
    if finish:
        events[-1][sc.EVENT_CHUNK_FINISH_REASON] = "stop"
    return events


def texts(chunks: list[Any]) -> list[str | None]:
    return [c.choices[0].delta.content if c.choices else None for c in chunks]


STREAM_TEXTS: list[str | None] = ["", "Hello", " there", None]


# --- instrument / uninstrument -------------------------------------------------------------------


def test_uninstrument_restores_the_exact_original_functions(client: openai.OpenAI) -> None:
    originals = {(owner, name): vars(owner)[name] for owner, name in PATCHED_TARGETS}
    assert not any(isinstance(f, wrapt.FunctionWrapper) for f in originals.values()), "already instrumented"
    instrumentor = OpenAIInstrumentor()
    assert instrumentor is OpenAIInstrumentor()  # one instance per class
    instrumentor.instrument()
    try:
        for (owner, name), original in originals.items():
            patched = vars(owner)[name]
            assert isinstance(patched, wrapt.FunctionWrapper), f"{owner.__qualname__}.{name} not patched"
            assert patched.__wrapped__ is original
        client.chat.completions.create(model="gpt-4o", messages=USER)
        assert len(finished()) == 1
    finally:
        instrumentor.uninstrument()
    for (owner, name), original in originals.items():
        assert vars(owner)[name] is original, f"{owner.__qualname__}.{name} not restored"
    assert chat_module.Completions.__dict__["create"] is originals[(chat_module.Completions, "create")]
    assert instrumentor.applied_patches == []
    client.chat.completions.create(model="gpt-4o", messages=USER)
    assert len(finished()) == 1  # no new span once uninstrumented


def test_instrument_uninstrument_instrument_again(
    instrument: Callable[..., OpenAIInstrumentor], client: openai.OpenAI
) -> None:
    original = vars(chat_module.Completions)["create"]
    instrumentor = instrument()
    client.chat.completions.create(model="gpt-4o", messages=USER)
    assert len(finished()) == 1
    instrumentor.uninstrument()
    assert vars(chat_module.Completions)["create"] is original
    client.chat.completions.create(model="gpt-4o", messages=USER)
    assert len(finished()) == 1
    instrument()
    assert vars(chat_module.Completions)["create"].__wrapped__ is original  # wrapped once, not twice
    client.chat.completions.create(model="gpt-4o", messages=USER)
    assert len(finished()) == 2  # exactly one more span


def test_instrument_twice_does_not_double_wrap(
    instrument: Callable[..., OpenAIInstrumentor], client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    original = vars(chat_module.Completions)["create"]
    instrument()
    with caplog.at_level(logging.WARNING):
        instrument()  # BaseInstrumentor refuses a second instrument() with a warning
    assert vars(chat_module.Completions)["create"].__wrapped__ is original
    client.chat.completions.create(model="gpt-4o", messages=USER)
    one_span()


# --- chat completions ----------------------------------------------------------------------------


def test_chat_completion_span(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        completion = client.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            temperature=0.2,
            max_tokens=64,
            top_p=0.9,
            stop=["END"],
            seed=7,
            n=2,
            frequency_penalty=0.5,
            presence_penalty=-0.25,
        )
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.choices[0].message.content == "Paris."
    assert server.requests[0].body["n"] == 2
    assert [s.name for s in finished()] == ["chat gpt-4o", "handle request"]
    span = client_span_under(parent)
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "llmotel"
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_CHOICE_COUNT: 2,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.5,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: -0.25,
        **CHAT_RESPONSE_ATTRS,
        **HEADER_ATTRS,
    }
    assert_ok(span)
    assert span.events == ()


def test_chat_completion_records_no_content_by_default(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    server.chat_reply = TOOL_CALL_COMPLETION
    client.chat.completions.create(model="gpt-4o", messages=USER, tools=[WEATHER_TOOL])
    span = one_span()
    values = attrs(span)
    assert not set(CONTENT_KEYS) & set(values)
    dumped = json.dumps(values) + json.dumps([dict(e.attributes or {}) for e in span.events])
    for private in ("capital of France", "get_weather", "Paris", "call_abc123"):
        assert private not in dumped
    assert values[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_chat_tool_calls_in_output_messages_with_capture(
    capture_content: None, instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    server.chat_reply = TOOL_CALL_COMPLETION
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": "Be terse."}, *USER], tools=[WEATHER_TOOL]
    )
    assert completion.choices[0].message.tool_calls is not None
    span = one_span()
    values = attrs(span)
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_abc123", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert values == {
        **BASE_ATTRS,
        **CHAT_RESPONSE_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        **HEADER_ATTRS,
    }


@pytest.mark.parametrize(
    ("setting", "recorded"),
    [
        ("LLMOTEL_RESPONSE_HEADERS", {**HEADER_ATTRS, **PROCESSING_ATTRS}),
        ("LLMOTEL_RATELIMIT_ATTRIBUTES", {**HEADER_ATTRS, **PROCESSING_ATTRS, **RATELIMIT_ATTRS}),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_processing_time_and_rate_limits_of_successful_calls_are_opt_in(
    instrument: Callable[..., OpenAIInstrumentor],
    client: openai.OpenAI,
    aclient: openai.AsyncOpenAI,
    env: Any,
    setting: str,
    recorded: dict[str, Any],
    asynchronous: bool,
    stream: bool,
) -> None:
    env(**{setting: "true"})  # read by instrument(), which then installs the header patches
    instrument()
    assert all(isinstance(vars(owner)[name], wrapt.FunctionWrapper) for owner, name in HEADER_TARGETS)
    assert not any(isinstance(vars(owner)[name], wrapt.FunctionWrapper) for owner, name in STREAM_TARGETS)
    kwargs: dict[str, Any] = {"model": "gpt-4o", "messages": USER}
    if stream:
        kwargs["stream"] = True
    if asynchronous:
        result = await aclient.chat.completions.create(**kwargs)
        if stream:
            async for _ in result:
                pass
    else:
        result = client.chat.completions.create(**kwargs)
        if stream:
            for _ in result:
                pass
    (span,) = finished()
    values = attrs(span)
    from_headers = {k: v for k, v in values.items() if k.startswith(("llmotel.response.", "llmotel.ratelimit."))}
    assert from_headers == recorded
    if not stream:
        assert values == {**BASE_ATTRS, **CHAT_RESPONSE_ATTRS, **recorded}


async def test_async_chat_completion_span(
    instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        completion = await aclient.chat.completions.create(model="gpt-4o", messages=USER, max_completion_tokens=32)
    assert completion.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    span = client_span_under(parent)
    assert attrs(span) == {**BASE_ATTRS, sc.GEN_AI_REQUEST_MAX_TOKENS: 32, **CHAT_RESPONSE_ATTRS, **HEADER_ATTRS}
    assert_ok(span)


# --- streams -------------------------------------------------------------------------------------


def test_stream_keeps_the_sdk_surface_and_ends_with_the_stream(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.headers["x-request-id"] == "req_7f3a9c"
    assert [s.name for s in finished()] == ["handle request"]  # the call span is still open
    with stream as entered:
        assert entered is stream
        chunks = list(entered)
    assert texts(chunks) == STREAM_TEXTS
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    span = client_span_under(parent)
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS
    assert chunk_events(span) == full_chunk_events()
    assert_ok(span)


def test_stream_captured_text_with_capture(
    capture_content: None, instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    span = one_span()
    assert json.loads(attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]
    assert [e.get(sc.EVENT_CHUNK_CONTENT) for e in chunk_events(span)] == [None, "Hello", " there", None]


def test_stream_break_and_close(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    for _ in stream:
        break
    assert finished() == []
    stream.close()
    assert stream.response.is_closed
    span = one_span()
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_RESPONSE_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **HEADER_ATTRS,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }
    assert chunk_events(span) == full_chunk_events()[:1]
    assert_ok(span)
    stream.close()  # closing again ends nothing more
    assert len(finished()) == 1


def test_stream_loop_left_early_then_resumed_ends_one_span_when_exhausted(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    """Leaving a ``for`` loop early leaves the stream readable, as the SDK's own stream is."""
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    first = []
    for chunk in stream:
        first.append(chunk)
        if len(first) == 2:
            break
    assert finished() == []
    rest = [next(stream), *stream]
    assert texts(first + rest) == STREAM_TEXTS
    span = one_span()
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_CHUNKS] == 4
    assert chunk_events(span) == full_chunk_events()
    assert_ok(span)


def test_stream_with_block_exited_early(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    with client.chat.completions.create(model="gpt-4o", messages=USER, stream=True) as stream:
        next(stream)
        next(stream)
    assert stream.response.is_closed
    span = one_span()
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_STOP_REASON] == "context_exit"
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_COMPLETED] is False
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_CHUNKS] == 2


def test_stream_dropped_without_close_ends_on_garbage_collection(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    next(stream)
    assert finished() == []
    del stream
    gc.collect()
    span = one_span()
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_RESPONSE_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **HEADER_ATTRS,
        **stream_end(1, False, "garbage_collected"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }


def test_stream_error_from_the_server_mid_stream(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    server.error_mid_stream = True
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="overloaded") as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    span = one_span()
    values = stream_attrs(span)
    # a stream that broke mid-way keeps what arrived (response id/model), with no usage verdict
    assert values == {
        **BASE_ATTRS,
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-S1",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        sc.GEN_AI_REQUEST_STREAM: True,
        **HEADER_ATTRS,
        **stream_end(2, False, "error"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
        sc.ERROR_TYPE: "openai.APIError",
    }
    assert span.status.status_code is StatusCode.ERROR
    [exception] = [e for e in span.events if e.name == "exception"]
    assert exception.attributes is not None
    assert exception.attributes["exception.message"] == str(caught.value)


async def test_async_stream(
    instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        stream = await aclient.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    assert stream.response.headers["x-request-id"] == "req_7f3a9c"
    chunks = [chunk async for chunk in stream]
    assert texts(chunks) == STREAM_TEXTS
    span = client_span_under(parent)
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS
    assert chunk_events(span) == full_chunk_events()


async def test_async_stream_break_and_close(instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    async for _ in stream:
        break
    assert finished() == []
    await stream.close()
    assert stream.response.is_closed
    span = one_span()
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_RESPONSE_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **HEADER_ATTRS,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }


async def test_async_stream_with_block_exited_early(
    instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI
) -> None:
    async with await aclient.chat.completions.create(model="gpt-4o", messages=USER, stream=True) as stream:
        await stream.__anext__()
    assert stream.response.is_closed
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_COMPLETED]) == ("context_exit", False)


async def test_async_stream_dropped_ends_on_garbage_collection(
    instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI
) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    await stream.__anext__()
    response = stream.response
    del stream
    gc.collect()
    values = stream_attrs(one_span())
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "garbage_collected"
    assert values[sc.LLMOTEL_STREAM_COMPLETED] is False
    await response.aclose()


# --- raw and streaming responses -----------------------------------------------------------------


def test_with_raw_response(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    assert raw.headers["x-request-id"] == "req_7f3a9c"
    completion = raw.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.choices[0].message.content == "Paris."
    span = one_span()
    assert attrs(span) == {**BASE_ATTRS, **CHAT_RESPONSE_ATTRS, **HEADER_ATTRS}
    assert_ok(span)


def test_with_streaming_response_leaves_the_body_to_the_caller(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=USER) as response:
        assert response.headers["x-request-id"] == "req_7f3a9c"
        lines = list(response.iter_lines())
    assert json.loads("".join(lines)) == CHAT_COMPLETION  # the whole body, unread by llmotel
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        "llmotel.openai.raw_response": "streaming",
        **HEADER_ATTRS,
    }


def test_with_streaming_response_of_a_stream(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=USER, stream=True) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines == [f"data: {json.dumps(c)}" for c in chat_chunks(False)] + ["data: [DONE]"]
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        "llmotel.openai.raw_response": "streaming",
        **HEADER_ATTRS,
    }


# --- the chat.completions.stream() helper --------------------------------------------------------


def chat_stream_helper(sdk: openai.OpenAI | openai.AsyncOpenAI) -> tuple[Callable[..., Any], str]:
    """The SDK's ``chat.completions.stream`` helper and the helper name it sends
    (``x-stainless-helper-method``). Before the helper left beta (openai < 1.9x) it is
    ``beta.chat.completions.stream``: the same ``ChatCompletionStream`` over ``chat.completions.create``,
    so the same span. An SDK with neither skips the test."""
    if hasattr(sdk.chat.completions, "stream"):
        return sdk.chat.completions.stream, "chat.completions.stream"
    beta_chat = getattr(getattr(sdk, "beta", None), "chat", None)
    if beta_chat is not None and hasattr(beta_chat.completions, "stream"):
        return beta_chat.completions.stream, "beta.chat.completions.stream"
    pytest.skip(f"openai {openai.__version__} has no chat.completions.stream helper (not even in beta)")


def test_stream_helper(instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI) -> None:
    stream_helper, helper_name = chat_stream_helper(client)
    with stream_helper(model="gpt-4o", messages=USER) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in events and "content.done" in events
    assert final.choices[0].message.content == "Hello there"
    assert server.requests[0].headers["x-stainless-helper-method"] == helper_name
    span = one_span()
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS


def test_stream_helper_exited_early_ends_the_span_at_exit(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    stream_helper, _ = chat_stream_helper(client)
    with stream_helper(model="gpt-4o", messages=USER) as stream:
        for _ in stream:
            break
    # the `stream` name still holds the helper (and the raw stream): the span must not wait for GC
    span = one_span()
    values = stream_attrs(span)
    assert values[sc.LLMOTEL_STREAM_COMPLETED] is False
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "closed"
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 1
    assert stream is not None  # still referenced here: the span above did not come from its collection


async def test_async_stream_helper(instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI) -> None:
    stream_helper, _ = chat_stream_helper(aclient)
    async with stream_helper(model="gpt-4o", messages=USER) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Hello there"
    values = stream_attrs(one_span())
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"
    assert values[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    async with stream_helper(model="gpt-4o", messages=USER) as stream:
        async for _ in stream:
            break
    second = finished()[1]
    assert stream_attrs(second)[sc.LLMOTEL_STREAM_STOP_REASON] == "closed"


# --- stream usage ---------------------------------------------------------------------------------


def test_injected_stream_usage_is_hidden_from_the_caller(
    instrument: Callable[..., OpenAIInstrumentor], client: openai.OpenAI, server: FakeOpenAI
) -> None:
    instrument(inject_stream_usage=True)
    options = {"include_obfuscation": False}
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True, stream_options=options))
    assert server.requests[0].body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert options == {"include_obfuscation": False}  # the caller's dict is not changed
    assert texts(chunks) == STREAM_TEXTS  # no usage-only chunk
    assert all(c.choices for c in chunks)
    span = one_span()
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_RESPONSE_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        **STREAM_USAGE_ATTRS,
        **HEADER_ATTRS,
        **stream_end(4, True, "exhausted"),
    }
    assert chunk_events(span) == full_chunk_events()


def test_injected_stream_usage_from_the_environment(
    env: Callable[..., None],
    instrument: Callable[..., OpenAIInstrumentor],
    client: openai.OpenAI,
    server: FakeOpenAI,
) -> None:
    env(LLMOTEL_OPENAI_STREAM_USAGE="true")
    instrument()
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert len(chunks) == 4
    assert stream_attrs(one_span())[sc.GEN_AI_USAGE_INPUT_TOKENS] == 19


async def test_injected_stream_usage_async_legacy_completions_and_chat(
    instrument: Callable[..., OpenAIInstrumentor], aclient: openai.AsyncOpenAI, server: FakeOpenAI
) -> None:
    instrument(inject_stream_usage=True)
    stream = await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test", stream=True)
    chunks = [chunk async for chunk in stream]
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert [c.choices[0].text for c in chunks] == ["This", " is", " a test"]
    values = stream_attrs(one_span("text_completion gpt-3.5-turbo-instruct"))
    assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 3

    stream = await aclient.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert server.requests[1].body["stream_options"] == {"include_usage": True}
    assert texts(chunks) == STREAM_TEXTS
    chat_span = finished()[1]
    assert {k: stream_attrs(chat_span)[k] for k in STREAM_USAGE_ATTRS} == STREAM_USAGE_ATTRS


def test_usage_the_caller_asked_for_reaches_the_caller(
    instrument: Callable[..., OpenAIInstrumentor], client: openai.OpenAI, server: FakeOpenAI
) -> None:
    instrument(inject_stream_usage=True)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert len(chunks) == 5
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 19
    values = stream_attrs(one_span())
    assert {k: values[k] for k in STREAM_USAGE_ATTRS} == STREAM_USAGE_ATTRS
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 5
    assert sc.LLMOTEL_USAGE_UNKNOWN not in values


def test_stream_without_usage_says_usage_unknown(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert "stream_options" not in server.requests[0].body  # nothing injected by default
    assert len(chunks) == 4
    values = stream_attrs(one_span())
    assert values[sc.LLMOTEL_USAGE_UNKNOWN] is True
    assert not [k for k in values if k.startswith("gen_ai.usage.")]


# --- legacy completions, Responses API, embeddings -----------------------------------------------


def test_legacy_completion(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7, temperature=0
    )
    assert completion.choices[0].text == "\n\nThis is indeed a test"
    span = one_span("text_completion gpt-3.5-turbo-instruct")
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_OPERATION_NAME: "text_completion",
        sc.GEN_AI_REQUEST_MODEL: "gpt-3.5-turbo-instruct",
        sc.GEN_AI_REQUEST_MAX_TOKENS: 7,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.0,
        sc.GEN_AI_RESPONSE_ID: "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-3.5-turbo-instruct",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("length",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 5,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        **HEADER_ATTRS,
    }
    assert_ok(span)


RESPONSE_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_REQUEST_MODEL: "gpt-4.1",
    sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
    sc.GEN_AI_REQUEST_TEMPERATURE: 0.7,
    sc.GEN_AI_RESPONSE_ID: "resp_67ccd2bed1ec8190",
    sc.GEN_AI_RESPONSE_MODEL: "gpt-4.1-2025-04-14",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 36,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 87,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 10,
}


def test_responses_api(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4.1", input="Tell me a story", instructions="Be brief.", max_output_tokens=100, temperature=0.7
    )
    assert response.output_text == "Once upon a time."
    span = one_span("chat gpt-4.1")
    assert attrs(span) == {**RESPONSE_ATTRS, **HEADER_ATTRS}
    assert_ok(span)


def test_responses_api_with_capture(
    capture_content: None, instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    client.responses.create(model="gpt-4.1", input="Tell me a story", instructions="Be brief.")
    values = attrs(one_span("chat gpt-4.1"))
    assert json.loads(values[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me a story"}]}
    ]
    assert json.loads(values[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(values[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Once upon a time."}], "finish_reason": "stop"}
    ]


def test_responses_api_stream(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    stream = client.responses.create(
        model="gpt-4.1", input="Tell me a story", max_output_tokens=100, temperature=0.7, stream=True
    )
    assert isinstance(stream, openai.Stream)
    events = list(stream)
    assert [e.type for e in events] == [e["type"] for e in response_events()]
    span = one_span("chat gpt-4.1")
    assert stream_attrs(span) == {
        **RESPONSE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        **HEADER_ATTRS,
        **stream_end(10, True, "exhausted"),  # 10 chunks, 10 events (the default cap): none dropped
    }
    sizes = [(e[sc.EVENT_CHUNK_INDEX], e[sc.EVENT_CHUNK_SIZE]) for e in chunk_events(span)]
    assert [index for index, _ in sizes] == list(range(10))
    assert sizes[4] == (4, 9)
    assert chunk_events(span)[-1][sc.EVENT_CHUNK_FINISH_REASON] == "stop"


def test_responses_stream_helper(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1", input="Tell me a story") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Once upon a time."
    values = stream_attrs(one_span("chat gpt-4.1"))
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"
    assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 87
    with client.responses.stream(model="gpt-4.1", input="Tell me a story") as stream:
        for _ in stream:
            break
    assert len(finished()) == 2  # ended at exit, not left to garbage collection
    assert stream_attrs(finished()[1])[sc.LLMOTEL_STREAM_STOP_REASON] == "closed"


async def test_async_responses_stream_helper(instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI) -> None:
    async with aclient.responses.stream(model="gpt-4.1", input="Tell me a story") as stream:
        async for _ in stream:
            break
    values = stream_attrs(one_span("chat gpt-4.1"))
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_CHUNKS]) == ("closed", 1)


async def test_async_responses_api(instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI) -> None:
    response = await aclient.responses.create(
        model="gpt-4.1", input="Tell me a story", max_output_tokens=100, temperature=0.7
    )
    assert response.id == "resp_67ccd2bed1ec8190"
    assert attrs(one_span("chat gpt-4.1")) == {**RESPONSE_ATTRS, **HEADER_ATTRS}


EMBEDDING_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_OPERATION_NAME: "embeddings",
    sc.GEN_AI_REQUEST_MODEL: "text-embedding-3-small",
    sc.GEN_AI_RESPONSE_MODEL: "text-embedding-3-small",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 8,
    "gen_ai.embeddings.dimension.count": 4,
    **HEADER_ATTRS,
}


def test_embeddings(instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["first", "second"])
    assert server.requests[0].body["encoding_format"] == "base64"  # what the SDK asks for by default
    assert len(result.data) == 2 and result.data[0].embedding == pytest.approx(EMBEDDING)
    span = one_span("embeddings text-embedding-3-small")
    assert attrs(span) == EMBEDDING_ATTRS
    assert_ok(span)


def test_embeddings_the_caller_asked_as_base64_still_get_their_dimension_count(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI
) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input="one", encoding_format="base64")
    assert isinstance(result.data[0].embedding, str)  # the caller gets the base64 text, undecoded
    assert attrs(one_span("embeddings text-embedding-3-small")) == EMBEDDING_ATTRS


async def test_async_embeddings(instrumented: OpenAIInstrumentor, aclient: openai.AsyncOpenAI) -> None:
    await aclient.embeddings.create(model="text-embedding-3-small", input="one", encoding_format="float")
    assert attrs(one_span("embeddings text-embedding-3-small")) == EMBEDDING_ATTRS


# --- errors --------------------------------------------------------------------------------------


def test_rate_limited(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.fail_with = 429
    made = spy_on_status_errors(client, monkeypatch)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER, temperature=0.2)
    assert made == [caught.value] and made[0] is caught.value  # the SDK's own exception object, unchanged
    assert caught.value.status_code == 429
    assert type(caught.value).__module__ == "openai"
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.ERROR_TYPE: "openai.RateLimitError",
        "http.response.status_code": 429,
        "llmotel.response.request_id": "req_429",
        "llmotel.ratelimit.requests.limit": 500,
        "llmotel.ratelimit.requests.remaining": 0,
        "llmotel.ratelimit.requests.reset": "120ms",
        "llmotel.ratelimit.tokens.limit": 30000,
        "llmotel.ratelimit.tokens.remaining": 0,
        "llmotel.ratelimit.tokens.reset": "1s",
        "llmotel.ratelimit.retry_after": 2,
    }
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None and span.status.description.startswith("RateLimitError: ")
    event = exception_event(span)
    assert event["exception.type"] == "openai.RateLimitError"
    assert event["exception.message"] == str(caught.value)
    assert event["exception.escaped"] == "True"


def test_server_error(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.fail_with = 500
    made = spy_on_status_errors(client, monkeypatch)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert made[0] is caught.value
    assert len(server.requests) == 1  # max_retries=0
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.ERROR_TYPE: "openai.InternalServerError",
        "http.response.status_code": 500,
        "llmotel.response.request_id": "req_500",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert exception_event(span)["exception.type"] == "openai.InternalServerError"


def test_timeout(instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI) -> None:
    server.timeout_error = httpx.ReadTimeout("timed out")
    with pytest.raises(openai.APITimeoutError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.__cause__ is server.timeout_error  # the chain the SDK built, untouched
    span = one_span()
    assert attrs(span) == {**BASE_ATTRS, sc.ERROR_TYPE: "openai.APITimeoutError"}
    assert span.status.status_code is StatusCode.ERROR
    assert exception_event(span)["exception.type"] == "openai.APITimeoutError"


async def test_async_rate_limited(
    instrumented: OpenAIInstrumentor,
    aclient: openai.AsyncOpenAI,
    server: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.fail_with = 429
    made = spy_on_status_errors(aclient, monkeypatch)
    with pytest.raises(openai.RateLimitError) as caught:
        await aclient.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    assert made[0] is caught.value
    span = one_span()
    values = attrs(span)
    assert values[sc.ERROR_TYPE] == "openai.RateLimitError"
    assert values["http.response.status_code"] == 429
    assert values["llmotel.ratelimit.requests.remaining"] == 0
    assert values[sc.GEN_AI_REQUEST_STREAM] is True
    assert span.status.status_code is StatusCode.ERROR


# --- suppression, de-duplication, metrics ---------------------------------------------------------


def test_suppressed_instrumentation_makes_no_span(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI
) -> None:
    with suppress_instrumentation():
        client.chat.completions.create(model="gpt-4o", messages=USER)
        list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(server.requests) == 3
    assert finished() == []
    client.chat.completions.create(model="gpt-4o", messages=USER)
    one_span()  # and tracing is back after the block


class Assistant:
    """A user's wrapper class, traced with the decorator, around the instrumented openai client."""

    def __init__(self, client: openai.OpenAI, tracer: trace.Tracer) -> None:
        self.client = client
        self.tracer = tracer
        self.model = "gpt-4o"

    @llmotel.trace_chat(provider="openai")
    def answer(self, messages: Any, use_tool: bool = False) -> Any:
        completion = self.client.chat.completions.create(model=self.model, messages=messages)
        if use_tool:
            with self.tracer.start_as_current_span("execute_tool lookup"):
                self.client.chat.completions.create(model=self.model, messages=messages, seed=1)
        return completion


def test_decorated_wrapper_makes_one_span(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, tracer: trace.Tracer, server: FakeOpenAI
) -> None:
    Assistant(client, tracer).answer(USER)
    assert len(server.requests) == 1
    span = one_span()  # the decorated method's span; the SDK call inside it made none
    assert attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        "llmotel.model.model": "gpt-4o",
        **CHAT_RESPONSE_ATTRS,
        **HEADER_ATTRS,  # the instrumented SDK still reports its response headers to the outer span
    }


def test_call_inside_a_tool_span_gets_its_own_span(
    instrumented: OpenAIInstrumentor, client: openai.OpenAI, tracer: trace.Tracer
) -> None:
    Assistant(client, tracer).answer(USER, use_tool=True)
    assert sorted(s.name for s in finished()) == ["chat gpt-4o", "chat gpt-4o", "execute_tool lookup"]
    spans = {s.name: s for s in finished()}
    outer = next(s for s in finished() if s.name == "chat gpt-4o" and "llmotel.model.model" in attrs(s))
    inner = next(s for s in finished() if s.name == "chat gpt-4o" and s is not outer)
    tool = spans["execute_tool lookup"]
    assert tool.parent is not None and tool.parent.span_id == outer.context.span_id
    assert inner.parent is not None and inner.parent.span_id == tool.context.span_id
    assert inner.kind is SpanKind.CLIENT
    assert attrs(inner) == {**BASE_ATTRS, sc.GEN_AI_REQUEST_SEED: 1, **CHAT_RESPONSE_ATTRS, **HEADER_ATTRS}


def test_metrics(instrumented: OpenAIInstrumentor, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o", messages=USER)
    metric_attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        sc.SERVER_ADDRESS: HOST,
        sc.SERVER_PORT: PORT,
    }
    span = one_span()
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert dict(duration.attributes) == metric_attrs
    assert duration.count == 1
    assert span.start_time is not None and span.end_time is not None
    assert 0 < duration.sum <= (span.end_time - span.start_time) / 1e9
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in metric_points(sc.METRIC_TOKEN_USAGE)}
    assert sorted(tokens) == ["input", "output"]
    assert (tokens["input"].sum, tokens["input"].count) == (1117, 1)
    assert (tokens["output"].sum, tokens["output"].count) == (46, 1)
    assert dict(tokens["input"].attributes) == {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "input"}


def test_error_metrics(instrumented: OpenAIInstrumentor, client: openai.OpenAI, server: FakeOpenAI) -> None:
    server.fail_with = 500
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=USER)
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert dict(duration.attributes) == {**BASE_ATTRS, sc.ERROR_TYPE: "openai.InternalServerError"}
    assert metric_points(sc.METRIC_TOKEN_USAGE) == []
