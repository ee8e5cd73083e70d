"""Errors on spans, and text that must never fail: exception events and status, safe ``str``,
bounded UTF-8 text for event attributes."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from llmotel.telemetry.attributes import error_type

__all__ = ["bounded_text", "record_error", "safe_str", "set_error_status", "set_ok_status"]

_STATUS_MAX = 512


def safe_str(value: Any) -> str:
    """``str(value)``, or the type's name when the user's ``__str__`` raises."""
    try:
        return str(value)
    except Exception:
        return type(value).__name__


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {safe_str(exc)}"
    return text if len(text) <= _STATUS_MAX else text[: _STATUS_MAX - 1] + "…"


def record_error(span: trace.Span, exc: BaseException, *, escaped: bool = True) -> None:
    """Exception event and ERROR status; an exception whose ``__str__`` raises still gets both."""
    try:
        span.record_exception(exc, escaped=escaped)
    except Exception:
        span.add_event("exception", {"exception.type": error_type(exc), "exception.escaped": escaped})
    span.set_status(Status(StatusCode.ERROR, _describe(exc)))


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
