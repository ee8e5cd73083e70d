"""Map provider messages and outputs to the GenAI parts schema (only called with content capture on).

Shapes understood by duck typing: OpenAI chat messages and content parts (dicts or objects),
Anthropic messages and content blocks, LlamaIndex ``ChatMessage`` (enum roles, ``blocks``),
LangChain messages (``type`` = human/ai/system/tool), and plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel.extract._access import as_str, get, maybe_json

Part = dict[str, Any]
Message = dict[str, Any]

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "chatbot": "assistant", "model": "assistant"}

FINISH_REASON_MAP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "pause_turn": "stop",
    "refusal": "content_filter",
}


def normalize_finish_reason(reason: str | None) -> str:
    """Map a provider finish reason to the output-message schema's vocabulary."""
    if not reason:
        return "error"
    return FINISH_REASON_MAP.get(reason, reason)


def _role(msg: Any) -> str:
    role = get(msg, "role")
    if role is None:
        role = get(msg, "type")  # LangChain messages
    text = as_str(role) or (str(getattr(role, "value", role)) if role is not None else "user")
    return _ROLE_ALIASES.get(text, text)


def _tool_call_part(call: Any) -> Part:
    function = get(call, "function")
    if function is not None:  # OpenAI shape
        name = get(function, "name")
        arguments = maybe_json(get(function, "arguments"))
    else:  # LangChain / generic shape
        name = get(call, "name")
        arguments = get(call, "args")
        if arguments is None:
            arguments = maybe_json(get(call, "arguments") or get(call, "input"))
    part: Part = {"type": "tool_call", "id": as_str(get(call, "id")), "name": as_str(name) or ""}
    if arguments is not None:
        part["arguments"] = arguments
    return part


def content_parts(content: Any) -> list[Part]:
    """Parts for a message content: a string, a list of parts/blocks, or a single block."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    if isinstance(content, (list, tuple)):
        parts: list[Part] = []
        for item in content:
            parts.extend(content_parts(item))
        return parts
    return [_block_part(content)]


def _block_part(block: Any) -> Part:
    kind = as_str(get(block, "type")) or as_str(get(block, "block_type"))
    text = get(block, "text")
    if kind in (None, "text", "input_text", "output_text") and isinstance(text, str):
        return {"type": "text", "content": text}
    if kind in ("thinking", "reasoning"):
        return {"type": "reasoning", "content": str(get(block, "thinking") or text or "")}
    if kind == "tool_use":  # Anthropic
        return {
            "type": "tool_call",
            "id": as_str(get(block, "id")),
            "name": as_str(get(block, "name")) or "",
            "arguments": get(block, "input"),
        }
    if kind == "tool_result":  # Anthropic
        return {
            "type": "tool_call_response",
            "id": as_str(get(block, "tool_use_id")),
            "response": _plain(get(block, "content")),
        }
    if kind == "image_url":
        url = get(get(block, "image_url"), "url")
        return {"type": "uri", "modality": "image", "uri": _uri(url)}
    if kind == "image":
        return {"type": "blob", "modality": "image", "content": "<omitted>"}
    if kind in ("input_audio", "audio"):
        return {"type": "blob", "modality": "audio", "content": "<omitted>"}
    if isinstance(text, str):
        return {"type": "text", "content": text}
    return {"type": kind or type(block).__name__}


def _uri(url: Any) -> str:
    if not isinstance(url, str):
        return ""
    return "data:<omitted>" if url.startswith("data:") else url


def _plain(value: Any) -> Any:
    """A JSON-friendly version of a tool result or argument."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    text = get(value, "text")
    if isinstance(text, str):
        return text
    return str(value)


def message(msg: Any) -> Message:
    """One chat message in the GenAI parts schema."""
    if isinstance(msg, str):
        return {"role": "user", "parts": [{"type": "text", "content": msg}]}
    role = _role(msg)
    blocks = get(msg, "blocks")  # LlamaIndex: every block (``content`` joins only the text ones)
    content = blocks if isinstance(blocks, list) and blocks else get(msg, "content")
    parts = content_parts(content)
    if role == "tool":
        extra = get(msg, "additional_kwargs")
        tool_id = as_str(get(msg, "tool_call_id")) or (
            as_str(get(extra, "tool_call_id")) if isinstance(extra, Mapping) else None
        )
        response = _plain(get(msg, "content") if content is blocks else content)
        parts = [{"type": "tool_call_response", "id": tool_id, "response": response}]
    tool_calls = get(msg, "tool_calls")
    if tool_calls is None:
        extra = get(msg, "additional_kwargs")
        tool_calls = get(extra, "tool_calls") if extra is not None else None
    if isinstance(tool_calls, (list, tuple)):
        parts.extend(_tool_call_part(c) for c in tool_calls)
    result: Message = {"role": role, "parts": parts}
    name = as_str(get(msg, "name"))
    if name:
        result["name"] = name
    return result


def input_messages(messages: Any) -> list[Message]:
    """A list of chat messages (or a single prompt string) in the GenAI parts schema."""
    if messages is None:
        return []
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, (list, tuple)):
        return [message(messages)]
    return [message(m) for m in messages]


def system_instructions(system: Any) -> list[Part] | None:
    """``system=`` / ``instructions=`` passed separately from the messages, as parts."""
    parts = content_parts(system)
    return parts or None


def output_message(content: Any, finish_reason: str | None, tool_calls: Any = None) -> Message:
    """One output message (one per choice) in the GenAI parts schema."""
    parts = content_parts(content)
    if isinstance(tool_calls, (list, tuple)):
        parts.extend(_tool_call_part(c) for c in tool_calls)
    return {"role": "assistant", "parts": parts, "finish_reason": normalize_finish_reason(finish_reason)}
