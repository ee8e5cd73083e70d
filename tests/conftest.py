"""Shared fixtures: global in-memory tracing and metrics, strict mode, content-capture switch.

The global TracerProvider/MeterProvider can be set once per process, so the session installs an
in-memory exporter and metric reader and each test starts from an empty exporter.
"""

from __future__ import annotations

import os

os.environ["LLMOTEL_STRICT"] = "1"  # llmotel's own errors raise under test, so bugs are seen
os.environ.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from helpers.collector import Receiver, make_receiver
from helpers.otlp_receiver import GrpcReceiver, HttpReceiver
from llmotel import _safety, config
from llmotel.callbacks.tracing import reset_unrouted_counts
from llmotel.telemetry._otel_compat import InMemoryLogRecordExporter

# Fake secrets used anywhere in the suite: none may ever appear in an exported span.
FAKE_SECRETS = (
    "sk-test-secret-key-123",
    "sk-ant-test-secret-456",
    "Bearer test-bearer-token-789",
    "test-bearer-token-789",
    "hunter2-password",
)


class SecretScanner(SpanProcessor):
    """Records every exported span attribute or event value that contains a fake secret."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def on_end(self, span: ReadableSpan) -> None:
        values = [(k, v) for k, v in (span.attributes or {}).items()]
        for event in span.events:
            values.extend((f"{event.name}:{k}", v) for k, v in (event.attributes or {}).items())
        for key, value in values:
            text = str(value)
            for secret in FAKE_SECRETS:
                if secret in text:
                    self.violations.append(f"{span.name}: {key} contains {secret!r}")


SECRET_SCANNER = SecretScanner()
EXPORTER = InMemorySpanExporter()
# Delta temporality: each test sees only what it recorded (the fixture drains the reader first).
METRIC_READER = InMemoryMetricReader(
    preferred_temporality={Histogram: AggregationTemporality.DELTA, Counter: AggregationTemporality.DELTA}
)
TRACER_PROVIDER = TracerProvider(resource=Resource.create({"service.name": "llmotel-tests"}))
TRACER_PROVIDER.add_span_processor(SECRET_SCANNER)
TRACER_PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(TRACER_PROVIDER)
metrics.set_meter_provider(MeterProvider(metric_readers=[METRIC_READER]))
LOG_EXPORTER = InMemoryLogRecordExporter()
LOGGER_PROVIDER = LoggerProvider(resource=Resource.create({"service.name": "llmotel-tests"}))
LOGGER_PROVIDER.add_log_record_processor(SimpleLogRecordProcessor(LOG_EXPORTER))
_logs.set_logger_provider(LOGGER_PROVIDER)


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    EXPORTER.clear()
    LOG_EXPORTER.clear()
    METRIC_READER.get_metrics_data()  # drain what earlier tests recorded
    _COLLECTED.clear()
    config.reload_settings()
    _safety.reset_internal_errors()
    reset_unrouted_counts()
    SECRET_SCANNER.violations.clear()
    yield
    EXPORTER.clear()
    assert SECRET_SCANNER.violations == [], "a secret reached an exported span"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return EXPORTER


@pytest.fixture
def log_exporter() -> InMemoryLogRecordExporter:
    """The log records (GenAI details events) the global LoggerProvider exported in this test."""
    return LOG_EXPORTER


@pytest.fixture
def tracer() -> trace.Tracer:
    return TRACER_PROVIDER.get_tracer("tests")


@pytest.fixture
def capture_content(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    config.reload_settings()
    yield
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    config.reload_settings()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set environment variables and re-read llmotel's settings: ``env(NAME="value")``."""

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        config.reload_settings()

    yield set_env
    monkeypatch.undo()
    config.reload_settings()


@pytest.fixture(params=["grpc", "http"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    """A running OTLP receiver, once over gRPC and once over HTTP/protobuf."""
    with make_receiver(request.param) as r:
        yield r


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcReceiver]:
    with GrpcReceiver() as r:
        yield r


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


def finished() -> list[ReadableSpan]:
    return list(EXPORTER.get_finished_spans())


_COLLECTED: dict[str, list[Any]] = {}


def metric_points(name: str) -> list[Any]:
    """Data points of metric ``name`` recorded since the test started (delta temporality)."""
    data = METRIC_READER.get_metrics_data()
    if data is not None:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    _COLLECTED.setdefault(m.name, []).extend(m.data.data_points)
    return list(_COLLECTED.get(name, []))
