"""OllamaInstrumentor against the real ollama SDK talking to a fake server (httpx.MockTransport).

The fake answers with the JSON and NDJSON bodies an Ollama server sends (tests/fixtures/ollama/)
and records every request, so the tests see both what the caller gets back and what went over the
wire. Whole exported spans are checked.
"""

from __future__ import annotations

import gc
import importlib
import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import ollama
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from conftest import finished
from helpers import fake_ollama
from helpers.fake_ollama import HOST, PORT, FakeOllama
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
from llmotel.integrations.ollama import OllamaInstrumentor

MODEL = "llama3.2"
client_module = importlib.import_module("ollama._client")  # ``ollama._client`` is the default Client

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def server() -> FakeOllama:
    return FakeOllama()


@pytest.fixture
def client(server: FakeOllama) -> Iterator[ollama.Client]:
    with fake_ollama.sync_client(server) as sdk:
        yield sdk


@pytest.fixture
async def aclient(server: FakeOllama) -> AsyncIterator[ollama.AsyncClient]:
    async with fake_ollama.async_client(server) as sdk:
        yield sdk


PATCHED_TARGETS: list[tuple[Any, str]] = [
    (client_module.Client, "chat"),
    (client_module.AsyncClient, "chat"),
    (client_module.Client, "generate"),
    (client_module.AsyncClient, "generate"),
    (client_module.Client, "embed"),
    (client_module.AsyncClient, "embed"),
    (ollama, "chat"),
    (ollama, "generate"),
    (ollama, "embed"),
]
"""What instrument() wraps (uninstrument() must restore each)."""


@pytest.fixture
def instrumented() -> Iterator[OllamaInstrumentor]:
    with instrumenting(OllamaInstrumentor(), "ollama", PATCHED_TARGETS) as instrument:
        yield instrument()


# --- helpers -------------------------------------------------------------------------------------

USER = [{"role": "user", "content": "What is the capital of France?"}]
BASE_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "ollama",
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
}
CHAT_ATTRS = {
    sc.GEN_AI_RESPONSE_MODEL: MODEL,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 26,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 8,
}
WHOLE_STREAM_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_MODEL: MODEL,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 26,  # from the final ``done: true`` part
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 4,
    **stream_end(4, True, "exhausted"),
}
CUT_STREAM_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_MODEL: MODEL,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # ended before the final part
    sc.LLMOTEL_USAGE_UNKNOWN: True,
}
STREAM_TEXTS = ["The", " capital", " is Paris.", ""]


def one_span(name: str = f"chat {MODEL}") -> ReadableSpan:
    """The only finished span: an llmotel CLIENT span called ``name``."""
    return only_client_span(name)


def full_chunk_events() -> list[dict[str, Any]]:
    """The chunk events of the whole four-part chat stream."""
    events: list[dict[str, Any]] = [
        {sc.EVENT_CHUNK_INDEX: i, sc.EVENT_CHUNK_SIZE: len(text)} for i, text in enumerate(STREAM_TEXTS)
    ]
    events[-1][sc.EVENT_CHUNK_FINISH_REASON] = "stop"
    return events


def texts(parts: list[Any]) -> list[str | None]:
    return [p.message.content for p in parts]


def content_of(span: ReadableSpan) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in attrs(span).items() if k in CONTENT_KEYS}


# --- instrument / uninstrument, the SDK not imported ---------------------------------------------


def test_uninstrument_restores_the_exact_originals() -> None:
    assert_uninstrument_restores(OllamaInstrumentor(), PATCHED_TARGETS)
    assert ollama.chat.__self__ is ollama._client  # the default client's bound method, as it was


def test_instrumentation_dependencies_say_the_tested_range() -> None:
    assert tuple(OllamaInstrumentor().instrumentation_dependencies()) == ("ollama >= 0.4.0, < 1.0.0",)
    assert OllamaInstrumentor().library_available()


def test_importing_the_integration_does_not_import_the_sdk_and_patches_wait_for_it() -> None:
    """In a fresh interpreter: the integration imports without ollama, ``instrument()`` imports
    nothing either, and the patches (module-level functions included) land when ollama is imported."""
    script = textwrap.dedent(
        """
        import sys
        import llmotel.integrations.ollama as integration
        assert "ollama" not in sys.modules, "importing the integration imported ollama"
        integration.OllamaInstrumentor().instrument()
        assert "ollama" not in sys.modules, "instrument() imported ollama"
        import ollama, wrapt
        for owner, name in [(ollama.Client, "chat"), (ollama.AsyncClient, "generate"), (ollama, "chat"),
                            (ollama, "generate"), (ollama, "embed")]:
            assert isinstance(vars(owner)[name], wrapt.FunctionWrapper), name
        print("ok")
        """
    )
    assert run_python(script).stdout.strip() == "ok"


# --- chat ----------------------------------------------------------------------------------------


def test_chat(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama, tracer: trace.Tracer
) -> None:
    options = {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "num_predict": 128, "seed": 42, "stop": ["\n\n"]}
    options |= {"frequency_penalty": 0.5, "presence_penalty": 0.25, "num_ctx": 4096}
    with tracer.start_as_current_span("handle request") as parent:
        response = client.chat(model=MODEL, messages=USER, options=options)
    assert isinstance(response, ollama.ChatResponse)
    assert response.message.content == "The capital of France is Paris."
    assert server.requests[0].path == "/api/chat" and server.requests[0].body["options"] == options
    span = client_span_under(parent, f"chat {MODEL}")
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 40.0,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 128,  # num_predict
        sc.GEN_AI_REQUEST_SEED: 42,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n\n",),
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.5,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.25,
        **CHAT_ATTRS,
    }
    assert_ok(span)


def test_chat_positional_arguments_options_model_and_json_format(
    instrumented: OllamaInstrumentor, client: ollama.Client
) -> None:
    client.chat(MODEL, USER, options=ollama.Options(temperature=0.0, num_predict=16), format="json")
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.0,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 16,
        sc.GEN_AI_OUTPUT_TYPE: "json",
        **CHAT_ATTRS,
    }


def test_chat_records_no_content_by_default(instrumented: OllamaInstrumentor, client: ollama.Client) -> None:
    client.chat(model=MODEL, messages=[{"role": "system", "content": "Be terse."}, *USER])
    span = one_span()
    assert content_of(span) == {}
    assert "Paris" not in json.dumps(attrs(span))


def test_chat_content_with_capture(
    capture_content: None, instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama
) -> None:
    server.replies["/api/chat"] = fake_ollama.CHAT_TOOL_CALLS
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is in this picture, and the weather in Paris?", "images": [b"\x89PNG"]},
        ollama.Message(role="tool", content="22 degrees", tool_name="get_current_weather"),
    ]
    response = client.chat(model=MODEL, messages=messages, tools=[{"type": "function", "function": {"name": "f"}}])
    assert response.message.tool_calls is not None
    span = one_span()
    assert content_of(span) == {
        sc.GEN_AI_INPUT_MESSAGES: [
            {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
            {
                "role": "user",
                "parts": [
                    {"type": "text", "content": "What is in this picture, and the weather in Paris?"},
                    {"type": "blob", "modality": "image", "content": "<omitted>"},
                ],
            },
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": None, "response": "22 degrees"}],
                "name": "get_current_weather",
            },
        ],
        sc.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "The user wants the weather: call the tool."},
                    {
                        "type": "tool_call",
                        "id": None,
                        "name": "get_current_weather",
                        "arguments": {"format": "celsius", "location": "Paris, FR"},
                    },
                ],
                "finish_reason": "stop",
            }
        ],
    }
    assert attrs(span)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 122


def test_usage_less_response_says_usage_unknown(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama
) -> None:
    server.replies["/api/chat"] = fake_ollama.CHAT_LOAD  # an empty chat only loads the model
    client.chat(model=MODEL, messages=[])
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_RESPONSE_MODEL: MODEL,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("load",),
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


def test_module_level_chat_uses_the_default_client(
    instrumented: OllamaInstrumentor, server: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ollama.chat(...)`` is the default client's bound method: traced, with its host."""
    default = ollama._client
    assert ollama.chat.__wrapped__.__self__ is default
    assert str(default._client.base_url) == "http://127.0.0.1:11434"  # OLLAMA_HOST is not set here
    http = httpx.Client(base_url=default._client.base_url, transport=httpx.MockTransport(server))
    http.headers["authorization"] = f"Bearer {server.api_key}"
    monkeypatch.setattr(default, "_client", http)
    ollama.chat(MODEL, USER)
    ollama.generate(model=MODEL, prompt="Why is the sky blue?")
    ollama.embed(model="all-minilm", input="hello")
    http.close()
    spans = finished()
    assert [s.name for s in spans] == [f"chat {MODEL}", f"text_completion {MODEL}", "embeddings all-minilm"]
    assert attrs(spans[0]) == {**BASE_ATTRS, sc.SERVER_ADDRESS: "127.0.0.1", **CHAT_ATTRS}
    assert [(attrs(s)[sc.SERVER_ADDRESS], attrs(s)[sc.SERVER_PORT]) for s in spans] == [("127.0.0.1", 11434)] * 3


def test_default_host(instrumented: OllamaInstrumentor, server: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    with fake_ollama.sync_client(server, host=None) as sdk:
        sdk.chat(model=MODEL, messages=USER)
    values = attrs(one_span())
    assert (values[sc.SERVER_ADDRESS], values[sc.SERVER_PORT]) == ("127.0.0.1", 11434)


async def test_async_chat(instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient, tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = await aclient.chat(model=MODEL, messages=USER, options={"temperature": 0.7})
    assert response.message.content == "The capital of France is Paris."
    span = client_span_under(parent, f"chat {MODEL}")
    assert attrs(span) == {**BASE_ATTRS, sc.GEN_AI_REQUEST_TEMPERATURE: 0.7, **CHAT_ATTRS}
    assert_ok(span)


# --- generate and embed --------------------------------------------------------------------------

GENERATE_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_OPERATION_NAME: "text_completion",
    sc.GEN_AI_REQUEST_MAX_TOKENS: 10,
    sc.GEN_AI_RESPONSE_MODEL: MODEL,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("length",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 31,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
}


def test_generate(instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama) -> None:
    response = client.generate(MODEL, "Why is the sky blue?", options={"num_predict": 10})
    assert isinstance(response, ollama.GenerateResponse)
    assert server.requests[0].path == "/api/generate"
    span = one_span(f"text_completion {MODEL}")
    assert attrs(span) == GENERATE_ATTRS
    assert_ok(span)


def test_generate_content_with_capture(
    capture_content: None, instrumented: OllamaInstrumentor, client: ollama.Client
) -> None:
    client.generate(model=MODEL, prompt="Why is the sky blue?", system="Answer in one line.")
    assert content_of(one_span(f"text_completion {MODEL}")) == {
        sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "Why is the sky blue?"}]}],
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "content": "Answer in one line."}],
        sc.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "The sky is blue because of Rayleigh scattering."}],
                "finish_reason": "length",
            }
        ],
    }


async def test_async_generate(instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient) -> None:
    await aclient.generate(model=MODEL, prompt="Why is the sky blue?", options={"num_predict": 10})
    assert attrs(one_span(f"text_completion {MODEL}")) == GENERATE_ATTRS


EMBED_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_OPERATION_NAME: "embeddings",
    sc.GEN_AI_REQUEST_MODEL: "all-minilm",
    sc.GEN_AI_RESPONSE_MODEL: "all-minilm",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 8,
    "gen_ai.embeddings.dimension.count": 8,
}


def test_embed(instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama) -> None:
    response = client.embed(model="all-minilm", input=["Why is the sky blue?", "Why is the grass green?"])
    assert len(response.embeddings) == 2
    assert server.requests[0].path == "/api/embed"
    assert attrs(one_span("embeddings all-minilm")) == EMBED_ATTRS


async def test_async_embed(instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient) -> None:
    await aclient.embed("all-minilm", "Why is the sky blue?")
    assert attrs(one_span("embeddings all-minilm")) == EMBED_ATTRS


# --- streams -------------------------------------------------------------------------------------


def test_stream_read_to_the_end(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        stream = client.chat(model=MODEL, messages=USER, stream=True)
    assert isinstance(stream, Iterator)
    assert server.requests == []  # the SDK sends the request when the first part is read
    parts = list(stream)
    assert texts(parts) == STREAM_TEXTS
    assert all(isinstance(p, ollama.ChatResponse) for p in parts)
    assert server.closed == 1
    span = client_span_under(parent, f"chat {MODEL}")
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS
    assert chunk_events(span) == full_chunk_events()
    assert_ok(span)


def test_stream_captured_text_with_capture(
    capture_content: None, instrumented: OllamaInstrumentor, client: ollama.Client
) -> None:
    list(client.chat(model=MODEL, messages=USER, stream=True))
    span = one_span()
    assert content_of(span)[sc.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": "The capital is Paris."}], "finish_reason": "stop"}
    ]
    assert [e.get(sc.EVENT_CHUNK_CONTENT) for e in chunk_events(span)] == ["The", " capital", " is Paris.", None]


def test_stream_break_and_close(instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama) -> None:
    stream = client.chat(model=MODEL, messages=USER, stream=True)
    for _ in stream:
        break
    assert finished() == []
    stream.close()
    assert server.closed == 1  # the SDK's generator closed its HTTP response
    span = one_span()
    assert stream_attrs(span) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "closed")}
    assert chunk_events(span) == full_chunk_events()[:1]
    assert_ok(span)
    stream.close()  # closing again ends nothing more
    assert len(finished()) == 1


def test_stream_dropped_without_close_ends_on_garbage_collection(
    instrumented: OllamaInstrumentor, client: ollama.Client
) -> None:
    stream = client.chat(model=MODEL, messages=USER, stream=True)
    next(stream)
    next(stream)
    assert finished() == []
    del stream
    gc.collect()
    span = one_span()
    assert stream_attrs(span) == {**CUT_STREAM_ATTRS, **stream_end(2, False, "garbage_collected")}
    assert_ok(span)


def test_stream_never_read_ends_on_garbage_collection_without_a_request(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama
) -> None:
    stream = client.chat(model=MODEL, messages=USER, stream=True)
    del stream
    gc.collect()
    assert server.requests == []
    assert attrs(one_span()) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(0, False, "garbage_collected"),
    }


def test_generate_stream_with_thinking_and_capture(
    capture_content: None, instrumented: OllamaInstrumentor, client: ollama.Client
) -> None:
    parts = list(client.generate(model="qwen3", prompt="Why is the sky blue?", stream=True, think=True))
    assert [p.response for p in parts] == ["", "", "Rayleigh", " scattering.", ""]
    span = one_span("text_completion qwen3")
    values = stream_attrs(span)
    content = {k: json.loads(values.pop(k)) for k in CONTENT_KEYS if k in values}
    assert values == {
        **BASE_ATTRS,
        sc.GEN_AI_OPERATION_NAME: "text_completion",
        sc.GEN_AI_REQUEST_MODEL: "qwen3",
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.GEN_AI_RESPONSE_MODEL: "qwen3",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 14,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 9,
        **stream_end(5, True, "exhausted"),
    }
    assert content == {
        sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "Why is the sky blue?"}]}],
        sc.GEN_AI_OUTPUT_MESSAGES: [
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "Blue light scatters most."},
                    {"type": "text", "content": "Rayleigh scattering."},
                ],
                "finish_reason": "stop",
            }
        ],
    }
    # chunk events carry the text of each part: the thinking while the model thinks
    assert [e.get(sc.EVENT_CHUNK_CONTENT) for e in chunk_events(span)] == [
        "Blue light",
        " scatters most.",
        "Rayleigh",
        " scattering.",
        None,
    ]


async def test_async_stream(instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient, server: FakeOllama) -> None:
    stream = await aclient.chat(model=MODEL, messages=USER, stream=True)
    assert isinstance(stream, AsyncIterator)
    parts = [part async for part in stream]
    assert texts(parts) == STREAM_TEXTS
    assert server.closed == 1
    span = one_span()
    assert stream_attrs(span) == WHOLE_STREAM_ATTRS
    assert chunk_events(span) == full_chunk_events()
    assert_ok(span)


async def test_async_stream_break_and_aclose(
    instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient, server: FakeOllama
) -> None:
    stream = await aclient.chat(model=MODEL, messages=USER, stream=True)
    async for _ in stream:
        break
    assert finished() == []
    await stream.aclose()  # type: ignore[attr-defined]
    assert server.closed == 1
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "closed")}


async def test_async_stream_dropped_ends_on_garbage_collection(
    instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient
) -> None:
    stream = await aclient.chat(model=MODEL, messages=USER, stream=True)
    await stream.__anext__()
    del stream
    gc.collect()
    assert stream_attrs(one_span()) == {**CUT_STREAM_ATTRS, **stream_end(1, False, "garbage_collected")}


async def test_async_generate_stream(instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient) -> None:
    parts = [p async for p in await aclient.generate(model="qwen3", prompt="Why?", stream=True)]
    assert len(parts) == 5
    values = stream_attrs(one_span("text_completion qwen3"))
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 5
    assert (values[sc.GEN_AI_USAGE_INPUT_TOKENS], values[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (14, 9)


# --- errors --------------------------------------------------------------------------------------

ERROR_CASES = [
    (400, "registry.ollama.ai/library/gemma:2b does not support tools", {}),
    (429, "server busy, please try again.  maximum pending requests exceeded", {"llmotel.ratelimit.retry_after": 30}),
    (500, "llama runner process has terminated: exit status 2", {}),
]


@pytest.mark.parametrize(("status", "message", "header_attrs"), ERROR_CASES)
def test_http_error(
    instrumented: OllamaInstrumentor,
    client: ollama.Client,
    server: FakeOllama,
    status: int,
    message: str,
    header_attrs: dict[str, Any],
) -> None:
    server.fail_with = status
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=MODEL, messages=USER, options={"temperature": 0.2})
    assert (caught.value.status_code, caught.value.error) == (status, message)  # the SDK's own error
    assert len(server.requests) == 1  # the SDK does not retry
    span = one_span()
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.ERROR_TYPE: "ollama._types.ResponseError",
        "http.response.status_code": status,
        **header_attrs,
    }
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None and span.status.description.startswith("ResponseError: ")
    event = exception_event(span)
    assert event["exception.type"] == "ollama._types.ResponseError"
    assert event["exception.message"] == str(caught.value)


async def test_async_rate_limited(
    instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient, server: FakeOllama
) -> None:
    server.fail_with = 429
    with pytest.raises(ollama.ResponseError):
        await aclient.generate(model=MODEL, prompt="Why?")
    assert attrs(one_span(f"text_completion {MODEL}")) == {
        **BASE_ATTRS,
        sc.GEN_AI_OPERATION_NAME: "text_completion",
        sc.ERROR_TYPE: "ollama._types.ResponseError",
        "http.response.status_code": 429,
        "llmotel.ratelimit.retry_after": 30,
    }


@pytest.mark.parametrize("status", [404, 429])
def test_stream_http_error_at_the_first_read(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama, status: int
) -> None:
    server.fail_with = status
    stream = client.chat(model=MODEL, messages=USER, stream=True)
    assert finished() == []
    with pytest.raises(ollama.ResponseError) as caught:
        next(stream)
    assert caught.value.status_code == status
    span = one_span()
    assert stream_attrs_no_ttfc(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.ERROR_TYPE: "ollama._types.ResponseError",
        "http.response.status_code": status,
        **({"llmotel.ratelimit.retry_after": 30} if status == 429 else {}),
        **stream_end(0, False, "error"),
    }
    assert span.status.status_code is StatusCode.ERROR


async def test_async_stream_http_error_at_the_first_read(
    instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient, server: FakeOllama
) -> None:
    server.fail_with = 500
    stream = await aclient.chat(model=MODEL, messages=USER, stream=True)
    with pytest.raises(ollama.ResponseError):
        await stream.__anext__()
    values = stream_attrs_no_ttfc(one_span())
    assert (values[sc.ERROR_TYPE], values["http.response.status_code"]) == ("ollama._types.ResponseError", 500)
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "error"


def stream_attrs_no_ttfc(span: ReadableSpan) -> dict[str, Any]:
    """A stream that failed before its first part: no time to first chunk."""
    values = attrs(span)
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in values
    return values


def test_stream_error_line_mid_stream(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama
) -> None:
    server.streams["/api/chat"] = fake_ollama.STREAM_ERROR_LINE
    received = []
    with pytest.raises(ollama.ResponseError, match="unexpected EOF") as caught:
        for part in client.chat(model=MODEL, messages=USER, stream=True):
            received.append(part)
    assert len(received) == 2
    assert caught.value.status_code == -1  # sent in a 200 body: no HTTP status to record
    span = one_span()
    assert stream_attrs(span) == {**FAILED_STREAM_ATTRS, **stream_end(2, False, "error")}
    assert span.status.status_code is StatusCode.ERROR
    assert exception_event(span)["exception.message"] == str(caught.value)


FAILED_STREAM_ATTRS = {
    **BASE_ATTRS,
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_MODEL: MODEL,  # what arrived before the stream broke is kept
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    sc.ERROR_TYPE: "ollama._types.ResponseError",
}


def test_stream_connection_cut_mid_stream(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama
) -> None:
    server.cut_after = 3
    stream = client.chat(model=MODEL, messages=USER, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        list(stream)
    span = one_span()
    assert stream_attrs(span) == {
        **FAILED_STREAM_ATTRS,
        sc.ERROR_TYPE: "httpx.RemoteProtocolError",
        **stream_end(3, False, "error"),
    }
    assert span.status.status_code is StatusCode.ERROR


async def test_async_stream_connection_cut_mid_stream(
    instrumented: OllamaInstrumentor, aclient: ollama.AsyncClient, server: FakeOllama
) -> None:
    server.cut_after = 1
    stream = await aclient.chat(model=MODEL, messages=USER, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        async for _ in stream:
            pass
    assert stream_attrs(one_span()) == {
        **FAILED_STREAM_ATTRS,
        sc.ERROR_TYPE: "httpx.RemoteProtocolError",
        **stream_end(1, False, "error"),
    }


def test_server_not_running(instrumented: OllamaInstrumentor, server: FakeOllama) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with ollama.Client(host=fake_ollama.BASE_URL, transport=httpx.MockTransport(refuse)) as sdk:
        with pytest.raises(ConnectionError, match="Failed to connect to Ollama"):
            sdk.chat(model=MODEL, messages=USER)
    span = one_span()
    assert attrs(span) == {**BASE_ATTRS, sc.ERROR_TYPE: "ConnectionError"}
    assert span.status.status_code is StatusCode.ERROR


# --- details event, suppression, metrics ---------------------------------------------------------


def test_details_event_in_event_only_mode(
    env: Any, instrumented: OllamaInstrumentor, client: ollama.Client, log_exporter: Any
) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    client.chat(model=MODEL, messages=[{"role": "system", "content": "Be terse."}, *USER])
    values = event_only_details(one_span())
    assert values[sc.GEN_AI_PROVIDER_NAME] == "ollama"
    assert values[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert values[sc.GEN_AI_INPUT_MESSAGES] == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The capital of France is Paris."}],
            "finish_reason": "stop",
        }
    ]


def test_suppressed_instrumentation_makes_no_span(
    instrumented: OllamaInstrumentor, client: ollama.Client, server: FakeOllama
) -> None:
    assert_no_span_when_suppressed(
        server.requests,
        lambda: client.chat(model=MODEL, messages=USER),
        lambda: list(client.chat(model=MODEL, messages=USER, stream=True)),
        lambda: client.generate(model=MODEL, prompt="Why?"),
    )
    client.chat(model=MODEL, messages=USER)
    one_span()


def test_metrics(instrumented: OllamaInstrumentor, client: ollama.Client) -> None:
    client.chat(model=MODEL, messages=USER)
    metric_attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "ollama",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_RESPONSE_MODEL: MODEL,
        sc.SERVER_ADDRESS: HOST,
        sc.SERVER_PORT: PORT,
    }
    assert_call_metrics(one_span(), metric_attrs, {"input": 26, "output": 8})
