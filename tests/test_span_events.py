"""Chunk events added to the SDK's own span without ``Span.add_event`` re-checking them
(``telemetry/_span_events.py``) come out exactly as the SDK's public path makes them: same names,
attributes, timestamps and dropped counts, on every OpenTelemetry release of the matrix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext

import llmotel
from llmotel import semconv as sc
from llmotel.telemetry._span_events import event_appender


def provider_with(limits: SpanLimits | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits) if limits is not None else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def chunks(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"choices": [{"index": 0, "delta": {"content": f"t{i}" * (i % 3)}, "finish_reason": None}]}
    yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def stream_events(provider: TracerProvider, exporter: InMemorySpanExporter, n: int) -> list[tuple[Any, ...]]:
    @llmotel.trace_chat(provider="openai", model="m", tracer_provider=provider)
    def stream() -> Iterator[dict[str, Any]]:
        yield from chunks(n)

    for _ in stream():
        pass
    (span,) = exporter.get_finished_spans()
    start = span.start_time or 0
    return [(e.name, dict(e.attributes or {}), e.timestamp - start >= 0, e.dropped_attributes) for e in span.events]


@pytest.mark.parametrize("capture", [False, True])
def test_chunk_events_on_the_sdk_span_are_what_add_event_makes(env: Any, capture: bool) -> None:
    if capture:
        env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    fast, fast_exporter = provider_with()
    # a (large) attribute-length limit: the events go through Span.add_event
    slow, slow_exporter = provider_with(SpanLimits(max_attribute_length=1_000_000))
    fast_events = stream_events(fast, fast_exporter, 40)
    slow_events = stream_events(slow, slow_exporter, 40)
    assert fast_events == slow_events
    assert 2 <= len(fast_events) <= 10  # first, last and a spread, within LLMOTEL_STREAM_CHUNK_EVENTS
    assert {e[0] for e in fast_events} == {sc.EVENT_STREAM_CHUNK}
    assert fast_events[-1][1][sc.EVENT_CHUNK_FINISH_REASON] == "stop"
    assert all(ok and dropped == 0 for _, _, ok, dropped in fast_events)
    assert (sc.EVENT_CHUNK_CONTENT in fast_events[1][1]) is capture


def test_the_appender_is_the_sdk_spans_own_and_only_where_no_limit_could_cut_an_event() -> None:
    provider, _ = provider_with()
    span = provider.get_tracer("t").start_span("s")
    append = event_appender(span, 4)
    assert append is not None and append == span._add_event  # type: ignore[attr-defined]
    span.end()
    cut_text, _ = provider_with(SpanLimits(max_attribute_length=64))
    assert event_appender(cut_text.get_tracer("t").start_span("s"), 4) is None
    few, _ = provider_with(SpanLimits(max_event_attributes=3))
    assert event_appender(few.get_tracer("t").start_span("s"), 4) is None
    assert event_appender(few.get_tracer("t").start_span("s"), 3) is not None
    assert event_appender(NonRecordingSpan(SpanContext(1, 2, False)), 4) is None


def test_with_too_few_event_attributes_allowed_the_sdk_drops_as_it_would(env: Any) -> None:
    provider, exporter = provider_with(SpanLimits(max_event_attributes=1))
    events = stream_events(provider, exporter, 5)
    assert all(len(attributes) == 1 and dropped >= 1 for _, attributes, _, dropped in events)


def test_an_ended_span_takes_no_event_through_the_appender() -> None:
    provider, exporter = provider_with()
    span = provider.get_tracer("t").start_span("s")
    append = event_appender(span, 4)
    assert append is not None
    span.end()
    from llmotel.telemetry._span_events import SdkEvent

    append(SdkEvent("late", {"a": 1}, 1))
    (finished,) = exporter.get_finished_spans()
    assert finished.events == ()
