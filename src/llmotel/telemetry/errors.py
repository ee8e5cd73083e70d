"""Errors on spans, and text that must never fail: exception events and status, safe ``str``,
bounded UTF-8 text for event attributes."""

from __future__ import annotations

import re
import traceback
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from llmotel.telemetry.attributes import error_type

__all__ = ["bounded_text", "record_error", "redact", "safe_str", "set_error_status", "set_ok_status"]

_STATUS_MAX = 512
_SECRET_HEADER = re.compile(
    r"""(?i)(["']?\b(?:proxy-authorization|authorization|set-cookie|cookie|x-api-key|api-key|x-goog-api-key)"""
    r"""["']?\s*[:=]\s*)(["']?)[^"'\n,}\]]*\2"""
)
_SECRET_TOKEN = re.compile(
    r"\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"
    r"|\bsk-[A-Za-z0-9_-]{6,}"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{12,}"
    r"|\bAIza[0-9A-Za-z_-]{20,}"
)
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """``text`` with secret-looking header values (authorization, cookies, API-key headers) and
    well-known credential formats (bearer tokens, ``sk-`` keys, AWS access keys, Google API keys)
    replaced: SDK exceptions print their response headers (Cohere's ``ApiError``), and an
    exception's text goes onto the span."""
    if not text:
        return text
    text = _SECRET_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    return _SECRET_TOKEN.sub(REDACTED, text)


def safe_str(value: Any) -> str:
    """``str(value)``, or the type's name when the user's ``__str__`` raises."""
    try:
        return str(value)
    except Exception:
        return type(value).__name__


def _describe(message: str, exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {message}"
    return text if len(text) <= _STATUS_MAX else text[: _STATUS_MAX - 1] + "…"


def record_error(span: trace.Span, exc: BaseException, *, escaped: bool = True) -> None:
    """Exception event and ERROR status; an exception whose ``__str__`` raises still gets both.
    Secrets in the exception's text (see ``redact``) reach neither, nor the stack trace."""
    raw = safe_str(exc)
    message = redact(raw)
    try:
        attributes = None
        if message != raw:
            stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            attributes = {"exception.message": message, "exception.stacktrace": redact(stack.replace(raw, message))}
        span.record_exception(exc, attributes=attributes, escaped=escaped)
    except Exception:
        span.add_event("exception", {"exception.type": error_type(exc), "exception.escaped": escaped})
    span.set_status(Status(StatusCode.ERROR, _describe(message, exc)))


def set_error_status(span: trace.Span, description: str) -> None:
    """ERROR status with ``description`` (an error that is not an exception)."""
    span.set_status(Status(StatusCode.ERROR, description))


def set_ok_status(span: trace.Span) -> None:
    """OK status (set explicitly only where the conventions ask for it: tools)."""
    span.set_status(Status(StatusCode.OK))


def bounded_text(text: str, max_length: int) -> str:
    """Content text for an event attribute: at most ``max_length`` characters, valid UTF-8."""
    if 0 < max_length < len(text):
        text = text[: max_length - 1] + "…"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (surrogateescape-decoded bytes)
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text
