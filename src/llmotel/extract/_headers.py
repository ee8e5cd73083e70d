"""Response headers and rate-limit maps to attributes, through an allow-list: only request ids,
processing time, retry-after and the rate-limit figures (limit / remaining / reset for requests and
tokens) are kept, so authorization, cookies and keys can never reach a trace. No OpenTelemetry here.

Read by the response side (``read_error``, the SDK integrations' response headers) and by the
chain callbacks (``llmotel.extract.callbacks`` re-exports both public functions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmotel.extract._access import as_str, count

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
