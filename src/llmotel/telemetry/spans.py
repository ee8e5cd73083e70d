"""The one place where llmotel starts and ends spans, attaches and detaches context, and records
metrics.

``Telemetry.start(...)`` turns a request record into an ``LLMSpan``; the wrappers then call
``LLMSpan.end(result)`` / ``fail(exc)`` for a plain call, or ``chunk(chunk)`` and ``finish_stream``
for a stream. Context is attached only around code that runs on behalf of the LLM call (the call
itself, each ``next()`` of a stream) and always detached in the same frame, so it never leaks
across a ``yield`` and never produces "Failed to detach context" errors.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from time import perf_counter_ns, time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel._version import __version__
from llmotel.config import SettingsHolder, settings
from llmotel.extract import Extractor
from llmotel.extract import request as request_extract
from llmotel.extract.response import read_response
from llmotel.records import LLMCall, StreamState, Usage, span_name
from llmotel.telemetry import attributes as attrs_
from llmotel.telemetry.metrics import GenAIMetrics

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
INSTRUMENTATION_NAME = "llmotel"

INFERENCE_SPAN_KEY = otel_context.create_key("opentelemetry.genai.inference_span")
"""Context key holding the ``LLMSpan`` a call runs under (de-duplication, callback routing)."""
CHAIN_RUN_KEY = otel_context.create_key("llmotel.chain_run")
"""Context key holding the ``ChainRun`` (chain span) the code runs under."""

EVENT_LOCK = threading.Lock()
"""Serializes callback events so their order on a span is the order they fired, across threads."""

_STATUS_MAX = 512


def _runtime_context_var() -> ContextVar[otel_context.Context] | None:
    """The ContextVar behind OpenTelemetry's default runtime context, if that is the one in use.

    ``opentelemetry.context.attach``/``detach`` go through three Python frames to reach it; on
    a stream's per-chunk path (and every call) llmotel sets and resets it directly. Any other
    runtime context (``OTEL_PYTHON_CONTEXT``) is used through the API.
    """
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

        runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
        var = getattr(runtime, "_current_context", None)
        if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar):
            return var
    except Exception:  # pragma: no cover - an OpenTelemetry API without these internals
        return None
    return None


_CONTEXT_VAR = _runtime_context_var()

attach_context: Callable[[otel_context.Context], object]
"""Make ``ctx`` the current context; returns the token for ``detach_context``."""
current_context: Callable[[], otel_context.Context]
"""The current context (``opentelemetry.context.get_current``)."""

reset_context: Callable[[Any], object]
"""``detach_context`` without its error handling, for hot paths that catch errors themselves and
then call ``detach_context`` (which logs them the API's way)."""

if _CONTEXT_VAR is not None:
    attach_context = _CONTEXT_VAR.set
    current_context = _CONTEXT_VAR.get
    reset_context = _reset = _CONTEXT_VAR.reset

    def detach_context(token: object) -> None:
        """Restore the context ``token`` replaced (always in the frame that attached)."""
        try:
            _reset(token)  # type: ignore[arg-type]
        except Exception:  # the API's own handling: logged, never raised
            otel_context.detach(token)  # type: ignore[arg-type]

else:  # pragma: no cover - a non-default runtime context
    attach_context = otel_context.attach
    current_context = otel_context.get_current
    reset_context = otel_context.detach

    def detach_context(token: object) -> None:
        """Restore the context ``token`` replaced (always in the frame that attached)."""
        otel_context.detach(token)  # type: ignore[arg-type]


def inside_inference(ctx: otel_context.Context | None = None) -> bool:
    """True when the current span is an llmotel inference span (a call nested directly in another).

    A call made from code that started its own span in between (a tool, a chain step) is not
    "directly" nested and gets its own span.
    """
    if ctx is None:
        ctx = otel_context.get_current()
    outer: Any = ctx.get(INFERENCE_SPAN_KEY)
    return outer is not None and outer.span is trace.get_current_span(ctx)


class InferenceMarker(weakref.ref["LLMSpan"]):
    """What ``INFERENCE_SPAN_KEY`` holds: a weak reference to the ``LLMSpan``, and its span.

    Weak, so an ``LLMSpan`` (which holds its context) is not part of a reference cycle and is
    freed by reference counting, even in services that run with the cyclic collector off.
    Made with ``InferenceMarker(llm)`` then ``.span = llm.span`` (no Python ``__init__``: this
    runs on every call).
    """

    __slots__ = ("span",)
    span: trace.Span

    @property
    def llm(self) -> LLMSpan | None:
        """The LLM span, while it is alive."""
        return self()


def inference_context(llm: LLMSpan, base: otel_context.Context | None = None) -> otel_context.Context:
    """The context an LLM call runs in: ``base`` (default: current) plus the span and the marker.

    Built with one copy (``set_value`` twice would make two); ``Context`` forbids item assignment,
    so the new, not yet shared, copy is filled through ``dict.__setitem__``.
    """
    ctx = otel_context.Context(base if base is not None else otel_context.get_current())
    dict.__setitem__(ctx, _SPAN_KEY, llm.span)
    dict.__setitem__(ctx, INFERENCE_SPAN_KEY, llm.marker)
    return ctx


def active_llm_span() -> LLMSpan | None:
    """The llmotel inference span the current code runs under, if any."""
    value = otel_context.get_value(INFERENCE_SPAN_KEY)
    return value.llm if isinstance(value, InferenceMarker) else None


class Telemetry:
    """Tracer and metric instruments for one pair of providers (the global ones by default)."""

    __slots__ = ("metrics", "tracer")

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider, schema_url=SCHEMA_URL)
        meter = otel_metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider, schema_url=SCHEMA_URL)
        self.metrics = GenAIMetrics(meter)

    def start(
        self,
        call: LLMCall,
        extractor: Extractor,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        parent: otel_context.Context | None = None,
    ) -> LLMSpan:
        """Start the span for ``call`` (a child of ``parent``, default the current context)."""
        return LLMSpan(self, call, extractor, instance, args, kwargs, parent)


class LLMSpan:
    """One inference span in flight. Ends exactly once, whatever path the call takes."""

    __slots__ = (
        "__weakref__",
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
        "_run",
        "_samples",
        "_settings",
        "_start_ns",
        "_start_wall",
        "_state",
        "_stride",
        "call",
        "capture",
        "context",
        "extractor",
        "marker",
        "recording",
        "span",
        "telemetry",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        call: LLMCall,
        extractor: Extractor,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        parent: otel_context.Context | None = None,
    ) -> None:
        """Start the span for ``call`` (a child of ``parent``, default the current context)."""
        base = parent if parent is not None else current_context()
        self.span = span = telemetry.tracer.start_span(
            span_name(call), context=base, kind=SpanKind.CLIENT, attributes=attrs_.start_attributes(call)
        )
        self.telemetry = telemetry
        self.call = call
        self.extractor = extractor
        self.marker = marker = InferenceMarker(self)
        marker.span = span
        # the context the call runs in: ``base`` plus the span and the marker, built with one copy
        # (``Context`` forbids item assignment; the new, not yet shared, copy is filled directly)
        self.context = ctx = otel_context.Context(base)
        dict.__setitem__(ctx, _SPAN_KEY, span)
        dict.__setitem__(ctx, INFERENCE_SPAN_KEY, marker)
        self._done = False
        run: Any = base.get(CHAIN_RUN_KEY)
        self._run = run
        if run is not None:
            run.llm_started(self)
        # the stream slots (``_lock``, ``_count``, ``_unread``...) are set by ``start_stream``
        self._pending: dict[str, Any] | None = None
        self._settings = s = SettingsHolder.current or settings()
        self.recording = recording = span.is_recording()
        self.capture = capture = recording and s.capture_content
        if recording and (
            capture
            or (
                s.model_attributes_max
                and instance is not None
                and extractor.reads_model_config
                and type(instance) not in request_extract.no_config
            )
        ):
            try:
                pending: dict[str, Any] = {}
                if s.model_attributes_max and extractor.reads_model_config:
                    config = request_extract.model_config(instance, s.model_attributes_max)
                    if config:
                        call.model_config = config
                        pending.update(config)
                if capture:
                    extractor.input_content(call, instance, args, kwargs)
                    pending.update(attrs_.content_attributes(call, s.content_max_length, output=False))
                if pending:
                    self._pending = pending  # set with the response attributes: one SDK call, not two
            except Exception as exc:
                internal_error("request extraction", exc)
        self._start_ns = perf_counter_ns()  # durations: a monotonic clock (never the wall clock)

    # --- context -------------------------------------------------------------------------------

    def attach(self) -> object:
        """Make the span current (for code run on behalf of the call); pair with ``detach``."""
        return attach_context(self.context)

    @staticmethod
    def detach(token: object) -> None:
        """Undo ``attach`` (always in the same frame that attached)."""
        detach_context(token)

    # --- plain calls ---------------------------------------------------------------------------

    def end(self, result: Any) -> None:
        """The call returned ``result``: record the response and end the span."""
        end_ns = perf_counter_ns()
        call = self.call
        self._done = True
        try:
            extractor = self.extractor
            if extractor.default_response:
                read_response(call, result, self.capture)
            else:
                extractor.response(call, result, self.capture)
        except Exception as exc:
            internal_error("response extraction", exc)
        self._finish(end_ns, None)

    def fail(self, exc: BaseException) -> None:
        """The call raised ``exc`` (which the wrapper re-raises unchanged): record it and end."""
        end_ns = perf_counter_ns()
        self._done = True  # a stream that failed before its first chunk is never ended twice
        if self.recording:
            try:
                self.extractor.error(self.call, exc)
            except Exception as internal:
                internal_error("error extraction", internal)
        self._finish(end_ns, exc)

    def _finish(
        self,
        end_ns: int,
        exc: BaseException | None,
        extra: dict[str, Any] | None = None,
        ttfc: float | None = None,
        tpoc: float | None = None,
    ) -> None:
        call = self.call
        span = self.span
        error = attrs_.error_type(exc) if exc is not None else None
        try:
            if self.recording:
                attrs: dict[str, Any] = {}
                try:
                    attrs = attrs_.response_attributes(call, exc is not None)
                    if self._pending:
                        attrs |= self._pending
                    if extra:
                        attrs |= extra
                except Exception as internal:
                    internal_error("response attributes", internal)
                if self.capture and exc is None:
                    try:  # content that cannot be serialized loses only the content
                        attrs.update(attrs_.content_attributes(call, self._settings.content_max_length, output=True))
                    except Exception as internal:
                        internal_error("output content", internal)
                if error is not None:
                    attrs[sc.ERROR_TYPE] = error
                span.set_attributes(attrs)
                if exc is not None:
                    record_error(span, exc)
        finally:
            span.end()
        if self._run is not None:
            self._run.llm_finished(self)
        metrics = self.telemetry.metrics
        if metrics.ready:
            due = self._settings.metrics_enabled
        else:  # no real meter provider seen yet: while none is set, one attribute read (see ``active``)
            pending = metrics.pending
            due = (
                (pending is None or pending._real_instrument is not None)
                and self._settings.metrics_enabled
                and metrics.active()
            )
        if due:
            try:
                metrics.record(
                    attrs_.metric_attributes(call, error),
                    (end_ns - self._start_ns) / 1e9,
                    call.usage if exc is None else None,
                    ttfc,
                    tpoc,
                )
            except Exception as internal:
                internal_error("metrics", internal)

    # --- callbacks ---------------------------------------------------------------------------

    def add_usage(self, usage: Usage) -> None:
        """Usage reported by a callback while the call is in flight (merged into the record)."""
        call = self.call
        if call.usage is None:
            call.usage = Usage()
        call.usage.merge(usage)

    def add_event(self, name: str, attributes: dict[str, Any]) -> None:
        """A callback event on this span, ordered with all other callback events."""
        if self.recording:
            with EVENT_LOCK:
                self.span.add_event(name, attributes, timestamp=time_ns())

    # --- streams -------------------------------------------------------------------------------

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
        self._start_wall = time_ns() - (perf_counter_ns() - self._start_ns)  # chunk events' timestamps
        self._cap = self._settings.stream_chunk_events if self.recording else 0
        self._count = 0
        self._first_ns: int | None = None  # perf_counter_ns of the first chunk, and of the latest
        self._last_ns: int | None = None
        self._last_chunk: Any = None
        self._reader_type: type | None = None  # the default extractor's reader for this chunk type,
        self._reader: Any = None  # called directly from the second chunk on (see ``_read_first``)
        self._next_sample = 0  # chunk 0 is always "sampled": it sets the time to first chunk
        self._stride = 1
        self._samples: list[tuple[int, int, str | None]] = []  # (index, perf_counter_ns, text), <= 2 x cap

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
        samples = self._samples
        samples.append((n, now, self._chunk_text(chunk)))
        if len(samples) > 2 * cap:  # thin to every other sample; the end picks the final ``cap``
            del samples[1::2]
            self._stride *= 2
        stride = self._stride
        self._next_sample = (n // stride + 1) * stride

    def _chunk_text(self, chunk: Any) -> str | None:
        try:
            return self.extractor.chunk_text(chunk)
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
        self._finish(end_ns, exc, extra, ttfc, tpoc)

    def _claim(self) -> bool:
        """Take the right to end the stream's span (True exactly once, thread-safe)."""
        lock: threading.Lock | None = getattr(self, "_lock", None)  # set by ``start_stream``
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
        capture = self.capture
        span = self.span
        for index, event_ns, text in samples:
            event: dict[str, Any] = {
                sc.EVENT_CHUNK_INDEX: index,
                sc.EVENT_CHUNK_SIZE: len(text) if text else 0,
            }
            if index == last_index and final_reason:
                event[sc.EVENT_CHUNK_FINISH_REASON] = final_reason
            if capture and text:
                event[sc.EVENT_CHUNK_CONTENT] = bounded_text(text, self._settings.content_max_length)
            span.add_event(sc.EVENT_STREAM_CHUNK, event, timestamp=self._start_wall + (event_ns - self._start_ns))
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


def safe_str(value: Any) -> str:
    """``str(value)``, or the type's name when the user's ``__str__`` raises."""
    try:
        return str(value)
    except Exception:
        return type(value).__name__


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {safe_str(exc)}"
    return text if len(text) <= _STATUS_MAX else text[: _STATUS_MAX - 1] + "…"


def record_error(span: trace.Span, exc: BaseException, *, escaped: bool = True) -> None:
    """Exception event and ERROR status; an exception whose ``__str__`` raises still gets both."""
    try:
        span.record_exception(exc, escaped=escaped)
    except Exception:
        span.add_event("exception", {"exception.type": attrs_.error_type(exc), "exception.escaped": escaped})
    span.set_status(Status(StatusCode.ERROR, _describe(exc)))


def bounded_text(text: str, max_length: int) -> str:
    """Content text for an event attribute: at most ``max_length`` characters, valid UTF-8."""
    if 0 < max_length < len(text):
        text = text[: max_length - 1] + "…"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (surrogateescape-decoded bytes)
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text
