"""CohereInstrumentor against the real cohere SDK (v2 client) talking to a fake server (httpx.MockTransport).

The fake server answers with the JSON and SSE shapes Cohere's v2 API sends (``tests/fixtures/cohere``)
and records every request. Whole exported spans are checked.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cohere
import cohere.v2.client as v2_module
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from conftest import finished, metric_points
from helpers import fake_cohere
from helpers.fake_cohere import (
    BASE_URL,
    CHAT_NO_USAGE,
    CHAT_TOOL_CALL,
    HOST,
    PORT,
    STREAM_EVENTS,
    STREAM_TOOL_CALL_EVENTS,
    FakeCohere,
)
from helpers.providers import (
    assert_call_metrics,
    assert_no_span_when_suppressed,
    assert_uninstrument_restores,
    event_only_details,
    instrumenting,
    run_python,
)
from helpers.spans import assert_failed, assert_ok, attrs, chunk_events, only_client_span, stream_attrs, stream_end
from llmotel import semconv as sc
from llmotel.integrations.cohere import CohereInstrumentor
from llmotel.integrations.cohere._extract import usage_of

MODEL = "command-a-03-2025"
EMBED_MODEL = "embed-v4.0"
SPAN_NAME = f"chat {MODEL}"

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def server() -> FakeCohere:
    return FakeCohere()


@pytest.fixture
def client(server: FakeCohere) -> Iterator[cohere.ClientV2]:
    """A client of ``server``; tests that trace list ``instrumented`` first, so it is made after
    ``instrument()`` (a client made before keeps untraced ``chat`` methods: see the integration)."""
    sdk = fake_cohere.sync_client(server)
    yield sdk
    sdk._client_wrapper.httpx_client.httpx_client.close()


@pytest.fixture
async def aclient(server: FakeCohere) -> AsyncIterator[cohere.AsyncClientV2]:
    sdk = fake_cohere.async_client(server)
    yield sdk
    await sdk._client_wrapper.httpx_client.httpx_client.aclose()


PATCHED_TARGETS: list[tuple[Any, str]] = [
    (v2_module.V2Client, "chat"),
    (v2_module.AsyncV2Client, "chat"),
    (v2_module.V2Client, "chat_stream"),
    (v2_module.AsyncV2Client, "chat_stream"),
    (v2_module.V2Client, "embed"),
    (v2_module.AsyncV2Client, "embed"),
]
"""What instrument() wraps (uninstrument() must restore each)."""


@pytest.fixture
def instrumented() -> Iterator[CohereInstrumentor]:
    with instrumenting(CohereInstrumentor(), "cohere", PATCHED_TARGETS) as instrument:
        yield instrument()


# --- helpers -------------------------------------------------------------------------------------

SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "What is the capital of France?"}
BASE_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "cohere",
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
}
CHAT_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1117,  # billed units, not the raw 1180 tokens
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 8,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
}
TOOL_CALL_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "5d9fe4c3-2f4a-4b2e-9b6d-1f0e2a3b4c5d",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 37,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 28,
}
STREAM_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: "29f14a5a-11de-4cae-9800-25e4747408ea",
}
WHOLE_STREAM_ATTRS = {
    **STREAM_ATTRS,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 3,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 2,
    **stream_end(6, True, "exhausted"),
}
STREAM_TYPES = [e["type"] for e in STREAM_EVENTS]
INPUT_MESSAGES = [
    {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
    {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
]


def chat(sdk: cohere.ClientV2, **kwargs: Any) -> Any:
    return sdk.chat(model=MODEL, messages=[SYSTEM, USER], **kwargs)


def stream(sdk: cohere.ClientV2, **kwargs: Any) -> Any:
    return sdk.chat_stream(model=MODEL, messages=[SYSTEM, USER], **kwargs)


def one_span(name: str = SPAN_NAME) -> ReadableSpan:
    """The only finished span: an llmotel CLIENT span called ``name``."""
    return only_client_span(name)


WHOLE_STREAM_EVENTS = [
    {sc.EVENT_CHUNK_INDEX: i, sc.EVENT_CHUNK_SIZE: size} for i, size in enumerate((0, 0, 5, 6, 0, 0))
]
WHOLE_STREAM_EVENTS[-1][sc.EVENT_CHUNK_FINISH_REASON] = "stop"


# --- instrument / uninstrument, imports ----------------------------------------------------------


def test_uninstrument_restores_the_exact_originals(server: FakeCohere) -> None:
    assert_uninstrument_restores(
        CohereInstrumentor(), PATCHED_TARGETS, while_instrumented=lambda: chat(fake_cohere.sync_client(server))
    )
    assert len(finished()) == 2
    chat(fake_cohere.sync_client(server))
    assert len(finished()) == 2  # no span once uninstrumented


def test_a_client_made_while_instrumented_is_untraced_after_uninstrument(server: FakeCohere) -> None:
    instrumentor = CohereInstrumentor()
    instrumentor.instrument()
    try:
        sdk = fake_cohere.sync_client(server)  # its __init__ keeps the (patched) bound chat methods
        chat(sdk)
    finally:
        instrumentor.uninstrument()
    chat(sdk)
    list(stream(sdk))
    sdk.embed(model=EMBED_MODEL, input_type="search_query", texts=["hello"])
    assert len(server.requests) == 4
    assert [s.name for s in finished()] == [SPAN_NAME]


def test_a_client_made_before_instrument_traces_embed_only(server: FakeCohere) -> None:
    """Known limit: ``Client.__init__`` binds ``chat``/``chat_stream`` onto the instance, so a
    client made before ``instrument()`` keeps the originals (see the integration's docstring)."""
    sdk = fake_cohere.sync_client(server)
    instrumentor = CohereInstrumentor()
    instrumentor.instrument()
    try:
        chat(sdk)
        list(stream(sdk))
        sdk.embed(model=EMBED_MODEL, input_type="search_query", texts=["hello"])
    finally:
        instrumentor.uninstrument()
    assert [s.name for s in finished()] == [f"embeddings {EMBED_MODEL}"]


def test_the_integration_imports_no_cohere_and_patches_on_import() -> None:
    code = (
        "import sys\n"
        "import llmotel.integrations.cohere as integration\n"
        "loaded = lambda: sorted(m for m in sys.modules if m == 'cohere' or m.startswith('cohere.'))\n"
        "assert loaded() == [], loaded()\n"
        "integration.CohereInstrumentor().instrument()\n"
        "assert loaded() == [], loaded()\n"
        "import cohere, cohere.v2.client as v2\n"
        "import wrapt\n"
        "print(all(isinstance(vars(c)[m], wrapt.FunctionWrapper) for c in (v2.V2Client, v2.AsyncV2Client)"
        " for m in ('chat', 'chat_stream', 'embed')))\n"
    )
    out = run_python(code, timeout=120)
    assert out.stdout.strip() == "True", out.stderr


def test_version_range() -> None:
    instrumentor = CohereInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ("cohere >= 5.9.0, < 8.0.0",)
    assert instrumentor.library_available()  # the installed 7.x is in range


# --- chat ----------------------------------------------------------------------------------------


def test_chat(
    instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = chat(
            client,
            temperature=0.3,
            max_tokens=200,
            p=0.75,
            k=40,
            stop_sequences=["END"],
            seed=7,
            frequency_penalty=0.1,
            presence_penalty=0.2,
            response_format={"type": "json_object"},
        )
    assert response.message.content[0].text == "The capital of France is Paris."  # type: ignore[index, union-attr]
    assert server.requests[0].path == "/v2/chat"
    assert server.requests[0].body["p"] == 0.75 and server.requests[0].body["k"] == 40
    spans = finished()
    assert [s.name for s in spans] == [SPAN_NAME, "handle request"]
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.3,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 200,
        sc.GEN_AI_REQUEST_TOP_P: 0.75,
        sc.GEN_AI_REQUEST_TOP_K: 40.0,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.1,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.2,
        sc.GEN_AI_OUTPUT_TYPE: "json",
        **CHAT_ATTRS,
    }
    assert_ok(span)
    assert span.events == ()


def test_chat_records_no_content_by_default(
    instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere
) -> None:
    server.chat_reply = CHAT_TOOL_CALL
    chat(client)
    values = attrs(one_span())
    assert values == {**BASE_ATTRS, **TOOL_CALL_ATTRS}
    for private in ("capital of France", "terse", "weather", "get_weather_1byjy32y4hvq", "Paris"):
        assert private not in json.dumps(values)


def test_chat_content_with_capture(capture_content: None, instrumented: CohereInstrumentor, client: Any) -> None:
    chat(client)
    values = attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == INPUT_MESSAGES
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The capital of France is Paris."}],
            "finish_reason": "stop",
        }
    ]
    assert values == {**BASE_ATTRS, **CHAT_ATTRS}


def test_tool_calls_with_capture(
    capture_content: None, instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere
) -> None:
    server.chat_reply = CHAT_TOOL_CALL
    tool_turn = [
        USER,
        {
            "role": "assistant",
            "tool_plan": "I will look up the weather.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Lyon"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    client.chat(model=MODEL, messages=tool_turn)  # type: ignore[arg-type]
    values = attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        INPUT_MESSAGES[1],
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"location": "Lyon"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18C and sunny"}]},
    ]
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "I will look up the weather in Paris."},
                {
                    "type": "tool_call",
                    "id": "get_weather_1byjy32y4hvq",
                    "name": "get_weather",
                    "arguments": {"location": "Paris"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert values == {**BASE_ATTRS, **TOOL_CALL_ATTRS}


def test_usage_less_response(instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere) -> None:
    server.chat_reply = CHAT_NO_USAGE
    chat(client, max_tokens=2)
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 2,
        sc.GEN_AI_RESPONSE_ID: "0a1b2c3d-0000-4000-8000-000000000001",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("length",),
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("COMPLETE", "stop"), ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls"), ("ERROR", "error"),
     ("STOP_SEQUENCE", "stop_sequence"), ("TIMEOUT", "timeout")],
)  # fmt: skip
def test_finish_reasons(
    instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere, reason: str, expected: str
) -> None:
    server.chat_reply = {**CHAT_NO_USAGE, "finish_reason": reason}
    chat(client)
    assert attrs(one_span())[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (expected,)


def test_usage_falls_back_to_tokens_and_keeps_cached_tokens_within_the_input() -> None:
    assert usage_of({"tokens": {"input_tokens": 70.0, "output_tokens": 9.0}}) is not None
    tokens_only = usage_of({"tokens": {"input_tokens": 70.0, "output_tokens": 9.0}, "cached_tokens": 64.0})
    assert tokens_only is not None
    assert (tokens_only.input_tokens, tokens_only.output_tokens, tokens_only.cache_read_input_tokens) == (70, 9, 64)
    billed = usage_of({"billed_units": {"input_tokens": 5}, "tokens": {"input_tokens": 70, "output_tokens": 9}})
    assert billed is not None and (billed.input_tokens, billed.output_tokens) == (5, 9)
    above = usage_of({"billed_units": {"input_tokens": 5, "output_tokens": 9}, "cached_tokens": 64})
    assert above is not None and above.cache_read_input_tokens is None  # not a part of the 5 recorded
    assert usage_of({"billed_units": {"search_units": 1}}) is None
    assert usage_of(None) is None


async def test_async_chat(
    instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = await aclient.chat(model=MODEL, messages=[SYSTEM, USER], temperature=0.5)  # type: ignore[list-item]
    assert response.id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    span = finished()[0]
    assert [s.name for s in finished()] == [SPAN_NAME, "handle request"]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {**BASE_ATTRS, sc.GEN_AI_REQUEST_TEMPERATURE: 0.5, **CHAT_ATTRS}


def test_client_v1_v2_attribute_is_traced(instrumented: CohereInstrumentor, server: FakeCohere) -> None:
    http = httpx.Client(transport=httpx.MockTransport(server))
    v1 = cohere.Client(api_key=server.api_key, base_url=BASE_URL, httpx_client=http, max_retries=0)
    v1.v2.chat(model=MODEL, messages=[SYSTEM, USER])  # type: ignore[list-item]
    http.close()
    assert attrs(one_span()) == {**BASE_ATTRS, **CHAT_ATTRS}


# --- chat_stream ---------------------------------------------------------------------------------


def test_chat_stream(instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere) -> None:
    events = stream(client, temperature=0.2)
    assert server.requests == []  # a generator: the request is made on the first read
    assert finished() == []
    types = [event.type for event in events]
    assert types == STREAM_TYPES
    assert server.requests[0].body["stream"] is True
    span = one_span()
    assert stream_attrs(span) == {**WHOLE_STREAM_ATTRS, sc.GEN_AI_REQUEST_TEMPERATURE: 0.2}
    assert chunk_events(span) == WHOLE_STREAM_EVENTS
    assert_ok(span)


def test_chat_stream_with_capture(capture_content: None, instrumented: CohereInstrumentor, client: Any) -> None:
    list(stream(client))
    values = stream_attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == INPUT_MESSAGES
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]
    assert values == WHOLE_STREAM_ATTRS


def test_chat_stream_tool_call_with_capture(
    capture_content: None, instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere
) -> None:
    server.stream_events = STREAM_TOOL_CALL_EVENTS
    list(stream(client))
    span = one_span()
    values = stream_attrs(span)
    values.pop(sc.GEN_AI_INPUT_MESSAGES)
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "I will check the weather."},
                {
                    "type": "tool_call",
                    "id": "get_weather_nsz5zm3w56q3",
                    "name": "get_weather",
                    "arguments": {"location": "Paris"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert values == {
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_ID: "7a2c1e6b-6a3f-4f55-9d2e-3c4b5a697881",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 37,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 21,
        **stream_end(8, True, "exhausted"),
    }
    contents = [e.get(sc.EVENT_CHUNK_CONTENT) for e in chunk_events(span)]
    assert contents == [None, "I will check", " the weather.", None, '{"location":', '"Paris"}', None, None]


def test_chat_stream_closed_early(instrumented: CohereInstrumentor, client: cohere.ClientV2) -> None:
    events = stream(client)
    for _ in events:
        break
    assert finished() == []  # a loop left early does not end the stream
    events.close()
    span = one_span()
    assert stream_attrs(span) == {
        **STREAM_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }
    assert_ok(span)
    with pytest.raises(StopIteration):
        next(events)  # the SDK's generator is closed too


def test_chat_stream_closed_by_contextlib_closing(instrumented: CohereInstrumentor, client: cohere.ClientV2) -> None:
    with contextlib.closing(stream(client)) as events:
        assert next(events).type == "message-start"
        assert next(events).type == "content-start"
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_CHUNKS]) == ("closed", 2)


def test_chat_stream_closed_before_the_first_read_sends_nothing(
    instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere
) -> None:
    stream(client).close()
    assert server.requests == []
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(0, False, "closed"),
    }


def test_chat_stream_dropped_ends_on_garbage_collection(
    instrumented: CohereInstrumentor, client: cohere.ClientV2
) -> None:
    events = stream(client)
    next(events)
    del events
    gc.collect()
    assert stream_attrs(one_span()) == {
        **STREAM_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(1, False, "garbage_collected"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }


def test_chat_stream_cut_mid_way(instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere) -> None:
    server.cut_stream_after = 3
    events = stream(client)
    seen = []
    with pytest.raises(httpx.ReadError) as caught:
        for event in events:
            seen.append(event.type)
    assert seen == STREAM_TYPES[:3]
    span = one_span()
    assert stream_attrs(span) == {
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
        **stream_end(3, False, "error"),
        sc.ERROR_TYPE: "httpx.ReadError",
    }
    assert_failed(span, caught.value)


async def test_async_chat_stream(instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2) -> None:
    events = aclient.chat_stream(model=MODEL, messages=[SYSTEM, USER])  # type: ignore[list-item]
    types = [event.type async for event in events]
    assert types == STREAM_TYPES
    span = one_span()
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS
    assert chunk_events(span) == WHOLE_STREAM_EVENTS


async def test_async_chat_stream_closed_early(instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2) -> None:
    events = aclient.chat_stream(model=MODEL, messages=[SYSTEM, USER])  # type: ignore[list-item]
    async for _ in events:
        break
    await events.aclose()  # type: ignore[attr-defined]
    assert stream_attrs(one_span()) == {
        **STREAM_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }


async def test_async_chat_stream_cut_mid_way(
    instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2, server: FakeCohere
) -> None:
    server.cut_stream_after = 2
    events = aclient.chat_stream(model=MODEL, messages=[SYSTEM, USER])  # type: ignore[list-item]
    with pytest.raises(httpx.ReadError):
        async for _ in events:
            pass
    values = stream_attrs(one_span())
    assert values == {
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
        **stream_end(2, False, "error"),
        sc.ERROR_TYPE: "httpx.ReadError",
    }


# --- embed ---------------------------------------------------------------------------------------

EMBED_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "embeddings",
    sc.GEN_AI_PROVIDER_NAME: "cohere",
    sc.GEN_AI_REQUEST_MODEL: EMBED_MODEL,
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
    "gen_ai.request.encoding_formats": ("float",),
    sc.GEN_AI_RESPONSE_ID: "da6e531f-54c6-4a73-bf92-f60566d8d753",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 2,
    "gen_ai.embeddings.dimension.count": 4,
}


def test_embed(instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere) -> None:
    result = client.embed(
        model=EMBED_MODEL, input_type="search_document", texts=["hello", "goodbye"], embedding_types=["float"]
    )
    assert result.embeddings.float_ is not None and len(result.embeddings.float_) == 2
    assert server.requests[0].path == "/v2/embed"
    span = one_span(f"embeddings {EMBED_MODEL}")
    assert attrs(span) == EMBED_ATTRS
    assert_ok(span)


async def test_async_embed(instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2) -> None:
    await aclient.embed(
        model=EMBED_MODEL, input_type="search_query", texts=["hello"], embedding_types=["float"], output_dimension=256
    )
    assert attrs(one_span(f"embeddings {EMBED_MODEL}")) == {**EMBED_ATTRS, "gen_ai.embeddings.dimension.count": 256}


# --- errors --------------------------------------------------------------------------------------


def error_attrs(status: int, error_class: type[BaseException], **extra: Any) -> dict[str, Any]:
    return {
        **BASE_ATTRS,
        sc.ERROR_TYPE: f"cohere.errors.{error_class.__module__.rsplit('.', 1)[-1]}.{error_class.__name__}",
        "http.response.status_code": status,
        "llmotel.response.request_id": f"trace-{status}",
        **extra,
    }


def test_bad_request(instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere) -> None:
    server.fail_with = 400
    with pytest.raises(cohere.BadRequestError) as caught:
        chat(client)
    assert caught.value.status_code == 400
    span = one_span()
    assert attrs(span) == error_attrs(400, cohere.BadRequestError)
    assert attrs(span)[sc.ERROR_TYPE] == "cohere.errors.bad_request_error.BadRequestError"
    assert_failed(span, caught.value)


def test_rate_limited(instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere) -> None:
    server.fail_with = 429
    with pytest.raises(cohere.TooManyRequestsError) as caught:
        chat(client)
    assert len(server.requests) == 1  # max_retries=0
    span = one_span()
    assert attrs(span) == error_attrs(429, cohere.TooManyRequestsError, **{"llmotel.ratelimit.retry_after": 12})
    assert_failed(span, caught.value)
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    assert duration.attributes[sc.ERROR_TYPE] == "cohere.errors.too_many_requests_error.TooManyRequestsError"


def test_server_error_on_a_stream_fails_its_first_read(
    instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere
) -> None:
    server.fail_with = 500
    events = stream(client)
    assert finished() == []
    with pytest.raises(cohere.InternalServerError) as caught:
        next(events)
    span = one_span()
    assert attrs(span) == {
        **error_attrs(500, cohere.InternalServerError),
        sc.GEN_AI_REQUEST_STREAM: True,
        **stream_end(0, False, "error"),
    }
    assert_failed(span, caught.value)


async def test_async_rate_limited(
    instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2, server: FakeCohere
) -> None:
    server.fail_with = 429
    with pytest.raises(cohere.TooManyRequestsError) as caught:
        await aclient.chat(model=MODEL, messages=[USER])  # type: ignore[list-item]
    span = one_span()
    assert attrs(span) == error_attrs(429, cohere.TooManyRequestsError, **{"llmotel.ratelimit.retry_after": 12})
    assert_failed(span, caught.value)


async def test_async_stream_rate_limited(
    instrumented: CohereInstrumentor, aclient: cohere.AsyncClientV2, server: FakeCohere
) -> None:
    server.fail_with = 429
    with pytest.raises(cohere.TooManyRequestsError):
        async for _ in aclient.chat_stream(model=MODEL, messages=[USER]):  # type: ignore[list-item]
            pass
    assert attrs(one_span()) == {
        **error_attrs(429, cohere.TooManyRequestsError, **{"llmotel.ratelimit.retry_after": 12}),
        sc.GEN_AI_REQUEST_STREAM: True,
        **stream_end(0, False, "error"),
    }


# --- details event, suppression, metrics ---------------------------------------------------------


def test_details_event_in_event_only_mode(instrumented: CohereInstrumentor, client: cohere.ClientV2, env: Any) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    chat(client, temperature=0.3)
    assert event_only_details(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.3,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in CHAT_ATTRS.items()},
        sc.GEN_AI_INPUT_MESSAGES: INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "The capital of France is Paris."}],
                "finish_reason": "stop",
            }
        ],
    }


def test_suppressed_instrumentation(
    instrumented: CohereInstrumentor, client: cohere.ClientV2, server: FakeCohere
) -> None:
    assert_no_span_when_suppressed(server.requests, lambda: chat(client), lambda: list(stream(client)))


def test_metrics(instrumented: CohereInstrumentor, client: cohere.ClientV2) -> None:
    chat(client)
    assert_call_metrics(
        one_span(),
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "cohere",
            sc.GEN_AI_REQUEST_MODEL: MODEL,
            sc.SERVER_ADDRESS: HOST,
            sc.SERVER_PORT: PORT,
        },
        {"input": 1117, "output": 8},
    )
