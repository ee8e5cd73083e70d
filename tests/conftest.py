"""Shared fixtures: global in-memory tracing and metrics, strict mode, content-capture switch.

The global TracerProvider/MeterProvider can be set once per process, so the session installs an
in-memory exporter and metric reader and each test starts from an empty exporter.
"""

from __future__ import annotations

import os

os.environ["LLMOTEL_STRICT"] = "1"  # llmotel's own errors raise under test, so bugs are seen
os.environ.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)

from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from llmotel import _safety, config  # noqa: E402

EXPORTER = InMemorySpanExporter()
METRIC_READER = InMemoryMetricReader()
TRACER_PROVIDER = TracerProvider(resource=Resource.create({"service.name": "llmotel-tests"}))
TRACER_PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(TRACER_PROVIDER)
metrics.set_meter_provider(MeterProvider(metric_readers=[METRIC_READER]))


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    EXPORTER.clear()
    METRIC_READER.get_metrics_data()  # drain cumulative state read so far
    config.reload_settings()
    _safety.reset_internal_errors()
    yield
    EXPORTER.clear()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return EXPORTER


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


def finished() -> list[ReadableSpan]:
    return list(EXPORTER.get_finished_spans())


def metric_points(name: str) -> list[Any]:
    data = METRIC_READER.get_metrics_data()
    points: list[Any] = []
    if data is None:
        return points
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    points.extend(m.data.data_points)
    return points
