"""Settings read once from the environment.

Every variable llmotel reads is listed here with its meaning. ``settings()`` returns the current
frozen ``Settings``; ``reload_settings()`` reads the environment again (tests, or an application
that changes its environment before instrumenting).

Standard variables:
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
        Content capture switch. ``true``/``1``/``span_only``/``span_and_event`` record prompts and
        completions on spans; anything else (the default) records none. ``event_only`` is accepted
        but llmotel has no log-event output yet, so it records no content and says so once.

llmotel variables:
    LLMOTEL_CONTENT_MAX_LENGTH
        Maximum length, in characters, of one content attribute (default 16384; 0 = no limit).
        Truncation keeps the JSON valid.
    LLMOTEL_STREAM_CHUNK_EVENTS
        Maximum number of ``llmotel.stream.chunk`` events per span (default 10, 0 = none). The
        first and last chunks are always among them; the rest are spread evenly over the stream.
    LLMOTEL_MODEL_ATTRIBUTES_MAX
        Maximum number of ``llmotel.model.*`` configuration attributes per span (default 24, 0 =
        none).
    LLMOTEL_METRICS_ENABLED
        ``false`` turns off the GenAI client metrics (default on).
    LLMOTEL_RATELIMIT_ATTRIBUTES
        ``true`` also records the rate-limit response headers of successful openai / anthropic
        calls (``llmotel.ratelimit.*``: limit, remaining, reset for requests and tokens) on their
        spans (default off: six more attributes per call). The request id and processing time are
        always recorded, and so are the rate-limit headers of a failed call (a 429 among them).
    LLMOTEL_STRICT
        ``1`` raises llmotel's own internal errors instead of logging them (the test suite sets it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

_log = logging.getLogger("llmotel")

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CONTENT_MAX_LENGTH_ENV = "LLMOTEL_CONTENT_MAX_LENGTH"
STREAM_CHUNK_EVENTS_ENV = "LLMOTEL_STREAM_CHUNK_EVENTS"
MODEL_ATTRIBUTES_MAX_ENV = "LLMOTEL_MODEL_ATTRIBUTES_MAX"
METRICS_ENABLED_ENV = "LLMOTEL_METRICS_ENABLED"
RATELIMIT_ATTRIBUTES_ENV = "LLMOTEL_RATELIMIT_ATTRIBUTES"
STRICT_ENV = "LLMOTEL_STRICT"

_TRUE = frozenset({"1", "true", "yes", "on"})
_CAPTURE_ON = frozenset({"1", "true", "yes", "on", "span_only", "span_and_event"})


@dataclass(frozen=True, slots=True)
class Settings:
    """llmotel's configuration, read once from the environment."""

    capture_content: bool = False
    content_max_length: int = 16384
    stream_chunk_events: int = 10
    model_attributes_max: int = 24
    metrics_enabled: bool = True
    ratelimit_attributes: bool = False
    strict: bool = False


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        _log.warning("llmotel: %s=%r is not a whole number; using %d", name, raw, default)
        return default
    if value < 0:
        _log.warning("llmotel: %s=%r is negative; using %d", name, raw, default)
        return default
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in _TRUE


def read_settings() -> Settings:
    """Build ``Settings`` from the current environment."""
    capture_raw = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower()
    if capture_raw == "event_only":
        _log.warning(
            "llmotel: %s=event_only: llmotel records content on spans only; no content is recorded",
            CAPTURE_CONTENT_ENV,
        )
    return Settings(
        capture_content=capture_raw in _CAPTURE_ON,
        content_max_length=_int(CONTENT_MAX_LENGTH_ENV, 16384),
        stream_chunk_events=_int(STREAM_CHUNK_EVENTS_ENV, 10),
        model_attributes_max=_int(MODEL_ATTRIBUTES_MAX_ENV, 24),
        metrics_enabled=_bool(METRICS_ENABLED_ENV, True),
        ratelimit_attributes=_bool(RATELIMIT_ATTRIBUTES_ENV, False),
        strict=_bool(STRICT_ENV, False),
    )


class SettingsHolder:
    """Where the settings in force live (``settings()`` reads them; hot paths read ``current``
    directly and fall back to ``settings()`` while it is ``None``)."""

    current: Settings | None = None


def settings() -> Settings:
    """The settings in force (read from the environment on first use)."""
    current = SettingsHolder.current
    if current is None:
        current = SettingsHolder.current = read_settings()
    return current


def reload_settings() -> Settings:
    """Read the environment again and return the new settings."""
    SettingsHolder.current = read_settings()
    return SettingsHolder.current
