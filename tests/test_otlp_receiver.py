"""Self-tests of the OTLP test receivers, driven by the real OpenTelemetry SDK exporters only."""

from __future__ import annotations

import gzip
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from helpers.collector import Receiver
from helpers.otlp_receiver import GrpcReceiver, HttpReceiver, decode_any_value, decode_spans

SERVICE = "otlp-receiver-selftest"
RESOURCE = Resource.create({"service.name": SERVICE})
HEADERS = {"x-test-token": "s3cret", "x-tenant": "acme"}
# Short enough that the exporters' first retry backoff (1 s +/-20%) exceeds the remaining deadline,
# so a failing export returns after a single attempt (or after the timeout, for "blackhole").
SHORT_TIMEOUT = 0.5


def span_exporter(receiver: Receiver, timeout: float | None = None) -> SpanExporter:
    if isinstance(receiver, GrpcReceiver):
        return GrpcSpanExporter(
            endpoint=receiver.endpoint,
            insecure=True,
            headers=HEADERS,
            timeout=timeout,
            compression=grpc.Compression.Gzip,
        )
    return HttpSpanExporter(
        endpoint=receiver.endpoint + "/v1/traces",
        headers=HEADERS,
        timeout=timeout,
        compression=HttpCompression.Gzip,
    )


def make_spans() -> Sequence[ReadableSpan]:
    """Finished SDK spans (parent + child) to hand to an exporter's export() directly."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("selftest")
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child"):
        pass
    spans = memory.get_finished_spans()
    provider.shutdown()
    return spans


def test_trace_round_trip(receiver: Receiver) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter(receiver)))
    tracer = provider.get_tracer("selftest.scope")
    try:
        with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
            with tracer.start_as_current_span(
                "child",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.request.model": "gpt-test",
                    "gen_ai.usage.input_tokens": 42,
                    "gen_ai.request.temperature": 0.25,
                    "llm.streaming": True,
                    "gen_ai.response.finish_reasons": ("stop", "length"),
                },
            ) as child:
                child.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "hi", "index": 1})
                child.set_status(StatusCode.ERROR, "boom")
    finally:
        provider.shutdown()

    spans = receiver.wait_for_spans(2)
    assert [s["name"] for s in spans] == ["child", "parent"]  # children end (and export) first
    child_d, parent_d = spans
    assert child_d["trace_id"] == parent_d["trace_id"] == format(parent.get_span_context().trace_id, "032x")
    assert parent_d["span_id"] == format(parent.get_span_context().span_id, "016x")
    assert child_d["span_id"] == format(child.get_span_context().span_id, "016x")
    assert child_d["parent_span_id"] == parent_d["span_id"]
    assert parent_d["parent_span_id"] is None
    assert (child_d["kind"], parent_d["kind"]) == ("CLIENT", "SERVER")
    assert child_d["attributes"] == {
        "gen_ai.request.model": "gpt-test",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.request.temperature": 0.25,
        "llm.streaming": True,
        "gen_ai.response.finish_reasons": ["stop", "length"],
    }
    assert isinstance(child_d["attributes"]["gen_ai.usage.input_tokens"], int)
    assert isinstance(child_d["attributes"]["llm.streaming"], bool)
    [event] = child_d["events"]
    assert event["name"] == "gen_ai.content.prompt"
    assert event["attributes"] == {"gen_ai.prompt": "hi", "index": 1}
    assert child_d["start_time_unix_nano"] <= event["time_unix_nano"] <= child_d["end_time_unix_nano"]
    assert child_d["status"] == {"code": StatusCode.ERROR.value, "message": "boom"}
    assert parent_d["status"] == {"code": StatusCode.UNSET.value, "message": ""}
    assert child_d["dropped_events_count"] == 0
    assert child_d["scope"] == "selftest.scope"
    assert child_d["resource"]["service.name"] == SERVICE
    assert child_d["resource"]["telemetry.sdk.language"] == "python"

    # SimpleSpanProcessor exports each span on its own: one request (and header set) per span.
    assert len(receiver.requests) == len(receiver.headers) == 2
    for headers in receiver.headers:
        assert headers["x-test-token"] == "s3cret"
        assert headers["x-tenant"] == "acme"
        assert "OTel-OTLP-Exporter-Python" in headers["user-agent"]
    if isinstance(receiver, HttpReceiver):
        assert receiver.headers[0]["content-type"] == "application/x-protobuf"
        assert [r.compression for r in receiver.requests] == ["gzip", "gzip"]
        assert {r.path for r in receiver.requests} == {"/v1/traces"}
    else:
        assert {r.path for r in receiver.requests} == {"/opentelemetry.proto.collector.trace.v1.TraceService/Export"}
    assert receiver.attempts == 2
    assert receiver.rejected == 0


def test_exporters_configured_from_env(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """``receiver.endpoint`` is what OTEL_EXPORTER_OTLP_ENDPOINT should be set to, for both protocols."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-test-token=from-env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    exporter = GrpcSpanExporter() if isinstance(receiver, GrpcReceiver) else HttpSpanExporter()
    try:
        assert exporter.export(make_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(receiver.wait_for_spans(2)) == 2
    assert receiver.headers[0]["x-test-token"] == "from-env"
    if isinstance(receiver, HttpReceiver):
        assert receiver.requests[0].path == "/v1/traces"
        assert receiver.requests[0].compression == "gzip"


def test_metrics_round_trip(receiver: Receiver) -> None:
    exporter: MetricExporter
    if isinstance(receiver, GrpcReceiver):
        exporter = GrpcMetricExporter(endpoint=receiver.endpoint, insecure=True, headers=HEADERS)
    else:
        exporter = HttpMetricExporter(endpoint=receiver.endpoint + "/v1/metrics", headers=HEADERS)
    # A long interval so only the explicit force_flush()/shutdown() exports, never the timer.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("selftest.meter")
    try:
        tokens = meter.create_counter("gen_ai.client.token.usage.count", unit="{token}")
        duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
        tokens.add(7, {"gen_ai.token.type": "input"})
        tokens.add(3, {"gen_ai.token.type": "output"})
        duration.record(0.2, {"gen_ai.operation.name": "chat"})
        duration.record(1.5, {"gen_ai.operation.name": "chat"})
        assert reader.force_flush()
    finally:
        provider.shutdown()

    metrics = receiver.wait_for_metrics(
        lambda ms: {"gen_ai.client.token.usage.count", "gen_ai.client.operation.duration"} <= {m["name"] for m in ms}
    )
    by_name = {m["name"]: m for m in metrics}  # later (cumulative) exports overwrite earlier ones
    counter = by_name["gen_ai.client.token.usage.count"]
    assert (counter["kind"], counter["unit"], counter["is_monotonic"]) == ("sum", "{token}", True)
    assert counter["resource"]["service.name"] == SERVICE
    assert counter["scope"] == "selftest.meter"
    assert {p["attributes"]["gen_ai.token.type"]: p["value"] for p in counter["data_points"]} == {
        "input": 7,
        "output": 3,
    }
    histogram = by_name["gen_ai.client.operation.duration"]
    assert (histogram["kind"], histogram["unit"]) == ("histogram", "s")
    [point] = histogram["data_points"]
    assert point["attributes"] == {"gen_ai.operation.name": "chat"}
    assert point["count"] == 2
    assert point["sum"] == pytest.approx(1.7)
    assert (point["min"], point["max"]) == (0.2, 1.5)
    assert len(point["bucket_counts"]) == len(point["explicit_bounds"]) + 1
    assert sum(point["bucket_counts"]) == 2
    assert receiver.headers[0]["x-test-token"] == "s3cret"
    assert receiver.spans() == []


def test_logs_round_trip(receiver: Receiver) -> None:
    exporter: LogRecordExporter
    if isinstance(receiver, GrpcReceiver):
        exporter = GrpcLogExporter(endpoint=receiver.endpoint, insecure=True)
    else:
        exporter = HttpLogExporter(endpoint=receiver.endpoint + "/v1/logs", compression=HttpCompression.Deflate)
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    try:
        provider.get_logger("selftest.logs").emit(
            body={"message": "hello", "n": 2}, severity_text="INFO", attributes={"k": "v"}
        )
    finally:
        provider.shutdown()
    [log] = receiver.wait_for_logs(1)
    assert log["body"] == {"message": "hello", "n": 2}
    assert log["severity_text"] == "INFO"
    assert log["attributes"] == {"k": "v"}
    assert log["resource"]["service.name"] == SERVICE
    assert log["scope"] == "selftest.logs"
    if isinstance(receiver, HttpReceiver):
        assert receiver.requests[0].compression == "deflate"


def test_unavailable_mode_fails_export_then_recovers(receiver: Receiver) -> None:
    spans = make_spans()
    exporter = span_exporter(receiver, timeout=SHORT_TIMEOUT)
    try:
        receiver.mode = "unavailable"
        started = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert time.monotonic() - started < 2 * SHORT_TIMEOUT + 1  # a single attempt, no long backoff
        assert receiver.attempts >= 1
        assert receiver.rejected == receiver.attempts
        assert receiver.spans() == []
        assert receiver.requests == []

        receiver.mode = "ok"
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert sorted(s["name"] for s in receiver.wait_for_spans(2)) == ["child", "parent"]


def test_unavailable_mode_from_constructor() -> None:
    with GrpcReceiver(mode="unavailable") as grpc_receiver, HttpReceiver(mode="unavailable") as http_receiver:
        assert grpc_receiver.mode == http_receiver.mode == "unavailable"
        for receiver in (grpc_receiver, http_receiver):
            exporter = span_exporter(receiver, timeout=SHORT_TIMEOUT)
            try:
                assert exporter.export(make_spans()) is SpanExportResult.FAILURE
            finally:
                exporter.shutdown()
            assert receiver.spans() == []
            assert receiver.rejected >= 1


def test_blackhole_holds_requests_until_mode_changes(receiver: Receiver) -> None:
    spans = make_spans()
    exporter = span_exporter(receiver, timeout=SHORT_TIMEOUT)
    try:
        receiver.mode = "blackhole"
        started = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.FAILURE
        elapsed = time.monotonic() - started
        assert SHORT_TIMEOUT * 0.8 <= elapsed < SHORT_TIMEOUT + 1.5  # failed by timing out
        assert receiver.wait_for_attempts(1) >= 1
        assert receiver.spans() == []

        receiver.mode = "ok"  # releases the held handler (answered as a failure, never recorded)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(receiver.wait_for_spans(2)) == 2


def test_stop_releases_blackholed_requests(receiver: Receiver) -> None:
    receiver.mode = "blackhole"
    exporter = span_exporter(receiver, timeout=5)
    results: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: results.append(exporter.export(make_spans())))
    worker.start()
    try:
        receiver.wait_for_attempts(1)
        started = time.monotonic()
        receiver.stop()  # must not wait for the held request's client to give up
        assert time.monotonic() - started < 2
        assert not receiver.running
    finally:
        exporter.shutdown()  # also aborts any retry backoff in the exporter
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert results == [SpanExportResult.FAILURE]
    assert receiver.spans() == []


def test_restart_keeps_port_and_data(receiver: Receiver) -> None:
    port = receiver.port
    exporter = span_exporter(receiver, timeout=5)
    try:
        assert exporter.export(make_spans()) is SpanExportResult.SUCCESS
        receiver.restart()
        assert receiver.port == port
        assert receiver.endpoint == f"http://127.0.0.1:{port}"
        # The same exporter (and its pooled connection / gRPC channel) reconnects.
        assert exporter.export(make_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(receiver.wait_for_spans(4)) == 4


def test_wait_for_spans_timeout_message() -> None:
    with HttpReceiver() as receiver:
        with pytest.raises(AssertionError, match=r"timed out after 0\.05s waiting for 1 span\(s\)"):
            receiver.wait_for_spans(1, timeout=0.05)
        with pytest.raises(AssertionError, match="metrics matching predicate"):
            receiver.wait_for_metrics(lambda ms: False, timeout=0.05)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_http_raw_protocol_details() -> None:
    payload = ExportTraceServiceRequest()
    payload.resource_spans.add().scope_spans.add().spans.add(
        name="raw", trace_id=bytes(range(16)), span_id=bytes(range(8))
    )
    protobuf = {"Content-Type": "application/x-protobuf"}
    with HttpReceiver() as receiver:
        status, body = _post(
            receiver.endpoint + "/v1/traces",
            gzip.compress(payload.SerializeToString()),
            {**protobuf, "Content-Encoding": "gzip"},
        )
        assert (status, body) == (200, b"")  # an empty ExportTraceServiceResponse
        [span] = receiver.spans()
        assert (span["name"], span["trace_id"], span["span_id"]) == (
            "raw",
            bytes(range(16)).hex(),
            "0001020304050607",
        )
        assert _post(receiver.endpoint + "/v1/unknown", b"", protobuf)[0] == 404
        assert _post(receiver.endpoint + "/v1/traces", b"{}", {"Content-Type": "application/json"})[0] == 415
        assert _post(receiver.endpoint + "/v1/traces", b"\xff\xff", protobuf)[0] == 400
        receiver.mode = "unavailable"
        assert _post(receiver.endpoint + "/v1/traces", payload.SerializeToString(), protobuf)[0] == 503
        assert len(receiver.requests) == 1


def test_invalid_mode_rejected() -> None:
    with pytest.raises(ValueError, match="unknown receiver mode"):
        HttpReceiver(mode="bogus")  # type: ignore[arg-type]
    receiver = GrpcReceiver()
    with pytest.raises(ValueError, match="unknown receiver mode"):
        receiver.mode = "down"  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="not been started"):
        _ = receiver.endpoint


def test_decode_any_value() -> None:
    def kv(key: str, value: AnyValue) -> KeyValue:
        return KeyValue(key=key, value=value)

    nested: dict[str, Any] = {"s": "x", "i": -3, "d": 1.5, "b": False, "raw": b"\x00\x01", "empty": None}
    value = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                kv("s", AnyValue(string_value="x")),
                kv("i", AnyValue(int_value=-3)),
                kv("d", AnyValue(double_value=1.5)),
                kv("b", AnyValue(bool_value=False)),
                kv("raw", AnyValue(bytes_value=b"\x00\x01")),
                kv("empty", AnyValue()),
            ]
        )
    )
    assert decode_any_value(value) == nested
    array = AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), value]))
    assert decode_any_value(array) == [1, nested]
    assert decode_spans(ExportTraceServiceRequest()) == []
