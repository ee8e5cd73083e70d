"""``llmotel.configure()``: tracing and metrics for an application from the standard ``OTEL_*``
environment, in one call.

What it builds:

- a ``TracerProvider`` whose Resource comes from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``
  and whose sampler comes from ``OTEL_TRACES_SAMPLER[_ARG]`` (the SDK reads both itself);
- one ``BatchSpanProcessor`` (``OTEL_BSP_*``) per exporter named in ``OTEL_TRACES_EXPORTER``
  (default ``otlp``; ``none`` for none; any ``opentelemetry_traces_exporter`` entry point such as
  ``console`` or ``llmotel_console``). ``otlp`` means gRPC unless ``OTEL_EXPORTER_OTLP_PROTOCOL``
  (or ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``) says ``http/protobuf``;
- a ``MeterProvider`` with a periodic reader per ``OTEL_METRICS_EXPORTER`` (default: ``otlp`` when
  traces go to OTLP, else none), unless ``LLMOTEL_METRICS_ENABLED=false``.

The OTLP exporters are constructed with no arguments so they read endpoint, headers, timeout,
compression, certificates and ``insecure`` (and the per-signal variants) themselves, with the
SDK's own meaning. Keyword arguments override the environment (handy in tests). The providers
shut down, flushing, at interpreter exit.

Traps the SDK's meaning implies (documented in the README):
``OTEL_EXPORTER_OTLP_TIMEOUT`` is in **seconds** in Python; a gRPC endpoint without a scheme
uses TLS; the HTTP exporter appends ``/v1/traces`` only to ``OTEL_EXPORTER_OTLP_ENDPOINT``, never
to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``.
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

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from llmotel.config import settings

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
    replaced: bool = False
    """False when an application-set provider was kept."""
    _shut_down: bool = field(default=False, repr=False)

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Flush and shut down what ``configure()`` created, within ``timeout_s`` seconds in all.

        Traces and metrics shut down side by side, so an unreachable collector delays the caller
        (and interpreter exit) by at most the budget: by default the OTLP export timeout
        (``OTEL_EXPORTER_OTLP_TIMEOUT``, seconds, 10 if unset). Returns False when the budget ran
        out before everything was flushed.
        """
        if not self.replaced or self._shut_down:
            return True
        self._shut_down = True
        budget = export_timeout() if timeout_s is None else timeout_s
        deadline = time.monotonic() + budget
        workers = []
        for provider in (self.tracer_provider, self.meter_provider):
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


_lock = threading.Lock()
_configured: Configured | None = None


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED`` with the SDK's own meaning: only ``true`` (any case) disables."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _names(env_name: str, default: str) -> list[str]:
    raw = os.environ.get(env_name, "").strip() or default
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return [] if names == ["none"] else [n for n in names if n != "none"]


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
            "(OTEL_EXPORTER_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)"
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


def _is_otlp(name: str) -> bool:
    return name in ("otlp", "otlp_proto_grpc", "otlp_proto_http")


def _otlp_protocol_for(name: str, signal: str, override: str | None) -> str:
    if name == "otlp_proto_grpc":
        return GRPC
    if name == "otlp_proto_http":
        return HTTP
    return otlp_protocol(signal, override)


def configure(
    *,
    service_name: str | None = None,
    traces_exporter: str | None = None,
    metrics_exporter: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    force: bool = False,
) -> Configured:
    """Set up tracing and metrics from the standard environment; return what was set up.

    Calling it again returns the first result. A tracer provider the application already set is
    kept (nothing is added to it) unless ``force=True``. Keyword arguments override the
    environment: ``traces_exporter``/``metrics_exporter`` (comma-separated names, like the
    variables), ``protocol``, ``endpoint`` (a base URL for both protocols), ``headers``, or a
    ready ``span_exporter`` / ``metric_reader``.
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
            _configured = Configured(current, metrics.get_meter_provider(), replaced=False)
            return _configured

        resource = Resource.create({"service.name": service_name} if service_name else {})
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        result = Configured(tracer_provider, None, replaced=True)
        if span_exporter is not None:
            tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
            result.trace_exporters.append(type(span_exporter).__name__)
        else:
            names = (
                [n.strip() for n in traces_exporter.split(",") if n.strip() and n.strip() != "none"]
                if traces_exporter is not None
                else _names("OTEL_TRACES_EXPORTER", "otlp")
            )
            for name in names:
                if _is_otlp(name):
                    result.protocol = _otlp_protocol_for(name, "traces", protocol)
                    exporter: SpanExporter = otlp_span_exporter(result.protocol, endpoint=endpoint, headers=headers)
                else:
                    exporter = _entry_point_exporter("opentelemetry_traces_exporter", name)
                tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
                result.trace_exporters.append(name)

        readers: list[MetricReader] = []
        if settings().metrics_enabled:
            if metric_reader is not None:
                readers.append(metric_reader)
                result.metric_exporters.append(type(metric_reader).__name__)
            else:
                default_metrics = "otlp" if any(_is_otlp(n) for n in result.trace_exporters) else "none"
                metric_names = (
                    [n.strip() for n in metrics_exporter.split(",") if n.strip() and n.strip() != "none"]
                    if metrics_exporter is not None
                    else _names("OTEL_METRICS_EXPORTER", default_metrics)
                )
                for name in metric_names:
                    if _is_otlp(name):
                        metric_exporter: MetricExporter = otlp_metric_exporter(
                            _otlp_protocol_for(name, "metrics", protocol), endpoint=endpoint, headers=headers
                        )
                    else:
                        metric_exporter = _entry_point_exporter("opentelemetry_metrics_exporter", name)
                    readers.append(PeriodicExportingMetricReader(metric_exporter))
                    result.metric_exporters.append(name)
        if readers:
            result.meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)

        _set_providers(result, force=already_set)
        atexit.register(result.shutdown)  # bounded: never hangs interpreter exit past the export timeout
        _configured = result
        return result


def _set_providers(result: Configured, *, force: bool) -> None:
    if force:  # the API sets a global provider once; force=True resets that guard, as OTel's test utils do
        from opentelemetry.util._once import Once

        trace._TRACER_PROVIDER_SET_ONCE = Once()
        metrics._internal._METER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(result.tracer_provider)
    if result.meter_provider is not None:
        metrics.set_meter_provider(result.meter_provider)
    if force:
        # The decorators' shared tracer and instruments were resolved against the provider being
        # replaced (a proxy resolves once); drop them so the next call uses the new providers.
        from llmotel.wrap import decorators

        decorators._Shared.telemetry = None


def configured() -> Configured | None:
    """What ``configure()`` set up, or ``None`` before it ran."""
    return _configured


def _reset_for_tests() -> None:
    global _configured
    with _lock:
        _configured = None
