"""``llmotel.configure()``: tracing, metrics and log events for an application from the standard
``OTEL_*`` environment, in one call.

What it builds:

- a ``TracerProvider`` whose Resource comes from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``
  and whose sampler comes from ``OTEL_TRACES_SAMPLER[_ARG]`` (the SDK reads both itself);
- one ``BatchSpanProcessor`` (``OTEL_BSP_*``) per exporter named in ``OTEL_TRACES_EXPORTER``
  (default ``otlp``; ``none`` for none; any ``opentelemetry_traces_exporter`` entry point such as
  ``console`` or ``llmotel_console``). ``otlp`` means gRPC unless ``OTEL_EXPORTER_OTLP_PROTOCOL``
  (or ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``) says ``http/protobuf``;
- a ``MeterProvider`` with a periodic reader per ``OTEL_METRICS_EXPORTER`` (default: ``otlp`` when
  traces go to OTLP, else none), unless ``LLMOTEL_METRICS_ENABLED=false``;
- a ``LoggerProvider`` (same Resource) with a ``BatchLogRecordProcessor`` (``OTEL_BLRP_*``) per
  ``OTEL_LOGS_EXPORTER`` (default: ``otlp`` when traces go to OTLP, else none; any
  ``opentelemetry_logs_exporter`` entry point). It carries the GenAI log events
  (``gen_ai.client.inference.operation.details``) that llmotel emits through the Logs API. When
  the traces go to llmotel's console exporter and no logs exporter is named, the events are printed
  under their span in its trees. No exporter, no LoggerProvider.

The OTLP exporters are constructed with no arguments so they read endpoint, headers, timeout,
compression, certificates and ``insecure`` (and the per-signal variants) themselves, with the
SDK's own meaning. Keyword arguments override the environment (handy in tests). The providers
shut down, flushing, at interpreter exit.

Traps the SDK's meaning implies (documented in the README):
``OTEL_EXPORTER_OTLP_TIMEOUT`` is in **seconds** in Python; a gRPC endpoint without a scheme
uses TLS; the HTTP exporter appends ``/v1/traces`` (``/v1/metrics``, ``/v1/logs``) only to
``OTEL_EXPORTER_OTLP_ENDPOINT``, never to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (``..._LOGS_...``).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import _internal as _logs_internal
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from llmotel._safety import internal_error
from llmotel.config import settings
from llmotel.export.console import ConsoleLogExporter, ConsoleTraceExporter
from llmotel.telemetry._otel_compat import LogRecordExporter

_log = logging.getLogger("llmotel")

GRPC = "grpc"
HTTP = "http/protobuf"
PROTOCOLS = (GRPC, HTTP)


class ConfigurationError(ValueError):
    """The environment or arguments name something llmotel cannot set up (the message says what)."""


@dataclass
class Configured:
    """What ``configure()`` set up (or found already set up)."""

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider | None
    trace_exporters: list[str] = field(default_factory=list)
    metric_exporters: list[str] = field(default_factory=list)
    protocol: str | None = None
    """The traces' OTLP protocol (``None``: no OTLP traces exporter)."""
    replaced: bool = False
    """False when an application-set provider was kept."""
    logger_provider: _logs.LoggerProvider | None = None
    """The logger provider in force: llmotel's, or the application's when it set one first."""
    log_exporters: list[str] = field(default_factory=list)
    _owns_logger_provider: bool = field(default=False, repr=False)
    _shut_down: bool = field(default=False, repr=False)

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Flush and shut down what ``configure()`` created, within ``timeout_s`` seconds in all.

        Traces, metrics and logs shut down side by side, so an unreachable collector delays the caller
        (and interpreter exit) by at most the budget: by default ``shutdown_timeout()`` (1 s, or the
        OTLP export timeout when that is smaller; ``LLMOTEL_SHUTDOWN_TIMEOUT`` sets it). Returns
        False when the budget ran out before everything was flushed.
        """
        if not self.replaced or self._shut_down:
            return True
        self._shut_down = True
        budget = shutdown_timeout() if timeout_s is None else timeout_s
        deadline = time.monotonic() + budget
        workers = []
        logger_provider = self.logger_provider if self._owns_logger_provider else None
        for provider in (self.tracer_provider, self.meter_provider, logger_provider):
            shutdown = getattr(provider, "shutdown", None)
            if shutdown is not None:
                worker = threading.Thread(target=shutdown, name="llmotel-shutdown", daemon=True)
                worker.start()
                workers.append(worker)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(w.is_alive() for w in workers)


def export_timeout() -> float:
    """The OTLP export timeout in seconds (``OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT``; seconds in Python)."""
    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") or ""
    try:
        value = float(raw)
    except ValueError:
        return 10.0
    return value if value > 0 else 10.0


SHUTDOWN_TIMEOUT_ENV = "LLMOTEL_SHUTDOWN_TIMEOUT"
DEFAULT_SHUTDOWN_TIMEOUT = 1.0


def shutdown_timeout() -> float:
    """How long the final flush at shutdown (and interpreter exit) may take, in seconds:
    ``LLMOTEL_SHUTDOWN_TIMEOUT``, else 1 s or the OTLP export timeout if smaller.

    The exporters' own timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s by default) bounds each
    export while the application runs. At exit, a CLI job or a serverless handler should not pay
    for a collector that is down; the trade-off is that a collector slower than the budget loses the
    last batch (raise the budget for it)."""
    raw = os.environ.get(SHUTDOWN_TIMEOUT_ENV, "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value > 0:
            return value
        _log.warning("llmotel: %s=%r is not a positive number of seconds; using the default", SHUTDOWN_TIMEOUT_ENV, raw)
    return min(DEFAULT_SHUTDOWN_TIMEOUT, export_timeout())


_lock = threading.Lock()
_configured: Configured | None = None


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED`` with the SDK's own meaning: only ``true`` (any case) disables."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def otlp_protocol(signal: str = "traces", override: str | None = None) -> str:
    """The OTLP protocol for ``signal``: argument, per-signal variable, generic variable, ``grpc``."""
    value = (
        override
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
        or GRPC
    )
    if value not in PROTOCOLS:
        raise ConfigurationError(
            f"OTLP protocol {value!r} is not supported: use 'grpc' or 'http/protobuf' "
            f"(OTEL_EXPORTER_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL)"
        )
    return value


def _http_signal_endpoint(endpoint: str, signal: str) -> str:
    path = f"/v1/{signal}"
    return endpoint if endpoint.rstrip("/").endswith(path) else endpoint.rstrip("/") + path


_OTLP_CLASSES = {
    ("traces", GRPC): ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter"),
    ("traces", HTTP): ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter"),
    ("metrics", GRPC): ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter"),
    ("metrics", HTTP): ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter"),
    ("logs", GRPC): ("opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter"),
    ("logs", HTTP): ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter"),
}


def _otlp_exporter(
    signal: str, protocol: str, endpoint: str | None, headers: dict[str, str] | None, timeout: float | None
) -> Any:
    """An OTLP exporter for ``signal``; unset arguments are read by the exporter from the environment."""
    module, name = _OTLP_CLASSES[(signal, protocol)]
    kwargs: dict[str, Any] = {}
    if headers is not None:
        kwargs["headers"] = headers
    if timeout is not None:
        kwargs["timeout"] = timeout
    if endpoint is not None:
        if protocol == GRPC:
            kwargs["endpoint"] = endpoint
            if endpoint.startswith("http://"):
                kwargs["insecure"] = True
        else:
            kwargs["endpoint"] = _http_signal_endpoint(endpoint, signal)
    return getattr(importlib.import_module(module), name)(**kwargs)


def otlp_span_exporter(
    protocol: str, *, endpoint: str | None = None, headers: dict[str, str] | None = None, timeout: float | None = None
) -> SpanExporter:
    """An OTLP span exporter; unset arguments are read by the exporter from the environment."""
    exporter: SpanExporter = _otlp_exporter("traces", protocol, endpoint, headers, timeout)
    return exporter


def otlp_metric_exporter(
    protocol: str, *, endpoint: str | None = None, headers: dict[str, str] | None = None
) -> MetricExporter:
    """An OTLP metric exporter; unset arguments are read by the exporter from the environment."""
    exporter: MetricExporter = _otlp_exporter("metrics", protocol, endpoint, headers, None)
    return exporter


def _entry_point_exporter(group: str, name: str) -> Any:
    for ep in entry_points(group=group, name=name):
        return ep.load()()
    known = sorted({ep.name for ep in entry_points(group=group)})
    raise ConfigurationError(f"no exporter named {name!r} (known: {', '.join(known)})")


def is_otlp(name: str) -> bool:
    """Whether an exporter name means OTLP (``otlp``, ``otlp_proto_grpc``, ``otlp_proto_http``)."""
    return name in ("otlp", "otlp_proto_grpc", "otlp_proto_http")


def otlp_protocol_for(name: str, signal: str, override: str | None = None) -> str:
    """The protocol of the OTLP exporter ``name`` for ``signal`` (the name may say it)."""
    if name == "otlp_proto_grpc":
        return GRPC
    if name == "otlp_proto_http":
        return HTTP
    return otlp_protocol(signal, override)


@dataclass(frozen=True)
class _Signal:
    name: str
    """``traces`` / ``metrics`` / ``logs``: the OTLP path and the per-signal variables' infix."""
    variable: str
    """The variable naming its exporters."""
    group: str
    """The entry-point group of its exporters by name."""

    def names(self, override: str | None, default: str) -> list[str]:
        """Exporter names: the argument, else the variable, else ``default``; ``none`` means none."""
        raw = override if override is not None else (os.environ.get(self.variable, "").strip() or default)
        return [name for name in (part.strip() for part in raw.split(",")) if name and name != "none"]

    def named(self, override: str | None) -> bool:
        """Whether the argument or the variable names the exporters (else a default applies)."""
        return override is not None or bool(os.environ.get(self.variable, "").strip())


TRACES = _Signal("traces", "OTEL_TRACES_EXPORTER", "opentelemetry_traces_exporter")
METRICS = _Signal("metrics", "OTEL_METRICS_EXPORTER", "opentelemetry_metrics_exporter")
LOGS = _Signal("logs", "OTEL_LOGS_EXPORTER", "opentelemetry_logs_exporter")

_Built = tuple[str, Any, "str | None"]
"""An exporter as configured: its name, the exporter, its OTLP protocol (``None``: not OTLP)."""


def _exporters(
    signal: _Signal, names: list[str], protocol: str | None, endpoint: str | None, headers: dict[str, str] | None
) -> list[_Built]:
    """The exporters named for ``signal``. A name nothing answers to is a ``ConfigurationError``; an
    exporter that fails to construct (bad certificate path, broken plugin) is reported once as an
    internal error and left out, so the application goes on."""
    built: list[_Built] = []
    for name in names:
        otlp = otlp_protocol_for(name, signal.name, protocol) if is_otlp(name) else None
        try:
            if otlp is not None:
                exporter = _otlp_exporter(signal.name, otlp, endpoint, headers, None)
            else:
                exporter = _entry_point_exporter(signal.group, name)
        except ConfigurationError:
            raise
        except Exception as exc:
            internal_error(f"configure: the {signal.name} exporter {name!r}", exc)
            continue
        built.append((name, exporter, otlp))
    return built


def _log_processor(exporter: LogRecordExporter) -> LogRecordProcessor:
    # The console prints a record under its span: it must hold the record before the span, which
    # ends later and goes through a BatchSpanProcessor, is exported. So no batching for it.
    if isinstance(exporter, ConsoleLogExporter):
        return SimpleLogRecordProcessor(exporter)
    return BatchLogRecordProcessor(exporter)


def configure(
    *,
    service_name: str | None = None,
    traces_exporter: str | None = None,
    metrics_exporter: str | None = None,
    logs_exporter: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    log_exporter: LogRecordExporter | None = None,
    force: bool = False,
) -> Configured:
    """Set up tracing, metrics and log events from the standard environment; return what was set up.

    Calling it again returns the first result. A tracer provider the application already set is
    kept (nothing is added to it) unless ``force=True``; so is a logger provider. Keyword arguments
    override the environment: ``traces_exporter``/``metrics_exporter``/``logs_exporter``
    (comma-separated names, like the variables), ``protocol``, ``endpoint`` (a base URL for both
    protocols and every signal), ``headers``, or a ready ``span_exporter`` / ``metric_reader`` /
    ``log_exporter``. When the traces go to llmotel's ``ConsoleTraceExporter`` and no logs exporter
    is named, the log events are printed in its trees, under their span.
    """
    global _configured
    with _lock:
        if _configured is not None and not force:
            return _configured
        current = trace.get_tracer_provider()
        already_set = not isinstance(current, trace.ProxyTracerProvider)
        if sdk_disabled():
            _log.info("llmotel: OTEL_SDK_DISABLED=true, telemetry is not set up")
            _configured = Configured(current, None, replaced=False)
            return _configured
        if already_set and not force:
            _log.info("llmotel: a tracer provider is already set; keeping it (configure(force=True) replaces it)")
            _configured = Configured(
                current, metrics.get_meter_provider(), logger_provider=_logs.get_logger_provider(), replaced=False
            )
            return _configured

        resource = Resource.create({"service.name": service_name} if service_name else {})
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        result = Configured(tracer_provider, None, replaced=True)
        if span_exporter is not None:
            traces: list[_Built] = [(type(span_exporter).__name__, span_exporter, None)]
        else:
            traces = _exporters(TRACES, TRACES.names(traces_exporter, "otlp"), protocol, endpoint, headers)
        for name, exporter, otlp in traces:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
            result.trace_exporters.append(name)
            if otlp is not None:
                result.protocol = otlp
        # metrics and logs follow the traces to OTLP by default
        default = "otlp" if any(is_otlp(name) for name in result.trace_exporters) else "none"

        readers: list[MetricReader] = []
        if settings().metrics_enabled:
            if metric_reader is not None:
                readers.append(metric_reader)
                result.metric_exporters.append(type(metric_reader).__name__)
            else:
                names = METRICS.names(metrics_exporter, default)
                for name, exporter, _ in _exporters(METRICS, names, protocol, endpoint, headers):
                    readers.append(PeriodicExportingMetricReader(exporter))
                    result.metric_exporters.append(name)
        if readers:
            result.meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)

        logs_set = not isinstance(_logs.get_logger_provider(), ProxyLoggerProvider)
        if logs_set and not force:
            _log.info("llmotel: a logger provider is already set; keeping it (configure(force=True) replaces it)")
            result.logger_provider = _logs.get_logger_provider()
        else:
            if log_exporter is not None:
                chosen: list[_Built] = [(type(log_exporter).__name__, log_exporter, None)]
            else:
                chosen = _exporters(LOGS, LOGS.names(logs_exporter, default), protocol, endpoint, headers)
                console = next((e for _, e, _ in traces if isinstance(e, ConsoleTraceExporter)), None)
                if console is not None and not LOGS.named(logs_exporter):
                    chosen.append(("llmotel_console", console.log_exporter(), None))
            if chosen:
                logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
                for name, exporter, _ in chosen:
                    logger_provider.add_log_record_processor(_log_processor(exporter))
                    result.log_exporters.append(name)
                result.logger_provider = logger_provider
                result._owns_logger_provider = True

        _set_providers(result, force_traces=already_set, force_logs=logs_set)
        atexit.register(result.shutdown)  # bounded: never hangs interpreter exit past the export timeout
        _configured = result
        return result


def _set_providers(result: Configured, *, force_traces: bool, force_logs: bool) -> None:
    # The API sets a global provider once; replacing one resets that guard, as OTel's test utils do.
    from opentelemetry.util._once import Once

    own_logs = result._owns_logger_provider and result.logger_provider is not None
    if force_traces:
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        metrics._internal._METER_PROVIDER_SET_ONCE = Once()
    if force_logs and own_logs:
        _logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(result.tracer_provider)
    if result.meter_provider is not None:
        metrics.set_meter_provider(result.meter_provider)
    if own_logs and result.logger_provider is not None:
        _logs.set_logger_provider(result.logger_provider)
    if force_traces or (force_logs and own_logs):
        # The decorators' shared tracer, instruments and logger were resolved against the providers
        # being replaced (a proxy resolves once); drop them so the next call uses the new providers.
        from llmotel.wrap import decorators

        decorators._Shared.telemetry = None


def configured() -> Configured | None:
    """What ``configure()`` set up, or ``None`` before it ran."""
    return _configured


def _reset_for_tests() -> None:
    global _configured
    with _lock:
        _configured = None
