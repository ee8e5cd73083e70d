"""Reading the spans the suite's in-memory exporter collected (see conftest.py).

``finished()`` (conftest) is every span that ended during the test; these helpers pick spans out of
it by name or parentage and read their attributes, checking what every caller would check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanKind, StatusCode

from conftest import finished
from llmotel import semconv as sc

CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)
"""The attributes that carry message content (on the span only when content capture puts it there)."""


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def named(name: str, spans: list[ReadableSpan] | None = None) -> list[ReadableSpan]:
    """The spans called ``name`` among ``spans`` (default: every finished span)."""
    return [s for s in (spans if spans is not None else finished()) if s.name == name]


def one(name: str, spans: list[ReadableSpan] | None = None) -> ReadableSpan:
    """The only span called ``name`` among ``spans`` (default: every finished span)."""
    found = named(name, spans)
    assert len(found) == 1, f"expected one {name!r} span, got {[s.name for s in finished()]}"
    return found[0]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan] | None = None) -> ReadableSpan | None:
    """The span among ``spans`` (default: every finished span) that is ``span``'s parent, if any."""
    if span.parent is None:
        return None
    for candidate in spans if spans is not None else finished():
        if candidate.context.span_id == span.parent.span_id:
            return candidate
    return None


def is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


def stream_attrs(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes without time to first chunk, after checking it is within the span."""
    values = attrs(span)
    ttfc = values.pop(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert span.start_time is not None and span.end_time is not None
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9
    return values


def stream_end(chunks: int, completed: bool, reason: str) -> dict[str, Any]:
    """The attributes a stream records when it ends (no chunk event dropped)."""
    return {
        sc.LLMOTEL_STREAM_CHUNKS: chunks,
        sc.LLMOTEL_STREAM_COMPLETED: completed,
        sc.LLMOTEL_STREAM_STOP_REASON: reason,
        sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED: 0,
    }


def spy_on_status_errors(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Record every status error an SDK client builds, so a test can prove the caller got that object."""
    made: list[BaseException] = []
    build = client._make_status_error_from_response

    def spy(response: Any) -> Any:
        error = build(response)
        made.append(error)
        return error

    monkeypatch.setattr(client, "_make_status_error_from_response", spy)
    return made


def assert_unwrapped(targets: Iterable[tuple[Any, str]]) -> None:
    """None of ``(owner, name)`` is an instrumentor's wrapper any more."""
    for owner, name in targets:
        assert not isinstance(vars(owner)[name], wrapt.FunctionWrapper), (
            f"{getattr(owner, '__qualname__', owner)}.{name}"
        )


def client_span_under(parent: Span, name: str = "chat gpt-4o") -> ReadableSpan:
    """The finished span called ``name``: a CLIENT span and a child of ``parent``."""
    span = next(s for s in finished() if s.name == name)
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    return span


@contextmanager
def instrumented(instrumentor: Any, **options: Any) -> Iterator[Any]:
    """``instrumentor`` instrumented inside the block, undone however the block ends."""
    instrumentor.instrument(**options)
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


def only_client_span(name: str) -> ReadableSpan:
    """The only finished span: an llmotel CLIENT span called ``name``."""
    spans = finished()
    assert [s.name for s in spans] == [name]
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "llmotel"
    return span


def chunk_events(span: ReadableSpan) -> list[dict[str, Any]]:
    """The attributes of each of ``span``'s events, which must all be stream chunk events."""
    assert all(e.name == sc.EVENT_STREAM_CHUNK for e in span.events)
    return [dict(e.attributes or {}) for e in span.events]


def chunk_event_tuples(span: ReadableSpan) -> list[tuple[int, int, str | None]]:
    """(index, size, finish reason) of each of ``span``'s events, which must all be chunk events."""
    assert all(e.name == sc.EVENT_STREAM_CHUNK for e in span.events)
    return [
        (
            e.attributes[sc.EVENT_CHUNK_INDEX],
            e.attributes[sc.EVENT_CHUNK_SIZE],
            e.attributes.get(sc.EVENT_CHUNK_FINISH_REASON),
        )  # type: ignore[misc]
        for e in span.events
        if e.attributes is not None
    ]


def assert_ok(span: ReadableSpan) -> None:
    """``span`` ended without an error: status unset, no exception event."""
    assert span.status.status_code is StatusCode.UNSET
    assert not [e for e in span.events if e.name == "exception"]


def exception_event(span: ReadableSpan) -> dict[str, Any]:
    """The attributes of ``span``'s one exception event."""
    [event] = [e for e in span.events if e.name == "exception"]
    return dict(event.attributes or {})


def assert_failed(span: ReadableSpan, error: BaseException, error_type: str | None = None) -> None:
    """``span`` ended with an ERROR status (``"<error's class name>: ..."``) and one exception event
    of ``error_type`` (default: the error's module-qualified class name) with the error's message."""
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert span.status.description.startswith(type(error).__name__ + ": ")
    event = exception_event(span)
    assert event["exception.type"] == (error_type or f"{type(error).__module__}.{type(error).__qualname__}")
    assert event["exception.message"] == str(error)
