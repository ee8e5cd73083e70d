"""Telemetry: records in, spans, events and metrics out. The only code that touches OpenTelemetry
spans, context and instruments."""

from llmotel.telemetry.spans import LLMSpan, Telemetry

__all__ = ["LLMSpan", "Telemetry"]
