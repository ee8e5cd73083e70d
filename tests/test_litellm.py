"""LiteLLMInstrumentor against the real litellm talking to a fake server on 127.0.0.1.

litellm routes ``openai/gpt-4o`` through the openai SDK and ``anthropic/claude-...`` through its own
httpx client; both reach ``helpers.fake_litellm.FakeLLMServer`` (a local ThreadingHTTPServer on
an ephemeral port) through ``api_base=``. Nothing leaves the machine: litellm's cost map is the
local copy, its telemetry is off, retries are off (``num_retries=0`` for litellm, ``max_retries=0``
for the SDK it calls). Whole exported spans are checked.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no cost-map fetch

import litellm
import litellm.chat_completions.dispatch as dispatch_module
import litellm.main as main_module

import llmotel
from conftest import finished
from helpers.fake_litellm import (
    ANTHROPIC_KEY,
    ANTHROPIC_MESSAGE,
    OPENAI_KEY,
    FakeLLMServer,
)
from helpers.providers import (
    SRC,
    assert_call_metrics,
    assert_no_span_when_suppressed,
    event_only_details,
    instrumenting,
    run_python,
)
from helpers.spans import CONTENT_KEYS, attrs, exception_event, only_client_span, stream_attrs, stream_end
from llmotel import semconv as sc
from llmotel.integrations.litellm import LiteLLMInstrumentor
from llmotel.integrations.litellm._extract import GENAI_PROVIDERS, LiteLLMExtractor, litellm_usage, resolve
from llmotel.records import LLMCall

pytestmark = pytest.mark.filterwarnings(
    # litellm's own pydantic models, built lazily on its first calls (not llmotel's concern)
    "ignore:.*ReadOnly. qualifier:UserWarning",
    "ignore:Accessing the 'model_[a-z_]+' attribute on the instance:DeprecationWarning",
)

litellm.telemetry = False
litellm.num_retries = 0
litellm.suppress_debug_info = True

USER = [{"role": "user", "content": "What is the capital of France?"}]
SYSTEM_AND_USER = [{"role": "system", "content": "Be terse."}, *USER]
ORIGINALS = {name: vars(litellm)[name] for name in ("completion", "acompletion")}
INTERNALS = {
    (main_module, "completion"): main_module.completion,
    (main_module, "acompletion"): main_module.acompletion,
    (dispatch_module, "completion"): dispatch_module.completion,
    (dispatch_module, "acompletion"): dispatch_module.acompletion,
}

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_running() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def server(server_running: FakeLLMServer) -> FakeLLMServer:
    server_running.fail_with = None
    server_running.no_usage = False
    server_running.cut_after = None
    server_running.requests.clear()
    return server_running


@pytest.fixture
def instrumented() -> Iterator[LiteLLMInstrumentor]:
    with instrumenting(LiteLLMInstrumentor(), "litellm") as instrument:
        yield instrument()
    assert {name: vars(litellm)[name] for name in ORIGINALS} == ORIGINALS


def openai_call(server: FakeLLMServer, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments of a litellm call to the fake OpenAI-compatible endpoint."""
    return {
        "model": "openai/gpt-4o",
        "messages": USER,
        "api_base": f"{server.base_url}/v1",
        "api_key": OPENAI_KEY,
        "max_retries": 0,
        **kwargs,
    }


def anthropic_call(server: FakeLLMServer, **kwargs: Any) -> dict[str, Any]:
    return {
        "model": "anthropic/claude-sonnet-4-5",
        "messages": USER,
        "api_base": server.base_url,
        "api_key": ANTHROPIC_KEY,
        "max_tokens": 64,
        **kwargs,
    }


def one_span(name: str = "chat gpt-4o") -> ReadableSpan:
    return only_client_span(name)


def base_attrs(server: FakeLLMServer) -> dict[str, Any]:
    return {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: server.port,
    }


HEADER_ATTRS = {"llmotel.response.request_id": "req_7f3a9c", "llmotel.response.processing_ms": 344}
RESPONSE_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1117,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 46,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 12,
    **HEADER_ATTRS,
}
STREAM_ATTRS = {
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: "chatcmpl-S1",
    sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",  # the provider's (litellm's chunks say the requested one)
    **HEADER_ATTRS,
}
STREAM_USAGE_ATTRS = {
    sc.GEN_AI_USAGE_INPUT_TOKENS: 19,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
}


def cut_stream_attrs(server: FakeLLMServer, chunks: int, reason: str) -> dict[str, Any]:
    """The attributes of an OpenAI-routed stream ended after ``chunks`` chunks for ``reason``: no usage,
    and the finish reason ``error`` (cut before its own finish reason)."""
    return {
        **base_attrs(server),
        **STREAM_ATTRS,
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(chunks, False, reason),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }


def chunk_texts(span: ReadableSpan) -> list[Any]:
    return [
        dict(e.attributes or {}).get(sc.EVENT_CHUNK_CONTENT) for e in span.events if e.name == sc.EVENT_STREAM_CHUNK
    ]


# --- patching ------------------------------------------------------------------------------------


def test_uninstrument_restores_the_exact_originals() -> None:
    instrumentor = LiteLLMInstrumentor()
    for _ in range(2):  # instrument -> uninstrument -> instrument again
        instrumentor.instrument()
        try:
            for name, original in ORIGINALS.items():
                current = vars(litellm)[name]
                assert isinstance(current, wrapt.FunctionWrapper), name
                assert current.__wrapped__ is original  # wrapped exactly once
            from litellm import completion

            assert completion is litellm.completion  # an import made after instrument() is the traced one
        finally:
            instrumentor.uninstrument()
        assert {name: vars(litellm)[name] for name in ORIGINALS} == ORIGINALS
    assert instrumentor.applied_patches == []
    # litellm's internal entry points are never touched (see the integration's docstring)
    assert {key: getattr(*key) for key in INTERNALS} == INTERNALS


def test_a_reference_taken_before_instrument_is_not_traced(server: FakeLLMServer) -> None:
    early = litellm.completion
    with_instrumentor = LiteLLMInstrumentor()
    with_instrumentor.instrument()
    try:
        early(**openai_call(server))
        assert finished() == []
        litellm.completion(**openai_call(server))
        assert len(finished()) == 1
    finally:
        with_instrumentor.uninstrument()


IMPORT_CHECK = """
import sys
import llmotel, llmotel.integrations.litellm
from llmotel.integrations.litellm import LiteLLMInstrumentor
assert "litellm" not in sys.modules, "importing the integration imported litellm"
instrumentor = LiteLLMInstrumentor()
instrumentor.instrument()
assert "litellm" not in sys.modules, "instrument() imported litellm"
import wrapt
import litellm
from litellm import acompletion, completion
assert isinstance(completion, wrapt.FunctionWrapper) and isinstance(acompletion, wrapt.FunctionWrapper)
assert not isinstance(completion.__wrapped__, wrapt.FunctionWrapper)  # wrapped once
instrumentor.uninstrument()
assert not isinstance(litellm.completion, wrapt.FunctionWrapper)
assert not isinstance(litellm.acompletion, wrapt.FunctionWrapper)
print("ok")
"""


def test_the_integration_does_not_import_litellm_and_patches_it_on_import() -> None:
    out = run_python(IMPORT_CHECK, timeout=120, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": SRC})
    assert out.stdout.strip().endswith("ok")


# --- provider routing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "custom", "expected"),
    [
        ("openai/gpt-4o", None, ("gpt-4o", "openai")),
        ("gpt-4o", None, ("gpt-4o", "openai")),
        ("anthropic/claude-sonnet-4-5", None, ("claude-sonnet-4-5", "anthropic")),
        ("claude-sonnet-4-5", "anthropic", ("claude-sonnet-4-5", "anthropic")),
        ("azure/my-deployment", None, ("my-deployment", "azure.ai.openai")),
        (
            "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            None,
            ("anthropic.claude-3-haiku-20240307-v1:0", "aws.bedrock"),
        ),
        ("vertex_ai/gemini-1.5-pro", None, ("gemini-1.5-pro", "gcp.vertex_ai")),
        ("gemini/gemini-2.0-flash", None, ("gemini-2.0-flash", "gcp.gemini")),
        ("mistral/mistral-large-latest", None, ("mistral-large-latest", "mistral_ai")),
        ("groq/llama3-8b-8192", None, ("llama3-8b-8192", "groq")),
        ("deepseek/deepseek-chat", None, ("deepseek-chat", "deepseek")),
        ("ollama/llama3", None, ("llama3", "ollama")),
        ("xai/grok-2", None, ("grok-2", "x_ai")),
        ("perplexity/sonar", None, ("sonar", "perplexity")),
        ("together_ai/meta-llama/Llama-3-8b", None, ("meta-llama/Llama-3-8b", "together_ai")),  # no GenAI name
        ("no-such-model-anywhere", None, ("no-such-model-anywhere", "litellm")),  # litellm cannot say
    ],
)
def test_provider_and_request_model_from_litellm(model: str, custom: str | None, expected: tuple[str, str]) -> None:
    assert resolve(litellm.get_llm_provider, model, custom, None)[:2] == expected


@pytest.mark.parametrize(
    ("model", "server"),
    [
        ("openai/gpt-4o", ("api.openai.com", 443)),
        ("anthropic/claude-sonnet-4-5", ("api.anthropic.com", 443)),
        ("gemini/gemini-2.0-flash", ("generativelanguage.googleapis.com", 443)),
        ("groq/llama3-8b-8192", ("api.groq.com", 443)),  # litellm's own endpoint for the provider
        ("xai/grok-2", ("api.x.ai", 443)),
        ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", (None, None)),  # regional: unknown before the call
    ],
)
def test_server_of_a_call_without_api_base(model: str, server: tuple[str | None, int | None]) -> None:
    call = LLMCall("chat", "litellm")
    LiteLLMExtractor(litellm.get_llm_provider).request(call, None, (), {"model": model, "messages": USER})
    assert (call.server_address, call.server_port) == server


def test_provider_without_litellms_lookup_reads_the_model_prefix() -> None:
    assert resolve(None, "anthropic/claude-x", None, None)[:2] == ("claude-x", "anthropic")
    assert resolve(None, "mistral/m-large", None, None)[:2] == ("m-large", "mistral_ai")
    assert resolve(None, "m-large", "mistral", None)[:2] == ("m-large", "mistral_ai")
    assert resolve(None, "org/model", None, None)[:2] == ("org/model", "litellm")
    assert set(GENAI_PROVIDERS.values()) >= {"openai", "anthropic", "aws.bedrock", "gcp.vertex_ai", "x_ai"}


# --- plain calls ---------------------------------------------------------------------------------


def test_completion_span(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    response = litellm.completion(
        **openai_call(server, temperature=0.2, max_tokens=100, top_p=0.9, seed=7, stop=["\n"])
    )
    assert response.choices[0].message.content == "Paris."
    span = one_span()
    assert attrs(span) == {
        **base_attrs(server),
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n",),
        **RESPONSE_ATTRS,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"]
    assert server.requests[0]["body"]["model"] == "gpt-4o"


def test_model_and_messages_given_positionally(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    kwargs = openai_call(server)
    litellm.completion(kwargs.pop("model"), kwargs.pop("messages"), **kwargs)
    assert attrs(one_span()) == {**base_attrs(server), **RESPONSE_ATTRS}


def test_model_without_provider_prefix(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    litellm.completion(**openai_call(server, model="gpt-4o"))
    assert attrs(one_span()) == {**base_attrs(server), **RESPONSE_ATTRS}


async def test_acompletion_span(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    response = await litellm.acompletion(**openai_call(server, temperature=0.5))
    assert response.choices[0].message.content == "Paris."
    assert attrs(one_span()) == {**base_attrs(server), sc.GEN_AI_REQUEST_TEMPERATURE: 0.5, **RESPONSE_ATTRS}


def test_anthropic_model_through_litellms_own_client(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    response = litellm.completion(**anthropic_call(server))
    assert response.choices[0].message.content == "Paris."
    assert [r["path"] for r in server.requests] == ["/v1/messages"]
    span = one_span("chat claude-sonnet-4-5")
    usage = ANTHROPIC_MESSAGE["usage"]
    assert attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: server.port,
        sc.GEN_AI_RESPONSE_ID: response.id,  # litellm's id: it does not pass Anthropic's on
        sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5-20250929",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        # input includes the cache reads and writes, as the conventions require
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12 + 200 + 1500,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: usage["output_tokens"],
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 200,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
        "llmotel.response.request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


def test_response_without_usage_says_usage_unknown(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    server.no_usage = True
    response = litellm.completion(**openai_call(server))
    assert response.usage.prompt_tokens == 0  # litellm's placeholder, not a report from the provider
    values = attrs(one_span())
    assert values == {
        **base_attrs(server),
        **{k: v for k, v in RESPONSE_ATTRS.items() if not k.startswith("gen_ai.usage.")},
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


# --- content -------------------------------------------------------------------------------------


def test_no_content_by_default(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    litellm.completion(**openai_call(server, messages=SYSTEM_AND_USER))
    assert not set(CONTENT_KEYS) & set(attrs(one_span()))


def test_content_with_capture(capture_content: None, instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    litellm.completion(**openai_call(server, messages=SYSTEM_AND_USER))
    values = attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
    ]
    assert values == {**base_attrs(server), **RESPONSE_ATTRS}


def test_details_event_in_event_only_mode(
    env: Callable[..., None], instrumented: LiteLLMInstrumentor, server: FakeLLMServer
) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    litellm.completion(**openai_call(server))
    values = event_only_details(one_span())
    assert values[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert values[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1117
    assert values[sc.GEN_AI_INPUT_MESSAGES] == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
    ]


# --- streams -------------------------------------------------------------------------------------


def test_stream_read_to_the_end_with_usage(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = litellm.completion(**openai_call(server, stream=True, stream_options={"include_usage": True}))
    assert isinstance(stream, litellm.CustomStreamWrapper)  # the SDK's type surface is kept
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert stream_attrs(one_span()) == {
        **base_attrs(server),
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        **STREAM_USAGE_ATTRS,
        **stream_end(len(chunks), True, "exhausted"),
    }


def test_stream_without_usage_says_usage_unknown(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    chunks = list(litellm.completion(**openai_call(server, stream=True)))
    assert stream_attrs(one_span()) == {
        **base_attrs(server),
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.LLMOTEL_USAGE_UNKNOWN: True,
        **stream_end(len(chunks), True, "exhausted"),
    }


def test_stream_captured_text(capture_content: None, instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    list(litellm.completion(**openai_call(server, stream=True)))
    span = one_span()
    assert json.loads(attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]
    assert "Hello" in chunk_texts(span) and " there" in chunk_texts(span)


def test_stream_break_and_close(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = litellm.completion(**openai_call(server, stream=True))
    for _ in stream:
        break
    assert finished() == []
    stream.close()
    assert stream_attrs(one_span()) == cut_stream_attrs(server, 1, "closed")
    stream.close()  # closing again ends nothing more
    assert len(finished()) == 1


def test_stream_with_block_exited_early(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    with litellm.completion(**openai_call(server, stream=True)) as stream:
        next(stream)
        next(stream)
    assert stream_attrs(one_span()) == cut_stream_attrs(server, 2, "context_exit")


def test_stream_dropped_ends_on_garbage_collection(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = litellm.completion(**openai_call(server, stream=True))
    next(stream)
    assert finished() == []
    del stream
    gc.collect()
    assert stream_attrs(one_span()) == cut_stream_attrs(server, 1, "garbage_collected")


def test_stream_cut_mid_way(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    server.cut_after = 2
    stream = litellm.completion(**openai_call(server, stream=True))
    received = []
    with pytest.raises(litellm.exceptions.MidStreamFallbackError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    span = one_span()
    assert stream_attrs(span) == {
        **base_attrs(server),
        **STREAM_ATTRS,
        **stream_end(2, False, "error"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
        sc.ERROR_TYPE: "litellm.exceptions.MidStreamFallbackError",
        "http.response.status_code": caught.value.status_code,
    }
    assert span.status.status_code is StatusCode.ERROR
    assert exception_event(span)["exception.message"] == str(caught.value)


def test_anthropic_stream_with_usage(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = litellm.completion(**anthropic_call(server, stream=True, stream_options={"include_usage": True}))
    chunks = list(stream)
    span = one_span("chat claude-sonnet-4-5")
    assert stream_attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: server.port,
        sc.GEN_AI_RESPONSE_ID: chunks[0].id,
        sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5-20250929",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
        "llmotel.response.request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        **stream_end(len(chunks), True, "exhausted"),
    }


async def test_async_stream(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = await litellm.acompletion(**openai_call(server, stream=True, stream_options={"include_usage": True}))
    assert isinstance(stream, litellm.CustomStreamWrapper)
    chunks = [chunk async for chunk in stream]
    assert stream_attrs(one_span()) == {
        **base_attrs(server),
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        **STREAM_USAGE_ATTRS,
        **stream_end(len(chunks), True, "exhausted"),
    }


async def test_async_stream_break_and_aclose(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = await litellm.acompletion(**openai_call(server, stream=True))
    async for _ in stream:
        break
    assert finished() == []
    await stream.aclose()
    assert stream_attrs(one_span()) == cut_stream_attrs(server, 1, "closed")


async def test_async_stream_dropped_ends_on_garbage_collection(
    instrumented: LiteLLMInstrumentor, server: FakeLLMServer
) -> None:
    stream = await litellm.acompletion(**openai_call(server, stream=True))
    await stream.__anext__()
    assert finished() == []
    del stream
    gc.collect()
    assert stream_attrs(one_span()) == cut_stream_attrs(server, 1, "garbage_collected")


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "headers"),
    [
        (400, "BadRequestError", {"llmotel.response.request_id": "req_400"}),
        (
            429,
            "RateLimitError",
            {
                "llmotel.response.request_id": "req_429",
                "llmotel.ratelimit.requests.limit": 500,
                "llmotel.ratelimit.requests.remaining": 0,
                "llmotel.ratelimit.requests.reset": "120ms",
                "llmotel.ratelimit.retry_after": 2,
            },
        ),
        (500, "InternalServerError", {"llmotel.response.request_id": "req_500"}),
    ],
)
def test_http_errors(
    instrumented: LiteLLMInstrumentor, server: FakeLLMServer, status: int, error: str, headers: dict[str, Any]
) -> None:
    server.fail_with = status
    with pytest.raises(getattr(litellm.exceptions, error)) as caught:
        litellm.completion(**openai_call(server, temperature=0.2))
    assert caught.value.status_code == status and caught.value.llm_provider == "openai"
    assert len(server.requests) == 1  # no retries
    span = one_span()
    assert attrs(span) == {
        **base_attrs(server),
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.ERROR_TYPE: f"litellm.exceptions.{error}",
        "http.response.status_code": status,
        **headers,
    }
    assert span.status.status_code is StatusCode.ERROR
    event = exception_event(span)
    assert event["exception.type"] == f"litellm.exceptions.{error}"
    assert event["exception.message"] == str(caught.value)


async def test_async_rate_limited(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    server.fail_with = 429
    with pytest.raises(litellm.exceptions.RateLimitError):
        await litellm.acompletion(**openai_call(server))
    values = attrs(one_span())
    assert values[sc.ERROR_TYPE] == "litellm.exceptions.RateLimitError"
    assert values["http.response.status_code"] == 429
    assert values["llmotel.ratelimit.retry_after"] == 2


async def test_async_stream_request_fails(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    server.fail_with = 500
    with pytest.raises(litellm.exceptions.InternalServerError):
        await litellm.acompletion(**openai_call(server, stream=True))
    values = attrs(one_span())
    assert values[sc.ERROR_TYPE] == "litellm.exceptions.InternalServerError"
    assert values[sc.GEN_AI_REQUEST_STREAM] is True


# --- with the openai instrumentation on too --------------------------------------------------------


@pytest.fixture
def both() -> Iterator[None]:
    from llmotel.integrations.openai import OpenAIInstrumentor

    openai_instrumentor = OpenAIInstrumentor()
    litellm_instrumentor = LiteLLMInstrumentor()
    openai_instrumentor.instrument()
    litellm_instrumentor.instrument()
    yield
    litellm_instrumentor.uninstrument()
    openai_instrumentor.uninstrument()


def test_one_span_when_the_openai_sdk_is_instrumented_too(both: None, server: FakeLLMServer) -> None:
    litellm.completion(**openai_call(server))
    assert attrs(one_span()) == {**base_attrs(server), **RESPONSE_ATTRS}


async def test_one_span_for_async_calls_and_streams_with_both(both: None, server: FakeLLMServer) -> None:
    await litellm.acompletion(**openai_call(server))
    stream = await litellm.acompletion(**openai_call(server, stream=True))
    chunks = [c async for c in stream]
    sync_chunks = list(litellm.completion(**openai_call(server, stream=True)))
    spans = finished()
    assert [s.name for s in spans] == ["chat gpt-4o"] * 3
    assert {s.instrumentation_scope.name for s in spans if s.instrumentation_scope} == {"llmotel"}
    assert all(s.parent is None for s in spans)
    assert attrs(spans[0]) == {**base_attrs(server), **RESPONSE_ATTRS}
    for span, count in ((spans[1], len(chunks)), (spans[2], len(sync_chunks))):
        values = stream_attrs(span)
        assert values == {
            **base_attrs(server),
            **STREAM_ATTRS,
            sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
            sc.LLMOTEL_USAGE_UNKNOWN: True,
            **stream_end(count, True, "exhausted"),
        }


def test_the_openai_instrumentation_alone_sees_no_call_of_litellms(server: FakeLLMServer) -> None:
    """litellm 1.110 sends its requests with the openai client's ``post`` rather than its resource
    methods, so the openai instrumentation alone makes no span for them: litellm's own is the span
    (the openai instrumentation only adds the response headers it sees to it, as above)."""
    from llmotel.integrations.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument()
    try:
        litellm.completion(**openai_call(server))
    finally:
        instrumentor.uninstrument()
    assert len(server.requests) == 1
    assert finished() == []


def test_a_call_inside_a_decorated_function_folds_into_its_span(
    instrumented: LiteLLMInstrumentor, server: FakeLLMServer
) -> None:
    @llmotel.trace_chat(provider="my-router", model="router-v1")
    def ask(question: str) -> Any:
        return litellm.completion(**openai_call(server, messages=[{"role": "user", "content": question}]))

    ask("What is the capital of France?")
    assert len(server.requests) == 1
    span = one_span("chat router-v1")  # the decorated function's span; litellm's call inside it made none
    assert attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "my-router",
        sc.GEN_AI_REQUEST_MODEL: "router-v1",
        **RESPONSE_ATTRS,  # the folded call's response facts, usage and headers
    }


# --- more exit paths, errors and metrics ----------------------------------------------------------


def test_stream_asking_for_usage_the_provider_does_not_send(
    instrumented: LiteLLMInstrumentor, server: FakeLLMServer
) -> None:
    """Known gap: litellm then counts the tokens itself and puts its count on the last chunk,
    unmarked; the span records what the caller's last chunk says."""
    server.no_usage = True
    chunks = list(litellm.completion(**openai_call(server, stream=True, stream_options={"include_usage": True})))
    usage = chunks[-1].usage
    values = stream_attrs(one_span())
    assert (values[sc.GEN_AI_USAGE_INPUT_TOKENS], values[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )


async def test_async_stream_with_block_exited_early(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    stream = await litellm.acompletion(**openai_call(server, stream=True))
    async with stream:
        await stream.__anext__()
    assert stream_attrs(one_span()) == cut_stream_attrs(server, 1, "context_exit")


async def test_async_stream_cut_mid_way(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    server.cut_after = 2
    stream = await litellm.acompletion(**openai_call(server, stream=True))
    received = []
    with pytest.raises(litellm.exceptions.MidStreamFallbackError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    span = one_span()
    values = stream_attrs(span)
    assert values[sc.ERROR_TYPE] == "litellm.exceptions.MidStreamFallbackError"
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "error"
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 2
    assert span.status.status_code is StatusCode.ERROR


def test_anthropic_rate_limited(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    server.fail_with = 429
    with pytest.raises(litellm.exceptions.RateLimitError) as caught:
        litellm.completion(**anthropic_call(server))
    assert caught.value.llm_provider == "anthropic"
    span = one_span("chat claude-sonnet-4-5")
    assert attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: server.port,
        sc.ERROR_TYPE: "litellm.exceptions.RateLimitError",
        "http.response.status_code": 429,
        "llmotel.response.request_id": "req_429",
        "llmotel.ratelimit.requests.limit": 50,
        "llmotel.ratelimit.requests.remaining": 0,
        "llmotel.ratelimit.requests.reset": "2025-06-01T12:00:17Z",
        "llmotel.ratelimit.retry_after": 17,
    }
    assert span.status.status_code is StatusCode.ERROR
    assert exception_event(span)["exception.type"] == "litellm.exceptions.RateLimitError"


def test_metrics_carry_the_routed_provider(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    litellm.completion(**anthropic_call(server))
    assert_call_metrics(
        one_span("chat claude-sonnet-4-5"),
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
            sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5-20250929",
            sc.SERVER_ADDRESS: "127.0.0.1",
            sc.SERVER_PORT: server.port,
        },
        {"input": 1712, "output": 6},
    )


def test_suppressed_instrumentation_makes_no_span(instrumented: LiteLLMInstrumentor, server: FakeLLMServer) -> None:
    assert_no_span_when_suppressed(
        server.requests,
        lambda: litellm.completion(**openai_call(server)),
        lambda: list(litellm.completion(**openai_call(server, stream=True))),
    )


class _Usage:
    """A usage object shaped like litellm's, for the placeholder rule."""

    def __init__(self, prompt: int, completion: int, total: int) -> None:
        self.prompt_tokens, self.completion_tokens, self.total_tokens = prompt, completion, total
        self.prompt_tokens_details = None
        self.completion_tokens_details = None


def test_litellms_all_zero_usage_is_no_report() -> None:
    assert litellm_usage(_Usage(0, 0, 0)) is None
    assert litellm_usage(None) is None
    found = litellm_usage(_Usage(5, 0, 5))  # a real report of no output
    assert found is not None and (found.input_tokens, found.output_tokens) == (5, 0)
