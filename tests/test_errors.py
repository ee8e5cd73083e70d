"""Errors: user exceptions pass through untouched; llmotel's own errors never reach user code."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import llmotel
from conftest import SECRET_SCANNER, finished, metric_points
from llmotel import semconv as sc
from llmotel._safety import InternalError


class RateLimitError(Exception):
    pass


def test_user_exception_is_the_same_object_with_its_traceback() -> None:
    original = RateLimitError("slow down")

    @llmotel.trace_chat(provider="openai", model="m")
    def call() -> None:
        raise original

    with pytest.raises(RateLimitError) as info:
        call()
    assert info.value is original
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "call"  # the raising frame is still the user's
    [span] = finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RateLimitError: slow down"
    attrs = dict(span.attributes or {})
    assert attrs[sc.ERROR_TYPE] == f"{__name__}.RateLimitError"
    assert sc.GEN_AI_RESPONSE_ID not in attrs and sc.LLMOTEL_USAGE_UNKNOWN not in attrs
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == f"{__name__}.RateLimitError"  # type: ignore[index]
    assert "slow down" in event.attributes["exception.message"]  # type: ignore[index, operator]
    assert "raise original" in event.attributes["exception.stacktrace"]  # type: ignore[index, operator]
    [point] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == f"{__name__}.RateLimitError"


async def test_builtin_error_type_is_bare_for_async_calls() -> None:
    @llmotel.trace_chat(provider="openai", model="m")
    async def call() -> None:
        raise TimeoutError("upstream")

    with pytest.raises(TimeoutError):
        await call()
    [span] = finished()
    assert span.attributes[sc.ERROR_TYPE] == "TimeoutError"  # type: ignore[index]


def test_error_creating_a_generator_is_recorded() -> None:
    @llmotel.trace_chat(provider="openai", model="m")
    def gen(x: int) -> Any:
        yield x

    with pytest.raises(TypeError):
        gen()  # type: ignore[call-arg]
    [span] = finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "TypeError"  # type: ignore[index]


class ExplodingExtractor(llmotel.Extractor):
    def response(self, call: llmotel.LLMCall, result: Any, capture: bool) -> None:
        raise KeyError("bug in extraction")

    def chunk(self, call: llmotel.LLMCall, state: Any, chunk: Any, capture: bool) -> None:
        raise ValueError("bug in chunk")


def test_internal_error_is_raised_in_strict_mode() -> None:
    @llmotel.trace_chat(provider="openai", model="m", extractor=ExplodingExtractor())
    def call() -> str:
        return "ok"

    with pytest.raises(InternalError) as info:
        call()
    assert isinstance(info.value.__cause__, KeyError)


def test_internal_errors_never_reach_user_code_in_production(env: Any, caplog: pytest.LogCaptureFixture) -> None:
    env(LLMOTEL_STRICT="0")

    @llmotel.trace_chat(provider="openai", model="m", extractor=ExplodingExtractor())
    def call() -> str:
        return "ok"

    @llmotel.trace_chat(provider="openai", model="m", extractor=ExplodingExtractor())
    def stream() -> Any:
        yield from "abc"

    with caplog.at_level(logging.WARNING, logger="llmotel"):
        assert [call() for _ in range(3)] == ["ok"] * 3
        assert list(stream()) == ["a", "b", "c"]
    assert len(finished()) == 4  # every span still ended
    assert llmotel.internal_error_counts() == {"response extraction": 3, "stream chunk": 3}
    messages = [r.getMessage() for r in caplog.records if r.name == "llmotel"]
    assert len(messages) == 2  # logged once per kind
    assert all("internal error" in m for m in messages)


def test_failing_model_callable_loses_the_model_not_the_span(env: Any) -> None:
    env(LLMOTEL_STRICT="0")

    @llmotel.trace_chat(model=lambda: 1 / 0)
    def call() -> str:
        return "ok"

    assert call() == "ok"
    [span] = finished()
    assert span.name == "chat"
    assert sc.GEN_AI_REQUEST_MODEL not in (span.attributes or {})
    assert llmotel.internal_error_counts() == {"request extraction": 1}


def test_secret_scanner_catches_leaks(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("leaky") as span:
        span.set_attribute("x", "key=sk-test-secret-key-123")
    assert SECRET_SCANNER.violations == ["leaky: x contains 'sk-test-secret-key-123'"]
    SECRET_SCANNER.violations.clear()


# --- secrets in exception text -------------------------------------------------------------------


class HeaderDumpingError(Exception):
    """Like SDK errors that print the response headers (cohere's ``ApiError``)."""


@llmotel.trace_chat(provider="openai", model="m")
def leaky_call() -> None:
    headers = {"content-type": "application/json", "set-cookie": "session=hunter2-password; path=/"}
    raise HeaderDumpingError(
        f"status_code: 429, headers: {headers}, authorization: Bearer test-bearer-token-789, key sk-test-secret-key-123"
    )


def test_secrets_in_an_exceptions_text_reach_no_attribute_event_or_status() -> None:
    with pytest.raises(HeaderDumpingError) as raised:
        leaky_call()
    assert "hunter2-password" in str(raised.value)  # the user's exception is untouched
    [span] = finished()
    [event] = [e for e in span.events if e.name == "exception"]
    text = " ".join(str(v) for v in (event.attributes or {}).values()) + (span.status.description or "")
    for secret in ("hunter2-password", "test-bearer-token-789", "sk-test-secret-key-123"):
        assert secret not in text
    assert "'set-cookie': '[REDACTED]'" in event.attributes["exception.message"]  # type: ignore[index]
    assert "status_code: 429" in event.attributes["exception.message"]  # type: ignore[index]
    assert "leaky_call" in event.attributes["exception.stacktrace"]  # type: ignore[index]
    assert span.status.description.startswith("HeaderDumpingError: status_code: 429")  # type: ignore[union-attr]
    assert SECRET_SCANNER.violations == []


def test_a_real_cohere_error_with_a_cookie_header_keeps_it_off_the_span() -> None:
    import cohere

    from helpers import fake_cohere
    from helpers.spans import instrumented
    from llmotel.integrations.cohere import CohereInstrumentor

    server = fake_cohere.FakeCohere()
    server.fail_with = 429
    fake_cohere.ERROR_HEADERS[429] = {**fake_cohere.ERROR_HEADERS[429], "set-cookie": "session=hunter2-password"}
    try:
        with instrumented(CohereInstrumentor()), fake_cohere.sync_client(server) as client:
            with pytest.raises(cohere.core.api_error.ApiError) as raised:
                client.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}])
    finally:
        fake_cohere.ERROR_HEADERS[429] = {k: v for k, v in fake_cohere.ERROR_HEADERS[429].items() if k != "set-cookie"}
    assert "hunter2-password" in str(raised.value)  # the SDK prints the headers
    [span] = finished()
    assert SECRET_SCANNER.violations == []
    assert "hunter2-password" not in repr([e.attributes for e in span.events]) + repr(span.status.description)
