"""MistralInstrumentor against the real mistralai SDK talking to a fake server (httpx2.MockTransport).

The fake answers with the JSON and SSE bodies api.mistral.ai sends (tests/fixtures/mistral/) and
records every request. Whole exported spans are checked.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import mistralai.client._hooks.tracing as tracing_module
import mistralai.client.chat as chat_module
import mistralai.client.embeddings as embeddings_module
import pytest
import wrapt
from mistralai.client import Mistral, errors, models
from mistralai.client.utils import eventstreaming
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from conftest import finished
from helpers import fake_mistral
from helpers.fake_mistral import (
    HOST,
    NO_USAGE_COMPLETION,
    PORT,
    THINKING_COMPLETION,
    TOOL_CALL_COMPLETION,
    FakeMistral,
)
from helpers.providers import assert_no_span_when_suppressed, event_only_details, instrumenting, run_python
from helpers.spans import (
    CONTENT_KEYS,
    assert_ok,
    attrs,
    chunk_events,
    client_span_under,
    exception_event,
    only_client_span,
    stream_attrs,
    stream_end,
)
from llmotel import semconv as sc
from llmotel.integrations.mistral import MistralInstrumentor

PATCHED_TARGETS: list[tuple[Any, str]] = [
    (chat_module.Chat, "complete"),
    (chat_module.Chat, "complete_async"),
    (chat_module.Chat, "stream"),
    (chat_module.Chat, "stream_async"),
    (embeddings_module.Embeddings, "create"),
    (embeddings_module.Embeddings, "create_async"),
    (tracing_module, "get_traced_request_and_span"),
]
"""What instrument() wraps (uninstrument() must restore each)."""

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def server() -> FakeMistral:
    return FakeMistral()


@pytest.fixture
def client(server: FakeMistral) -> Iterator[Mistral]:
    with fake_mistral.client(server) as sdk:
        yield sdk


@pytest.fixture
async def aclient(server: FakeMistral) -> AsyncIterator[Mistral]:
    async with fake_mistral.client(server) as sdk:
        yield sdk


@pytest.fixture
def instrument() -> Iterator[Callable[..., MistralInstrumentor]]:
    """``instrument(**options)`` instruments mistralai for this test only (undone at teardown)."""
    with instrumenting(MistralInstrumentor(), "mistralai", PATCHED_TARGETS) as instrument:
        yield instrument


@pytest.fixture
def instrumented(instrument: Callable[..., MistralInstrumentor]) -> MistralInstrumentor:
    return instrument()


# --- helpers -------------------------------------------------------------------------------------

MODEL = "mistral-small-latest"
USER = [{"role": "user", "content": "What is the capital of France?"}]
BASE_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "mistral_ai",
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
}
CHAT_RESPONSE_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "cmpl-e5cc70bb28c444948073e77776eb30ef",
    sc.GEN_AI_RESPONSE_MODEL: "mistral-small-2506",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1117,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 46,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
}
STREAM_RESPONSE_ATTRS = {
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: "b2d7c0e4a1f34c5e9d8a6f7b3c2e1d0a",
    sc.GEN_AI_RESPONSE_MODEL: "mistral-small-2506",
}
WHOLE_STREAM_ATTRS = {
    **BASE_ATTRS,
    **STREAM_RESPONSE_ATTRS,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 19,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
    **stream_end(4, True, "exhausted"),
}
"""A chat stream read to its end (finish reason and usage arrive on the last chunk)."""
CUT_STREAM_ATTRS = {
    **BASE_ATTRS,
    **STREAM_RESPONSE_ATTRS,
    sc.LLMOTEL_USAGE_UNKNOWN: True,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
}
"""A stream that ended before its last chunk (add ``stream_end(...)``)."""
STREAM_TEXTS = ["", "Hello", " there", ""]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def one_span(name: str = f"chat {MODEL}") -> ReadableSpan:
    """The only finished span: an llmotel CLIENT span called ``name``."""
    return only_client_span(name)


def full_chunk_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {sc.EVENT_CHUNK_INDEX: i, sc.EVENT_CHUNK_SIZE: size} for i, size in enumerate((0, 5, 6, 0))
    ]
    events[-1][sc.EVENT_CHUNK_FINISH_REASON] = "stop"
    return events


def texts(events: list[Any]) -> list[Any]:
    return [e.data.choices[0].delta.content for e in events]


# --- instrument / uninstrument -------------------------------------------------------------------


def test_uninstrument_restores_the_exact_originals(client: Mistral) -> None:
    originals = {(owner, name): vars(owner)[name] for owner, name in PATCHED_TARGETS}
    assert not any(isinstance(f, wrapt.FunctionWrapper) for f in originals.values()), "already instrumented"
    instrumentor = MistralInstrumentor()
    instrumentor.instrument()
    try:
        for (owner, name), original in originals.items():
            patched = vars(owner)[name]
            assert isinstance(patched, wrapt.FunctionWrapper), f"{name} not patched"
            assert patched.__wrapped__ is original
        client.chat.complete(model=MODEL, messages=USER)
        assert len(finished()) == 1
    finally:
        instrumentor.uninstrument()
    for (owner, name), original in originals.items():
        assert vars(owner)[name] is original, f"{name} not restored"
    assert instrumentor.applied_patches == []
    client.chat.complete(model=MODEL, messages=USER)
    assert len(finished()) == 1  # no new span once uninstrumented


def test_instrument_again_after_uninstrument(instrument: Callable[..., MistralInstrumentor], client: Mistral) -> None:
    original = vars(chat_module.Chat)["complete"]
    instrument().uninstrument()
    assert vars(chat_module.Chat)["complete"] is original
    instrument()
    assert vars(chat_module.Chat)["complete"].__wrapped__ is original  # wrapped once, not twice
    client.chat.complete(model=MODEL, messages=USER)
    one_span()


def test_version_range() -> None:
    instrumentor = MistralInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ("mistralai >= 3.7.0, < 4.0.0",)
    assert instrumentor.library_available()


def test_importing_the_integration_does_not_import_the_sdk() -> None:
    """The integration module and instrument() leave mistralai unimported; importing it later patches it."""
    code = (
        "import sys\n"
        "from llmotel.integrations.mistral import MistralInstrumentor\n"
        "MistralInstrumentor().instrument()\n"
        "assert 'mistralai' not in sys.modules, sorted(m for m in sys.modules if 'mistral' in m)\n"
        "import wrapt\n"
        "from mistralai.client import chat, embeddings\n"
        "assert isinstance(vars(chat.Chat)['stream'], wrapt.FunctionWrapper)\n"
        "assert isinstance(vars(embeddings.Embeddings)['create_async'], wrapt.FunctionWrapper)\n"
        "print('ok')\n"
    )
    assert run_python(code, src_on_path=True).stdout.strip() == "ok"


# --- chat.complete -------------------------------------------------------------------------------


def test_complete_span(
    instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = client.chat.complete(
            model=MODEL,
            messages=USER,
            temperature=0.2,
            max_tokens=64,
            top_p=0.9,
            top_k=40,
            stop=["END"],
            random_seed=7,
            n=2,
            frequency_penalty=0.5,
            presence_penalty=-0.25,
        )
    assert isinstance(response, models.ChatCompletionResponse)
    assert response.choices[0].message is not None and response.choices[0].message.content == "Paris."
    assert server.requests[0].body["random_seed"] == 7
    assert [s.name for s in finished()] == [f"chat {MODEL}", "handle request"]
    span = client_span_under(parent, f"chat {MODEL}")
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 40,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_CHOICE_COUNT: 2,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.5,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: -0.25,
        **CHAT_RESPONSE_ATTRS,
    }
    assert_ok(span)
    assert span.events == ()


def test_server_from_the_named_server_or_the_call(instrumented: MistralInstrumentor, server: FakeMistral) -> None:
    with fake_mistral.client(server, server_url=None) as sdk:  # the default: the "global" server
        sdk.chat.complete(model=MODEL, messages=USER)
        sdk.chat.complete(model=MODEL, messages=USER, server_url="http://eu.fake-mistral.test:9000")
    first, second = finished()
    assert server.requests[0].headers["host"] == "api.mistral.ai"
    assert (attrs(first)[sc.SERVER_ADDRESS], attrs(first)[sc.SERVER_PORT]) == ("api.mistral.ai", 443)
    assert (attrs(second)[sc.SERVER_ADDRESS], attrs(second)[sc.SERVER_PORT]) == ("eu.fake-mistral.test", 9000)


def test_complete_records_no_content_by_default(
    instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    server.chat_reply = TOOL_CALL_COMPLETION
    client.chat.complete(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, *USER], tools=[WEATHER_TOOL]
    )
    span = one_span()
    values = attrs(span)
    assert not set(CONTENT_KEYS) & set(values)
    dumped = json.dumps(values) + json.dumps([dict(e.attributes or {}) for e in span.events])
    for private in ("capital of France", "Be brief", "get_weather", "Paris", "D681PevKs"):
        assert private not in dumped
    assert values[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_complete_content_with_capture(
    capture_content: None, instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    server.chat_reply = TOOL_CALL_COMPLETION
    client.chat.complete(
        model=MODEL,
        messages=[
            models.SystemMessage(content="Be brief."),
            models.UserMessage(content=[models.TextChunk(text="Weather in Paris?")]),
            {"role": "assistant", "tool_calls": [{"id": "t0", "function": {"name": "noop", "arguments": {}}}]},
            {"role": "tool", "tool_call_id": "t0", "content": "done"},
        ],
        tools=[WEATHER_TOOL],
    )
    values = attrs(one_span())
    assert json.loads(values[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "t0", "name": "noop", "arguments": {}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t0", "response": "done"}]},
    ]
    assert json.loads(values[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "D681PevKs", "name": "get_weather", "arguments": {"city": "Paris"}}],
            "finish_reason": "tool_call",
        }
    ]


def test_thinking_chunks_are_reasoning_parts(
    capture_content: None, instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    server.chat_reply = THINKING_COMPLETION
    client.chat.complete(model="magistral-medium-latest", messages=USER)
    values = attrs(one_span("chat magistral-medium-latest"))
    assert json.loads(values[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "The capital of France is Paris."},
                {"type": "text", "content": "Paris."},
            ],
            "finish_reason": "stop",
        }
    ]


def test_usage_less_response_says_usage_unknown(
    instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    server.chat_reply = NO_USAGE_COMPLETION
    response = client.chat.complete(model=MODEL, messages=USER)
    assert response.usage.prompt_tokens == 0  # the SDK's default, not a count the API reported
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_RESPONSE_ID: "cmpl-no-usage-1",
        sc.GEN_AI_RESPONSE_MODEL: "mistral-small-2506",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


def test_details_event_in_event_only_mode(env: Any, instrumented: MistralInstrumentor, client: Mistral) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    client.chat.complete(model=MODEL, messages=USER, temperature=0.2)
    assert event_only_details(one_span()) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "mistral_ai",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.SERVER_ADDRESS: HOST,
        sc.SERVER_PORT: PORT,
        sc.GEN_AI_RESPONSE_ID: "cmpl-e5cc70bb28c444948073e77776eb30ef",
        sc.GEN_AI_RESPONSE_MODEL: "mistral-small-2506",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1117,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 46,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
        sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": USER[0]["content"]}]}],
        sc.GEN_AI_OUTPUT_MESSAGES: [
            {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
        ],
    }


async def test_async_complete(instrumented: MistralInstrumentor, aclient: Mistral) -> None:
    response = await aclient.chat.complete_async(model=MODEL, messages=USER, max_tokens=64)
    assert isinstance(response, models.ChatCompletionResponse)
    span = one_span()
    assert attrs(span) == {**BASE_ATTRS, sc.GEN_AI_REQUEST_MAX_TOKENS: 64, **CHAT_RESPONSE_ATTRS}
    assert_ok(span)


# --- chat.stream ---------------------------------------------------------------------------------


def test_stream_keeps_the_sdk_surface_and_ends_with_the_stream(
    instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        stream = client.chat.stream(model=MODEL, messages=USER, temperature=0.3)
    assert isinstance(stream, eventstreaming.EventStream)
    assert stream.response.headers["content-type"] == "text/event-stream"
    assert server.requests[0].body["stream"] is True
    assert [s.name for s in finished()] == ["handle request"]  # the call span is still open
    with stream as entered:
        assert entered is stream
        events = list(entered)
    assert all(isinstance(e, models.CompletionEvent) for e in events)
    assert texts(events) == STREAM_TEXTS
    span = client_span_under(parent, f"chat {MODEL}")
    assert stream_attrs(span) == {**WHOLE_STREAM_ATTRS, sc.GEN_AI_REQUEST_TEMPERATURE: 0.3}
    assert chunk_events(span) == full_chunk_events()
    assert_ok(span)


def test_stream_text_with_capture(capture_content: None, instrumented: MistralInstrumentor, client: Mistral) -> None:
    list(client.chat.stream(model=MODEL, messages=USER))
    span = one_span()
    assert json.loads(attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]
    assert [e.get(sc.EVENT_CHUNK_CONTENT) for e in chunk_events(span)] == [None, "Hello", " there", None]


def test_stream_tool_calls_with_capture(
    capture_content: None, instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    server.chunks = fake_mistral.fixture("stream_tool_calls.json")
    list(client.chat.stream(model=MODEL, messages=USER, tools=[WEATHER_TOOL]))
    values = stream_attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "D681PevKs", "name": "get_weather", "arguments": {"city": "Paris"}}],
            "finish_reason": "tool_call",
        }
    ]
    assert values == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.GEN_AI_RESPONSE_ID: "5b1c9e0f7a2d4c3b8e6f1a0d9c8b7a6e",
        sc.GEN_AI_RESPONSE_MODEL: "mistral-small-2506",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 85,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 23,
        sc.GEN_AI_INPUT_MESSAGES: json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": USER[0]["content"]}]}],
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        **stream_end(2, True, "exhausted"),
    }


def test_stream_without_usage_says_usage_unknown(
    instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    last = {k: v for k, v in fake_mistral.STREAM_CHUNKS[-1].items() if k != "usage"}
    server.chunks = [*fake_mistral.STREAM_CHUNKS[:-1], last]
    list(client.chat.stream(model=MODEL, messages=USER))
    expected = {k: v for k, v in WHOLE_STREAM_ATTRS.items() if not k.startswith("gen_ai.usage.")}
    assert stream_attrs(one_span()) == {**expected, sc.LLMOTEL_USAGE_UNKNOWN: True}


def test_stream_break_and_close(instrumented: MistralInstrumentor, client: Mistral) -> None:
    stream = client.chat.stream(model=MODEL, messages=USER)
    for _ in stream:
        break
    assert finished() == []
    stream.close()
    assert stream.response.is_closed
    span = one_span()
    assert stream_attrs(span) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "closed")}
    assert chunk_events(span) == full_chunk_events()[:1]
    assert_ok(span)
    stream.close()  # closing again ends nothing more
    assert len(finished()) == 1


def test_stream_with_block_exited_early(instrumented: MistralInstrumentor, client: Mistral) -> None:
    with client.chat.stream(model=MODEL, messages=USER) as stream:
        next(stream)
        next(stream)
    assert stream.response.is_closed
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(2, False, "context_exit")}


def test_stream_dropped_ends_on_garbage_collection(instrumented: MistralInstrumentor, client: Mistral) -> None:
    stream = client.chat.stream(model=MODEL, messages=USER)
    next(stream)
    response = stream.response
    assert finished() == []
    del stream
    gc.collect()
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "garbage_collected")}
    response.close()


def test_stream_cut_mid_way(instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral) -> None:
    server.break_mid_stream = True
    stream = client.chat.stream(model=MODEL, messages=USER)
    received = []
    with pytest.raises(httpx2.ReadError, match="connection reset") as caught:
        for event in stream:
            received.append(event)
    assert len(received) == 2
    span = one_span()
    assert stream_attrs(span) == {
        **{k: v for k, v in CUT_STREAM_ATTRS.items() if k != sc.LLMOTEL_USAGE_UNKNOWN},  # no usage verdict
        **stream_end(2, False, "error"),
        sc.ERROR_TYPE: "httpx2.ReadError",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert exception_event(span)["exception.message"] == str(caught.value)


async def test_async_stream(instrumented: MistralInstrumentor, aclient: Mistral, tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        stream = await aclient.chat.stream_async(model=MODEL, messages=USER)
    assert isinstance(stream, eventstreaming.EventStreamAsync)
    async with stream as entered:
        assert entered is stream
        events = [e async for e in entered]
    assert texts(events) == STREAM_TEXTS
    span = client_span_under(parent, f"chat {MODEL}")
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS
    assert chunk_events(span) == full_chunk_events()


async def test_async_stream_break_and_close(instrumented: MistralInstrumentor, aclient: Mistral) -> None:
    stream = await aclient.chat.stream_async(model=MODEL, messages=USER)
    async for _ in stream:
        break
    assert finished() == []
    await stream.close()  # the SDK's async close() is a coroutine
    assert stream.response.is_closed
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "closed")}


async def test_async_stream_with_block_exited_early(instrumented: MistralInstrumentor, aclient: Mistral) -> None:
    async with await aclient.chat.stream_async(model=MODEL, messages=USER) as stream:
        await stream.__anext__()
    assert stream.response.is_closed
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "context_exit")}


async def test_async_stream_dropped_ends_on_garbage_collection(
    instrumented: MistralInstrumentor, aclient: Mistral
) -> None:
    stream = await aclient.chat.stream_async(model=MODEL, messages=USER)
    await stream.__anext__()
    response = stream.response
    del stream
    gc.collect()
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "garbage_collected")}
    await response.aclose()


async def test_async_stream_cut_mid_way(
    instrumented: MistralInstrumentor, aclient: Mistral, server: FakeMistral
) -> None:
    server.break_mid_stream = True
    stream = await aclient.chat.stream_async(model=MODEL, messages=USER)
    with pytest.raises(httpx2.ReadError):
        async for _ in stream:
            pass
    span = one_span()
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_STOP_REASON] == "error"
    assert attrs(span)[sc.ERROR_TYPE] == "httpx2.ReadError"
    assert span.status.status_code is StatusCode.ERROR


# --- embeddings ----------------------------------------------------------------------------------

EMBEDDING_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_OPERATION_NAME: "embeddings",
    sc.GEN_AI_REQUEST_MODEL: "mistral-embed",
    sc.GEN_AI_RESPONSE_ID: "emb-7c5f0e2b9d",
    sc.GEN_AI_RESPONSE_MODEL: "mistral-embed",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 8,
    "gen_ai.embeddings.dimension.count": 4,
}


def test_embeddings(instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral) -> None:
    result = client.embeddings.create(model="mistral-embed", inputs=["first", "second"])
    assert server.requests[0].body["input"] == ["first", "second"]
    assert len(result.data) == 2
    span = one_span("embeddings mistral-embed")
    assert attrs(span) == EMBEDDING_ATTRS
    assert_ok(span)


def test_embeddings_requested_dimensions(instrumented: MistralInstrumentor, client: Mistral) -> None:
    client.embeddings.create(model="mistral-embed", inputs="one", output_dimension=256)
    assert attrs(one_span("embeddings mistral-embed"))["gen_ai.embeddings.dimension.count"] == 256


async def test_async_embeddings(instrumented: MistralInstrumentor, aclient: Mistral) -> None:
    await aclient.embeddings.create_async(model="mistral-embed", inputs="one")
    assert attrs(one_span("embeddings mistral-embed")) == EMBEDDING_ATTRS


# --- errors --------------------------------------------------------------------------------------


def test_rate_limited(instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral) -> None:
    server.fail_with = 429
    with pytest.raises(errors.SDKError) as caught:
        client.chat.complete(model=MODEL, messages=USER, temperature=0.2)
    assert caught.value.status_code == 429
    assert len(server.requests) == 1  # retries off
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.ERROR_TYPE: "mistralai.client.errors.sdkerror.SDKError",
        "http.response.status_code": 429,
        "llmotel.ratelimit.retry_after": 2,
    }
    assert span.status.status_code is StatusCode.ERROR
    event = exception_event(span)
    assert event["exception.type"] == "mistralai.client.errors.sdkerror.SDKError"
    assert event["exception.message"] == str(caught.value)


@pytest.mark.parametrize("status", [400, 500])
def test_http_errors(instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral, status: int) -> None:
    server.fail_with = status
    with pytest.raises(errors.SDKError) as caught:
        client.chat.complete(model=MODEL, messages=USER)
    assert caught.value.status_code == status
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.ERROR_TYPE: "mistralai.client.errors.sdkerror.SDKError",
        "http.response.status_code": status,
    }
    assert span.status.status_code is StatusCode.ERROR


def test_validation_error(instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral) -> None:
    server.fail_with = 422
    with pytest.raises(errors.HTTPValidationError):
        client.chat.complete(model=MODEL, messages=USER)
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.ERROR_TYPE: "mistralai.client.errors.httpvalidationerror.HTTPValidationError",
        "http.response.status_code": 422,
    }


def test_stream_request_rejected(instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral) -> None:
    server.fail_with = 429
    with pytest.raises(errors.SDKError):
        client.chat.stream(model=MODEL, messages=USER)
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.ERROR_TYPE: "mistralai.client.errors.sdkerror.SDKError",
        "http.response.status_code": 429,
        "llmotel.ratelimit.retry_after": 2,
    }


async def test_async_errors(instrumented: MistralInstrumentor, aclient: Mistral, server: FakeMistral) -> None:
    server.fail_with = 500
    with pytest.raises(errors.SDKError):
        await aclient.chat.complete_async(model=MODEL, messages=USER)
    with pytest.raises(errors.SDKError):
        await aclient.embeddings.create_async(model="mistral-embed", inputs="x")
    chat, embed = finished()
    assert attrs(chat)["http.response.status_code"] == attrs(embed)["http.response.status_code"] == 500
    assert chat.status.status_code is embed.status.status_code is StatusCode.ERROR


# --- the SDK's own tracing, suppression ----------------------------------------------------------


def scopes() -> list[str]:
    return [s.instrumentation_scope.name if s.instrumentation_scope else "" for s in finished()]


SDK_SCOPE = "mistralai_sdk_tracer"


def test_the_sdk_traces_itself_only_where_llmotel_does_not(
    env: Any, instrument: Callable[..., MistralInstrumentor], server: FakeMistral, exporter: InMemorySpanExporter
) -> None:
    env(MISTRAL_SDK_TELEMETRY="global")  # the SDK's opt-in: its spans through the global provider
    with fake_mistral.client(server) as sdk:
        sdk.chat.complete(model=MODEL, messages=USER)
        assert scopes() == [SDK_SCOPE]  # uninstrumented: the SDK's own span
        exporter.clear()
        instrument()
        sdk.chat.complete(model=MODEL, messages=USER)
        list(sdk.chat.stream(model=MODEL, messages=USER))
        assert scopes() == ["llmotel", "llmotel"]  # ours only, one per call
        with suppress_instrumentation():
            sdk.chat.complete(model=MODEL, messages=USER)
        assert scopes()[2:] == [SDK_SCOPE]  # a call llmotel does not trace keeps the SDK's span


def test_suppressed_instrumentation_makes_no_span(
    instrumented: MistralInstrumentor, client: Mistral, server: FakeMistral
) -> None:
    assert_no_span_when_suppressed(
        server.requests,
        lambda: client.chat.complete(model=MODEL, messages=USER),
        lambda: list(client.chat.stream(model=MODEL, messages=USER)),
        lambda: client.embeddings.create(model="mistral-embed", inputs="x"),
    )
    client.chat.complete(model=MODEL, messages=USER)
    one_span()
