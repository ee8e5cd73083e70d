"""GoogleGenAIInstrumentor against the real google-genai SDK talking to a fake Gemini API
(``httpx.MockTransport`` through ``HttpOptions.client_args`` / ``async_client_args``; no network).

The SDK's retries are off by default (``HttpOptions.retry_options`` unset: one attempt), which the
error tests check by counting requests.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import google.genai.models as models_module
import pytest
from google import genai
from google.genai import errors, types
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from conftest import finished
from helpers import fake_google_genai
from helpers.fake_google_genai import HOST, MODEL, PORT, VERTEX_HOST, FakeGemini
from helpers.providers import (
    assert_call_metrics,
    assert_no_span_when_suppressed,
    assert_uninstrument_restores,
    event_only_details,
    instrumenting,
    run_python,
)
from helpers.spans import (
    CONTENT_KEYS,
    assert_failed,
    attrs,
    chunk_event_tuples,
    only_client_span,
    stream_attrs,
    stream_end,
)
from llmotel import semconv as sc
from llmotel.integrations.google_genai import GoogleGenAIInstrumentor

SPAN_NAME = f"generate_content {MODEL}"
PATCHED_TARGETS: list[tuple[Any, str]] = [
    (models_module.Models, "generate_content"),
    (models_module.Models, "generate_content_stream"),
    (models_module.AsyncModels, "generate_content"),
    (models_module.AsyncModels, "generate_content_stream"),
]
"""What instrument() wraps (uninstrument() must restore each)."""


@pytest.fixture
def server() -> FakeGemini:
    return FakeGemini()


@pytest.fixture
def client(server: FakeGemini) -> Iterator[genai.Client]:
    sdk = fake_google_genai.sync_client(server)
    yield sdk
    sdk.close()


@pytest.fixture
def instrumented() -> Iterator[GoogleGenAIInstrumentor]:
    with instrumenting(GoogleGenAIInstrumentor(), "google-genai", PATCHED_TARGETS) as instrument:
        yield instrument()


# --- what the spans carry ------------------------------------------------------------------------

BASE_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "generate_content",
    sc.GEN_AI_PROVIDER_NAME: "gcp.gen_ai",
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
}
RESPONSE_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "mKx2aN7gLcOQ1MkPvKqP6Ak",
    sc.GEN_AI_RESPONSE_MODEL: "gemini-2.5-flash",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1210,  # promptTokenCount, which includes the 1024 cached ones
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 8 + 42,  # candidatesTokenCount + thoughtsTokenCount
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 42,
}
STREAM_ATTRS = {
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: "s7x2aOXyB9-b1MkPkc2v-Qo",
    sc.GEN_AI_RESPONSE_MODEL: "gemini-2.5-flash",
}
STREAM_DONE_ATTRS = {
    **STREAM_ATTRS,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 7 + 24,  # the last chunk's cumulative counts
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 24,
}
QUESTION = "What is the capital of France?"


def generate(sdk: genai.Client, **kwargs: Any) -> types.GenerateContentResponse:
    kwargs.setdefault("model", MODEL)
    return sdk.models.generate_content(contents=QUESTION, **kwargs)


def stream(sdk: genai.Client, **kwargs: Any) -> Iterator[types.GenerateContentResponse]:
    return sdk.models.generate_content_stream(model=MODEL, contents=QUESTION, **kwargs)


def one_span() -> ReadableSpan:
    """The only finished span, which must be llmotel's CLIENT span."""
    return only_client_span(SPAN_NAME)


STREAM_CHUNK_EVENTS = [(0, len("The capital"), None), (1, len(" of France is"), None), (2, len(" Paris."), "stop")]


# --- instrument / uninstrument, imports ----------------------------------------------------------


def test_uninstrument_restores_the_exact_originals() -> None:
    # a second instrument() is a no-op, not a second wrapper
    assert_uninstrument_restores(GoogleGenAIInstrumentor(), PATCHED_TARGETS, instrument_calls=2)


def test_version_range() -> None:
    assert GoogleGenAIInstrumentor().instrumentation_dependencies() == ("google-genai >= 3.6.0, < 4.0.0",)
    assert GoogleGenAIInstrumentor().library_available()


def test_importing_the_integration_does_not_import_the_sdk() -> None:
    code = """
import sys
import wrapt
import llmotel
from llmotel.integrations.google_genai import GoogleGenAIInstrumentor
instrumentor = GoogleGenAIInstrumentor()
instrumentor.instrument()
assert not [m for m in sys.modules if m == "google.genai" or m.startswith("google.genai.")], "imported the SDK"
from google import genai  # the post-import hook patches now
from google.genai import models
assert isinstance(vars(models.Models)["generate_content"], wrapt.FunctionWrapper)
assert isinstance(vars(models.AsyncModels)["generate_content_stream"], wrapt.FunctionWrapper)
instrumentor.uninstrument()
assert not isinstance(vars(models.Models)["generate_content"], wrapt.FunctionWrapper)
print("ok")
"""
    assert run_python(code).stdout.strip() == "ok"


# --- generate_content ----------------------------------------------------------------------------


def test_generate_content(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini, tracer: trace.Tracer
) -> None:
    config = types.GenerateContentConfig(
        temperature=0.2,
        max_output_tokens=256,
        top_p=0.95,
        top_k=40,
        stop_sequences=["END", "STOP"],
        seed=7,
        candidate_count=2,
        presence_penalty=0.1,
        frequency_penalty=0.3,
        response_mime_type="application/json",
        system_instruction="Answer in one sentence.",
    )
    with tracer.start_as_current_span("handle request") as parent:
        response = generate(client, model=f"models/{MODEL}", config=config)
    assert isinstance(response, types.GenerateContentResponse)
    assert response.text == "The capital of France is Paris."
    assert server.requests[0].path == f"/v1/models/{MODEL}:generateContent"
    spans = finished()
    assert [s.name for s in spans] == [SPAN_NAME, "handle request"]
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {
        **BASE_ATTRS,  # "models/" is not part of the model's name
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 256,
        sc.GEN_AI_REQUEST_TOP_P: 0.95,
        sc.GEN_AI_REQUEST_TOP_K: 40.0,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END", "STOP"),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_CHOICE_COUNT: 2,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.1,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.3,
        sc.GEN_AI_OUTPUT_TYPE: "json",
        **RESPONSE_ATTRS,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


def test_config_as_a_dict(instrumented: GoogleGenAIInstrumentor, client: genai.Client) -> None:
    generate(client, config={"temperature": 1.0, "max_output_tokens": 64, "response_mime_type": "text/plain"})
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 1.0,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.GEN_AI_OUTPUT_TYPE: "text",
        **RESPONSE_ATTRS,
    }


async def test_async_generate_content(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = await client.aio.models.generate_content(model=MODEL, contents=QUESTION)
    assert response.response_id == "mKx2aN7gLcOQ1MkPvKqP6Ak"
    span = finished()[0]
    assert [s.name for s in finished()] == [SPAN_NAME, "handle request"]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {**BASE_ATTRS, **RESPONSE_ATTRS}


def test_vertex_ai_client(instrumented: GoogleGenAIInstrumentor, server: FakeGemini) -> None:
    client = fake_google_genai.vertex_client(server)
    generate(client)
    assert server.requests[0].path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_PROVIDER_NAME: "gcp.vertex_ai",
        sc.SERVER_ADDRESS: VERTEX_HOST,
        sc.SERVER_PORT: 443,
        **RESPONSE_ATTRS,
    }


def test_default_endpoint_is_the_server(instrumented: GoogleGenAIInstrumentor, server: FakeGemini) -> None:
    client = genai.Client(api_key=server.api_key, http_options=fake_google_genai.http_options(server, None))
    generate(client)
    assert server.requests[0].headers["host"] == "generativelanguage.googleapis.com"  # answered by the fake
    values = attrs(one_span())
    assert (values[sc.SERVER_ADDRESS], values[sc.SERVER_PORT]) == ("generativelanguage.googleapis.com", 443)


def test_per_call_base_url_is_the_server(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    generate(client, config={"http_options": {"base_url": "http://gemini-proxy.test:8080"}})
    assert server.requests[0].headers["host"] == "gemini-proxy.test:8080"
    values = attrs(one_span())
    assert (values[sc.SERVER_ADDRESS], values[sc.SERVER_PORT]) == ("gemini-proxy.test", 8080)


def test_records_no_content_by_default(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.reply = fake_google_genai.FUNCTION_CALL_RESPONSE
    generate(client, config={"system_instruction": "You are terse."})
    values = attrs(one_span())
    assert not set(CONTENT_KEYS) & set(values)
    for private in ("capital of France", "terse", "call the tool", "get_weather", "Paris", "cannot continue"):
        assert private not in json.dumps(values)


def test_content_with_capture(
    capture_content: None, instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.reply = fake_google_genai.FUNCTION_CALL_RESPONSE
    history = [
        types.Content(role="user", parts=[types.Part.from_text(text="Hi")]),
        types.Content(role="model", parts=[types.Part.from_text(text="Hello! How can I help?")]),
        "What is the weather in Paris?",
        types.Part.from_uri(file_uri="gs://bucket/paris.jpg", mime_type="image/jpeg"),
    ]
    config = types.GenerateContentConfig(
        system_instruction=types.Content(parts=[types.Part.from_text(text="You are terse.")])
    )
    response = client.models.generate_content(model=MODEL, contents=history, config=config)
    assert response.function_calls is not None and response.function_calls[0].name == "get_weather"
    values = attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello! How can I help?"}]},
        {  # loose strings and parts are one user turn, as the SDK sends them
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is the weather in Paris?"},
                {"type": "uri", "modality": "image", "mime_type": "image/jpeg", "uri": "gs://bucket/paris.jpg"},
            ],
        },
    ]
    assert json.loads(values.pop(sc.GEN_AI_SYSTEM_INSTRUCTIONS)) == [{"type": "text", "content": "You are terse."}]
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "The user wants the weather, so I will call the tool."},
                {
                    "type": "tool_call",
                    "id": None,
                    "name": "get_weather",
                    "arguments": {"city": "Paris", "unit": "celsius"},
                },
            ],
            "finish_reason": "tool_call",
        },
        {"role": "assistant", "parts": [{"type": "text", "content": "I cannot continue."}], "finish_reason": "length"},
    ]
    assert values == {
        **BASE_ATTRS,
        sc.GEN_AI_RESPONSE_ID: "fnc-6Jw2aLbHN8-Y1MkP",
        sc.GEN_AI_RESPONSE_MODEL: "gemini-2.5-pro",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop", "length"),  # one per candidate
        sc.GEN_AI_USAGE_INPUT_TOKENS: 61,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 17 + 48,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 48,
    }


def test_function_response_in_input_with_capture(
    capture_content: None, instrumented: GoogleGenAIInstrumentor, client: genai.Client
) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [{"function_call": {"id": "call-1", "name": "get_weather", "args": {"city": "Paris"}}}],
        },
        {
            "role": "user",
            "parts": [{"function_response": {"id": "call-1", "name": "get_weather", "response": {"t": 21}}}],
        },
    ]
    client.models.generate_content(model=MODEL, contents=contents)
    assert json.loads(attrs(one_span())[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call-1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "call-1", "response": {"t": 21}}]},
    ]


def test_response_without_usage(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.reply = fake_google_genai.NO_USAGE_RESPONSE
    generate(client)
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_RESPONSE_ID: "nouse-0Ax2aKr1",
        sc.GEN_AI_RESPONSE_MODEL: "gemini-2.5-flash",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("content_filter",),  # SAFETY
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


def test_details_event_in_event_only_mode(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, env: Any
) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    generate(client, config={"system_instruction": "be terse"})
    values = event_only_details(one_span())
    assert values[sc.GEN_AI_PROVIDER_NAME] == "gcp.gen_ai"
    assert values[sc.GEN_AI_OPERATION_NAME] == "generate_content"
    assert values[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "be terse"}]
    assert values[sc.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The capital of France is Paris."}],
            "finish_reason": "stop",
        }
    ]


# --- generate_content_stream ---------------------------------------------------------------------


def test_stream_read_to_the_end(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    chunks = stream(client)
    assert finished() == []  # a generator: nothing is sent before the first chunk is read
    texts = [chunk.text for chunk in chunks]
    assert texts == ["The capital", " of France is", " Paris."]
    assert server.requests[0].path == f"/v1/models/{MODEL}:streamGenerateContent"
    span = one_span()
    assert stream_attrs(span) == {**BASE_ATTRS, **STREAM_DONE_ATTRS, **stream_end(3, True, "exhausted")}
    assert chunk_event_tuples(span) == STREAM_CHUNK_EVENTS
    assert span.status.status_code is StatusCode.UNSET


def test_stream_with_capture(
    capture_content: None, instrumented: GoogleGenAIInstrumentor, client: genai.Client
) -> None:
    for _ in stream(client):
        pass
    values = stream_attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The capital of France is Paris."}],
            "finish_reason": "stop",
        }
    ]
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
    ]
    assert values == {**BASE_ATTRS, **STREAM_DONE_ATTRS, **stream_end(3, True, "exhausted")}


def test_stream_break_and_close(instrumented: GoogleGenAIInstrumentor, client: genai.Client) -> None:
    chunks = stream(client)
    for _ in chunks:
        break
    assert finished() == []
    chunks.close()  # type: ignore[attr-defined]
    assert stream_attrs(one_span()) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,  # the first chunk's usage: no output count yet
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }
    chunks.close()  # type: ignore[attr-defined]  # again: still one span
    assert len(finished()) == 1


def test_stream_dropped_ends_on_garbage_collection(instrumented: GoogleGenAIInstrumentor, client: genai.Client) -> None:
    chunks = stream(client)
    next(chunks)
    next(chunks)
    del chunks
    gc.collect()
    assert stream_attrs(one_span()) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
        **stream_end(2, False, "garbage_collected"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }


def test_stream_cut_by_an_error_event(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.error_mid_stream = True
    received = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in stream(client):
            received.append(chunk)
    assert len(received) == 2
    assert caught.value.code == 503
    span = one_span()
    # a stream that broke mid-way keeps what arrived (response id, model, usage so far)
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
        **stream_end(2, False, "error"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
        sc.ERROR_TYPE: "google.genai.errors.ServerError",
        "http.response.status_code": 503,
    }
    assert_failed(span, caught.value, "google.genai.errors.ServerError")


async def test_async_stream(instrumented: GoogleGenAIInstrumentor, client: genai.Client, tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        chunks = await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION)
        texts = [chunk.text async for chunk in chunks]
    assert texts == ["The capital", " of France is", " Paris."]
    span = finished()[0]
    assert [s.name for s in finished()] == [SPAN_NAME, "handle request"]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert stream_attrs(span) == {**BASE_ATTRS, **STREAM_DONE_ATTRS, **stream_end(3, True, "exhausted")}
    assert chunk_event_tuples(span) == STREAM_CHUNK_EVENTS


async def test_async_stream_break_and_close(instrumented: GoogleGenAIInstrumentor, client: genai.Client) -> None:
    chunks = await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION)
    async for _ in chunks:
        break
    assert finished() == []
    await chunks.aclose()  # type: ignore[attr-defined]
    assert stream_attrs(one_span()) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }


async def test_async_stream_dropped_ends_on_garbage_collection(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client
) -> None:
    chunks = await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION)
    await chunks.__anext__()
    del chunks
    gc.collect()
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_COMPLETED]) == ("garbage_collected", False)
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 1


# --- chats ---------------------------------------------------------------------------------------


def test_chat_turns_are_one_span_each(
    capture_content: None, instrumented: GoogleGenAIInstrumentor, client: genai.Client
) -> None:
    chat = client.chats.create(model=MODEL)
    assert chat.send_message("Hi").text == "The capital of France is Paris."
    assert "".join(c.text or "" for c in chat.send_message_stream(QUESTION)) == "The capital of France is Paris."
    first, second = finished()
    assert (first.name, second.name) == (SPAN_NAME, SPAN_NAME)
    assert attrs(first)[sc.GEN_AI_REQUEST_MODEL] == MODEL and sc.GEN_AI_REQUEST_STREAM not in attrs(first)
    values = stream_attrs(second)
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"
    assert json.loads(values[sc.GEN_AI_INPUT_MESSAGES]) == [  # the chat sends its history with each turn
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "The capital of France is Paris."}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]


async def test_async_chat(instrumented: GoogleGenAIInstrumentor, client: genai.Client) -> None:
    chat = client.aio.chats.create(model=MODEL)
    await chat.send_message("Hi")
    async for _ in await chat.send_message_stream(QUESTION):
        pass
    first, second = finished()
    assert attrs(first) == {**BASE_ATTRS, **RESPONSE_ATTRS}
    assert stream_attrs(second) == {**BASE_ATTRS, **STREAM_DONE_ATTRS, **stream_end(3, True, "exhausted")}


# --- errors --------------------------------------------------------------------------------------


CLIENT_ERROR = "google.genai.errors.ClientError"
SERVER_ERROR = "google.genai.errors.ServerError"


def test_bad_request(instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini) -> None:
    server.fail_with = 400
    with pytest.raises(errors.ClientError) as caught:
        generate(client)
    assert caught.value.status == "INVALID_ARGUMENT"
    span = one_span()
    assert attrs(span) == {**BASE_ATTRS, sc.ERROR_TYPE: CLIENT_ERROR, "http.response.status_code": 400}
    assert_failed(span, caught.value, CLIENT_ERROR)


def test_rate_limited_records_the_retry_delay(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.fail_with = 429
    with pytest.raises(errors.ClientError) as caught:
        generate(client)
    assert caught.value.code == 429
    assert len(server.requests) == 1  # no retries
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.ERROR_TYPE: CLIENT_ERROR,
        "http.response.status_code": 429,
        "llmotel.ratelimit.retry_after": 17,  # the body's RetryInfo.retryDelay "17s"
    }
    assert_failed(span, caught.value, CLIENT_ERROR)


def test_rate_limited_retry_after_header_wins(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.fail_with = 429
    server.error_headers = {"retry-after": "30", "x-request-id": "req-429"}  # e.g. from a gateway in front
    with pytest.raises(errors.ClientError):
        generate(client)
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.ERROR_TYPE: CLIENT_ERROR,
        "http.response.status_code": 429,
        "llmotel.ratelimit.retry_after": 30,
        "llmotel.response.request_id": "req-429",
    }


def test_server_error_on_a_stream(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    server.fail_with = 500
    chunks = stream(client)
    with pytest.raises(errors.ServerError) as caught:
        next(chunks)
    assert len(server.requests) == 1
    span = one_span()
    assert attrs(span) == {  # no chunk arrived: no time to first chunk, no finish reason
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.ERROR_TYPE: SERVER_ERROR,
        "http.response.status_code": 500,
        **stream_end(0, False, "error"),
    }
    assert_failed(span, caught.value, SERVER_ERROR)


async def test_async_errors(instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini) -> None:
    server.fail_with = 429
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents=QUESTION)
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.ERROR_TYPE: CLIENT_ERROR,
        "http.response.status_code": 429,
        "llmotel.ratelimit.retry_after": 17,
    }
    assert_failed(span, caught.value, CLIENT_ERROR)
    server.fail_with = 500
    with pytest.raises(errors.ServerError):
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION):
            pass
    failed = finished()[1]
    assert attrs(failed)[sc.ERROR_TYPE] == SERVER_ERROR
    assert attrs(failed)["http.response.status_code"] == 500


# --- the extractor by itself: plain dicts, no SDK objects -----------------------------------------


def test_extractor_reads_dict_shapes() -> None:
    from llmotel.integrations.google_genai._extract import GoogleGenAIStreamExtractor
    from llmotel.records import LLMCall, StreamState

    extractor = GoogleGenAIStreamExtractor()
    call = LLMCall("generate_content", "gcp.gen_ai")
    extractor.request(call, None, (), {"model": "models/gemini-x", "config": {"top_k": 3, "seed": 1}})
    assert (call.request_model, call.stream, call.params) == (
        "gemini-x",
        True,
        {sc.GEN_AI_REQUEST_TOP_K: 3.0, sc.GEN_AI_REQUEST_SEED: 1},
    )
    state = StreamState()
    chunk = {"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finish_reason": "RECITATION", "index": 1}]}
    extractor.chunk(call, state, {**chunk, "response_id": "r1", "model_version": "gemini-x-001"}, True)
    extractor.chunk(call, state, {"usage_metadata": {"prompt_token_count": 3, "candidates_token_count": 2}}, True)
    extractor.stream_end(call, state, True)
    assert (call.response_id, call.response_model, call.finish_reasons) == ("r1", "gemini-x-001", ["", "recitation"])
    assert call.usage is not None
    assert (call.usage.input_tokens, call.usage.output_tokens, call.usage.reasoning_output_tokens) == (3, 2, None)
    assert call.output_messages == [
        {"role": "assistant", "parts": [], "finish_reason": "error"},  # candidate 0 never came
        {"role": "assistant", "parts": [{"type": "text", "content": "Hi"}], "finish_reason": "recitation"},
    ]


# --- suppression, metrics ------------------------------------------------------------------------


def test_suppressed_instrumentation_makes_no_span(
    instrumented: GoogleGenAIInstrumentor, client: genai.Client, server: FakeGemini
) -> None:
    assert_no_span_when_suppressed(server.requests, lambda: generate(client), lambda: list(stream(client)))


def test_metrics(instrumented: GoogleGenAIInstrumentor, client: genai.Client) -> None:
    generate(client)
    assert_call_metrics(
        one_span(),
        {
            sc.GEN_AI_OPERATION_NAME: "generate_content",
            sc.GEN_AI_PROVIDER_NAME: "gcp.gen_ai",
            sc.GEN_AI_REQUEST_MODEL: MODEL,
            sc.GEN_AI_RESPONSE_MODEL: "gemini-2.5-flash",
            sc.SERVER_ADDRESS: HOST,
            sc.SERVER_PORT: PORT,
        },
        {"input": 1210, "output": 50},
    )
