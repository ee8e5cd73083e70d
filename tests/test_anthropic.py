"""AnthropicInstrumentor against the real anthropic SDK talking to a fake server (a ``MockTransport``
of the SDK's own HTTP library: httpx2 from anthropic 1.0, httpx before).

anthropic 2.x and later 1.x releases trace themselves (an ``anthropic.messages.create`` span, on unless
``ANTHROPIC_OPEN_TELEMETRY=false``). There, every test that makes a call runs twice, with the SDK's
own tracing on and off, and proves the same thing both ways: exactly one span per call, llmotel's.
Older SDKs have no tracing of their own: those tests run once, as "sdk_tracing_off".
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import anthropic._base_client as base_client_module
import anthropic._streaming as streaming_module
import anthropic.resources.messages.messages as messages_module
import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import llmotel
from conftest import finished, metric_points
from helpers import fake_anthropic
from helpers.fake_anthropic import (
    HOST,
    MODEL,
    PORT,
    SDK_TRACES_ITSELF,
    STREAM_EVENTS,
    TOOL_USE_MESSAGE,
    FakeAnthropic,
)
from helpers.providers import assert_call_metrics, assert_uninstrument_restores, instrumenting
from helpers.spans import (
    assert_failed,
    attrs,
    chunk_event_tuples,
    only_client_span,
    spy_on_status_errors,
    stream_attrs,
    stream_end,
)
from llmotel import semconv as sc
from llmotel.integrations.anthropic import AnthropicInstrumentor

SPAN_NAME = f"chat {MODEL}"
SDK_SCOPE = "com.anthropic.sdk.python"

HEADER_ATTRS = {
    "llmotel.response.request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
}
"""What a successful call records from its response headers by default."""
RATELIMIT_ATTRS = {
    "llmotel.ratelimit.requests.limit": 50,
    "llmotel.ratelimit.requests.remaining": 49,
    "llmotel.ratelimit.requests.reset": "2025-06-01T12:00:01Z",
    "llmotel.ratelimit.input_tokens.limit": 40000,
    "llmotel.ratelimit.input_tokens.remaining": 38288,
    "llmotel.ratelimit.output_tokens.limit": 8000,
    "llmotel.ratelimit.output_tokens.remaining": 7994,
}
"""... and with LLMOTEL_RATELIMIT_ATTRIBUTES=true."""

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=["sdk_tracing_on", "sdk_tracing_off"] if SDK_TRACES_ITSELF else ["sdk_tracing_off"])
def sdk_tracing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The SDK's own tracing on (its default) or off; set before any client is created. An SDK
    without tracing of its own (0.x, early 1.x) has only "off"."""
    on = bool(request.param == "sdk_tracing_on")
    if on:
        monkeypatch.delenv("ANTHROPIC_OPEN_TELEMETRY", raising=False)
    else:
        monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    return on


@pytest.fixture
def server() -> FakeAnthropic:
    return FakeAnthropic()


@pytest.fixture
def client(sdk_tracing: bool, server: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with fake_anthropic.sync_client(server) as sdk:
        assert (getattr(sdk, "_tracer", None) is not None) is sdk_tracing
        yield sdk


@pytest.fixture
async def aclient(sdk_tracing: bool, server: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with fake_anthropic.async_client(server) as sdk:
        assert (getattr(sdk, "_tracer", None) is not None) is sdk_tracing
        yield sdk


PATCHED_TARGETS: list[tuple[Any, str]] = [
    (messages_module.Messages, "create"),
    (messages_module.AsyncMessages, "create"),
    (messages_module.Messages, "stream"),
    (messages_module.AsyncMessages, "stream"),
    *([(base_client_module, "start_api_call_span")] if SDK_TRACES_ITSELF else []),
    (streaming_module.Stream, "__init__"),
    (streaming_module.AsyncStream, "__init__"),
]
"""What instrument() wraps (uninstrument() must restore each); ``start_api_call_span`` only where
the SDK traces itself."""
HEADER_TARGETS: list[tuple[Any, str]] = [
    (base_client_module.SyncAPIClient, "_process_response"),
    (base_client_module.AsyncAPIClient, "_process_response"),
]
"""... instead of the streams' ``__init__`` with LLMOTEL_RESPONSE_HEADERS=true: every response's headers."""


@pytest.fixture
def instrumented() -> Iterator[AnthropicInstrumentor]:
    with instrumenting(AnthropicInstrumentor(), "anthropic", PATCHED_TARGETS + HEADER_TARGETS) as instrument:
        yield instrument()


# --- helpers -------------------------------------------------------------------------------------

USER = [{"role": "user", "content": "What is the capital of France?"}]
BASE_ATTRS = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "anthropic",
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.SERVER_ADDRESS: HOST,
    sc.SERVER_PORT: PORT,
    sc.GEN_AI_REQUEST_MAX_TOKENS: 1024,
}
MESSAGE_ATTRS = {
    sc.GEN_AI_RESPONSE_ID: "msg_01XFDUDYJgAACzvnptvVoYEL",
    sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-6",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 12 + 1500 + 200,  # uncached + cache read + cache creation
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 200,
}
STREAM_ATTRS = {
    sc.GEN_AI_REQUEST_STREAM: True,
    sc.GEN_AI_RESPONSE_ID: "msg_01XFDUDYJgAACzvnptvVoYEL",
    sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-6",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 25 + 1500,  # from message_start
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1500,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
}
CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)


def create(sdk: anthropic.Anthropic, **kwargs: Any) -> Any:
    return sdk.messages.create(model=MODEL, max_tokens=1024, messages=USER, **kwargs)


def one_span() -> ReadableSpan:
    """The only finished span, which must be llmotel's CLIENT span (never the SDK's own as well)."""
    return only_client_span(SPAN_NAME)


# the seven events the SDK yields for STREAM_EVENTS (it drops the ping): sizes of the text deltas
RAW_STREAM_EVENTS = [(0, 0, None), (1, 0, None), (2, 5, None), (3, 6, None), (4, 0, None), (5, 0, None)]
RAW_STREAM_EVENTS.append((6, 0, "end_turn"))


def assert_traceparent_is(sdk_tracing: bool, server: FakeAnthropic, span: ReadableSpan) -> None:
    """With its tracing on, the SDK sends the trace context of the call span: llmotel's span."""
    traceparent = server.requests[-1].headers.get("traceparent")
    if sdk_tracing:
        context = span.context
        assert traceparent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    else:
        assert traceparent is None


# --- instrument / uninstrument, and the SDK's own span ------------------------------------------


def test_uninstrument_restores_the_exact_originals() -> None:
    assert_uninstrument_restores(AnthropicInstrumentor(), PATCHED_TARGETS)


def test_without_llmotel_the_sdk_traces_itself_when_on(
    sdk_tracing: bool, client: anthropic.Anthropic, server: FakeAnthropic
) -> None:
    create(client)
    scopes = [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else None) for s in finished()]
    assert scopes == ([("anthropic.messages.create", SDK_SCOPE)] if sdk_tracing else [])


def test_instrument_again_after_uninstrument(sdk_tracing: bool, client: anthropic.Anthropic) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    create(client)
    instrumentor.uninstrument()
    create(client)  # back to the SDK's own behaviour
    instrumentor.instrument()
    try:
        create(client)
    finally:
        instrumentor.uninstrument()
    scopes = [s.instrumentation_scope.name for s in finished() if s.instrumentation_scope]
    assert scopes == (["llmotel", SDK_SCOPE, "llmotel"] if sdk_tracing else ["llmotel", "llmotel"])


# --- messages.create -----------------------------------------------------------------------------


def test_create(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    server: FakeAnthropic,
    tracer: trace.Tracer,
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        message = create(client, stop_sequences=["END", "STOP"], metadata={"user_id": "user-1"})
    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].text == "Paris."  # type: ignore[union-attr]
    spans = finished()
    assert [s.name for s in spans] == [SPAN_NAME, "handle request"]
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "llmotel"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END", "STOP"),
        **MESSAGE_ATTRS,
        **HEADER_ATTRS,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    assert_traceparent_is(sdk_tracing, server, span)


def test_rate_limit_headers_of_successful_calls_are_opt_in(
    sdk_tracing: bool, client: anthropic.Anthropic, env: Any
) -> None:
    env(LLMOTEL_RATELIMIT_ATTRIBUTES="true")  # read by instrument(), which installs the header patches
    with instrumenting(AnthropicInstrumentor(), "anthropic", PATCHED_TARGETS + HEADER_TARGETS) as instrument:
        instrument()
        assert all(isinstance(vars(owner)[name], wrapt.FunctionWrapper) for owner, name in HEADER_TARGETS)
        create(client)
    (span,) = finished()
    assert attrs(span) == {**BASE_ATTRS, **MESSAGE_ATTRS, **HEADER_ATTRS, **RATELIMIT_ATTRS}


def test_create_records_no_content_by_default(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic, server: FakeAnthropic
) -> None:
    server.reply = TOOL_USE_MESSAGE
    create(client, system="You are terse.")
    values = attrs(one_span())
    assert not set(CONTENT_KEYS) & set(values)
    for private in ("capital of France", "terse", "Let me check", "get_weather", "toolu_01A09q90qw90lq917835lq9"):
        assert private not in json.dumps(values)
    assert values[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)


def test_tool_use_in_output_messages_with_capture(
    sdk_tracing: bool,
    capture_content: None,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    server: FakeAnthropic,
) -> None:
    server.reply = TOOL_USE_MESSAGE
    create(client, system="You are terse.")
    values = attrs(one_span())
    assert json.loads(values.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert json.loads(values.pop(sc.GEN_AI_SYSTEM_INSTRUCTIONS)) == [{"type": "text", "content": "You are terse."}]
    assert json.loads(values.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {
                    "type": "tool_call",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert values == {**BASE_ATTRS, **MESSAGE_ATTRS, sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_use",), **HEADER_ATTRS}


async def test_async_create(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    aclient: anthropic.AsyncAnthropic,
    server: FakeAnthropic,
    tracer: trace.Tracer,
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        message = await aclient.messages.create(model=MODEL, max_tokens=1024, messages=USER)
    assert message.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    span = finished()[0]
    assert [s.name for s in finished()] == [SPAN_NAME, "handle request"]
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "llmotel"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert attrs(span) == {**BASE_ATTRS, **MESSAGE_ATTRS, **HEADER_ATTRS}
    assert_traceparent_is(sdk_tracing, server, span)


# --- stream=True ---------------------------------------------------------------------------------


def test_create_stream(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic, server: FakeAnthropic
) -> None:
    stream = create(client, stream=True)
    assert stream.__class__ is anthropic.Stream  # isinstance(): test_traced_streams_are_sdk_streams
    assert stream.response.headers["request-id"] == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert finished() == []  # open until the stream ends
    events = [event.type for event in stream]
    assert events == [e["type"] for e in STREAM_EVENTS if e["type"] != "ping"]
    span = one_span()
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 15,  # message_delta's cumulative count wins over message_start's
        **HEADER_ATTRS,
        **stream_end(7, True, "exhausted"),
    }
    assert chunk_event_tuples(span) == RAW_STREAM_EVENTS
    assert span.status.status_code is StatusCode.UNSET
    assert_traceparent_is(sdk_tracing, server, span)


def test_create_stream_closed_early(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic
) -> None:
    stream = create(client, stream=True)
    for _ in stream:
        break
    stream.close()
    assert stream.response.is_closed
    assert stream_attrs(one_span()) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 1,  # only message_start arrived
        **HEADER_ATTRS,
        **stream_end(1, False, "closed"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }


def test_create_stream_dropped_ends_on_garbage_collection(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic
) -> None:
    stream = create(client, stream=True)
    next(stream)
    del stream
    gc.collect()
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_COMPLETED]) == ("garbage_collected", False)


async def test_async_create_stream(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, aclient: anthropic.AsyncAnthropic, server: FakeAnthropic
) -> None:
    stream = await aclient.messages.create(model=MODEL, max_tokens=1024, messages=USER, stream=True)
    assert stream.__class__ is anthropic.AsyncStream
    events = [event.type async for event in stream]
    assert len(events) == 7
    span = one_span()
    assert stream_attrs(span) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 15,
        **HEADER_ATTRS,
        **stream_end(7, True, "exhausted"),
    }
    assert chunk_event_tuples(span) == RAW_STREAM_EVENTS
    assert_traceparent_is(sdk_tracing, server, span)


@pytest.mark.xfail(
    type(anthropic.Stream) is not type,
    raises=AssertionError,
    strict=True,
    reason="llmotel finding: anthropic 0.x's Stream/AsyncStream metaclass answers isinstance() with False for "
    "anything whose type is not the class itself (kept for MessageStream), so llmotel's stream proxy fails "
    "isinstance(stream, anthropic.Stream) there",
)
async def test_traced_streams_are_sdk_streams(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """What the caller gets from ``create(stream=True)`` passes ``isinstance`` against the SDK's class."""
    with create(client, stream=True) as stream:
        is_stream = isinstance(stream, anthropic.Stream)
    async with await aclient.messages.create(model=MODEL, max_tokens=1024, messages=USER, stream=True) as astream:
        is_async_stream = isinstance(astream, anthropic.AsyncStream)
    assert (is_stream, is_async_stream) == (True, True)


async def test_async_create_stream_closed_early(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, aclient: anthropic.AsyncAnthropic
) -> None:
    stream = await aclient.messages.create(model=MODEL, max_tokens=1024, messages=USER, stream=True)
    async for _ in stream:
        break
    await stream.close()
    values = stream_attrs(one_span())
    assert (values[sc.LLMOTEL_STREAM_STOP_REASON], values[sc.LLMOTEL_STREAM_CHUNKS]) == ("closed", 1)


# --- the messages.stream(...) helper -------------------------------------------------------------

# the helper yields the raw events (less the ping) plus a "text" event per text delta: nine in all
HELPER_ATTRS = {
    **BASE_ATTRS,
    **STREAM_ATTRS,
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 15,
    **HEADER_ATTRS,
    **stream_end(9, True, "exhausted"),
}


def test_stream_helper(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    server: FakeAnthropic,
    tracer: trace.Tracer,
) -> None:
    with tracer.start_as_current_span("handle request") as parent:
        manager = client.messages.stream(model=MODEL, max_tokens=1024, messages=USER)
        assert server.requests == []  # nothing is sent before the with block
        with manager as stream:
            assert list(stream.text_stream) == ["Hello", " there"]
            final = stream.get_final_message()
    assert final.content[0].text == "Hello there"  # type: ignore[union-attr]
    assert final.usage.output_tokens == 15
    span = finished()[0]
    assert [s.name for s in finished()] == [SPAN_NAME, "handle request"]
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "llmotel"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert stream_attrs(span) == HELPER_ATTRS
    assert chunk_event_tuples(span)[-1] == (8, 0, "end_turn")
    assert_traceparent_is(sdk_tracing, server, span)


def test_stream_helper_exited_early(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
        for _ in stream.text_stream:
            break
        assert finished() == []
    assert stream.response.is_closed
    assert stream_attrs(one_span()) == {
        **BASE_ATTRS,
        **STREAM_ATTRS,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
        **HEADER_ATTRS,
        **stream_end(3, False, "context_exit"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("error",),  # cut before its finish reason
    }


def test_stream_helper_with_capture(
    sdk_tracing: bool, capture_content: None, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
        stream.until_done()
    values = attrs(one_span())
    assert json.loads(values[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]


async def test_async_stream_helper(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, aclient: anthropic.AsyncAnthropic, server: FakeAnthropic
) -> None:
    async with aclient.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert texts == ["Hello", " there"]
    assert final.usage.output_tokens == 15
    span = one_span()
    assert stream_attrs(span) == HELPER_ATTRS
    assert_traceparent_is(sdk_tracing, server, span)


async def test_async_stream_helper_exited_early(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, aclient: anthropic.AsyncAnthropic
) -> None:
    async with aclient.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
        async for _ in stream:
            break
    values = stream_attrs(one_span())
    assert values[sc.LLMOTEL_STREAM_STOP_REASON] == "context_exit"
    assert values[sc.LLMOTEL_STREAM_COMPLETED] is False
    assert values[sc.LLMOTEL_STREAM_CHUNKS] == 1


# --- errors --------------------------------------------------------------------------------------


RATE_LIMIT_ATTRS = {
    **BASE_ATTRS,
    sc.ERROR_TYPE: "anthropic.RateLimitError",
    "http.response.status_code": 429,
    "llmotel.response.request_id": "req_429",
    "llmotel.ratelimit.requests.limit": 50,
    "llmotel.ratelimit.requests.remaining": 0,
    "llmotel.ratelimit.requests.reset": "2025-06-01T12:00:17Z",
    "llmotel.ratelimit.retry_after": 17,
}


def test_rate_limited(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    server: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.fail_with = 429
    made = spy_on_status_errors(client, monkeypatch)
    with pytest.raises(anthropic.RateLimitError) as caught:
        create(client)
    assert made[0] is caught.value  # the SDK's exception object reaches the caller unchanged
    assert len(server.requests) == 1
    span = one_span()
    assert attrs(span) == RATE_LIMIT_ATTRS
    assert_failed(span, caught.value, "anthropic.RateLimitError")


@pytest.mark.parametrize(
    ("status", "error_class"),
    # older 0.x SDKs (0.41 among them) have no OverloadedError: a 529 is an InternalServerError there
    [(529, getattr(anthropic, "OverloadedError", anthropic.InternalServerError)), (500, anthropic.InternalServerError)],
)
def test_server_errors(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    server: FakeAnthropic,
    status: int,
    error_class: type[anthropic.APIStatusError],
) -> None:
    server.fail_with = status
    with pytest.raises(error_class) as caught:
        create(client, stream=True)
    assert type(caught.value) is error_class
    assert len(server.requests) == 1  # max_retries=0
    span = one_span()
    error_type = f"anthropic.{error_class.__name__}"
    assert attrs(span) == {
        **BASE_ATTRS,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.ERROR_TYPE: error_type,
        "http.response.status_code": status,
        "llmotel.response.request_id": f"req_{status}",
    }
    assert_failed(span, caught.value, error_type)


async def test_async_rate_limited(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    aclient: anthropic.AsyncAnthropic,
    server: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.fail_with = 429
    made = spy_on_status_errors(aclient, monkeypatch)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await aclient.messages.create(model=MODEL, max_tokens=1024, messages=USER)
    assert made[0] is caught.value
    span = one_span()
    assert attrs(span) == RATE_LIMIT_ATTRS
    assert_failed(span, caught.value, "anthropic.RateLimitError")


def test_stream_helper_rate_limited_ends_its_span_once(
    sdk_tracing: bool,
    instrumented: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    server: FakeAnthropic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.fail_with = 429
    with caplog.at_level(logging.WARNING, logger="opentelemetry"), pytest.raises(anthropic.RateLimitError) as caught:
        with client.messages.stream(model=MODEL, max_tokens=1024, messages=USER):
            pytest.fail("the with block is not entered")
    error = caught.value
    del caught  # drop the traceback (and with it the stream manager), then collect it
    with caplog.at_level(logging.WARNING, logger="opentelemetry"):
        gc.collect()
    span = one_span()
    assert attrs(span) == {**RATE_LIMIT_ATTRS, sc.GEN_AI_REQUEST_STREAM: True}
    assert_failed(span, error, "anthropic.RateLimitError")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)  # recorded once, as a failure
    assert duration.count == 1
    assert duration.attributes[sc.ERROR_TYPE] == "anthropic.RateLimitError"


async def test_async_stream_helper_rate_limited(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, aclient: anthropic.AsyncAnthropic, server: FakeAnthropic
) -> None:
    server.fail_with = 429
    with pytest.raises(anthropic.RateLimitError) as caught:
        async with aclient.messages.stream(model=MODEL, max_tokens=1024, messages=USER):
            pytest.fail("the with block is not entered")
    del caught
    gc.collect()
    span = one_span()
    assert attrs(span) == {**RATE_LIMIT_ATTRS, sc.GEN_AI_REQUEST_STREAM: True}
    assert len(metric_points(sc.METRIC_OPERATION_DURATION)) == 1


# --- suppression, de-duplication, metrics ---------------------------------------------------------


def test_suppressed_instrumentation(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic, server: FakeAnthropic
) -> None:
    with suppress_instrumentation():
        create(client)
        with client.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
            stream.until_done()
    assert len(server.requests) == 2
    spans = finished()
    assert not [s for s in spans if s.instrumentation_scope and s.instrumentation_scope.name == "llmotel"]
    # the SDK does not honour suppress_instrumentation: with its tracing on, its own spans remain
    if sdk_tracing:
        assert [(s.name, s.instrumentation_scope.name) for s in spans if s.instrumentation_scope] == [
            ("anthropic.messages.create", SDK_SCOPE),
            ("anthropic.messages.create", SDK_SCOPE),
        ]
    else:
        assert spans == []


class Assistant:
    """A user's wrapper class, traced with the decorator, around the instrumented anthropic client."""

    def __init__(self, client: anthropic.Anthropic, tracer: trace.Tracer) -> None:
        self.client = client
        self.tracer = tracer

    @llmotel.trace_chat(provider="anthropic", model=MODEL)
    def answer(self, use_tool: bool = False) -> Any:
        message = create(self.client)
        if use_tool:
            with self.tracer.start_as_current_span("execute_tool lookup"):
                create(self.client, stop_sequences=["\n\n"])
        return message


def test_decorated_wrapper_makes_one_span(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic, tracer: trace.Tracer
) -> None:
    Assistant(client, tracer).answer()
    span = one_span()
    assert attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        **MESSAGE_ATTRS,
        **HEADER_ATTRS,
    }


def test_call_inside_a_tool_span_gets_its_own_span(
    sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic, tracer: trace.Tracer
) -> None:
    Assistant(client, tracer).answer(use_tool=True)
    spans = finished()
    assert sorted(s.name for s in spans) == [SPAN_NAME, SPAN_NAME, "execute_tool lookup"]
    assert all(s.instrumentation_scope and s.instrumentation_scope.name != SDK_SCOPE for s in spans)
    tool = next(s for s in spans if s.name == "execute_tool lookup")
    inner = next(s for s in spans if s.parent is not None and s.parent.span_id == tool.context.span_id)
    outer = next(s for s in spans if s.name == SPAN_NAME and s is not inner)
    assert tool.parent is not None and tool.parent.span_id == outer.context.span_id
    assert attrs(inner) == {**BASE_ATTRS, sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n\n",), **MESSAGE_ATTRS, **HEADER_ATTRS}


def test_metrics(sdk_tracing: bool, instrumented: AnthropicInstrumentor, client: anthropic.Anthropic) -> None:
    create(client)
    span = one_span()
    metric_attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-6",
        sc.SERVER_ADDRESS: HOST,
        sc.SERVER_PORT: PORT,
    }
    assert_call_metrics(span, metric_attrs, {"input": 1712, "output": 6})
