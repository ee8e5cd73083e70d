"""The LLM call lifecycle: ``Telemetry`` (tracer and instruments) and ``LLMSpan`` (one call in flight).

``Telemetry.start(...)`` turns a request record into an ``LLMSpan``; the wrappers then call
``LLMSpan.end(result)`` / ``fail(exc)`` for a plain call, or ``chunk(chunk)`` and ``finish_stream``
for a stream. Context is attached only around code that runs on behalf of the LLM call (the call
itself, each ``next()`` of a stream) and always detached in the same frame, so it never leaks
across a ``yield`` and never produces "Failed to detach context" errors.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Mapping
from time import perf_counter_ns, time_ns
from typing import Any

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel._version import __version__
from llmotel.config import SettingsHolder, settings
from llmotel.records import LLMCall, Usage, span_name
from llmotel.telemetry import attributes as attrs_
from llmotel.telemetry.context import (
    CHAIN_RUN_KEY,
    CONVERSATION_KEY,
    INFERENCE_SPAN_KEY,
    SPAN_KEY,
    UTIL_INFERENCE_KEY,
    UTIL_INFERENCE_MODULE,
    Context,
    attach_context,
    current_context,
    detach_context,
    reset_context,
)
from llmotel.telemetry.errors import bounded_text, record_error, safe_str
from llmotel.telemetry.events import EVENT_LOCK
from llmotel.telemetry.extractor import CallExtractor
from llmotel.telemetry.log_events import details_attributes, emit_details
from llmotel.telemetry.metrics import GenAIMetrics
from llmotel.telemetry.streaming import StreamingSpan

__all__ = [
    "CHAIN_RUN_KEY",
    "EVENT_LOCK",
    "INFERENCE_SPAN_KEY",
    "CallExtractor",
    "InferenceMarker",
    "LLMSpan",
    "Telemetry",
    "active_llm_span",
    "attach_context",
    "bounded_text",
    "current_context",
    "detach_context",
    "foreign_inference",
    "inference_context",
    "inside_inference",
    "record_error",
    "reset_context",
    "safe_str",
    "tracer_for",
]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
INSTRUMENTATION_NAME = "llmotel"


def tracer_for(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """llmotel's tracer (global provider unless one is given)."""
    return trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider, schema_url=SCHEMA_URL)


class InferenceMarker(weakref.ref["LLMSpan"]):
    """What ``INFERENCE_SPAN_KEY`` holds: a weak reference to the ``LLMSpan``, and its span.

    Weak, so an ``LLMSpan`` (which holds its context) is not part of a reference cycle and is
    freed by reference counting, even in services that run with the cyclic collector off.
    Made with ``InferenceMarker(llm)`` then ``.span = llm.span`` (no Python ``__init__``: this
    runs on every call).
    """

    __slots__ = ("span", "util")
    span: trace.Span
    util: Any
    """The OTel GenAI util's ``InferenceData`` this call put in its context (set only when the util
    is loaded): how a call tells its own inference from an official instrumentation's."""

    @property
    def llm(self) -> LLMSpan | None:
        """The LLM span, while it is alive."""
        return self()


def inside_inference(ctx: Context | None = None) -> bool:
    """True when the current span is an llmotel inference span (a call nested directly in another).

    A call made from code that started its own span in between (a tool, a chain step) is not
    "directly" nested and gets its own span.
    """
    if ctx is None:
        ctx = current_context()
    outer: Any = ctx.get(INFERENCE_SPAN_KEY)
    return isinstance(outer, InferenceMarker) and outer.span is trace.get_current_span(ctx)


def inference_context(llm: LLMSpan, base: Context | None = None) -> Context:
    """The context an LLM call runs in: ``base`` (default: current) plus the span and the marker.

    Built with one copy (``set_value`` twice would make two); ``Context`` forbids item assignment,
    so the new, not yet shared, copy is filled through ``dict.__setitem__``.
    """
    ctx = Context(base if base is not None else current_context())
    dict.__setitem__(ctx, SPAN_KEY, llm.span)
    dict.__setitem__(ctx, INFERENCE_SPAN_KEY, llm.marker)
    return ctx


def active_llm_span() -> LLMSpan | None:
    """The llmotel inference span the current code runs under, if any."""
    value = current_context().get(INFERENCE_SPAN_KEY)
    return value.llm if isinstance(value, InferenceMarker) else None


_modules = sys.modules


def _claim_for_util(ctx: Context, marker: InferenceMarker, util: Any) -> None:
    """Put the util's ``InferenceData`` in the call's context (its inner invocations then publish
    to it instead of starting a span)."""
    try:
        data = util.InferenceData()
    except Exception:  # a util without it (another version): nothing to coordinate with
        return
    marker.util = data
    dict.__setitem__(ctx, UTIL_INFERENCE_KEY, data)


def foreign_inference(ctx: Context, outer: Any) -> bool:
    """Another instrumentation's inference span (the OTel GenAI util's) is active in ``ctx``, and
    is not llmotel's ``outer`` one: the call is already traced."""
    data = ctx.get(UTIL_INFERENCE_KEY)
    return data is not None and (outer is None or getattr(outer, "util", None) is not data)


Request = tuple[Any, tuple[Any, ...], Mapping[str, Any]]
"""A call's ``(instance, args, kwargs)``: what the extractor reads the request from."""


class Telemetry:
    """Tracer and metric instruments for one pair of providers (the global ones by default)."""

    __slots__ = ("logger", "metrics", "tracer")

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
        logger_provider: otel_logs.LoggerProvider | None = None,
    ) -> None:
        self.tracer = tracer_for(tracer_provider)
        meter = otel_metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider, schema_url=SCHEMA_URL)
        self.metrics = GenAIMetrics(meter)
        # the global provider's logger is a proxy until one is set, then forwards to it
        self.logger = otel_logs.get_logger(INSTRUMENTATION_NAME, __version__, logger_provider, schema_url=SCHEMA_URL)

    def start(
        self, call: LLMCall, extractor: CallExtractor, request: Request, parent: Context | None = None
    ) -> LLMSpan:
        """Start the span for ``call``, a child of ``parent`` (default: the current context);
        ``request`` is the call's ``(instance, args, kwargs)``, read by ``extractor``."""
        return LLMSpan(self, call, extractor, *request, parent)


class LLMSpan(StreamingSpan):
    """One inference span in flight. Ends exactly once, whatever path the call takes."""

    __slots__ = (
        "__weakref__",
        "_run",
        "_settings",
        "_start_ns",
        "call",
        "capture",
        "context",
        "events",
        "extractor",
        "marker",
        "recording",
        "span",
        "span_content",
        "telemetry",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        call: LLMCall,
        extractor: CallExtractor,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        parent: Context | None = None,
    ) -> None:
        """Start the span for ``call`` (a child of ``parent``, default the current context)."""
        base = parent if parent is not None else current_context()
        conversation: Any = base.get(CONVERSATION_KEY)
        if conversation is not None and call.conversation_id is None:
            call.conversation_id = conversation
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
        self.context = ctx = Context(base)
        dict.__setitem__(ctx, SPAN_KEY, span)
        dict.__setitem__(ctx, INFERENCE_SPAN_KEY, marker)
        util = _modules.get(UTIL_INFERENCE_MODULE)
        if util is not None:  # an official GenAI instrumentation may run inside: it must not trace the call again
            _claim_for_util(ctx, marker, util)
        self._done = False
        run: Any = base.get(CHAIN_RUN_KEY)
        self._run = run
        if run is not None:
            run.llm_started(self)
        # the stream slots (``_lock``, ``_count``, ``_unread``...) are set by ``start_stream``
        self._pending: dict[str, Any] | None = None
        self._settings = s = SettingsHolder.current or settings()
        self.recording = recording = span.is_recording()
        # ``span_content``: content on the span; ``events``: a details event at the end;
        # ``capture``: content is read at all (for the span, the event or both)
        self.span_content = span_content = recording and s.capture_content
        self.events = events = s.emit_events and (recording or s.events_unsampled)
        self.capture = capture = span_content or (events and s.event_content)
        if capture or (
            recording
            and s.model_attributes_max
            and instance is not None
            and extractor.reads_model_config
            and type(instance) not in extractor.no_config
        ):
            try:
                pending: dict[str, Any] = {}
                if recording and s.model_attributes_max and extractor.reads_model_config:
                    config = extractor.model_config(instance, s.model_attributes_max)
                    if config:
                        call.model_config = config
                        pending.update(config)
                if capture:
                    extractor.input_content(call, instance, args, kwargs)
                    if span_content:
                        pending.update(attrs_.content_attributes(call, self.content_limit(), output=False))
                if pending:
                    self._pending = pending  # set with the response attributes: one SDK call, not two
            except Exception as exc:
                internal_error("request extraction", exc)
        self._start_ns = perf_counter_ns()  # durations: a monotonic clock (never the wall clock)

    def content_limit(self) -> int:
        """The longest content attribute the span takes: ``LLMOTEL_CONTENT_MAX_LENGTH``, or the
        SDK's span attribute length limit when smaller (the SDK would cut our JSON mid-way)."""
        ours = self._settings.content_max_length
        limits = getattr(self.span, "_limits", None)
        sdk = getattr(limits, "max_span_attribute_length", None)
        if isinstance(sdk, int) and sdk > 0 and (ours <= 0 or sdk < ours):
            return sdk
        return ours

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
                extractor.read_response(call, result, self.capture)
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
                if self.span_content and exc is None:
                    try:  # content that cannot be serialized loses only the content
                        attrs.update(attrs_.content_attributes(call, self.content_limit(), output=True))
                    except Exception as internal:
                        internal_error("output content", internal)
                if error is not None:
                    attrs[sc.ERROR_TYPE] = error
                span.set_attributes(attrs)
                if exc is not None:
                    record_error(span, exc)
        finally:
            span.end()
        if self.events:
            self._emit_details(error)
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
                    call.usage,  # a failed call's too, when the provider reported it
                    ttfc,
                    tpoc,
                )
            except Exception as internal:
                internal_error("metrics", internal)

    def _emit_details(self, error: str | None) -> None:
        """The call's ``gen_ai.client.inference.operation.details`` log event (never raises)."""
        s = self._settings
        try:
            attributes = details_attributes(self.call, error, s.event_content, s.content_max_length)
            emit_details(self.telemetry.logger, self.context, attributes)
        except Exception as exc:
            internal_error("log event", exc)

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

    def finish(self, result: Any) -> None:
        """A producer's end callback with the call's ``result``, whether the call streamed or not."""
        if self.call.stream_state is None:
            self.end(result)
            return
        try:
            self.extractor.response(self.call, result, self.capture)
        except Exception as exc:
            internal_error("stream response", exc)
        self.finish_stream("exhausted")

    def finish_with_error(self, exc: BaseException) -> None:
        """A producer's error callback, whether the call streamed or not (see ``stream_stopped``)."""
        if self.call.stream_state is None:
            self.fail(exc)
        else:
            self.stream_stopped(exc)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Attributes a producer adds to the call's span (run ids, retry attempts...)."""
        if self.recording:
            self.span.set_attributes(attributes)

    def context_in(self, base: Context | None = None) -> Context:
        """The context the call's work runs in, built on ``base`` (default: the current one)."""
        return inference_context(self, base)

    def abandon(self, marker: str) -> None:
        """End a call its producer will never finish (evicted, detached): ``marker=true`` on it."""
        if self.recording:
            self.span.set_attribute(marker, True)
        if self.call.stream_state is not None:
            self.finish_stream("abandoned")
        elif not self._done:
            self.end(None)
