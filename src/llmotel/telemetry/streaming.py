"""The stream half of an LLM span: chunks counted, timed, sampled into bounded chunk events, and the
span ended exactly once whatever way the stream stops (``finish_stream``).

``StreamingSpan`` is a mixin of ``LLMSpan`` (``telemetry.spans``), kept apart because it is a
responsibility of its own: the per-chunk hot path and the chunk-event budget.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from time import perf_counter_ns, time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.records import LLMCall, StreamState
from llmotel.telemetry._span_events import SdkEvent, event_appender
from llmotel.telemetry.errors import bounded_text

if TYPE_CHECKING:
    from llmotel.config import Settings
    from llmotel.telemetry.extractor import CallExtractor

__all__ = ["StreamingSpan"]


class StreamingSpan:
    """Stream methods of ``LLMSpan``, with the slots they own (``LLMSpan`` declares the others)."""

    __slots__ = (
        "_cap",
        "_count",
        "_done",
        "_fast_chunk",
        "_first_ns",
        "_last_chunk",
        "_last_ns",
        "_lock",
        "_next_sample",
        "_pending",
        "_reader",
        "_reader_type",
        "_samples",
        "_start_wall",
        "_state",
        "_stride",
        "_text_reader",
    )

    # set by ``LLMSpan.__init__``
    call: LLMCall
    extractor: CallExtractor
    span: trace.Span
    recording: bool
    capture: bool
    span_content: bool
    _done: bool
    _pending: dict[str, Any] | None
    _settings: Settings
    _start_ns: int
    # set by ``start_stream``
    _state: StreamState
    _lock: threading.Lock
    _fast_chunk: bool
    _start_wall: int
    _cap: int
    _count: int
    _first_ns: int | None
    _last_ns: int | None
    _last_chunk: Any
    _reader_type: type | None
    _reader: Any
    _next_sample: int
    _stride: int
    _samples: list[tuple[int, int, str | None]]
    _text_reader: Callable[[Any], str | None]

    _finish: Callable[[int, BaseException | None, dict[str, Any] | None, float | None, float | None], None]

    def start_stream(self) -> None:
        """The call returned a stream: from now on chunks arrive and the span ends with the stream."""
        call = self.call
        if not call.stream:
            call.stream = True
            if self.recording:  # set with the response attributes: one SDK call, not two
                pending = self._pending
                if pending is None:
                    pending = self._pending = {}
                pending[sc.GEN_AI_REQUEST_STREAM] = True
        call.stream_state = self._state = StreamState()
        self._lock = threading.Lock()
        # the default extractor's per-type chunk reader is called directly (no dispatch per chunk)
        self._fast_chunk = self.extractor.default_chunk
        self._text_reader = self.extractor.text_reader
        self._start_wall = time_ns() - (perf_counter_ns() - self._start_ns)  # chunk events' timestamps
        self._cap = self._settings.stream_chunk_events if self.recording else 0
        self._count = 0
        self._first_ns = None  # perf_counter_ns of the first chunk, and of the latest
        self._last_ns: int | None = None
        self._last_chunk: Any = None
        self._reader_type = None  # the default extractor's reader for this chunk type,
        self._reader = None  # called directly from the second chunk on (see ``_read_first``)
        self._next_sample = 0  # chunk 0 is always "sampled": it sets the time to first chunk
        self._stride = 1
        self._samples = []  # (index, perf_counter_ns, text), <= 2 x cap

    def chunk(self, chunk: Any) -> None:
        """One chunk reached the caller (hot path: counted, timed, sampled, read).

        Only the latest chunk is held (for the last chunk event): a sampled chunk leaves its text,
        not itself. Holding chunks costs the SDK more than it costs llmotel: a chunk that is not
        freed when the caller drops it makes the next one be built in memory the CPU has cold.
        """
        n = self._count
        self._count = n + 1
        now = perf_counter_ns()
        self._last_ns = now
        self._last_chunk = chunk
        if n == self._next_sample:
            self._sample(n, now, chunk)
        try:
            if type(chunk) is self._reader_type:
                self._reader(self.call, self._state, chunk, self.capture)
            else:
                self._read_first(chunk)
        except Exception as exc:
            internal_error("stream chunk", exc)

    def iterate(self, chunks: Iterator[Any], owner: object) -> Iterator[Any]:
        """``for chunk in stream`` over the stream's own iterator, with ``chunk()``'s body written
        inline: one Python call per chunk fewer on the commonest path (a ``for`` loop over an SDK
        stream). ``owner`` (the stream proxy) is kept alive by the loop, and with it the span's
        finalizer. A loop left early closes this generator, not the stream: the span then ends
        when the stream does (exhausted, closed, exited or collected).

        Keep the body in step with ``chunk()`` (tests/test_streams.py runs both paths)."""
        keep = owner  # noqa: F841
        hide = self.call.hide_chunk
        sample = self._sample
        try:
            for chunk in chunks:
                if hide is not None and hide(chunk):
                    self.hidden_chunk(chunk)
                    continue
                n = self._count
                self._count = n + 1
                now = perf_counter_ns()
                self._last_ns = now
                self._last_chunk = chunk
                if n == self._next_sample:
                    sample(n, now, chunk)
                try:
                    if type(chunk) is self._reader_type:
                        self._reader(self.call, self._state, chunk, self.capture)
                    else:
                        self._read_first(chunk)
                except Exception as exc:
                    internal_error("stream chunk", exc)
                yield chunk
        except GeneratorExit:  # the loop was left: the stream itself goes on
            raise
        except BaseException as exc:
            self.stream_stopped(exc)
            raise
        self.finish_stream("exhausted")

    def _read_first(self, chunk: Any) -> None:
        """A chunk of a type not seen yet: read through the extractor, whose default
        implementation picks a reader per type; that reader is then called directly."""
        state = self._state
        self.extractor.chunk(self.call, state, chunk, self.capture)
        if self._fast_chunk and state.reader_type is type(chunk):
            self._reader_type, self._reader = state.reader_type, state.reader

    def _sample(self, n: int, now: int, chunk: Any) -> None:
        """Keep chunk ``n``'s text for a chunk event: every ``stride``-th chunk, thinned as they come."""
        if n == 0:
            self._first_ns = now
        cap = self._cap
        if not cap:
            self._next_sample = -1
            return
        try:
            text = self._text_reader(chunk)
        except Exception as exc:
            internal_error("stream events", exc)
            text = None
        samples = self._samples
        samples.append((n, now, text))
        if len(samples) > 2 * cap:  # thin to every other sample; the end picks the final ``cap``
            del samples[1::2]
            self._stride *= 2
        stride = self._stride
        self._next_sample = (n // stride + 1) * stride

    def _chunk_text(self, chunk: Any) -> str | None:
        try:
            return self._text_reader(chunk)
        except Exception as exc:
            internal_error("stream events", exc)
            return None

    def hidden_chunk(self, chunk: Any) -> None:
        """A chunk read for its facts (usage) but not passed to the caller: not counted."""
        try:
            self.extractor.chunk(self.call, self._state, chunk, False)
        except Exception as exc:
            internal_error("stream chunk", exc)

    def finish_stream(self, stop_reason: str, exc: BaseException | None = None) -> None:
        """End the stream's span exactly once: ``stop_reason`` says how the stream ended.

        ``exc`` is a producer error (span status ERROR). A cancellation or an early stop by the
        consumer is not an error: it is recorded as ``llmotel.stream.completed=false``.
        """
        if not self._claim():
            return
        end_ns = perf_counter_ns()
        call = self.call
        state = self._state
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            exc = None
        if exc is not None and self.recording:
            try:
                self.extractor.error(call, exc)
            except Exception as internal:
                internal_error("error extraction", internal)
        extra: dict[str, Any] = {}
        ttfc = tpoc = None
        try:
            self.extractor.stream_end(call, state, self.capture)
        except Exception as internal:
            internal_error("stream end", internal)
        count, first_ns = self._count, self._first_ns
        if first_ns is not None:
            ttfc = (first_ns - self._start_ns) / 1e9
            if count > 1 and self._last_ns is not None:
                tpoc = (self._last_ns - first_ns) / 1e9 / (count - 1)
        if self.recording:
            try:
                extra[sc.LLMOTEL_STREAM_CHUNKS] = count
                extra[sc.LLMOTEL_STREAM_COMPLETED] = stop_reason == "exhausted"
                extra[sc.LLMOTEL_STREAM_STOP_REASON] = stop_reason
                if ttfc is not None:
                    extra[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
                emitted = self._chunk_events()
                extra[sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED] = count - emitted
            except Exception as internal:
                internal_error("stream events", internal)
        self._samples = []
        self._last_chunk = None
        if count and not call.finish_reasons and stop_reason != "exhausted":
            call.finish_reasons = ["error"]  # cut before any finish reason arrived (the conventions' "error")
        self._finish(end_ns, exc, extra, ttfc, tpoc)

    def stream_stopped(self, exc: BaseException) -> None:
        """The stream stopped with ``exc``: closed early (``GeneratorExit``), cancelled, or failed."""
        if isinstance(exc, GeneratorExit):
            self.finish_stream("closed", exc)
        elif isinstance(exc, asyncio.CancelledError):
            self.finish_stream("cancelled", exc)
        else:
            self.finish_stream("error", exc)

    def _claim(self) -> bool:
        """Take the right to end the stream's span (True exactly once, thread-safe)."""
        lock = getattr(self, "_lock", None)  # set by ``start_stream``
        if lock is None or self._done:
            return False
        with lock:
            done = self._done
            self._done = True
        return not done

    def _chunk_events(self) -> int:
        """Add the sampled chunk events (first, last and an even spread) within the event budget."""
        cap = self._cap
        count = self._count
        samples = self._samples
        if not cap or count == 0 or not samples:
            return 0
        last_index = count - 1
        if samples[-1][0] != last_index and self._last_ns is not None:
            samples.append((last_index, self._last_ns, self._chunk_text(self._last_chunk)))
        budget = min(cap, _event_budget(self.span))
        if len(samples) > budget:
            if budget <= 0:
                return 0
            if budget == 1:
                samples = samples[:1]
            else:  # every k-th sample (even gaps from the first), then the last
                body = samples[:-1]
                k = -(-len(body) // (budget - 1))
                samples = [*body[::k], samples[-1]]
        reasons = self.call.finish_reasons
        final_reason = next((r for r in reversed(reasons) if r), None) if reasons else None
        capture = self.span_content
        span = self.span
        append = event_appender(span, 4)  # the SDK's own span: the events are added as built
        offset = self._start_wall - self._start_ns
        for index, event_ns, text in samples:
            event: dict[str, Any] = {
                sc.EVENT_CHUNK_INDEX: index,
                sc.EVENT_CHUNK_SIZE: len(text) if text else 0,
            }
            if index == last_index and final_reason:
                event[sc.EVENT_CHUNK_FINISH_REASON] = final_reason
            if capture and text:
                event[sc.EVENT_CHUNK_CONTENT] = bounded_text(text, self._settings.content_max_length)
            if append is not None:
                append(SdkEvent(sc.EVENT_STREAM_CHUNK, event, offset + event_ns))
            else:
                span.add_event(sc.EVENT_STREAM_CHUNK, event, timestamp=offset + event_ns)
        return len(samples)


def _event_budget(span: trace.Span) -> int:
    """How many more events the span can take before the SDK starts evicting the oldest ones."""
    limits = getattr(span, "_limits", None)
    max_events = getattr(limits, "max_events", None)
    if not isinstance(max_events, int):
        return 1 << 30
    events = getattr(span, "_events", None)
    used = len(events) if events is not None else 0
    return max(0, max_events - used)
