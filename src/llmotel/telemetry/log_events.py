"""The GenAI log event: one ``gen_ai.client.inference.operation.details`` LogRecord per LLM call.

Emitted through the OpenTelemetry Logs API (never Python ``logging``) when the call ends, in the
call's span context (so it carries the span's trace and span id), with the call's GenAI attributes
and, in the content modes that put content on events, the messages as structured values in the
conventions' parts schema. Whether a call emits one is decided once per call by ``LLMSpan``
(``Settings.emit_events``, sampled or ``LLMOTEL_EVENTS_UNSAMPLED``); this module only builds and
emits the record.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber

from llmotel import semconv as sc
from llmotel.records import LLMCall
from llmotel.telemetry import attributes as attrs_
from llmotel.telemetry._otel_compat import EVENT_NAME_ATTRIBUTE, HAS_CONTEXT, HAS_EVENT_NAME, new_log_record
from llmotel.telemetry.context import Context

__all__ = ["details_attributes", "emit_details"]

_EVENT_KEYS = ("gen_ai.", "server.")
"""Attribute namespaces the event repeats from the span (``llmotel.*`` stays on the span)."""


def _structured(messages: list[Any], max_length: int) -> Any:
    """Messages as plain JSON values (lists, dicts, strings, numbers), bounded like span content:
    bytes, non-finite numbers and other non-JSON values become what the span's JSON shows."""
    return json.loads(attrs_.bounded_json(messages, max_length))


def details_attributes(call: LLMCall, error: str | None, content: bool, max_length: int) -> dict[str, Any]:
    """The event's attributes: the call's GenAI attributes (request, response, usage, error) and,
    with ``content``, its messages."""
    attrs = {
        key: value
        for key, value in (attrs_.start_attributes(call) | attrs_.response_attributes(call, error is not None)).items()
        if key.startswith(_EVENT_KEYS)
    }
    if error is not None:
        attrs[sc.ERROR_TYPE] = error
    if content:
        if call.system_instructions is not None:
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = _structured(call.system_instructions, max_length)
        if call.input_messages is not None:
            attrs[sc.GEN_AI_INPUT_MESSAGES] = _structured(call.input_messages, max_length)
        if call.output_messages is not None:
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = _structured(call.output_messages, max_length)
    return attrs


def emit_details(logger: Logger, context: Context, attributes: dict[str, Any]) -> None:
    """Emit the details event in ``context`` (the call's span context)."""
    kwargs: dict[str, Any] = {"severity_number": SeverityNumber.INFO, "attributes": attributes}
    if HAS_EVENT_NAME:
        kwargs["event_name"] = sc.EVENT_INFERENCE_DETAILS
    else:  # an API before event names: the name as the attribute older SDKs used for events
        attributes[EVENT_NAME_ATTRIBUTE] = sc.EVENT_INFERENCE_DETAILS
    if HAS_CONTEXT:
        kwargs["context"] = context
    else:
        span_context = trace.get_current_span(context).get_span_context()
        kwargs["trace_id"] = span_context.trace_id
        kwargs["span_id"] = span_context.span_id
        kwargs["trace_flags"] = span_context.trace_flags
    logger.emit(new_log_record(logger, **kwargs))
