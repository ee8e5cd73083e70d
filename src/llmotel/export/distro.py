"""Entry points for ``opentelemetry-instrument``: llmotel's distro and configurator.

``LlmotelDistro`` (group ``opentelemetry_distro``) gives auto-instrumented applications the same
defaults as ``llmotel.configure()``: traces and metrics over OTLP, gRPC unless told otherwise. Each
default is a ``setdefault``, so anything the user set wins. ``LlmotelConfigurator`` (group
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


class LlmotelDistro(BaseDistro):  # type: ignore[misc]
    """Sets the OTLP defaults before the configurator runs."""

    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            os.environ.setdefault(name, value)


class LlmotelConfigurator(_OTelSDKConfigurator):
    """The SDK configurator (providers and exporters from ``OTEL_*``), under llmotel's name."""
