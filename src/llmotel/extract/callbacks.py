"""Pure mapping of chain-callback arguments to attributes: tool calls, messages, usage,
rate-limit information and response headers. No OpenTelemetry here.

Headers and rate-limit maps go through an allow-list: only request ids, processing time,
retry-after and the rate-limit figures (limit / remaining / reset for requests and tokens) are
kept, so authorization, cookies and keys can never reach a trace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmotel.extract._access import as_str, count, get, maybe_json
from llmotel.extract.response import usage_from
from llmotel.records import Usage

_MAX_VALUE = 128

# (kind, metric) from header names like x-ratelimit-remaining-tokens, anthropic-ratelimit-tokens-reset,
# ratelimit-limit-requests, or from plain info keys like "remaining_requests".
_RATE_KINDS = ("input_tokens", "output_tokens", "requests", "tokens")
_RATE_METRICS = ("limit", "remaining", "reset")
_RATE_KEY = re.compile(r"ratelimit|rate_limit|^(limit|remaining|reset)[-_]|[-_](limit|remaining|reset)$")
_RATE_PREFIX = re.compile(r"^(x_)?([a-z]+_)?rate_?limit_?")

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "anthropic-request-id", "x-amzn-requestid", "apim-request-id")
_PROCESSING_HEADERS = ("openai-processing-ms", "x-processing-ms")


def _norm(key: Any) -> str:
    return str(key).strip().lower().replace("-", "_")


_DIGITS_MAX = 18


def _scalar(value: Any) -> str | int | float | None:
    if type(value) is str:  # the usual header value
        return _text_scalar(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    text = as_str(value) if isinstance(value, str) else None
    return None if text is None else _text_scalar(text)


def _text_scalar(value: str) -> str | int:
    """A header or rate-limit value: an int when it is all ASCII digits (up to 18), else text."""
    text = value.strip()
    if text.isdigit() and text.isascii() and len(text) <= _DIGITS_MAX:
        return int(text)
    return text[:_MAX_VALUE]


def ratelimit_attributes(info: Any, prefix: str = "llmotel.ratelimit") -> dict[str, Any]:
    """``{prefix}.{requests|tokens|input_tokens|output_tokens}.{limit|remaining|reset}`` from a map."""
    if not isinstance(info, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in info.items():
        name = _norm(key)
        if not _RATE_KEY.search(name):
            continue
        rest = _RATE_PREFIX.sub("", name)
        words = set(rest.split("_"))
        kind = next((k for k in _RATE_KINDS if k in rest), None)
        metric = next((m for m in _RATE_METRICS if m in words), None)
        if kind is None or metric is None:
            continue
        scalar = _scalar(value)
        if scalar is not None:
            out[f"{prefix}.{kind}.{metric}"] = scalar
    retry_after = info.get("retry-after", info.get("retry_after"))
    if retry_after is not None and _scalar(retry_after) is not None:
        out[f"{prefix}.retry_after"] = _scalar(retry_after)
    return out


def _header_table() -> dict[str, str]:
    table: dict[str, str] = dict.fromkeys(_REQUEST_ID_HEADERS, "llmotel.response.request_id")
    table.update(dict.fromkeys(_PROCESSING_HEADERS, "llmotel.response.processing_ms"))
    table["retry-after"] = "llmotel.ratelimit.retry_after"
    for metric in _RATE_METRICS:
        for kind in ("requests", "tokens"):  # OpenAI: x-ratelimit-remaining-tokens
            table[f"x-ratelimit-{metric}-{kind}"] = f"llmotel.ratelimit.{kind}.{metric}"
        for kind in ("requests", "tokens", "input-tokens", "output-tokens"):  # anthropic-ratelimit-tokens-reset
            table[f"anthropic-ratelimit-{kind}-{metric}"] = f"llmotel.ratelimit.{kind.replace('-', '_')}.{metric}"
    return table


_HEADERS = _header_table()
"""Exact (lowercase) response header names -> attribute keys: the allow-list, read in one pass."""
_BASIC_HEADERS = {name: a for name, a in _HEADERS.items() if not a.startswith("llmotel.ratelimit.")}
"""The request id and processing time headers only (rate limits off)."""
_RAW_HEADERS = {name.encode("latin-1"): attribute for name, attribute in _HEADERS.items()}
_RAW_BASIC_HEADERS = {name.encode("latin-1"): attribute for name, attribute in _BASIC_HEADERS.items()}


def header_attributes(headers: Any, ratelimits: bool = True) -> dict[str, Any]:
    """Allow-listed facts from HTTP response headers: request id, processing time and (unless
    ``ratelimits`` is false) rate limits.

    One pass over the headers with an exact-name table (this runs on every instrumented call);
    other ``*ratelimit*`` headers go through the general rate-limit parser.
    """
    if headers is None:
        return {}
    raw = _raw_pairs(headers)
    if raw is not None:
        return _raw_header_attributes(raw, ratelimits)
    if not hasattr(headers, "items"):
        return {}
    table = _HEADERS if ratelimits else _BASIC_HEADERS
    out: dict[str, Any] = {}
    others: dict[str, Any] | None = None
    for key, value in headers.items():
        name = key.lower() if type(key) is str else str(key).strip().lower()
        attribute = table.get(name)
        if attribute is not None:
            if attribute not in out:
                _keep(out, attribute, _scalar(value))
        elif ratelimits and "ratelimit" in name:
            if others is None:
                others = {}
            others[name] = value
    if others:
        for attribute, value in ratelimit_attributes(others).items():
            out.setdefault(attribute, value)
    return out


def _raw_pairs(headers: Any) -> list[tuple[bytes, bytes]] | None:
    """httpx-style headers' ``raw`` (name, value) byte pairs, else ``None``: reading them skips
    decoding every header, which ``items()`` does."""
    raw = getattr(type(headers), "raw", None)
    if not isinstance(raw, property):
        return None
    pairs = headers.raw
    if type(pairs) is not list or (pairs and not (type(pairs[0]) is tuple and type(pairs[0][0]) is bytes)):
        return None
    return pairs


def _keep(out: dict[str, Any], attribute: str, scalar: str | int | float | None) -> None:
    """Record one allow-listed header's value (the first one of its attribute wins)."""
    if scalar is None:
        return
    if attribute == "llmotel.response.request_id":
        out[attribute] = str(scalar)
    elif attribute == "llmotel.response.processing_ms":
        if isinstance(scalar, (int, float)):
            out[attribute] = scalar
    else:
        out[attribute] = scalar


def _decode(value: bytes) -> str:
    """A header value as httpx decodes it: UTF-8 where it is valid, else Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _raw_header_attributes(pairs: list[tuple[bytes, bytes]], ratelimits: bool) -> dict[str, Any]:
    """``header_attributes`` for byte pairs: names matched as bytes, only kept values decoded."""
    table = _RAW_HEADERS if ratelimits else _RAW_BASIC_HEADERS
    out: dict[str, Any] = {}
    others: dict[str, Any] | None = None
    for key, value in pairs:
        if type(key) is not bytes or type(value) is not bytes:
            continue
        name = key.lower()
        attribute = table.get(name)
        if attribute is not None:
            if attribute not in out:
                _keep(out, attribute, _scalar(_decode(value)))
        elif ratelimits and b"ratelimit" in name:
            if others is None:
                others = {}
            others.setdefault(name.decode("latin-1"), _decode(value))
    if others:
        for attribute, value in ratelimit_attributes(others).items():
            out.setdefault(attribute, value)
    return out


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
        "description": description[: _MAX_VALUE * 2] if description else None,
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
