"""Pure mapping of chain-callback arguments to attributes: tool calls, messages, usage,
rate-limit information and response headers. No OpenTelemetry here.

Headers and rate-limit maps go through the allow-list of ``llmotel.extract._headers`` (its two
functions are re-exported here): only request ids, processing time, retry-after and the
rate-limit figures are kept, so authorization, cookies and keys can never reach a trace.
"""

from __future__ import annotations

from typing import Any

from llmotel.extract._access import as_str, count, get, maybe_json
from llmotel.extract._headers import header_attributes as header_attributes
from llmotel.extract._headers import ratelimit_attributes as ratelimit_attributes
from llmotel.extract.response import usage_from
from llmotel.records import Usage

_MAX_DESCRIPTION = 256


def tool_call_facts(tool_call: Any, function: Any = None) -> dict[str, Any]:
    """Name, id, type, description and (raw) arguments of a tool call and its function/tool object."""
    fn = get(tool_call, "function")
    name = as_str(get(tool_call, "name")) or (as_str(get(fn, "name")) if fn is not None else None)
    if name is None and function is not None:
        name = as_str(get(function, "name")) or getattr(function, "__name__", None)
    arguments = get(tool_call, "arguments")
    if arguments is None:
        arguments = get(tool_call, "args")
    if arguments is None and fn is not None:
        arguments = get(fn, "arguments")
    description = as_str(get(function, "description")) if function is not None else None
    if description is None and function is not None and callable(function):
        description = (getattr(function, "__doc__", None) or "").strip().split("\n")[0] or None
    return {
        "name": name or "unknown_tool",
        "call_id": as_str(get(tool_call, "call_id"))
        or as_str(get(tool_call, "id"))
        or as_str(get(tool_call, "tool_call_id")),
        "type": as_str(get(tool_call, "type"))
        if as_str(get(tool_call, "type")) in ("function", "extension", "datastore")
        else "function",
        "description": description[:_MAX_DESCRIPTION] if description else None,
        "arguments": maybe_json(arguments),
    }


def tool_result_content(result: Any) -> Any:
    """A tool result as JSON-able content (for capture only)."""
    content = get(result, "content")
    if content is not None and not isinstance(result, str):
        return content if isinstance(content, (str, int, float, bool, list, dict)) else _text(content)
    return result if isinstance(result, (str, int, float, bool, list, dict)) or result is None else _text(result)


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # the user's __str__ raised
        return f"<{type(value).__name__}>"


def usage_of(value: Any) -> Usage | None:
    """Token usage from a callback's usage argument (OpenAI, Anthropic, LangChain, dict or TokenUsage shapes)."""
    usage = usage_from(value)
    if usage is not None:
        return usage
    inp, out = count(get(value, "input")), count(get(value, "output"))  # Elixir-style %TokenUsage{input, output}
    if inp is None and out is None:
        return None
    return Usage(input_tokens=inp, output_tokens=out)


def message_facts(message: Any) -> dict[str, Any]:
    """Role, content size and tool-call count of a message (no content)."""
    role = get(message, "role")
    role_text = as_str(role) or (str(getattr(role, "value", role)) if role is not None else None)
    content = get(message, "content") if not isinstance(message, str) else message
    size = (
        len(content)
        if isinstance(content, str)
        else sum(len(get(p, "content") or get(p, "text") or "") for p in content if not isinstance(p, str))
        if isinstance(content, (list, tuple))
        else 0
    )
    tool_calls = get(message, "tool_calls") if not isinstance(message, str) else None
    facts: dict[str, Any] = {"llmotel.message.content_size": size}
    if role_text:
        facts["llmotel.message.role"] = role_text
    if isinstance(tool_calls, (list, tuple)):
        facts["llmotel.message.tool_calls"] = len(tool_calls)
    return facts


def delta_texts(deltas: Any) -> list[str]:
    """The text of each delta (strings, or objects/dicts with ``content``/``text``)."""
    items = deltas if isinstance(deltas, (list, tuple)) else [deltas]
    out = []
    for d in items:
        text = d if isinstance(d, str) else get(d, "content")
        if not isinstance(text, str):
            text = get(d, "text") if not isinstance(d, str) else None
        out.append(text if isinstance(text, str) else "")
    return out


def error_type_of(error: Any) -> str:
    """``error.type`` for a tool failure given as an exception, a message or anything else."""
    if isinstance(error, BaseException):
        cls = type(error)
        return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return "_OTHER"
