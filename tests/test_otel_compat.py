"""The OpenTelemetry compatibility module against the installed release (every row of the otel
matrix runs it): llmotel's details record goes through a real SDK LoggerProvider, comes out of its
exporters with the right fields, and encodes to OTLP with its provider's resource and structured
attributes (on SDKs before 1.37 an API record had no resource: the OTLP encoding failed)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord, NoOpLogger, SeverityNumber
from opentelemetry._logs._internal import ProxyLogger
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from conftest import LOG_EXPORTER
from llmotel import semconv as sc
from llmotel.telemetry import _otel_compat as compat
from llmotel.telemetry.log_events import emit_details

MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]


class ListExporter(compat.LogRecordExporter):
    """An exporter on the compat base class: it keeps what the SDK's processor hands it."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def export(self, batch: Sequence[Any]) -> Any:
        self.batches.append(list(batch))
        return compat.LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@pytest.fixture
def provider() -> Iterator[tuple[LoggerProvider, ListExporter]]:
    exporter = ListExporter()
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "compat-app"}), shutdown_on_exit=False)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield logger_provider, exporter
    logger_provider.shutdown()


def emit_in_span(logger: Any, tracer: trace.Tracer) -> trace.SpanContext:
    with tracer.start_as_current_span("chat m") as span:
        attributes = {sc.GEN_AI_INPUT_MESSAGES: MESSAGES, "gen_ai.request.model": "m"}
        emit_details(logger, trace.set_span_in_context(span), attributes)
    return span.get_span_context()


def plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


def test_a_details_record_comes_out_of_the_exporter_with_its_fields(provider: Any, tracer: trace.Tracer) -> None:
    logger_provider, exporter = provider
    context = emit_in_span(logger_provider.get_logger("llmotel"), tracer)
    [[record]] = exporter.batches
    assert isinstance(record, compat.ReadableLogRecord)
    log = record.log_record
    assert compat.event_name(log) == sc.EVENT_INFERENCE_DETAILS
    assert plain(compat.attributes(log)) == {sc.GEN_AI_INPUT_MESSAGES: MESSAGES, "gen_ai.request.model": "m"}
    assert (log.trace_id, log.span_id) == (context.trace_id, context.span_id)
    assert log.trace_flags is not None and log.trace_flags.sampled
    assert log.severity_number == SeverityNumber.INFO
    assert log.body is None and log.observed_timestamp


def test_the_otlp_encoding_has_the_provider_resource_and_structured_attributes(
    provider: Any, tracer: trace.Tracer
) -> None:
    logger_provider, exporter = provider
    context = emit_in_span(logger_provider.get_logger("llmotel"), tracer)
    [resource_logs] = encode_logs(exporter.batches[0]).resource_logs
    resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
    assert resource["service.name"] == "compat-app"
    [scope_logs] = resource_logs.scope_logs
    assert scope_logs.scope.name == "llmotel"
    [pb] = scope_logs.log_records
    assert (pb.trace_id, pb.span_id) == (
        context.trace_id.to_bytes(16, "big"),
        context.span_id.to_bytes(8, "big"),
    )
    by_key = {kv.key: kv.value for kv in pb.attributes}
    [message] = by_key[sc.GEN_AI_INPUT_MESSAGES].array_value.values
    fields = {kv.key: kv.value for kv in message.kvlist_value.values}
    assert fields["role"].string_value == "user"
    assert pb.dropped_attributes_count == 0


def test_a_proxy_logger_resolves_to_the_global_provider(tracer: trace.Tracer) -> None:
    # conftest.py set the global LoggerProvider (resource service.name=llmotel-tests).
    logger = ProxyLogger("llmotel-proxy")
    with tracer.start_as_current_span("chat m") as span:
        emit_details(logger, trace.set_span_in_context(span), {"gen_ai.request.model": "m"})
    [record] = LOG_EXPORTER.get_finished_logs()
    assert compat.event_name(record.log_record) == sc.EVENT_INFERENCE_DETAILS
    [resource_logs] = encode_logs([record]).resource_logs
    resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
    assert resource["service.name"] == "llmotel-tests"


def test_a_logger_that_is_not_the_sdks_gets_the_api_record() -> None:
    record = compat.new_log_record(NoOpLogger("x"), severity_number=SeverityNumber.INFO, attributes={"a": 1})
    assert type(record) is LogRecord
    assert dict(record.attributes or {}) == {"a": 1}


def test_event_name_and_attributes_read_both_ways_of_naming_an_event() -> None:
    named = LogRecord(attributes={compat.EVENT_NAME_ATTRIBUTE: "old.style", "a": 1})
    assert compat.event_name(named) == "old.style"
    plain_record = LogRecord(attributes={"a": 1})
    assert compat.event_name(plain_record) is None
    assert dict(compat.attributes(plain_record)) == {"a": 1}
    if hasattr(named, "event_name"):  # 1.35 and later: the attribute is an attribute like any other
        assert dict(compat.attributes(named)) == {compat.EVENT_NAME_ATTRIBUTE: "old.style", "a": 1}
    else:  # before 1.35 it is the event's name, not one of its attributes
        assert dict(compat.attributes(named)) == {"a": 1}
