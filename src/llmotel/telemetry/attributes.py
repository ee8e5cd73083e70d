"""Pure mapping from ``LLMCall`` records to span and metric attributes.

No span is touched here: each function returns a plain dict, which the span module sets. Content
serialization lives here too, and is only reached when capture is on and the span is recording.
"""

from __future__ import annotations

import json
import math
from typing import Any

from llmotel import semconv as sc
from llmotel.config import SettingsHolder, settings
from llmotel.records import LLMCall, Usage

AttributeValue = str | bool | int | float | list[str]


def _identity(call: LLMCall) -> dict[str, Any]:
    """What the spans and the metrics both say of a call: operation, provider, requested model and
    server (the start of both attribute sets)."""
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: call.operation,
        sc.GEN_AI_PROVIDER_NAME: call.provider,
    }
    if call.request_model is not None:
        attrs[sc.GEN_AI_REQUEST_MODEL] = call.request_model
    if call.server_address is not None:
        attrs[sc.SERVER_ADDRESS] = call.server_address
        if call.server_port is not None:
            attrs[sc.SERVER_PORT] = call.server_port
    return attrs


def start_attributes(call: LLMCall) -> dict[str, Any]:
    """Attributes known before the call is made (samplers see these)."""
    attrs = _identity(call)
    if call.stream:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    if call.conversation_id is not None:
        attrs[sc.GEN_AI_CONVERSATION_ID] = call.conversation_id
    if call.params:
        attrs |= call.params  # (``|=``: no argument parsing, unlike ``update``)
    return attrs


def usage_attributes(usage: Usage, attrs: dict[str, Any]) -> None:
    """Add token usage to ``attrs``."""
    if usage.input_tokens is not None:
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    if usage.cache_read_input_tokens is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_input_tokens
    if usage.cache_creation_input_tokens is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_creation_input_tokens
        if (SettingsHolder.current or settings()).latest_semconv:  # the conventions' newer name, too
            attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_creation_input_tokens
    if usage.reasoning_output_tokens is not None:
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_output_tokens


def response_attributes(call: LLMCall, failed: bool = False) -> dict[str, Any]:
    """Attributes known once the response (or the whole stream) arrived; for a failed call, what
    was known before it failed (a stream that broke mid-way keeps its response id and model)."""
    attrs: dict[str, Any] = {}
    if call.response_id is not None:
        attrs[sc.GEN_AI_RESPONSE_ID] = call.response_id
    if call.response_model is not None:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = call.response_model
    reasons = call.finish_reasons
    if reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons if all(reasons) else [r or "error" for r in reasons]
    usage = call.usage
    if usage is not None:
        usage_attributes(usage, attrs)
    elif not failed:
        attrs[sc.LLMOTEL_USAGE_UNKNOWN] = True
    if call.extra:
        attrs |= call.extra
    return attrs


def metric_attributes(call: LLMCall, error_type: str | None) -> dict[str, Any]:
    """The low-cardinality attributes of the GenAI client metrics."""
    attrs = _identity(call)
    if call.response_model is not None:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = call.response_model
    if error_type is not None:
        attrs[sc.ERROR_TYPE] = error_type
    return attrs


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: fully qualified class name, builtins bare."""
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


# --- content -------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False)
    except ValueError:  # NaN / Infinity are not JSON: record them as strings
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), default=_default)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be exported as UTF-8: escape them instead
        text = json.dumps(_finite(value), ensure_ascii=True, separators=(",", ":"), default=_default)
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


def _cut(value: Any, limit: int) -> Any:
    """Copy of ``value`` with every string longer than ``limit`` shortened (marked with …)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, list):
        return [_cut(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _cut(v, limit) for k, v in value.items()}
    return value


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    if isinstance(value, dict):
        return max((_longest_string(v) for v in value.values()), default=0)
    return 0


def bounded_json(value: list[Any], max_length: int) -> str:
    """Serialize a list of messages/parts to JSON of at most ``max_length`` characters.

    Long strings are shortened first (all to the same cap, found by bisection); if that is not
    enough, the oldest entries are dropped. The result is always valid JSON of the same shape.
    """
    text = _dumps(value)
    if max_length <= 0 or len(text) <= max_length:
        return text
    items = list(value)
    while items:
        if len(_dumps(_cut(items, 0))) <= max_length:
            lo, hi = 0, _longest_string(items)
            while lo < hi:  # largest string cap that fits
                mid = (lo + hi + 1) // 2
                if len(_dumps(_cut(items, mid))) <= max_length:
                    lo = mid
                else:
                    hi = mid - 1
            return _dumps(_cut(items, lo))
        items = items[1:]
    return "[]"


def content_attributes(call: LLMCall, max_length: int, *, output: bool) -> dict[str, str]:
    """Content attributes (input side, or output side with ``output=True``) as bounded JSON."""
    attrs: dict[str, str] = {}
    if output:
        if call.output_messages is not None:
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = bounded_json(call.output_messages, max_length)
        return attrs
    if call.input_messages is not None:
        attrs[sc.GEN_AI_INPUT_MESSAGES] = bounded_json(call.input_messages, max_length)
    if call.system_instructions is not None:
        attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = bounded_json(call.system_instructions, max_length)
    return attrs
