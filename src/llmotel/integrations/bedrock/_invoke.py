"""The model-specific ``InvokeModel`` / ``InvokeModelWithResponseStream`` bodies, recognized by
their shape (no OpenTelemetry, no ``import botocore``): Anthropic messages, Meta Llama, Amazon
Titan text, Amazon Nova (Converse shapes, read by ``_converse``) and other ``prompt`` bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import content
from llmotel.extract._access import as_int, as_str, count
from llmotel.extract.request import request_params
from llmotel.integrations.bedrock._converse import (
    REASONING,
    TEXT,
    add_text,
    blocks_parts,
    camel_params,
    converse_chunk_text,
    converse_event,
    converse_messages,
    fill_missing,
    finish_reason,
    merge,
    read_converse,
    set_finish,
    tool_entry,
)
from llmotel.records import LLMCall, StreamState, Usage

ANTHROPIC, NOVA, LLAMA, TITAN, PROMPT, UNKNOWN = "anthropic", "nova", "llama", "titan", "prompt", "unknown"


def body_format(body: Any) -> str:
    """Which model family an ``InvokeModel`` request body is written for."""
    if not isinstance(body, Mapping):
        return UNKNOWN
    if "anthropic_version" in body:
        return ANTHROPIC
    if "inputText" in body or "textGenerationConfig" in body:
        return TITAN
    if "messages" in body:
        if "inferenceConfig" in body or "schemaVersion" in body or _converse_shaped(body.get("messages")):
            return NOVA
        return ANTHROPIC
    if "max_gen_len" in body:
        return LLAMA
    if "prompt" in body:
        return PROMPT
    return UNKNOWN


def _converse_shaped(messages: Any) -> bool:
    """Nova messages: content is a list of ``{"text": ...}`` blocks (no ``type`` keys)."""
    if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
        blocks = messages[0].get("content")
        if isinstance(blocks, list) and blocks and isinstance(blocks[0], Mapping):
            return "type" not in blocks[0]
    return False


def invoke_request(call: LLMCall, body: Any) -> None:
    """Operation and request parameters of an ``InvokeModel`` body."""
    kind = body_format(body)
    if kind in (ANTHROPIC, NOVA):
        call.operation = sc.OP_CHAT
    elif kind != UNKNOWN:
        call.operation = sc.OP_TEXT_COMPLETION
    if kind == NOVA:
        camel_params(body.get("inferenceConfig"), call.params)
    elif kind == TITAN:
        config = body.get("textGenerationConfig")
        if isinstance(config, Mapping):
            camel_params({**config, "maxTokens": config.get("maxTokenCount")}, call.params)
    elif kind != UNKNOWN:  # Anthropic, Llama, Mistral, Cohere: snake_case names the defaults know
        request_params(body, {}, call.params)
        if kind == LLAMA:
            max_gen = as_int(body.get("max_gen_len"))
            if max_gen is not None:
                call.params[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_gen


def invoke_input(call: LLMCall, body: Any) -> None:
    """Input messages and system instructions of an ``InvokeModel`` body (capture only)."""
    kind = body_format(body)
    if kind == ANTHROPIC:
        call.input_messages = content.input_messages(body.get("messages"))
        if body.get("system") is not None:
            call.system_instructions = content.system_instructions(body.get("system"))
    elif kind == NOVA:
        call.input_messages = converse_messages(body.get("messages"))
        system = blocks_parts(body.get("system"))
        if system:
            call.system_instructions = system
    elif kind in (TITAN, LLAMA, PROMPT):
        prompt = body.get("inputText") if kind == TITAN else body.get("prompt")
        if isinstance(prompt, str):
            call.input_messages = content.input_messages(prompt)


def read_invoke_body(call: LLMCall, body: Any, capture: bool) -> None:
    """An ``InvokeModel`` response body, recognized by its shape."""
    if not isinstance(body, Mapping):
        return
    if "stop_reason" in body and "content" in body:  # Anthropic messages
        call.response_model = call.response_model or as_str(body.get("model"))
        set_finish(call, body.get("stop_reason"))
        usage = body.get("usage")
        if isinstance(usage, Mapping):
            merge(call, _anthropic_usage(usage))
        if capture:
            call.output_messages = [content.output_message(body.get("content"), call_reason(call))]
    elif "output" in body or "stopReason" in body:  # Nova
        read_converse(call, body, capture)
    elif "generation" in body:  # Llama
        set_finish(call, body.get("stop_reason"))
        fill_missing(call, body.get("prompt_token_count"), body.get("generation_token_count"))
        if capture:
            call.output_messages = [content.output_message(body.get("generation"), call_reason(call))]
    elif isinstance(body.get("results"), list):  # Titan
        results = [r for r in body["results"] if isinstance(r, Mapping)]
        reasons = [finish_reason(r.get("completionReason")) or "error" for r in results]
        if any(r != "error" for r in reasons):
            call.finish_reasons = reasons
        tokens = [n for n in (count(r.get("tokenCount")) for r in results) if n is not None]
        total = sum(tokens) if tokens else None
        fill_missing(call, body.get("inputTextTokenCount"), total)
        if capture:
            call.output_messages = [
                content.output_message(r.get("outputText"), reason) for r, reason in zip(results, reasons, strict=False)
            ]
    elif isinstance(body.get("outputs"), list):  # Mistral text: outputs[].text / stop_reason
        choices = [o for o in body["outputs"] if isinstance(o, Mapping)]
        reasons = [finish_reason(o.get("stop_reason")) or "error" for o in choices]
        if any(r != "error" for r in reasons):
            call.finish_reasons = reasons
        if capture:
            call.output_messages = [
                content.output_message(o.get("text"), reason) for o, reason in zip(choices, reasons, strict=False)
            ]


def call_reason(call: LLMCall) -> str | None:
    return call.finish_reasons[0] if call.finish_reasons else None


def _anthropic_usage(usage: Mapping[str, Any]) -> Usage:
    """Anthropic's usage: ``input_tokens`` excludes the cache reads and writes (added here)."""
    uncached = count(usage.get("input_tokens"))
    cache_read = count(usage.get("cache_read_input_tokens"))
    cache_write = count(usage.get("cache_creation_input_tokens"))
    total = count(uncached + (cache_read or 0) + (cache_write or 0)) if uncached is not None else None
    return Usage(total, count(usage.get("output_tokens")), cache_read, cache_write)


def invoke_chunk(call: LLMCall, state: StreamState, event: Any, capture: bool) -> None:
    """One decoded ``InvokeModelWithResponseStream`` chunk, recognized by its shape."""
    if not isinstance(event, Mapping):
        return
    kind = event.get("type")
    if isinstance(kind, str):  # Anthropic messages stream
        _anthropic_chunk(call, state, kind, event, capture)
    elif "generation" in event:  # Llama
        if capture:
            add_text(state, TEXT, event.get("generation"))
        if event.get("stop_reason") is not None:
            set_finish(call, event.get("stop_reason"))
        prompt = count(event.get("prompt_token_count"))
        generated = count(event.get("generation_token_count"))
        if prompt is not None or generated is not None:  # each chunk reports the running count
            merge(call, Usage(prompt, generated))
    elif "outputText" in event:  # Titan
        if capture:
            add_text(state, TEXT, event.get("outputText"))
        if event.get("completionReason") is not None:
            set_finish(call, event.get("completionReason"))
        merge(call, Usage(count(event.get("inputTextTokenCount")), count(event.get("totalOutputTextTokenCount"))))
    else:  # Nova: the ConverseStream event shapes
        converse_event(call, state, event, capture)
    metrics = event.get("amazon-bedrock-invocationMetrics")  # on the last chunk of every model
    if isinstance(metrics, Mapping):
        fill_missing(call, metrics.get("inputTokenCount"), metrics.get("outputTokenCount"))


def _anthropic_chunk(call: LLMCall, state: StreamState, kind: str, event: Mapping[str, Any], capture: bool) -> None:
    if kind == "content_block_delta":
        if capture:
            delta = event.get("delta")
            if isinstance(delta, Mapping):
                if delta.get("type") == "text_delta":
                    add_text(state, TEXT, delta.get("text"))
                elif delta.get("type") == "input_json_delta":
                    entry = tool_entry(state, event.get("index"))
                    if entry is not None and isinstance(delta.get("partial_json"), str):
                        entry["arguments"] += delta["partial_json"]
                elif delta.get("type") == "thinking_delta":
                    add_text(state, REASONING, delta.get("thinking"))
    elif kind == "message_start":
        message = event.get("message")
        if isinstance(message, Mapping):
            call.response_model = call.response_model or as_str(message.get("model"))
            usage = message.get("usage")
            if isinstance(usage, Mapping):
                merge(call, _anthropic_usage(usage))
    elif kind == "message_delta":
        delta = event.get("delta")
        if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
            set_finish(call, delta.get("stop_reason"))
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            merge(call, Usage(output_tokens=count(usage.get("output_tokens"))))
    elif kind == "content_block_start" and capture:
        block = event.get("content_block")
        if isinstance(block, Mapping) and block.get("type") == "tool_use":
            entry = tool_entry(state, event.get("index"))
            if entry is not None:
                entry["id"] = as_str(block.get("id"))
                entry["name"] = as_str(block.get("name")) or ""


def invoke_chunk_text(event: Any) -> str | None:
    """The text of a decoded ``InvokeModelWithResponseStream`` chunk (for its chunk event)."""
    if not isinstance(event, Mapping):
        return None
    delta = event.get("delta")
    if isinstance(delta, Mapping) and isinstance(delta.get("text"), str):  # Anthropic
        return str(delta["text"])
    for name in ("generation", "outputText"):  # Llama, Titan
        if isinstance(event.get(name), str):
            return str(event[name])
    return converse_chunk_text(event)
