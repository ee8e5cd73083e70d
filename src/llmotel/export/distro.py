"""Entry points for ``opentelemetry-instrument``: llmotel's distro and configurator.

``LlmotelDistro`` (group ``opentelemetry_distro``) gives auto-instrumented applications the same
defaults as ``llmotel.configure()``: traces and metrics over OTLP, gRPC unless told otherwise, and
the log events (``OTEL_LOGS_EXPORTER``) over OTLP too when the traces go there. Each default is a
``setdefault``, so anything the user set wins. The SDK's configurator always installs a
``LoggerProvider`` and gives it one exporter per ``OTEL_LOGS_EXPORTER`` name (none when unset), so
that default is what sends the GenAI events; Python ``logging`` records are exported only with the
SDK's own ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``. ``LlmotelConfigurator`` (group
``opentelemetry_configurator``) is the SDK's configurator, which reads the same variables.
Select them with ``OTEL_PYTHON_DISTRO=llmotel`` / ``OTEL_PYTHON_CONFIGURATOR=llmotel`` when
another distro is installed too.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
}
OTLP_EXPORTERS = frozenset({"otlp", "otlp_proto_grpc", "otlp_proto_http"})
"""Traces exporter names that make ``OTEL_LOGS_EXPORTER`` default to ``otlp``."""


class LlmotelDistro(BaseDistro):  # type: ignore[misc]
    """Sets the OTLP defaults before the configurator runs."""

    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            os.environ.setdefault(name, value)
        traces = {n.strip() for n in os.environ["OTEL_TRACES_EXPORTER"].split(",")}
        if traces & OTLP_EXPORTERS:
            os.environ.setdefault("OTEL_LOGS_EXPORTER", "otlp")


class LlmotelConfigurator(_OTelSDKConfigurator):
    """The SDK configurator (providers and exporters from ``OTEL_*``), under llmotel's name."""
