"""Reading the GenAI details log events the suite's in-memory log exporter collected (conftest.py)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from conftest import LOG_EXPORTER
from llmotel import semconv as sc
from llmotel.telemetry import _otel_compat


def details() -> list[Any]:
    """Every ``gen_ai.client.inference.operation.details`` record emitted in this test (the SDK's
    exported log records: ``.log_record`` has ``attributes``, ``trace_id``...; its event name is
    ``_otel_compat.event_name(record)``, as OpenTelemetry before 1.35 has no ``event_name``)."""
    return [
        r
        for r in LOG_EXPORTER.get_finished_logs()
        if _otel_compat.event_name(r.log_record) == sc.EVENT_INFERENCE_DETAILS
    ]


def one_detail() -> Any:
    """The one details record of this test (asserts there is exactly one), as its ``LogRecord``."""
    records = details()
    assert len(records) == 1, [_otel_compat.attributes(r.log_record) for r in records]
    return records[0].log_record


def event_attrs(record: Any) -> dict[str, Any]:
    """A record's attributes as plain Python values (the SDK keeps sequences as tuples), without
    the ``event.name`` attribute that names the event on OpenTelemetry before 1.35."""
    return {k: _plain(v) for k, v in _otel_compat.attributes(record).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def assert_correlated(record: Any, span: ReadableSpan) -> None:
    """``record`` was emitted in ``span``'s context: same trace id and span id."""
    context = span.get_span_context()
    assert (record.trace_id, record.span_id) == (context.trace_id, context.span_id)
