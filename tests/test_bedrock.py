"""BedrockInstrumentor against the real boto3/botocore client talking to a fake Bedrock Runtime
endpoint (tests/helpers/fake_bedrock.py: a local HTTP server answering with the API's JSON bodies
and AWS event stream frames, from tests/fixtures/bedrock/).

botocore has no async client (aiobotocore is another distribution), so every call here is sync.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import botocore.eventstream
import botocore.exceptions
import botocore.model
import botocore.response
import pytest
import urllib3
import wrapt
from botocore.stub import Stubber
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import llmotel
from conftest import LOG_EXPORTER, finished, metric_points
from helpers import fake_bedrock as fb
from helpers.events import event_attrs
from helpers.providers import assert_no_span_when_suppressed, event_only_details, instrumenting, run_python
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
from llmotel.integrations.bedrock import EXTRACTOR, BedrockInstrumentor, _converse, _invoke
from llmotel.records import LLMCall, StreamState

PATCHED_TARGETS: list[tuple[Any, str]] = [(botocore.client.BaseClient, "_make_api_call")]
USER = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
SYSTEM = [{"text": "You are terse."}]
SECRETS = (fb.SECRET_KEY, fb.SESSION_TOKEN, "AWS4-HMAC-SHA256", "Signature=")


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[fb.FakeBedrock]:
    with fb.running() as fake:
        yield fake


@pytest.fixture
def client(server: fb.FakeBedrock) -> Any:
    return fb.client(server)


@pytest.fixture
def instrumented() -> Iterator[BedrockInstrumentor]:
    with instrumenting(BedrockInstrumentor(), "bedrock", PATCHED_TARGETS) as instrument:
        yield instrument()


def base(server: fb.FakeBedrock, model: str = fb.CLAUDE, operation: str = "chat") -> dict[str, Any]:
    return {
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_PROVIDER_NAME: "aws.bedrock",
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.SERVER_ADDRESS: fb.HOST,
        sc.SERVER_PORT: server.port,
    }


CONVERSE_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: fb.REQUEST_ID,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),  # end_turn
    sc.GEN_AI_USAGE_INPUT_TOKENS: 12 + 1500 + 200,  # inputTokens + cache read + cache write
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 200,
}
STREAM_ATTRS = {
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: fb.REQUEST_ID,
}
STREAM_DONE_ATTRS = {
    **STREAM_ATTRS,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 25 + 1500,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 15,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500,
}


def converse(client: Any, **kwargs: Any) -> Any:
    return client.converse(modelId=fb.CLAUDE, messages=USER, **kwargs)


def converse_stream(client: Any, **kwargs: Any) -> Any:
    return client.converse_stream(modelId=fb.CLAUDE, messages=USER, **kwargs)


def one_span(name: str = f"chat {fb.CLAUDE}") -> ReadableSpan:
    return only_client_span(name)


def assert_no_secrets(span: ReadableSpan) -> None:
    dumped = json.dumps(attrs(span), default=str) + json.dumps([dict(e.attributes or {}) for e in span.events])
    for secret in SECRETS:
        assert secret not in dumped


# --- instrument / uninstrument -------------------------------------------------------------------


def test_uninstrument_restores_the_exact_original() -> None:
    original = vars(botocore.client.BaseClient)["_make_api_call"]
    assert not isinstance(original, wrapt.FunctionWrapper), "already instrumented"
    instrumentor = BedrockInstrumentor()
    for _ in range(2):  # instrument -> uninstrument -> instrument again
        instrumentor.instrument()
        try:
            wrapper = vars(botocore.client.BaseClient)["_make_api_call"]
            assert isinstance(wrapper, wrapt.FunctionWrapper)
            assert wrapper.__wrapped__ is original  # wrapped exactly once
        finally:
            instrumentor.uninstrument()
        assert vars(botocore.client.BaseClient)["_make_api_call"] is original
    assert instrumentor.applied_patches == []


def test_uninstrumented_calls_make_no_span(client: Any) -> None:
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument()
    converse(client)
    instrumentor.uninstrument()
    converse(client)  # the client made while instrumented is not traced any more
    assert [s.name for s in finished()] == [f"chat {fb.CLAUDE}"]


def test_importing_the_integration_does_not_import_botocore() -> None:
    code = (
        "import sys, llmotel, llmotel.integrations.bedrock as b\n"
        "assert 'botocore' not in sys.modules and 'boto3' not in sys.modules\n"
        "b.BedrockInstrumentor().instrument()\n"
        "assert 'botocore' not in sys.modules, 'instrument() imported botocore'\n"
        "import boto3, botocore.client, wrapt\n"
        "assert isinstance(vars(botocore.client.BaseClient)['_make_api_call'], wrapt.FunctionWrapper)\n"
    )
    run_python(code)


def test_version_range() -> None:
    instrumentor = BedrockInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ("botocore >= 1.34.116, < 2.0.0",)
    assert instrumentor.library_available()


def test_other_services_go_straight_through(instrumented: BedrockInstrumentor) -> None:
    s3 = boto3.client("s3", region_name=fb.REGION, aws_access_key_id=fb.ACCESS_KEY, aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_response("list_buckets", {"Buckets": [], "Owner": {"ID": "o"}})
        assert s3.list_buckets()["Buckets"] == []
    # an operation name Bedrock has, on another service: the service check sends it straight through
    with pytest.raises(botocore.model.OperationNotFoundError):
        s3._make_api_call("Converse", {"modelId": fb.CLAUDE})
    assert finished() == []


def test_other_bedrock_runtime_operations_are_not_traced(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock
) -> None:
    with Stubber(client) as stub:
        stub.add_response("count_tokens", {"inputTokens": 7})
        assert client.count_tokens(modelId=fb.CLAUDE, input={"converse": {"messages": USER}})["inputTokens"] == 7
    assert finished() == []


# --- converse ------------------------------------------------------------------------------------


def test_converse(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock, tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = converse(
            client,
            inferenceConfig={"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
            additionalModelRequestFields={"top_k": 200},
        )
    assert response["output"]["message"]["content"] == [{"text": "Paris."}]
    assert [s.name for s in finished()] == [f"chat {fb.CLAUDE}", "handle request"]
    span = finished()[0]
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {
        **base(server),
        sc.GEN_AI_REQUEST_MAX_TOKENS: 512,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 200.0,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        **CONVERSE_ATTRS,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    assert server.requests[0].route == "converse"
    assert_no_secrets(span)


def test_converse_metrics(instrumented: BedrockInstrumentor, client: Any) -> None:
    converse(client)
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    assert duration.attributes[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in metric_points(sc.METRIC_TOKEN_USAGE)}
    assert tokens == {"input": 1712, "output": 6}


def test_converse_records_no_content_by_default(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock
) -> None:
    server.reply = fb.CONVERSE["tool_use"]
    converse(client, system=SYSTEM)
    values = attrs(one_span())
    assert not set(CONTENT_KEYS) & set(values)
    for private in ("capital of France", "terse", "Let me check", "get_weather", "Paris"):
        assert private not in json.dumps(values)
    assert values == {
        **base(server),
        sc.GEN_AI_RESPONSE_ID: fb.REQUEST_ID,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),  # tool_use
        sc.GEN_AI_USAGE_INPUT_TOKENS: 320,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 54,
    }


def test_converse_content_with_capture(
    capture_content: None, instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock
) -> None:
    server.reply = fb.CONVERSE["tool_use"]
    history = [
        *USER,
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Lyon"}}}],
        },
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 21}}]}}]},
    ]
    client.converse(modelId=fb.CLAUDE, messages=history, system=[*SYSTEM, {"cachePoint": {"type": "default"}}])
    values = attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "Lyon"}}],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "t1", "response": {"temp": 21}}]},
    ]
    assert json.loads(values.pop(sc.GEN_AI_SYSTEM_INSTRUCTIONS)) == [{"type": "text", "content": "You are terse."}]
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {
                    "type": "tool_call",
                    "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS in values


def test_converse_without_usage(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    server.reply = fb.CONVERSE["no_usage"]
    converse(client)
    assert attrs(one_span()) == {
        **base(server),
        sc.GEN_AI_RESPONSE_ID: fb.REQUEST_ID,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("length",),  # max_tokens
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


def test_converse_details_event_only(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock, env: Any
) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    converse(client, system=SYSTEM)
    values = event_only_details(one_span())
    assert values[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert values[sc.GEN_AI_RESPONSE_ID] == fb.REQUEST_ID
    assert values[sc.GEN_AI_INPUT_MESSAGES] == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert values[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "You are terse."}]
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
    ]
    dumped = json.dumps([event_attrs(r.log_record) for r in LOG_EXPORTER.get_finished_logs()], default=str)
    for secret in SECRETS:
        assert secret not in dumped


# --- errors --------------------------------------------------------------------------------------

ERROR_CLASSES = {400: "ValidationException", 429: "ThrottlingException", 500: "InternalServerException"}


@pytest.mark.parametrize("status", [400, 429, 500])
def test_converse_errors(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock, status: int) -> None:
    server.fail_with = status
    name = ERROR_CLASSES[status]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        converse(client)
    assert type(caught.value) is getattr(client.exceptions, name)  # the SDK's own exception, unchanged
    assert len(server.requests) == 1  # no retries
    span = one_span()
    error_type = f"botocore.errorfactory.{name}"
    expected = {
        **base(server),
        sc.ERROR_TYPE: error_type,
        "http.response.status_code": status,
        "llmotel.bedrock.error_code": name,
        "llmotel.response.request_id": fb.REQUEST_ID,
    }
    if status == 429:
        expected["llmotel.ratelimit.retry_after"] = 17
    assert attrs(span) == expected
    assert_failed(span, caught.value, error_type)
    assert_no_secrets(span)
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == error_type


def test_converse_stream_throttled(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    server.fail_with = 429
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        converse_stream(client)
    span = one_span()
    assert attrs(span) == {
        **base(server),
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.ERROR_TYPE: "botocore.errorfactory.ThrottlingException",
        "http.response.status_code": 429,
        "llmotel.bedrock.error_code": "ThrottlingException",
        "llmotel.response.request_id": fb.REQUEST_ID,
        "llmotel.ratelimit.retry_after": 17,
    }
    assert_failed(span, caught.value, "botocore.errorfactory.ThrottlingException")


def test_connection_refused(instrumented: BedrockInstrumentor, server: fb.FakeBedrock) -> None:
    sdk = fb.client(server)
    server.stop()
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        converse(sdk)
    span = one_span()
    assert attrs(span) == {**base(server), sc.ERROR_TYPE: "botocore.exceptions.EndpointConnectionError"}


# --- converse_stream -----------------------------------------------------------------------------


def test_converse_stream(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock, tracer: trace.Tracer
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        response = converse_stream(client, inferenceConfig={"maxTokens": 256})
        assert set(response) == {"stream", "ResponseMetadata"}
        stream = response["stream"]
        assert isinstance(stream, botocore.eventstream.EventStream)
        assert finished() == []  # open until the stream ends
        events = [next(iter(e)) for e in stream]
    assert events == [name for name, _ in fb.CONVERSE_STREAM["plain"]]
    span = finished()[0]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert stream_attrs(span) == {
        **base(server),
        sc.GEN_AI_REQUEST_MAX_TOKENS: 256,
        **STREAM_DONE_ATTRS,
        **stream_end(6, True, "exhausted"),
    }
    assert chunk_event_tuples(span) == [
        (0, 0, None),
        (1, 5, None),
        (2, 6, None),
        (3, 0, None),
        (4, 0, None),
        (5, 0, "stop"),
    ]
    assert span.status.status_code is StatusCode.UNSET
    assert_no_secrets(span)


def test_converse_stream_closed_early(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    response = converse_stream(client)
    stream = response["stream"]
    for _ in stream:
        break
    assert finished() == []  # a loop left early leaves the stream readable
    stream.close()
    assert stream_attrs(one_span()) == {
        **base(server),
        **STREAM_ATTRS,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


def test_converse_stream_closed_by_contextlib_closing(instrumented: BedrockInstrumentor, client: Any) -> None:
    with contextlib.closing(converse_stream(client)["stream"]) as stream:
        assert "messageStart" in next(iter(stream))
        assert finished() == []
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_CHUNKS]) == ("closed", 1)


def test_converse_stream_with_block_exit(instrumented: BedrockInstrumentor, client: Any) -> None:
    with converse_stream(client)["stream"] as stream:  # the proxy adds ``with`` (it closes the stream)
        for _ in stream:
            break
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_COMPLETED]) == ("context_exit", False)


def test_converse_stream_dropped_ends_on_garbage_collection(instrumented: BedrockInstrumentor, client: Any) -> None:
    response = converse_stream(client)
    for _ in response["stream"]:
        break
    del response
    gc.collect()
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_COMPLETED]) == ("garbage_collected", False)
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 1


def test_converse_stream_never_read_ends_on_garbage_collection(instrumented: BedrockInstrumentor, client: Any) -> None:
    converse_stream(client)  # the result is dropped at once
    gc.collect()
    values = stream_attrs_without_chunks(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_CHUNKS]) == ("garbage_collected", 0)


def stream_attrs_without_chunks(span: ReadableSpan) -> dict[str, Any]:
    values = attrs(span)
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in values
    return values


def test_converse_stream_exception_event(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock
) -> None:
    error = fb.CONVERSE_STREAM["stream_error"]
    server.events = [
        fb.event(*fb.CONVERSE_STREAM["plain"][0]),
        fb.event(*fb.CONVERSE_STREAM["plain"][1]),
        fb.exception(error["event"], error["payload"]),
    ]
    stream = converse_stream(client)["stream"]
    seen = []
    with pytest.raises(botocore.exceptions.EventStreamError) as caught:
        for item in stream:
            seen.append(item)
    assert len(seen) == 2
    span = one_span()
    assert stream_attrs(span) == {
        **base(server),
        **STREAM_ATTRS,
        sc.ERROR_TYPE: "botocore.exceptions.EventStreamError",
        "llmotel.bedrock.error_code": "modelStreamErrorException",
        **stream_end(2, False, "error"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }
    assert_failed(span, caught.value, "botocore.exceptions.EventStreamError")


def test_converse_stream_cut_mid_way(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    server.cut_after = 3  # the connection closes in the middle of the fourth message
    stream = converse_stream(client)["stream"]
    seen = []
    with pytest.raises(urllib3.exceptions.ProtocolError) as caught:
        for item in stream:
            seen.append(item)
    assert len(seen) == 3
    span = one_span()
    assert stream_attrs(span) == {
        **base(server),
        **STREAM_ATTRS,
        sc.ERROR_TYPE: "urllib3.exceptions.ProtocolError",
        **stream_end(3, False, "error"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
    }
    assert_failed(span, caught.value, "urllib3.exceptions.ProtocolError")


def test_converse_stream_tool_use_with_capture(
    capture_content: None, instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock
) -> None:
    server.events = [fb.event(name, payload) for name, payload in fb.CONVERSE_STREAM["tool_use"]]
    list(converse_stream(client, system=SYSTEM)["stream"])
    values = stream_attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {
                    "type": "tool_call",
                    "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert json.loads(values.pop(sc.GEN_AI_SYSTEM_INSTRUCTIONS)) == [{"type": "text", "content": "You are terse."}]
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert values == {
        **base(server),
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 320,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 54,
        **stream_end(9, True, "exhausted"),
    }


def test_converse_stream_text_with_capture(
    capture_content: None, instrumented: BedrockInstrumentor, client: Any
) -> None:
    list(converse_stream(client)["stream"])
    span = one_span()
    assert json.loads(attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]
    texts = [e.attributes.get(sc.EVENT_CHUNK_CONTENT) for e in span.events if e.attributes is not None]
    assert texts == [None, "Hello", " there", None, None, None]


# --- invoke_model --------------------------------------------------------------------------------

PROMPT = "What is the capital of France?"
BODIES: dict[str, dict[str, Any]] = {
    fb.CLAUDE: {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 1024,
        "temperature": 0.5,
        "top_k": 250,
        "stop_sequences": ["\n\nHuman:"],
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    },
    fb.LLAMA: {"prompt": PROMPT, "max_gen_len": 512, "temperature": 0.5, "top_p": 0.9},
    fb.TITAN: {
        "inputText": PROMPT,
        "textGenerationConfig": {"maxTokenCount": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["User:"]},
    },
    fb.NOVA: {
        "schemaVersion": "messages-v1",
        "system": SYSTEM,
        "messages": USER,
        "inferenceConfig": {"max_new_tokens": 300, "temperature": 0.3, "top_p": 0.9, "top_k": 20},
    },
}
REQUEST_PARAMS: dict[str, dict[str, Any]] = {
    fb.CLAUDE: {
        sc.GEN_AI_REQUEST_MAX_TOKENS: 1024,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_TOP_K: 250.0,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n\nHuman:",),
    },
    fb.LLAMA: {sc.GEN_AI_REQUEST_MAX_TOKENS: 512, sc.GEN_AI_REQUEST_TEMPERATURE: 0.5, sc.GEN_AI_REQUEST_TOP_P: 0.9},
    fb.TITAN: {
        sc.GEN_AI_REQUEST_MAX_TOKENS: 512,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("User:",),
    },
    fb.NOVA: {
        sc.GEN_AI_REQUEST_MAX_TOKENS: 300,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.3,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 20.0,
    },
}
OPERATIONS = {fb.CLAUDE: "chat", fb.LLAMA: "text_completion", fb.TITAN: "text_completion", fb.NOVA: "chat"}
INVOKE_ATTRS: dict[str, dict[str, Any]] = {
    fb.CLAUDE: {
        sc.GEN_AI_RESPONSE_MODEL: "claude-3-5-sonnet-20240620",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1712,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 200,
    },
    fb.LLAMA: {
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 21,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
    },
    fb.TITAN: {
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),  # FINISH
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 4,
    },
    fb.NOVA: {
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 11,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
    },
}
MODELS = list(BODIES)


@pytest.mark.parametrize("model", MODELS)
def test_invoke_model(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock, model: str) -> None:
    response = client.invoke_model(modelId=model, body=json.dumps(BODIES[model]), contentType="application/json")
    body = response["body"]
    assert isinstance(body, botocore.response.StreamingBody)  # put back, readable as before
    assert json.loads(body.read()) == fb.INVOKE[fb.family(model)]
    assert body.read() == b""
    assert response["contentType"] == "application/json"
    operation = OPERATIONS[model]
    span = one_span(f"{operation} {model}")
    assert attrs(span) == {
        **base(server, model, operation),
        **REQUEST_PARAMS[model],
        sc.GEN_AI_RESPONSE_ID: fb.REQUEST_ID,
        **INVOKE_ATTRS[model],
    }
    assert_no_secrets(span)


def test_invoke_model_usage_from_headers(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock
) -> None:
    server.reply = {"generation": " Paris.", "stop_reason": "stop"}  # no counts in the body
    client.invoke_model(modelId=fb.LLAMA, body=json.dumps(BODIES[fb.LLAMA]))
    values = attrs(one_span(f"text_completion {fb.LLAMA}"))
    assert (values[sc.GEN_AI_USAGE_INPUT_TOKENS], values[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (21, 3)


def test_invoke_model_without_usage(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    server.reply = {"generation": " Paris.", "stop_reason": "stop"}
    server.extra_headers = {}
    fb.INVOKE["headers"]["llama"], saved = {}, fb.INVOKE["headers"]["llama"]
    try:
        client.invoke_model(modelId=fb.LLAMA, body=json.dumps(BODIES[fb.LLAMA]))
    finally:
        fb.INVOKE["headers"]["llama"] = saved
    values = attrs(one_span(f"text_completion {fb.LLAMA}"))
    assert values[sc.LLMOTEL_USAGE_UNKNOWN] is True
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in values


INVOKE_OUTPUT = {
    fb.CLAUDE: [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}],
    fb.LLAMA: [{"role": "assistant", "parts": [{"type": "text", "content": " Paris."}], "finish_reason": "stop"}],
    fb.TITAN: [{"role": "assistant", "parts": [{"type": "text", "content": " Paris."}], "finish_reason": "stop"}],
    fb.NOVA: [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}],
}


@pytest.mark.parametrize("model", MODELS)
def test_invoke_model_content_with_capture(
    capture_content: None, instrumented: BedrockInstrumentor, client: Any, model: str
) -> None:
    client.invoke_model(modelId=model, body=json.dumps(BODIES[model]).encode())
    values = attrs(one_span(f"{OPERATIONS[model]} {model}"))
    assert json.loads(values[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    if model in (fb.CLAUDE, fb.NOVA):
        assert json.loads(values[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "You are terse."}]
    else:
        assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in values
    assert json.loads(values[sc.GEN_AI_OUTPUT_MESSAGES]) == INVOKE_OUTPUT[model]


def test_invoke_model_records_no_content_by_default(instrumented: BedrockInstrumentor, client: Any) -> None:
    client.invoke_model(modelId=fb.CLAUDE, body=json.dumps(BODIES[fb.CLAUDE]))
    values = attrs(one_span())
    assert not set(CONTENT_KEYS) & set(values)
    assert "Paris" not in json.dumps(values) and "capital" not in json.dumps(values)


def test_invoke_model_server_error(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    server.fail_with = 500
    with pytest.raises(client.exceptions.InternalServerException):
        client.invoke_model(modelId=fb.TITAN, body=json.dumps(BODIES[fb.TITAN]))
    assert attrs(one_span(f"text_completion {fb.TITAN}")) == {
        **base(server, fb.TITAN, "text_completion"),
        **REQUEST_PARAMS[fb.TITAN],
        sc.ERROR_TYPE: "botocore.errorfactory.InternalServerException",
        "http.response.status_code": 500,
        "llmotel.bedrock.error_code": "InternalServerException",
        "llmotel.response.request_id": fb.REQUEST_ID,
    }


# --- invoke_model_with_response_stream -----------------------------------------------------------

STREAM_INVOKE_ATTRS: dict[str, dict[str, Any]] = {
    fb.CLAUDE: {
        sc.GEN_AI_RESPONSE_MODEL: "claude-3-5-sonnet-20240620",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 25,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 15,  # message_delta's cumulative count
        **stream_end(7, True, "exhausted"),
    },
    fb.LLAMA: {
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("length",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 21,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        **stream_end(3, True, "exhausted"),
    },
    fb.TITAN: {
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        **stream_end(2, True, "exhausted"),
    },
    fb.NOVA: {
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 11,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        **stream_end(6, True, "exhausted"),
    },
}


@pytest.mark.parametrize("model", MODELS)
def test_invoke_model_with_response_stream(
    instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock, model: str
) -> None:
    response = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(BODIES[model]))
    assert isinstance(response["body"], botocore.eventstream.EventStream)
    assert finished() == []
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert chunks == fb.INVOKE_STREAM[fb.family(model)]
    operation = OPERATIONS[model]
    span = one_span(f"{operation} {model}")
    assert stream_attrs(span) == {
        **base(server, model, operation),
        **REQUEST_PARAMS[model],
        **STREAM_ATTRS,
        **STREAM_INVOKE_ATTRS[model],
    }
    assert chunk_event_tuples(span)[-1][2] == STREAM_INVOKE_ATTRS[model][sc.GEN_AI_RESPONSE_FINISH_REASONS][0]


@pytest.mark.parametrize("model", MODELS)
def test_invoke_model_with_response_stream_with_capture(
    capture_content: None, instrumented: BedrockInstrumentor, client: Any, model: str
) -> None:
    for _ in client.invoke_model_with_response_stream(modelId=model, body=json.dumps(BODIES[model]))["body"]:
        pass
    span = one_span(f"{OPERATIONS[model]} {model}")
    reason = "length" if model == fb.LLAMA else "stop"
    assert json.loads(attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": reason}
    ]
    texts = [e.attributes.get(sc.EVENT_CHUNK_CONTENT) for e in span.events if e.attributes is not None]
    assert "".join(t for t in texts if t) == "Hello there"


def test_invoke_stream_closed_early(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    body = client.invoke_model_with_response_stream(modelId=fb.CLAUDE, body=json.dumps(BODIES[fb.CLAUDE]))["body"]
    for _ in body:
        break
    body.close()
    assert stream_attrs(one_span()) == {
        **base(server),
        **REQUEST_PARAMS[fb.CLAUDE],
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_MODEL: "claude-3-5-sonnet-20240620",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 25,  # message_start
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),
        **stream_end(1, False, "closed"),
    }


def test_invoke_stream_exception_event(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    server.events = [
        fb.chunk_event(fb.INVOKE_STREAM["llama"][0]),
        fb.exception("modelTimeoutException", {"message": "Model has timed out in processing the request."}),
    ]
    body = client.invoke_model_with_response_stream(modelId=fb.LLAMA, body=json.dumps(BODIES[fb.LLAMA]))["body"]
    with pytest.raises(botocore.exceptions.EventStreamError):
        list(body)
    values = stream_attrs(one_span(f"text_completion {fb.LLAMA}"))
    assert values[sc.ERROR_TYPE] == "botocore.exceptions.EventStreamError"
    assert values["llmotel.bedrock.error_code"] == "modelTimeoutException"
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "error"


# --- suppression and nesting ---------------------------------------------------------------------


def test_suppressed_instrumentation(instrumented: BedrockInstrumentor, client: Any, server: fb.FakeBedrock) -> None:
    assert_no_span_when_suppressed(
        server.requests,
        lambda: converse(client),
        lambda: list(converse_stream(client)["stream"]),
        lambda: client.invoke_model(modelId=fb.LLAMA, body=json.dumps(BODIES[fb.LLAMA]))["body"].read(),
    )


def test_decorated_wrapper_makes_one_span(instrumented: BedrockInstrumentor, client: Any) -> None:
    @llmotel.trace_chat(provider="aws.bedrock", model=fb.CLAUDE)
    def answer() -> Any:
        return converse(client)

    answer()
    span = one_span()
    values = attrs(span)
    # the inner call folds into the decorated span: its response facts land there
    assert values[sc.GEN_AI_RESPONSE_ID] == fb.REQUEST_ID
    assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1712


# --- the real AWS endpoint name (botocore's Stubber: no request leaves the process) ---------------


def test_default_endpoint_is_the_server(instrumented: BedrockInstrumentor) -> None:
    sdk = boto3.client(
        "bedrock-runtime", region_name="eu-west-3", aws_access_key_id=fb.ACCESS_KEY, aws_secret_access_key="x"
    )
    with Stubber(sdk) as stub:
        stub.add_response("converse", {**fb.CONVERSE["plain"], "ResponseMetadata": {"RequestId": "req-stubbed"}})
        converse(sdk)
    values = attrs(one_span())
    assert (values[sc.SERVER_ADDRESS], values[sc.SERVER_PORT]) == ("bedrock-runtime.eu-west-3.amazonaws.com", 443)
    assert values[sc.GEN_AI_RESPONSE_ID] == "req-stubbed"


# --- extraction of shapes the fake server does not send, on plain records ------------------------


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("FINISH", "stop"),
        ("LENGTH", "length"),
        ("CONTENT_FILTERED", "content_filter"),
        ("malformed_tool_use", "malformed_tool_use"),  # not in the table: kept, lowercased
        ("Something_New", "something_new"),
        ("", None),
        (None, None),
    ],
)
def test_finish_reason_mapping(raw: Any, mapped: str | None) -> None:
    assert _converse.finish_reason(raw) == mapped


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (BODIES[fb.CLAUDE], _invoke.ANTHROPIC),
        (BODIES[fb.LLAMA], _invoke.LLAMA),
        (BODIES[fb.TITAN], _invoke.TITAN),
        (BODIES[fb.NOVA], _invoke.NOVA),
        ({"messages": USER}, _invoke.NOVA),  # Converse-shaped content blocks
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}, _invoke.ANTHROPIC),
        ({"prompt": "<s>[INST] hi [/INST]", "max_tokens": 5, "stop": ["</s>"]}, _invoke.PROMPT),  # Mistral
        ({"texts": ["embed me"]}, _invoke.UNKNOWN),
        (None, _invoke.UNKNOWN),
    ],
)
def test_body_formats(body: Any, kind: str) -> None:
    assert _invoke.body_format(body) == kind


def test_prompt_body_params_and_mistral_outputs() -> None:
    call = LLMCall("chat", "aws.bedrock")
    _invoke.invoke_request(call, {"prompt": "hi", "max_tokens": 5, "temperature": 0.2, "top_k": 9, "stop": ["</s>"]})
    assert call.operation == "text_completion"
    assert call.params == {
        sc.GEN_AI_REQUEST_MAX_TOKENS: 5,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_TOP_K: 9,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["</s>"],
    }
    _invoke.read_invoke_body(call, {"outputs": [{"text": " Paris.", "stop_reason": "stop"}, {"text": " Lyon"}]}, True)
    assert call.finish_reasons == ["stop", "error"]
    assert call.output_messages is not None and [m["finish_reason"] for m in call.output_messages] == ["stop", "error"]


def test_unknown_body_keeps_the_call_as_chat() -> None:
    call = LLMCall("chat", "aws.bedrock")
    EXTRACTOR.request(call, None, ("InvokeModel", {"modelId": "cohere.embed-v4", "body": b"not json"}), {})
    assert (call.operation, call.request_model, call.params) == ("chat", "cohere.embed-v4", {})


def test_converse_blocks_to_parts() -> None:
    blocks = [
        {"text": "look"},
        {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}},
        {"document": {"name": "report", "format": "pdf", "source": {"bytes": b"%PDF"}}},
        {"reasoningContent": {"reasoningText": {"text": "thinking", "signature": "sig"}}},
        {"guardContent": {"text": {"text": "guarded"}}},
        {"cachePoint": {"type": "default"}},
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "a"}, {"json": {"b": 1}}], "status": "success"}},
    ]
    assert _converse.blocks_parts(blocks) == [
        {"type": "text", "content": "look"},
        {"type": "blob", "modality": "image", "content": "<omitted>"},  # bytes never reach a span
        {"type": "document"},
        {"type": "reasoning", "content": "thinking"},
        {"type": "text", "content": "guarded"},
        {"type": "tool_call_response", "id": "t1", "response": ["a", {"b": 1}]},
    ]


def test_converse_stream_reasoning_and_tool_use() -> None:
    call, state = LLMCall("chat", "aws.bedrock"), StreamState()
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm, "}}}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "weather."}}}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"text": "Checking."}}},
        {"contentBlockStart": {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t9", "name": "w"}}}},
        {"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"c": 1}'}}}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 4, "cacheWriteInputTokens": 10}}},
    ]
    for item in events:
        EXTRACTOR.chunk(call, state, item, True)
    EXTRACTOR.stream_end(call, state, True)
    assert call.finish_reasons == ["tool_calls"]
    assert call.usage is not None
    assert (call.usage.input_tokens, call.usage.output_tokens, call.usage.cache_creation_input_tokens) == (13, 4, 10)
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Hmm, weather."},
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "id": "t9", "name": "w", "arguments": {"c": 1}},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_anthropic_invoke_stream_tool_use() -> None:
    call, state = LLMCall("chat", "aws.bedrock"), StreamState()
    bodies = [
        {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "tu1", "name": "w"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"c"'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ": 2}"}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
    ]
    for body in bodies:
        chunk = {"chunk": {"bytes": json.dumps(body).encode()}}
        EXTRACTOR.chunk(call, state, chunk, True)
    EXTRACTOR.stream_end(call, state, True)
    assert (call.response_model, call.finish_reasons) == ("claude-x", ["tool_calls"])
    assert call.usage is not None and (call.usage.input_tokens, call.usage.output_tokens) == (5, 9)
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "tu1", "name": "w", "arguments": {"c": 2}}],
            "finish_reason": "tool_call",
        }
    ]


def test_broken_chunks_are_ignored() -> None:
    call, state = LLMCall("chat", "aws.bedrock"), StreamState()
    for chunk in ({"chunk": {"bytes": b"{not json"}}, {"chunk": None}, {"unknownEvent": {}}, "text", None):
        EXTRACTOR.chunk(call, state, chunk, True)
        assert EXTRACTOR.chunk_text(chunk) is None
    assert (call.finish_reasons, call.usage) == (None, None)
