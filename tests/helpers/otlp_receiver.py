"""Real, in-process OTLP receivers (gRPC and HTTP/protobuf) for end-to-end tests.

Both receivers listen only on 127.0.0.1 with an ephemeral port, record every export request they
accept, and expose the received telemetry as plain Python dicts::

    with GrpcReceiver() as receiver:            # or HttpReceiver()
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, ...}
        run_app_in_subprocess(env)
        spans = receiver.wait_for_spans(2)      # blocks on a Condition, never sleeps
        assert spans[0]["attributes"]["gen_ai.system"] == "openai"

Point an application at them with ``OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint`` plus
``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` (GrpcReceiver) or ``http/protobuf`` (HttpReceiver, which also
serves the per-signal URLs ``traces_endpoint``/``metrics_endpoint``/``logs_endpoint``). Test modules
in tests/ import this module as ``helpers.otlp_receiver`` (pytest's default "prepend" import mode
puts the rootless tests/ directory on sys.path).

Fault injection (``mode``, settable at construction and at runtime):

* ``"ok"``: record the request and answer success.
* ``"unavailable"``: do not record; gRPC aborts with ``UNAVAILABLE``, HTTP answers ``503``.
* ``"blackhole"``: do not record and do not answer. The handler holds the call (and, for HTTP, the
  TCP connection) until the mode changes or the receiver is stopped. A held request is never
  recorded, because its client has most likely given up on it already: when the mode changes it
  is answered with ``UNAVAILABLE``/``503``; when the receiver stops, gRPC cancels the call and the
  HTTP connection is closed without a response. gRPC handlers are also released as soon as the
  client cancels or its deadline expires; HTTP handlers cannot notice a disconnected client.

Every export request that reaches a handler counts as an *attempt* whatever the mode
(``attempts``, ``wait_for_attempts``), so tests can tell "the exporter tried" from "data arrived".

``stop()``/``start()``/``restart()`` rebind the same port (both servers use SO_REUSEADDR, so a
listening socket in TIME_WAIT is not a problem). The only way a restart can fail is if some other
process grabbed the port in between; ``start()`` then raises ``RuntimeError``.

Arrays decode to lists (the SDK records tuples), ``kvlist`` values to dicts, bytes stay bytes and an
empty ``AnyValue`` decodes to ``None``. Trace/span ids are lowercase hex strings.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar, cast, get_args

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, Metric, NumberDataPoint
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = [
    "DEFAULT_TIMEOUT",
    "GrpcReceiver",
    "HttpReceiver",
    "Mode",
    "OtlpReceiver",
    "ReceivedRequest",
    "Signal",
    "decode_any_value",
    "decode_attributes",
    "decode_logs",
    "decode_metrics",
    "decode_spans",
]

Mode = Literal["ok", "unavailable", "blackhole", "slow"]
Signal = Literal["traces", "metrics", "logs"]

DEFAULT_TIMEOUT = 10.0

_MODES: frozenset[str] = frozenset(get_args(Mode))
SLOW_S = 0.3
"""How late a "slow" receiver answers each export (well within the 1 s shutdown budget)."""

# Export request/response message classes per signal; shared by both transports.
_REQUEST_TYPES: dict[Signal, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
_RESPONSE_TYPES: dict[Signal, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
_HTTP_PATHS: dict[str, Signal] = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


# --------------------------------------------------------------------------------------------------
# Decoding (shared by both receivers)
# --------------------------------------------------------------------------------------------------


def decode_any_value(value: AnyValue) -> Any:
    """Convert an OTLP ``AnyValue`` into the matching Python value (``None`` when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    # string_value, bool_value, int_value, double_value, bytes_value map directly.
    return getattr(value, kind)


def decode_attributes(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """Convert a repeated ``KeyValue`` field into a dict."""
    return {kv.key: decode_any_value(kv.value) for kv in attributes}


def _hex_or_none(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def _resource(resource: Resource) -> dict[str, Any]:
    return decode_attributes(resource.attributes)


def _decode_status(status: Status) -> dict[str, Any]:
    # Proto status codes equal opentelemetry.trace.StatusCode values: UNSET=0, OK=1, ERROR=2.
    return {"code": int(status.code), "message": status.message}


def _span_kind_name(kind: int) -> str:
    # "SPAN_KIND_CLIENT" -> "CLIENT", i.e. the opentelemetry.trace.SpanKind member name. The proto
    # numbers differ from SpanKind's values (proto INTERNAL=1, SDK INTERNAL=0), hence the name.
    return str(Span.SpanKind.Name(cast(Any, kind))).removeprefix("SPAN_KIND_")


def _decode_span(span: Span, resource: dict[str, Any], scope: InstrumentationScope) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": _hex_or_none(span.parent_span_id),
        "trace_state": span.trace_state,
        "kind": _span_kind_name(span.kind),
        "attributes": decode_attributes(span.attributes),
        "events": [
            {
                "name": event.name,
                "attributes": decode_attributes(event.attributes),
                "time_unix_nano": event.time_unix_nano,
                "dropped_attributes_count": event.dropped_attributes_count,
            }
            for event in span.events
        ],
        "links": [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "attributes": decode_attributes(link.attributes),
            }
            for link in span.links
        ],
        "status": _decode_status(span.status),
        "resource": resource,
        "scope": scope.name,
        "scope_version": scope.version,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "dropped_attributes_count": span.dropped_attributes_count,
        "dropped_events_count": span.dropped_events_count,
        "dropped_links_count": span.dropped_links_count,
    }


def decode_spans(request: trace_service_pb2.ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """Flatten an ``ExportTraceServiceRequest`` into one dict per span (see module docstring)."""
    spans: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = _resource(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            spans.extend(_decode_span(s, resource, scope_spans.scope) for s in scope_spans.spans)
    return spans


def _number_value(point: NumberDataPoint) -> int | float | None:
    kind = point.WhichOneof("value")
    return None if kind is None else cast("int | float", getattr(point, kind))


def _histogram_point(point: HistogramDataPoint) -> dict[str, Any]:
    return {
        "attributes": decode_attributes(point.attributes),
        "start_time_unix_nano": point.start_time_unix_nano,
        "time_unix_nano": point.time_unix_nano,
        "count": point.count,
        "sum": point.sum if point.HasField("sum") else None,
        "bucket_counts": list(point.bucket_counts),
        "explicit_bounds": list(point.explicit_bounds),
        "min": point.min if point.HasField("min") else None,
        "max": point.max if point.HasField("max") else None,
    }


def _decode_metric(metric: Metric, resource: dict[str, Any], scope: InstrumentationScope) -> dict[str, Any]:
    kind = metric.WhichOneof("data")
    decoded: dict[str, Any] = {
        "name": metric.name,
        "description": metric.description,
        "unit": metric.unit,
        # "gauge" | "sum" | "histogram" | "exponential_histogram" | "summary"
        "kind": kind,
        "resource": resource,
        "scope": scope.name,
    }
    points: list[dict[str, Any]] = []
    if kind in ("gauge", "sum"):
        data = metric.gauge if kind == "gauge" else metric.sum
        points = [
            {
                "attributes": decode_attributes(p.attributes),
                "start_time_unix_nano": p.start_time_unix_nano,
                "time_unix_nano": p.time_unix_nano,
                "value": _number_value(p),
            }
            for p in data.data_points
        ]
        if kind == "sum":
            decoded["is_monotonic"] = metric.sum.is_monotonic
            decoded["aggregation_temporality"] = int(metric.sum.aggregation_temporality)
    elif kind == "histogram":
        points = [_histogram_point(p) for p in metric.histogram.data_points]
        decoded["aggregation_temporality"] = int(metric.histogram.aggregation_temporality)
    elif kind == "exponential_histogram":
        points = [
            {
                "attributes": decode_attributes(p.attributes),
                "count": p.count,
                "sum": p.sum if p.HasField("sum") else None,
                "scale": p.scale,
            }
            for p in metric.exponential_histogram.data_points
        ]
    elif kind == "summary":
        points = [
            {"attributes": decode_attributes(p.attributes), "count": p.count, "sum": p.sum}
            for p in metric.summary.data_points
        ]
    decoded["data_points"] = points
    return decoded


def decode_metrics(request: metrics_service_pb2.ExportMetricsServiceRequest) -> list[dict[str, Any]]:
    """Flatten an ``ExportMetricsServiceRequest`` into one dict per metric (see module docstring)."""
    metrics: list[dict[str, Any]] = []
    for resource_metrics in request.resource_metrics:
        resource = _resource(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            metrics.extend(_decode_metric(m, resource, scope_metrics.scope) for m in scope_metrics.metrics)
    return metrics


def _decode_log(record: LogRecord, resource: dict[str, Any], scope: InstrumentationScope) -> dict[str, Any]:
    return {
        "body": decode_any_value(record.body),
        "severity_number": int(record.severity_number),
        "severity_text": record.severity_text,
        "event_name": getattr(record, "event_name", ""),  # a field of opentelemetry-proto >= 1.32
        "attributes": decode_attributes(record.attributes),
        "trace_id": _hex_or_none(record.trace_id),
        "span_id": _hex_or_none(record.span_id),
        "time_unix_nano": record.time_unix_nano,
        "observed_time_unix_nano": record.observed_time_unix_nano,
        "resource": resource,
        "scope": scope.name,
    }


def decode_logs(request: logs_service_pb2.ExportLogsServiceRequest) -> list[dict[str, Any]]:
    """Flatten an ``ExportLogsServiceRequest`` into one dict per log record."""
    logs: list[dict[str, Any]] = []
    for resource_logs in request.resource_logs:
        resource = _resource(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            logs.extend(_decode_log(r, resource, scope_logs.scope) for r in scope_logs.log_records)
    return logs


# --------------------------------------------------------------------------------------------------
# Shared recording / fault-mode machinery
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One accepted export request."""

    signal: Signal
    request: Message  # Export{Trace,Metrics,Logs}ServiceRequest
    headers: dict[str, str]  # lowercase keys; gRPC "-bin" metadata values are shown as hex
    path: str  # HTTP path ("/v1/traces") or full gRPC method name
    # HTTP: the Content-Encoding header ("gzip"/"deflate") or None. gRPC: None, because gRPC
    # decompresses transparently and does not expose "grpc-encoding" to the servicer.
    compression: str | None


_Outcome = Literal["accept", "reject", "drop"]
_R = TypeVar("_R", bound="OtlpReceiver")


class OtlpReceiver:
    """Recording, fault modes, waiting and lifecycle shared by the gRPC and HTTP receivers.

    Not usable on its own; use it as the type of "either receiver" in fixtures and helpers.
    """

    def __init__(self, mode: Mode = "ok") -> None:
        self._check_mode(mode)
        self._cond = threading.Condition()
        self._mode: Mode = mode
        self._received: list[ReceivedRequest] = []
        self._attempts = 0
        self._rejected = 0
        self._stopping = False
        self._running = False
        self._port = 0  # 0 until the first start(); then reused by every restart

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self._port

    @property
    def endpoint(self) -> str:
        """Base endpoint, e.g. ``http://127.0.0.1:PORT`` (no ``/v1/...`` signal path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._running

    def start(self: _R) -> _R:
        """Start listening; on a restart the previously used port is bound again."""
        if self._running:
            raise RuntimeError(f"{type(self).__name__} is already running")
        with self._cond:
            self._stopping = False
        self._port = self._start_server(self._port)
        self._running = True
        return self

    def stop(self) -> None:
        """Stop the server, release held (blackholed) requests and join handler threads. Idempotent."""
        if not self._running:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stop_server()
        self._running = False

    def restart(self) -> None:
        """``stop()`` then ``start()`` on the same port; recorded data is kept."""
        self.stop()
        self.start()

    def __enter__(self: _R) -> _R:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_server(self, port: int) -> int:
        raise NotImplementedError

    def _stop_server(self) -> None:
        raise NotImplementedError

    # -- fault modes -------------------------------------------------------------------------------

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in _MODES:
            raise ValueError(f"unknown receiver mode {mode!r}; expected one of {sorted(_MODES)}")

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self._check_mode(mode)
        with self._cond:
            self._mode = mode
            self._cond.notify_all()  # releases blackholed handlers when leaving "blackhole"

    def _admit(self, is_cancelled: Callable[[], bool] = lambda: False) -> _Outcome:
        """Count the attempt and decide what to do with it according to the current mode.

        In "blackhole" mode this blocks until the mode changes, the receiver stops or
        ``is_cancelled()`` turns true (callers must ``_notify_wakeup()`` when that may have happened).
        """
        with self._cond:
            self._attempts += 1
            self._cond.notify_all()
            if self._mode == "ok":
                return "accept"
            if self._mode == "slow":  # a collector under load: answers, late (SLOW_S)
                self._cond.wait_for(lambda: self._stopping or is_cancelled(), timeout=SLOW_S)
                return "drop" if self._stopping or is_cancelled() else "accept"
            if self._mode == "blackhole":
                self._cond.wait_for(lambda: self._mode != "blackhole" or self._stopping or is_cancelled())
                if self._stopping or is_cancelled():
                    return "drop"
            self._rejected += 1
            return "reject"

    def _notify_wakeup(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _record(self, item: ReceivedRequest) -> None:
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()

    # -- accessors ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Accepted export requests of every signal, in arrival order (a snapshot)."""
        with self._cond:
            return list(self._received)

    @property
    def headers(self) -> list[dict[str, str]]:
        """Headers/metadata of each accepted request (lowercase keys), parallel to ``requests``."""
        with self._cond:
            return [dict(r.headers) for r in self._received]

    @property
    def attempts(self) -> int:
        """Export requests that reached a handler, whatever the mode (includes rejected/held ones)."""
        with self._cond:
            return self._attempts

    @property
    def rejected(self) -> int:
        """Requests answered with UNAVAILABLE/503 because of the mode (incl. released blackholed ones)."""
        with self._cond:
            return self._rejected

    def _decoded(self, signal: Signal) -> list[dict[str, Any]]:
        with self._cond:
            items = [r.request for r in self._received if r.signal == signal]
        decoder: Callable[[Any], list[dict[str, Any]]] = _DECODERS[signal]
        return [decoded for request in items for decoded in decoder(request)]

    def spans(self) -> list[dict[str, Any]]:
        """Every received span, one dict each, in arrival order."""
        return self._decoded("traces")

    def metrics(self) -> list[dict[str, Any]]:
        """Every received metric, one dict per metric per export (cumulative exports repeat metrics)."""
        return self._decoded("metrics")

    def logs(self) -> list[dict[str, Any]]:
        """Every received log record, one dict each."""
        return self._decoded("logs")

    def clear(self) -> None:
        """Forget everything recorded so far (requests, attempts, rejections)."""
        with self._cond:
            self._received.clear()
            self._attempts = 0
            self._rejected = 0

    # -- waiting -----------------------------------------------------------------------------------

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        # ``ready`` runs with the lock held after every notify; the lock is an RLock, so predicates
        # may call the public accessors (spans(), metrics(), ...).
        with self._cond:
            if self._cond.wait_for(ready, timeout):
                return
            summary = (
                f"mode={self._mode!r}, attempts={self._attempts}, rejected={self._rejected}, "
                f"accepted requests by signal="
                f"{ {s: sum(r.signal == s for r in self._received) for s in _REQUEST_TYPES} }"
            )
        # Decode outside the lock: the names received so far make timeouts easy to diagnose.
        raise AssertionError(
            f"{type(self).__name__} on {self.endpoint}: timed out after {timeout}s waiting for {what} "
            f"({summary}); spans so far: {[s['name'] for s in self.spans()]}; "
            f"metrics so far: {sorted({m['name'] for m in self.metrics()})}"
        )

    def wait_for_spans(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Block until at least ``n`` spans arrived; return ``spans()``. AssertionError on timeout."""
        self._wait(lambda: len(self.spans()) >= n, timeout, f"{n} span(s)")
        return self.spans()

    def wait_for_metrics(
        self,
        predicate_or_count: int | Callable[[list[dict[str, Any]]], bool],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """Block until ``metrics()`` has at least N entries / satisfies the predicate; return it.

        The predicate is re-evaluated (with the receiver's lock held) after each received request.
        """
        if isinstance(predicate_or_count, int):
            count = predicate_or_count
            self._wait(lambda: len(self.metrics()) >= count, timeout, f"{count} metric(s)")
        else:
            predicate = predicate_or_count
            self._wait(lambda: bool(predicate(self.metrics())), timeout, "metrics matching predicate")
        return self.metrics()

    def wait_for_logs(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Block until at least ``n`` log records arrived; return ``logs()``."""
        self._wait(lambda: len(self.logs()) >= n, timeout, f"{n} log record(s)")
        return self.logs()

    def wait_for_attempts(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Block until at least ``n`` export requests reached a handler (any mode); return the count."""
        self._wait(lambda: self._attempts >= n, timeout, f"{n} export attempt(s)")
        return self.attempts

    def __repr__(self) -> str:
        where = self.endpoint if self._port else "unstarted"
        return f"<{type(self).__name__} {where} mode={self._mode!r} running={self._running}>"


_DECODERS: dict[Signal, Callable[[Any], list[dict[str, Any]]]] = {
    "traces": decode_spans,
    "metrics": decode_metrics,
    "logs": decode_logs,
}


# --------------------------------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------------------------------


class _GrpcServicer(
    trace_service_pb2_grpc.TraceServiceServicer,
    metrics_service_pb2_grpc.MetricsServiceServicer,
    logs_service_pb2_grpc.LogsServiceServicer,
):
    # All three services name their only method "Export" with the same signature, so one
    # implementation serves them all; the signal is recovered from the request's type.
    def __init__(self, receiver: GrpcReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Message, context: grpc.ServicerContext) -> Message:
        signal = next(s for s, t in _REQUEST_TYPES.items() if isinstance(request, t))
        return self._receiver._handle(signal, request, context)


class GrpcReceiver(OtlpReceiver):
    """OTLP/gRPC receiver (traces, metrics, logs) on ``127.0.0.1``; ``endpoint`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, mode: Mode = "ok", *, max_workers: int = 16) -> None:
        super().__init__(mode)
        # Each blackholed call occupies one worker until released, hence a generous pool.
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None

    def _start_server(self, port: int) -> int:
        executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="otlp-grpc-receiver")
        server = grpc.server(executor)
        servicer = _GrpcServicer(self)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        try:
            # Older grpcio returns 0 on failure, newer raises RuntimeError.
            bound = int(server.add_insecure_port(f"127.0.0.1:{port}"))
        except RuntimeError:
            bound = 0
        if not bound:
            server.stop(None)
            executor.shutdown(wait=True)
            raise RuntimeError(f"GrpcReceiver could not bind 127.0.0.1:{port}")
        server.start()
        self._server, self._executor = server, executor
        return bound

    def _stop_server(self) -> None:
        assert self._server is not None
        assert self._executor is not None
        # grace=None cancels in-flight calls at once; the wait bounds a pathological hang.
        self._server.stop(None).wait(DEFAULT_TIMEOUT)
        self._executor.shutdown(wait=True)  # grpc does not own the executor: join its threads
        self._server = self._executor = None

    def _handle(self, signal: Signal, request: Message, context: grpc.ServicerContext) -> Message:
        headers: dict[str, str] = {}
        for key, value in context.invocation_metadata():
            text = value.hex() if isinstance(value, bytes) else value
            key = key.lower()
            headers[key] = f"{headers[key]}, {text}" if key in headers else text

        # Wake a blackholed handler as soon as the client cancels or its deadline passes.
        context.add_callback(self._notify_wakeup)
        outcome = self._admit(lambda: not context.is_active())
        if outcome == "accept":
            method = f"/{request.DESCRIPTOR.file.package}.{_GRPC_SERVICE_NAMES[signal]}/Export"
            self._record(ReceivedRequest(signal, request, headers, method, None))
            return _RESPONSE_TYPES[signal]()
        if outcome == "drop":  # receiver stopping (or the client went away)
            context.abort(grpc.StatusCode.CANCELLED, "OTLP test receiver stopped")
        else:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"OTLP test receiver in mode {self._mode!r}")
        raise AssertionError("unreachable: context.abort always raises")


_GRPC_SERVICE_NAMES: dict[Signal, str] = {
    "traces": "TraceService",
    "metrics": "MetricsService",
    "logs": "LogsService",
}


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


class _ReceiverHttpServer(http.server.ThreadingHTTPServer):
    # Non-daemon handler threads + block_on_close: server_close() joins every handler, so nothing
    # outlives stop(). Handlers are short (HTTP/1.0, one request per connection) and blackholed
    # ones are released by stop() before server_close() runs.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, port: int, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        super().__init__(("127.0.0.1", port), _ReceiverHttpHandler)


class _ReceiverHttpHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: the connection closes after every response, so no handler thread sits on an idle
    # keep-alive connection (which would make server_close() block until the client goes away).
    protocol_version = "HTTP/1.0"
    timeout = 30  # socket timeout: bounds a client that connects and never sends a full request
    server: _ReceiverHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _reply(self, code: int, body: bytes = b"", content_type: str = "application/x-protobuf") -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client already gave up (e.g. a released blackholed request)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_POST(self) -> None:
        receiver = self.server.receiver
        path = self.path.split("?", 1)[0]
        signal = _HTTP_PATHS.get(path)
        if signal is None:
            self._reply(404, f"unknown OTLP path {path}".encode(), "text/plain")
            return
        body = self._read_body()
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

        outcome = receiver._admit()
        if outcome == "drop":
            return  # receiver stopping: close the connection without any response
        if outcome == "reject":
            self._reply(503, b"OTLP test receiver unavailable", "text/plain")
            return

        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/x-protobuf":
            self._reply(415, f"unsupported content type {content_type!r}".encode(), "text/plain")
            return
        encoding = headers.get("content-encoding", "").strip().lower() or None
        try:
            payload = _decompress(body, encoding)
            request = _REQUEST_TYPES[signal].FromString(payload)
        except (OSError, EOFError, zlib.error, DecodeError, ValueError) as error:
            self._reply(400, f"cannot decode request: {error}".encode(), "text/plain")
            return
        receiver._record(ReceivedRequest(signal, request, headers, path, encoding))
        self._reply(200, _RESPONSE_TYPES[signal]().SerializeToString())


def _decompress(body: bytes, encoding: str | None) -> bytes:
    if encoding in (None, "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)  # zlib-wrapped, what the OTel exporter sends
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some clients send
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class HttpReceiver(OtlpReceiver):
    """OTLP/HTTP protobuf receiver on ``127.0.0.1``.

    ``endpoint`` is the base URL (``http://127.0.0.1:PORT``); it serves ``/v1/traces``,
    ``/v1/metrics`` and ``/v1/logs`` (use ``traces_endpoint`` etc. for the full URLs).
    """

    def __init__(self, mode: Mode = "ok") -> None:
        super().__init__(mode)
        self._server: _ReceiverHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def traces_endpoint(self) -> str:
        return f"{self.endpoint}/v1/traces"

    @property
    def metrics_endpoint(self) -> str:
        return f"{self.endpoint}/v1/metrics"

    @property
    def logs_endpoint(self) -> str:
        return f"{self.endpoint}/v1/logs"

    def _start_server(self, port: int) -> int:
        try:
            server = _ReceiverHttpServer(port, self)
        except OSError as error:
            raise RuntimeError(f"HttpReceiver could not bind 127.0.0.1:{port}: {error}") from error
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http-receiver"
        )
        thread.start()
        self._server, self._thread = server, thread
        return int(server.server_address[1])

    def _stop_server(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()  # ends serve_forever
        self._server.server_close()  # closes the listening socket and joins handler threads
        self._thread.join()
        self._server = self._thread = None
