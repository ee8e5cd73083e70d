"""Bedrock's shapes, read by duck typing (no OpenTelemetry, no ``import botocore``): the common
helpers (finish reasons, usage merging) and the Converse family; the model-specific ``InvokeModel``
bodies are in ``_invoke``.

Two families:

- the Converse API (``Converse`` / ``ConverseStream``, and Amazon Nova's ``InvokeModel`` body,
  which uses the same camelCase message and stream-event shapes): content blocks
  (``{"text": ...}``, ``{"toolUse": ...}``...), ``stopReason``, ``usage.inputTokens``...;
- the model-specific ``InvokeModel`` bodies: Anthropic messages (``anthropic_version``,
  ``messages``; ``content`` / ``stop_reason`` / ``usage``), Meta Llama (``prompt``,
  ``max_gen_len``; ``generation``, ``prompt_token_count``...), Amazon Titan text (``inputText``,
  ``textGenerationConfig``; ``results[].outputText``, ``completionReason``...), and any other
  ``prompt`` body (Mistral, Cohere) read generically.

Finish reasons are mapped onto one vocabulary (OpenAI's: ``stop``, ``length``, ``tool_calls``,
``content_filter``), so the spans of the model families behind Bedrock (each with its own words:
``end_turn``, ``FINISH``, ``stop``...) compare; a reason not in ``FINISH_REASONS`` is kept as the
provider sent it, lowercased.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import content
from llmotel.extract._access import as_float, as_int, as_str, count, str_list
from llmotel.records import LLMCall, StreamState, Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "finish": "stop",
    "stop_criteria_met": "stop",
    "complete": "stop",
    "max_tokens": "length",
    "length": "length",
    "max_length": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "refusal": "content_filter",
}
"""Bedrock's stop reasons (Converse ``stopReason``, Anthropic ``stop_reason``, Llama
``stop_reason``, Titan ``completionReason``, lowercased) -> ``gen_ai.response.finish_reasons``."""

TEXT = 0
"""``StreamState.texts`` key of the streamed text."""
REASONING = -1
"""``StreamState.texts`` key of the streamed reasoning text (Converse ``reasoningContent``)."""
MAX_BLOCKS = 128
"""Content block indexes beyond this are not tracked in a stream (a bound on per-stream state)."""


def finish_reason(raw: Any) -> str | None:
    """The span's finish reason for a provider's stop reason (``None`` when there is none)."""
    text = as_str(raw)
    if not text:
        return None
    low = text.lower()
    return FINISH_REASONS.get(low, low)


def set_finish(call: LLMCall, raw: Any) -> None:
    reason = finish_reason(raw)
    if reason is not None:
        call.finish_reasons = [reason]


def parse_json(data: Any) -> Any:
    """A JSON body (bytes, bytearray or str), else ``None``."""
    if isinstance(data, (bytes, bytearray, str)):
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def merge(call: LLMCall, usage: Usage | None) -> None:
    if usage is None or usage.is_empty():
        return
    if call.usage is None:
        call.usage = usage
    else:
        call.usage.merge(usage)


def fill_missing(call: LLMCall, input_tokens: Any, output_tokens: Any) -> None:
    """Counts from a secondary source (response headers, invocation metrics): only where the
    body reported none."""
    usage = call.usage
    if usage is None:
        usage = Usage()
    if usage.input_tokens is None:
        usage.input_tokens = count(input_tokens)
    if usage.output_tokens is None:
        usage.output_tokens = count(output_tokens)
    if call.usage is None and not usage.is_empty():
        call.usage = usage


# --- Converse (and Nova) ----------------------------------------------------------------------


def converse_usage(usage: Any) -> Usage | None:
    """Converse ``usage`` (and Nova's): ``inputTokens`` excludes the cache reads and writes, which
    ``gen_ai.usage.input_tokens`` includes, as the conventions require."""
    if not isinstance(usage, Mapping):
        return None
    uncached = count(usage.get("inputTokens"))
    cache_read = count(usage.get("cacheReadInputTokens", usage.get("cacheReadInputTokenCount")))
    cache_write = count(usage.get("cacheWriteInputTokens", usage.get("cacheWriteInputTokenCount")))
    total_input = None
    if uncached is not None:
        total_input = count(uncached + (cache_read or 0) + (cache_write or 0))
    return Usage(
        input_tokens=total_input,
        output_tokens=count(usage.get("outputTokens")),
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_write,
    )


_CONVERSE_PARAMS = (
    ("maxTokens", sc.GEN_AI_REQUEST_MAX_TOKENS, as_int),
    ("max_new_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS, as_int),  # Nova's InvokeModel body
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE, as_float),
    ("topP", sc.GEN_AI_REQUEST_TOP_P, as_float),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P, as_float),
    ("topK", sc.GEN_AI_REQUEST_TOP_K, as_float),
    ("top_k", sc.GEN_AI_REQUEST_TOP_K, as_float),
    ("stopSequences", sc.GEN_AI_REQUEST_STOP_SEQUENCES, str_list),
)


def camel_params(config: Any, params: dict[str, Any]) -> None:
    """Converse ``inferenceConfig`` (maxTokens, temperature, topP, stopSequences) and Nova's
    ``inferenceConfig`` (max_new_tokens, temperature, top_p, top_k, stopSequences)."""
    if not isinstance(config, Mapping):
        return
    for name, key, convert in _CONVERSE_PARAMS:
        raw = config.get(name)
        if raw is not None:
            value = convert(raw)
            if value is not None:
                params[key] = value


def converse_request(call: LLMCall, api_params: Mapping[str, Any]) -> None:
    camel_params(api_params.get("inferenceConfig"), call.params)
    extra = api_params.get("additionalModelRequestFields")  # top_k for Anthropic, Nova's inferenceConfig.topK
    if isinstance(extra, Mapping):
        top_k = as_float(extra.get("top_k", extra.get("topK")))
        nested = extra.get("inferenceConfig")
        if top_k is None and isinstance(nested, Mapping):
            top_k = as_float(nested.get("topK", nested.get("top_k")))
        if top_k is not None:
            call.params[sc.GEN_AI_REQUEST_TOP_K] = top_k


def block_part(block: Any) -> dict[str, Any] | None:
    """One Converse content block in the GenAI parts schema (``None`` for cache points)."""
    if not isinstance(block, Mapping):
        return {"type": type(block).__name__}
    text = block.get("text")
    if isinstance(text, str):
        return {"type": "text", "content": text}
    tool = block.get("toolUse")
    if isinstance(tool, Mapping):
        return {
            "type": "tool_call",
            "id": as_str(tool.get("toolUseId")),
            "name": as_str(tool.get("name")) or "",
            "arguments": tool.get("input"),
        }
    result = block.get("toolResult")
    if isinstance(result, Mapping):
        return {"type": "tool_call_response", "id": as_str(result.get("toolUseId")), "response": _tool_result(result)}
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, Mapping):
        inner = reasoning.get("reasoningText")
        return {"type": "reasoning", "content": str(inner.get("text") or "") if isinstance(inner, Mapping) else ""}
    guard = block.get("guardContent")
    if isinstance(guard, Mapping):
        inner = guard.get("text")
        return {"type": "text", "content": str(inner.get("text") or "") if isinstance(inner, Mapping) else ""}
    for modality in ("image", "video", "audio"):
        if modality in block:
            return {"type": "blob", "modality": modality, "content": "<omitted>"}
    if "cachePoint" in block:
        return None
    kind = next(iter(block), None)
    return {"type": str(kind) if kind is not None else "unknown"}


def _tool_result(result: Mapping[str, Any]) -> Any:
    items = result.get("content")
    if not isinstance(items, list):
        return None
    out: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("text"), str):
            out.append(item["text"])
        elif isinstance(item, Mapping) and "json" in item:
            out.append(item["json"])
    return out[0] if len(out) == 1 else out


def blocks_parts(blocks: Any) -> list[dict[str, Any]]:
    if isinstance(blocks, str):
        return [{"type": "text", "content": blocks}]
    if not isinstance(blocks, (list, tuple)):
        return []
    return [part for part in (block_part(b) for b in blocks) if part is not None]


def converse_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, (list, tuple)):
        return []
    return [
        {"role": as_str(m.get("role")) or "user", "parts": blocks_parts(m.get("content"))}
        for m in messages
        if isinstance(m, Mapping)
    ]


def converse_output(message: Any, reason: str | None) -> list[dict[str, Any]]:
    blocks = message.get("content") if isinstance(message, Mapping) else None
    return [
        {"role": "assistant", "parts": blocks_parts(blocks), "finish_reason": content.normalize_finish_reason(reason)}
    ]


def read_converse(call: LLMCall, result: Mapping[str, Any], capture: bool) -> None:
    """A Converse response, or Nova's ``InvokeModel`` body (``output.message``, ``stopReason``, ``usage``)."""
    set_finish(call, result.get("stopReason"))
    merge(call, converse_usage(result.get("usage")))
    if capture:
        output = result.get("output")
        message = output.get("message") if isinstance(output, Mapping) else None
        reason = call.finish_reasons[0] if call.finish_reasons else None
        call.output_messages = converse_output(message, reason)


def add_text(state: StreamState, key: int, text: Any) -> None:
    if isinstance(text, str) and text:
        bucket = state.texts.get(key)
        if bucket is None:
            bucket = state.texts[key] = []
        bucket.append(text)


def tool_entry(state: StreamState, index: Any) -> dict[str, Any] | None:
    position = as_int(index) or 0
    if not 0 <= position < MAX_BLOCKS:
        return None
    per_message = state.tool_calls.setdefault(TEXT, {})
    return per_message.setdefault(position, {"id": None, "name": "", "arguments": ""})


def converse_event(call: LLMCall, state: StreamState, event: Mapping[str, Any], capture: bool) -> None:
    """One ConverseStream event (also Nova's ``InvokeModelWithResponseStream`` chunk)."""
    delta_event = event.get("contentBlockDelta")
    if delta_event is not None:
        if capture and isinstance(delta_event, Mapping):
            delta = delta_event.get("delta")
            if isinstance(delta, Mapping):
                if "text" in delta:
                    add_text(state, TEXT, delta.get("text"))
                elif "toolUse" in delta:
                    entry = tool_entry(state, delta_event.get("contentBlockIndex"))
                    fragment = delta.get("toolUse")
                    if entry is not None and isinstance(fragment, Mapping) and isinstance(fragment.get("input"), str):
                        entry["arguments"] += fragment["input"]
                elif "reasoningContent" in delta:
                    reasoning = delta.get("reasoningContent")
                    if isinstance(reasoning, Mapping):
                        add_text(state, REASONING, reasoning.get("text"))
        return
    stop = event.get("messageStop")
    if isinstance(stop, Mapping):
        set_finish(call, stop.get("stopReason"))
        return
    metadata = event.get("metadata")
    if isinstance(metadata, Mapping):
        merge(call, converse_usage(metadata.get("usage")))
        return
    start = event.get("contentBlockStart")
    if capture and isinstance(start, Mapping):
        begin = start.get("start")
        tool = begin.get("toolUse") if isinstance(begin, Mapping) else None
        if isinstance(tool, Mapping):
            entry = tool_entry(state, start.get("contentBlockIndex"))
            if entry is not None:
                entry["id"] = as_str(tool.get("toolUseId"))
                entry["name"] = as_str(tool.get("name")) or ""


def stream_output(call: LLMCall, state: StreamState) -> None:
    """The one output message of a stream, from the accumulated text, reasoning and tool calls."""
    reason = call.finish_reasons[0] if call.finish_reasons else None
    tools = [
        {"id": t["id"], "function": {"name": t["name"], "arguments": t["arguments"]}}
        for _, t in sorted(state.tool_calls.get(TEXT, {}).items())
    ]
    text = "".join(state.texts.get(TEXT, ()))
    message = content.output_message(text or None, reason, tools or None)
    reasoning = "".join(state.texts.get(REASONING, ()))
    if reasoning:
        message["parts"].insert(0, {"type": "reasoning", "content": reasoning})
    call.output_messages = [message]


def converse_chunk_text(event: Any) -> str | None:
    block = event.get("contentBlockDelta") if isinstance(event, Mapping) else None
    delta = block.get("delta") if isinstance(block, Mapping) else None
    text = delta.get("text") if isinstance(delta, Mapping) else None
    return text if isinstance(text, str) else None
