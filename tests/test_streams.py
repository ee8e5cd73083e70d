"""Streams: every exit path ends exactly one span with the right status, for sync and async.

The matrix (ids are the stop reasons a user sees as ``llmotel.stream.stop_reason``):
exhausted; break then close; ``with`` exit; explicit close; never iterated then GC; partly
iterated then GC; producer raises; consumer raises; cancelled; consumed on another thread/task.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import llmotel
from conftest import finished, metric_points
from llmotel import semconv as sc


class ProducerError(Exception):
    pass


class ConsumerError(Exception):
    pass


def chunk(i: int, n: int, reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "model": "gpt-stream",
        "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": reason if i == n - 1 else None}],
    }


def usage_chunk() -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "model": "gpt-stream",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5},
    }


tracer = trace.get_tracer("tests.streams")


@llmotel.trace_chat(provider="openai", model="gpt-stream")
def sync_stream(n: int = 5, fail_at: int | None = None, usage: bool = False) -> Iterator[dict[str, Any]]:
    for i in range(n):
        if i == fail_at:
            raise ProducerError(f"broke at {i}")
        with tracer.start_as_current_span(f"produce {i}"):
            pass
        yield chunk(i, n)
    if usage:
        yield usage_chunk()


@llmotel.trace_chat(provider="openai", model="gpt-stream")
async def async_stream(
    n: int = 5, fail_at: int | None = None, usage: bool = False, gate: asyncio.Event | None = None
) -> AsyncIterator[dict[str, Any]]:
    for i in range(n):
        if i == fail_at:
            raise ProducerError(f"broke at {i}")
        if gate is not None and i == 2:
            await gate.wait()
        with tracer.start_as_current_span(f"produce {i}"):
            await asyncio.sleep(0)
        yield chunk(i, n)
    if usage:
        yield usage_chunk()


def llm_span() -> ReadableSpan:
    spans = [s for s in finished() if s.name == "chat gpt-stream"]
    assert len(spans) == 1, [s.name for s in finished()]
    return spans[0]


def assert_ended(reason: str, chunks: int, *, error: bool = False) -> ReadableSpan:
    span = llm_span()
    attrs = dict(span.attributes or {})
    assert attrs[sc.LLMOTEL_STREAM_STOP_REASON] == reason
    assert attrs[sc.LLMOTEL_STREAM_CHUNKS] == chunks
    assert attrs[sc.LLMOTEL_STREAM_COMPLETED] is (reason == "exhausted")
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    if error:
        assert span.status.status_code is StatusCode.ERROR
        assert attrs[sc.ERROR_TYPE] == f"{__name__}.ProducerError"
        assert [e.name for e in span.events if e.name == "exception"] == ["exception"]
    else:
        assert span.status.status_code is StatusCode.UNSET
        assert sc.ERROR_TYPE not in attrs
        assert all(e.name != "exception" for e in span.events)
    return span


@pytest.fixture(autouse=True)
def _no_context_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    gc.collect()
    bad = [r.getMessage() for r in caplog.records if "detach" in r.getMessage() or "Context" in r.getMessage()]
    assert bad == []
    assert trace.get_current_span() is trace.INVALID_SPAN


# --- sync matrix -----------------------------------------------------------------------------------


def test_sync_exhausted_records_usage_ttfc_and_finish_reason() -> None:
    chunks = list(sync_stream(5, usage=True))
    assert len(chunks) == 6
    span = assert_ended("exhausted", 6)
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-s"
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-stream"
    assert 0 <= attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < 5
    assert sc.LLMOTEL_USAGE_UNKNOWN not in attrs


def test_sync_break_then_close() -> None:
    stream = sync_stream(5)
    for i, _ in enumerate(stream):
        if i == 1:
            break
    assert finished() == [] or all(s.name != "chat gpt-stream" for s in finished())
    stream.close()
    assert_ended("closed", 2)


def test_sync_with_exit() -> None:
    with sync_stream(5) as stream:
        for i, _ in enumerate(stream):
            if i == 2:
                break
    assert_ended("context_exit", 3)


def test_sync_close_before_reading() -> None:
    stream = sync_stream(5)
    next(stream)
    stream.close()
    stream.close()  # idempotent: still one span
    assert_ended("closed", 1)


def test_sync_never_iterated_then_garbage_collected() -> None:
    stream = sync_stream(5)
    del stream
    gc.collect()
    span = assert_ended("garbage_collected", 0)
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in (span.attributes or {})


def test_sync_partly_iterated_then_garbage_collected() -> None:
    stream = sync_stream(5)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    assert_ended("garbage_collected", 2)


def test_sync_producer_raises_mid_stream() -> None:
    received = []
    with pytest.raises(ProducerError, match="broke at 3") as info:
        for c in sync_stream(5, fail_at=3):
            received.append(c)
    assert len(received) == 3
    assert info.value.__traceback__ is not None
    assert_ended("error", 3, error=True)


def test_sync_consumer_raises_inside_the_loop() -> None:
    def consume() -> None:
        for i, _ in enumerate(sync_stream(5)):
            if i == 1:
                raise ConsumerError("mine")

    with pytest.raises(ConsumerError):
        consume()
    gc.collect()
    assert_ended("garbage_collected", 2)


def test_sync_consumer_raises_inside_with() -> None:
    with pytest.raises(ConsumerError), sync_stream(5) as stream:
        next(stream)
        raise ConsumerError("mine")
    assert_ended("context_exit", 1)


def test_sync_throw_into_generator_is_a_producer_error() -> None:
    stream = sync_stream(5)
    next(stream)
    with pytest.raises(ProducerError):
        stream.throw(ProducerError("thrown"))
    assert_ended("error", 1, error=True)


def test_sync_consumed_on_another_thread() -> None:
    stream = sync_stream(4)
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.extend(stream))
    worker.start()
    worker.join()
    assert len(out) == 4
    assert_ended("exhausted", 4)


def test_sync_close_racing_on_two_threads_ends_one_span() -> None:
    stream = sync_stream(5)
    next(stream)
    barrier = threading.Barrier(4)

    def close() -> None:
        barrier.wait()
        stream.close()

    threads = [threading.Thread(target=close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_ended("closed", 1)


# --- async matrix ----------------------------------------------------------------------------------


async def test_async_exhausted() -> None:
    chunks = [c async for c in async_stream(5, usage=True)]
    assert len(chunks) == 6
    span = assert_ended("exhausted", 6)
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5  # type: ignore[index]


async def test_async_break_then_aclose() -> None:
    stream = async_stream(5)
    async for _ in stream:
        break
    await stream.aclose()
    assert_ended("closed", 1)


async def test_async_with_exit() -> None:
    async with async_stream(5) as stream:  # type: ignore[attr-defined]
        async for i, _ in _aenumerate(stream):
            if i == 2:
                break
    assert_ended("context_exit", 3)


async def test_async_aclose_twice() -> None:
    stream = async_stream(5)
    await stream.__anext__()
    await stream.aclose()
    await stream.aclose()
    assert_ended("closed", 1)


async def test_async_never_iterated_then_garbage_collected() -> None:
    stream = async_stream(5)
    del stream
    gc.collect()
    assert_ended("garbage_collected", 0)


async def test_async_partly_iterated_then_garbage_collected() -> None:
    stream = async_stream(5)
    await stream.__anext__()
    del stream
    gc.collect()
    await asyncio.sleep(0)  # let the loop finalize the abandoned async generator
    assert_ended("garbage_collected", 1)


async def test_async_producer_raises_mid_stream() -> None:
    with pytest.raises(ProducerError):
        async for _ in async_stream(5, fail_at=2):
            pass
    assert_ended("error", 2, error=True)


async def test_async_consumer_raises_inside_the_loop() -> None:
    async def consume() -> None:
        async for _ in async_stream(5):
            raise ConsumerError("mine")

    with pytest.raises(ConsumerError):
        await consume()
    gc.collect()
    await asyncio.sleep(0)
    assert_ended("garbage_collected", 1)


async def test_async_task_cancelled_mid_stream() -> None:
    gate = asyncio.Event()  # never set: the producer waits at chunk 2 until cancelled
    reached = asyncio.Event()

    async def consume() -> None:
        async for i, _ in _aenumerate(async_stream(5, gate=gate)):
            if i == 1:
                reached.set()

    task = asyncio.create_task(consume())
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_ended("cancelled", 2)


async def test_async_consumed_in_another_task() -> None:
    stream = async_stream(4)

    async def consume() -> list[Any]:
        return [c async for c in stream]

    assert len(await asyncio.create_task(consume())) == 4
    assert_ended("exhausted", 4)


async def _aenumerate(stream: Any) -> AsyncIterator[tuple[int, Any]]:
    i = 0
    async for item in stream:
        yield i, item
        i += 1


# --- context hygiene ---------------------------------------------------------------------------------


def test_producer_spans_are_children_consumer_spans_are_not() -> None:
    with tracer.start_as_current_span("chain"):
        for i, _ in enumerate(sync_stream(3)):
            assert trace.get_current_span().get_span_context().span_id != 0  # the chain span
            with tracer.start_as_current_span(f"consume {i}"):
                pass
    spans = {s.name: s for s in finished()}
    llm = spans["chat gpt-stream"]
    chain = spans["chain"]
    for i in range(3):
        assert spans[f"produce {i}"].parent.span_id == llm.context.span_id  # type: ignore[union-attr]
        assert spans[f"consume {i}"].parent.span_id == chain.context.span_id  # type: ignore[union-attr]
    assert llm.parent.span_id == chain.context.span_id  # type: ignore[union-attr]


async def test_async_producer_spans_are_children_consumer_spans_are_not() -> None:
    with tracer.start_as_current_span("chain"):
        async for i, _ in _aenumerate(async_stream(3)):
            with tracer.start_as_current_span(f"consume {i}"):
                pass
    spans = {s.name: s for s in finished()}
    llm = spans["chat gpt-stream"]
    for i in range(3):
        assert spans[f"produce {i}"].parent.span_id == llm.context.span_id  # type: ignore[union-attr]
        assert spans[f"consume {i}"].parent.span_id == spans["chain"].context.span_id  # type: ignore[union-attr]


# --- chunk events --------------------------------------------------------------------------------------


def test_chunk_events_are_bounded_and_keep_first_and_last() -> None:
    list(sync_stream(2000))
    span = llm_span()
    events = [e for e in span.events if e.name == sc.EVENT_STREAM_CHUNK]
    indexes = [e.attributes[sc.EVENT_CHUNK_INDEX] for e in events]  # type: ignore[index]
    assert 2 <= len(events) <= 10
    assert indexes[0] == 0
    assert indexes[-1] == 1999
    assert indexes == sorted(indexes)
    assert events[-1].attributes[sc.EVENT_CHUNK_FINISH_REASON] == "stop"  # type: ignore[index]
    assert all(e.attributes[sc.EVENT_CHUNK_SIZE] > 0 for e in events)  # type: ignore[index]
    assert all(sc.EVENT_CHUNK_CONTENT not in (e.attributes or {}) for e in events)
    gaps = [b - a for a, b in itertools.pairwise(indexes[:-1])]
    assert len(set(gaps)) == 1  # evenly spread between first and last
    attrs = dict(span.attributes or {})
    assert attrs[sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED] == 2000 - len(events)
    assert span.dropped_events == 0
    timestamps = [e.timestamp for e in events]
    assert timestamps == sorted(timestamps)
    assert span.start_time <= timestamps[0] and timestamps[-1] <= span.end_time  # type: ignore[operator]


def test_chunk_event_cap_is_configurable_and_zero_means_none(env: Any) -> None:
    env(LLMOTEL_STREAM_CHUNK_EVENTS="4")
    list(sync_stream(100))
    env(LLMOTEL_STREAM_CHUNK_EVENTS="0")
    list(sync_stream(100))
    first, second = [s for s in finished() if s.name == "chat gpt-stream"]
    kept = [e.attributes[sc.EVENT_CHUNK_INDEX] for e in first.events if e.name == sc.EVENT_STREAM_CHUNK]  # type: ignore[index]
    assert 3 <= len(kept) <= 4
    assert (kept[0], kept[-1]) == (0, 99)
    assert second.events == ()
    assert second.attributes[sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED] == 100  # type: ignore[index]


def test_chunk_events_never_evict_other_events(env: Any) -> None:
    env(OTEL_SPAN_EVENT_COUNT_LIMIT="10", LLMOTEL_STREAM_CHUNK_EVENTS="16")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    @llmotel.trace_chat(provider="openai", model="m", tracer_provider=provider)
    def gen() -> Iterator[str]:
        span = trace.get_current_span()
        for i in range(8):
            span.add_event(f"callback {i}")
        yield from ["a"] * 50

    list(gen())
    [span] = exporter.get_finished_spans()
    names = [e.name for e in span.events]
    assert names[:8] == [f"callback {i}" for i in range(8)]
    assert len(names) == 10 and span.dropped_events == 0


def test_chunk_content_only_with_capture(capture_content: None) -> None:
    list(sync_stream(3))
    span = llm_span()
    contents = [e.attributes[sc.EVENT_CHUNK_CONTENT] for e in span.events]  # type: ignore[index]
    assert contents == ["tok0 ", "tok1 ", "tok2 "]
    import json

    assert json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES]) == [  # type: ignore[arg-type, index]
        {"role": "assistant", "parts": [{"type": "text", "content": "tok0 tok1 tok2 "}], "finish_reason": "stop"}
    ]


def test_stream_metrics_ttfc_and_time_per_chunk() -> None:
    list(sync_stream(5))
    [ttfc] = metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    [tpoc] = metric_points(sc.METRIC_TIME_PER_OUTPUT_CHUNK)
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert ttfc.count == tpoc.count == duration.count == 1
    assert ttfc.sum <= duration.sum


def test_proxy_keeps_the_stream_type_surface() -> None:
    import types

    stream = sync_stream(2)
    assert isinstance(stream, types.GeneratorType)
    assert stream.gi_frame is not None  # type: ignore[attr-defined]
    assert iter(stream) is stream
    stream.close()


class ChunkIterator:
    """A hand-written stream class that is its own iterator (not a generator), with ``close()``
    and a return value, as some clients' streams are."""

    def __init__(self, n: int) -> None:
        self.n, self.i, self.closed = n, 0, False

    def __iter__(self) -> ChunkIterator:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.closed or self.i == self.n:
            raise StopIteration("done")
        self.i += 1
        return chunk(self.i - 1, self.n)

    def close(self) -> None:
        self.closed = True


@llmotel.trace_chat(provider="openai", model="gpt-stream")
def iterator_stream(n: int = 3) -> ChunkIterator:
    return ChunkIterator(n)


def test_iterator_class_stream_is_its_own_iterator_and_keeps_its_return_value() -> None:
    stream = iterator_stream(3)
    assert iter(stream) is stream
    assert isinstance(stream, ChunkIterator)

    def relay() -> Iterator[dict[str, Any]]:
        result = yield from stream
        assert result == "done"

    assert len(list(relay())) == 3
    assert_ended("exhausted", 3)


def test_iterator_class_stream_relayed_then_closed_closes_the_stream() -> None:
    """``yield from`` over the proxy: closing the relaying generator (a client that went away)
    closes the stream and ends its span as closed, not when it is collected."""
    stream = iterator_stream(5)

    def relay() -> Iterator[dict[str, Any]]:
        yield from stream

    forwarding = relay()
    next(forwarding)
    forwarding.close()
    assert stream.closed
    assert_ended("closed", 1)
