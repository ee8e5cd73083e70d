"""Attribute names and rules current as of the GenAI conventions in late 2026: ``error`` finish
reasons for cut streams, ``cache_write`` under the opt-in, token metrics of failed calls,
``gen_ai.output.type``, ``gen_ai.request.choice.count`` only when not 1, and span content cut to
the SDK's attribute length limit so it stays valid JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmotel
from conftest import finished, metric_points
from helpers.spans import attrs
from llmotel import semconv as sc

REASONS = sc.GEN_AI_RESPONSE_FINISH_REASONS


def chunk(index: int, text: str, reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": index, "delta": {"content": text}, "finish_reason": reason}],
    }


@llmotel.trace_chat(provider="openai", model="m")
def two_choices(cut: bool) -> Iterator[dict[str, Any]]:
    yield chunk(0, "a")
    yield chunk(1, "b", "stop")
    if cut:
        raise ConnectionError("cut")
    yield chunk(0, "", "length")


@llmotel.trace_chat(provider="openai", model="m")
def one_choice() -> Iterator[dict[str, Any]]:
    yield chunk(0, "a")
    yield chunk(0, "b")


def test_a_choice_whose_reason_never_arrived_reports_error() -> None:
    with pytest.raises(ConnectionError):
        list(two_choices(True))
    assert list(two_choices(False))
    cut, whole = finished()
    assert attrs(cut)[REASONS] == ("error", "stop")
    assert attrs(whole)[REASONS] == ("length", "stop")


def test_a_stream_stopped_early_reports_error() -> None:
    stream = one_choice()
    next(stream)
    stream.close()
    for _ in one_choice():
        break
    assert list(one_choice())
    closed, broken_off, exhausted = finished()
    assert attrs(closed)[REASONS] == ("error",) and attrs(broken_off)[REASONS] == ("error",)
    assert REASONS not in attrs(exhausted)  # read to the end, the provider never sent one: none invented


@llmotel.trace_chat(provider="anthropic", model="claude")
def cached_call() -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "model": "claude",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "ok"}],
        "usage": {
            "input_tokens": 3,
            "output_tokens": 2,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 7,
        },
    }


def test_cache_write_only_under_the_opt_in(env: Any) -> None:
    cached_call()
    env(OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental")
    cached_call()
    default, latest = (attrs(s) for s in finished())
    assert default[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 100
    assert sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS not in default
    assert (
        latest[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == latest[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 100
    )
    assert default[sc.GEN_AI_USAGE_INPUT_TOKENS] == latest[sc.GEN_AI_USAGE_INPUT_TOKENS] == 110


@llmotel.trace_chat(provider="openai", model="m")
def usage_then_failure() -> Iterator[dict[str, Any]]:
    yield chunk(0, "a")
    yield {"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}
    raise ConnectionError("cut after usage")


def test_token_usage_metrics_of_a_failed_call_that_reported_usage() -> None:
    with pytest.raises(ConnectionError):
        list(usage_then_failure())
    points = metric_points("gen_ai.client.token.usage")
    by_type = {p.attributes["gen_ai.token.type"]: p for p in points}
    assert (by_type["input"].sum, by_type["output"].sum) == (12, 5)
    assert {p.attributes["error.type"] for p in points} == {"ConnectionError"}


@llmotel.trace_chat(provider="openai", model="m")
def plain(**kwargs: Any) -> dict[str, Any]:
    return {"id": "r", "model": "m", "choices": [{"index": 0, "message": {"content": "{}"}, "finish_reason": "stop"}]}


class Answer:
    """Stands in for a pydantic model class given to ``.parse(response_format=...)``."""


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, None),
        ({"response_format": {"type": "json_object"}}, "json"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "a"}}}, "json"),
        ({"response_format": {"type": "text"}}, "text"),
        ({"response_format": Answer}, "json"),
        ({"modalities": ["text", "audio"]}, "speech"),
        ({"modalities": ["text"]}, "text"),
        ({"response_format": {"type": "something-new"}}, None),
    ],
)
def test_output_type(kwargs: dict[str, Any], expected: str | None) -> None:
    plain(**kwargs)
    [span] = finished()
    assert attrs(span).get(sc.GEN_AI_OUTPUT_TYPE) == expected


@pytest.mark.parametrize(("n", "expected"), [(None, None), (1, None), (3, 3)])
def test_choice_count_only_when_not_one(n: int | None, expected: int | None) -> None:
    plain(**({} if n is None else {"n": n}))
    [span] = finished()
    assert attrs(span).get(sc.GEN_AI_REQUEST_CHOICE_COUNT) == expected


@pytest.mark.parametrize("limits", ["span_limits", "env"])
def test_content_stays_valid_json_under_the_sdks_attribute_limit(
    limits: str, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    if limits == "env":
        monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "2048")
        provider = TracerProvider()
    else:
        provider = TracerProvider(span_limits=SpanLimits(max_attribute_length=2048))
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    fn = llmotel.trace_chat(provider="openai", model="m", tracer_provider=provider)(plain.__wrapped__)
    messages = [{"role": "user", "content": f"message {i}: " + "x" * 900} for i in range(8)]
    fn(messages=messages)
    [span] = spans.get_finished_spans()
    text = span.attributes[sc.GEN_AI_INPUT_MESSAGES]  # type: ignore[index]
    assert isinstance(text, str) and len(text) <= 2048
    decoded = json.loads(text)  # the SDK did not cut it mid-way
    assert decoded and decoded[-1]["parts"][0]["content"].startswith("message 7")  # the newest kept
