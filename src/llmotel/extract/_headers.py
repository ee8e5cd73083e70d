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
"""Exact (lowercase) response header names -> attribute keys: the allow-list."""
_BASIC_NAMES = frozenset(name for name, a in _HEADERS.items() if not a.startswith("llmotel.ratelimit."))
"""The request id and processing time headers only (rate limits off)."""
_ALL_NAMES = frozenset(_HEADERS)
_RAW_HEADERS = {name.encode("latin-1"): attribute for name, attribute in _HEADERS.items()}
_RAW_BASIC_NAMES = frozenset(name.encode("latin-1") for name in _BASIC_NAMES)
_RAW_ALL_NAMES = frozenset(_RAW_HEADERS)
_REQUEST_ID_NAMES = frozenset(_REQUEST_ID_HEADERS)
_RAW_REQUEST_ID_NAMES = frozenset(name.encode("latin-1") for name in _REQUEST_ID_HEADERS)


def header_attributes(headers: Any, ratelimits: bool = True, request_id_only: bool = False) -> dict[str, Any]:
    """Allow-listed facts from HTTP response headers: request id, processing time and (unless
    ``ratelimits`` is false) rate limits; with ``request_id_only``, the request id alone. Where
    several headers give one attribute, the first one (in the response's order) with a usable
    value wins.

    This runs on every instrumented SDK call: httpx's (and httpx2's) headers are read from their
    lowercase byte triples in one pass of set lookups, and only the values kept are decoded. Other
    ``*ratelimit*`` headers go through the general rate-limit parser.
    """
    if headers is None:
        return {}
    if request_id_only:
        ratelimits = False
    raw_names = _RAW_REQUEST_ID_NAMES if request_id_only else _RAW_ALL_NAMES if ratelimits else _RAW_BASIC_NAMES
    cls = type(headers)
    if cls in _HTTPX_HEADERS or (cls not in _OTHER_HEADERS and _is_httpx_headers(cls)):
        return _from_triples(headers._list, ratelimits, raw_names)
    raw = _raw_pairs(headers)
    if raw is not None:
        triples = [(key, key.lower(), value) for key, value in raw if type(key) is bytes]
        return _from_triples(triples, ratelimits, raw_names)
    if not hasattr(headers, "items"):
        return {}
    names = _REQUEST_ID_NAMES if request_id_only else _ALL_NAMES if ratelimits else _BASIC_NAMES
    out: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for key, value in headers.items():
        name = key.lower() if type(key) is str else str(key).strip().lower()
        if name in names:
            attribute = _HEADERS[name]
            if attribute not in out:
                _keep(out, attribute, value if type(value) is str else _scalar(value))
        elif ratelimits and "ratelimit" in name:
            others.setdefault(name, value)
    return _with_others(out, others)


def _from_triples(
    triples: list[tuple[bytes, bytes, bytes]], ratelimits: bool, names: frozenset[bytes]
) -> dict[str, Any]:
    """``header_attributes`` of ``(raw name, lowercase name, value)`` byte triples."""
    out: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for _, name, value in triples:
        if name in names:
            attribute = _RAW_HEADERS[name]
            if attribute not in out and type(value) is bytes:
                _keep(out, attribute, _decode(value))
        elif ratelimits and b"ratelimit" in name and type(value) is bytes:
            others.setdefault(name.decode("latin-1"), _decode(value))
    return _with_others(out, others)


def _with_others(out: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    """``out`` plus what the general rate-limit parser reads from the other rate-limit headers."""
    if others:
        for attribute, value in ratelimit_attributes(others).items():
            out.setdefault(attribute, value)
    return out


_HTTPX_HEADERS: set[type] = set()
"""``httpx.Headers`` / ``httpx2.Headers``, once seen: their ``_list`` of ``(raw name, lowercase
name, value)`` byte triples is read directly."""
_OTHER_HEADERS: set[type] = set()


def _is_httpx_headers(cls: type) -> bool:
    """``cls`` is an httpx-style ``Headers`` whose ``_list`` holds those triples (probed once per
    class, on an instance of its own; any other class takes the general paths)."""
    ok = False
    if cls.__name__ == "Headers" and cls.__module__.split(".")[0] in ("httpx", "httpx2"):
        try:
            ok = cls({"X-Probe": "v"})._list == [(b"X-Probe", b"x-probe", b"v")]
        except Exception:
            ok = False
    known = _HTTPX_HEADERS if ok else _OTHER_HEADERS
    if len(known) < 64:
        known.add(cls)
    return ok


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


_REQUEST_ID = "llmotel.response.request_id"
_PROCESSING_MS = "llmotel.response.processing_ms"


def _keep(out: dict[str, Any], attribute: str, value: str | int | float | None) -> None:
    """Record one allow-listed header's value: a request id as text (never an empty one), a
    processing time only as a number (text: whole digits), a rate-limit figure as a number where
    it is one. Text is what headers carry; numbers come from mappings given by callbacks."""
    if type(value) is str:
        text = value.strip()
        if attribute == _REQUEST_ID:
            if text:
                out[attribute] = text[:_MAX_VALUE]
        elif attribute == _PROCESSING_MS:
            if text.isdigit() and text.isascii() and len(text) <= _DIGITS_MAX:
                out[attribute] = int(text)
        else:
            out[attribute] = _text_scalar(text)
    elif value is not None:
        out[attribute] = str(value) if attribute == _REQUEST_ID else value


def _decode(value: bytes) -> str:
    """A header value as httpx decodes it: UTF-8 where it is valid, else Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
