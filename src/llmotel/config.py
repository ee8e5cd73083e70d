"""Settings read once from the environment.

Every variable llmotel reads is listed here with its meaning. ``settings()`` returns the current
frozen ``Settings``; ``reload_settings()`` reads the environment again (tests, or an application
that changes its environment before instrumenting).

Standard variables:
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
        Where prompts and completions are recorded (case-insensitive): ``NO_CONTENT`` (the default;
        also ``false``/``0``/unset) nowhere; ``SPAN_ONLY`` (also ``true``/``1``) on spans;
        ``EVENT_ONLY`` on the ``gen_ai.client.inference.operation.details`` log events only;
        ``SPAN_AND_EVENT`` on both. The details events are emitted in the two event modes (with
        content) and never otherwise, unless ``OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT`` says so.
        Any other value records no content and logs one warning.
    OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT
        ``true``/``false``: emit the details log event per call, or not, whatever the content mode
        (events emitted in a span mode carry no content). Unset: on in the two event modes.
    OTEL_SEMCONV_STABILITY_OPT_IN
        With ``gen_ai_latest_experimental`` among its comma-separated values, llmotel also records
        the newest attribute names where the conventions renamed one and backends still read the
        old (today: ``gen_ai.usage.cache_write.input_tokens`` next to
        ``gen_ai.usage.cache_creation.input_tokens``). Nothing is removed or renamed by it.

llmotel variables:
    LLMOTEL_EVENTS_UNSAMPLED
        ``true`` also emits the details log events of calls whose span is not sampled (default off:
        an unsampled call costs no event, and events stay a subset of the traces).
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
    LLMOTEL_RESPONSE_HEADERS
        ``true`` also records the processing time header of successful openai / anthropic calls
        (``llmotel.response.processing_ms``). It is read by a wrapper around the SDK client's
        response handling, installed by ``instrument()`` only when this (or
        ``LLMOTEL_RATELIMIT_ATTRIBUTES``) is on: set it before instrumenting. The request id is
        always recorded (the SDKs read it from the headers themselves), and so are all the
        allow-listed headers of a failed call (a 429's rate limits and retry-after among them).
    LLMOTEL_RATELIMIT_ATTRIBUTES
        ``true`` also records the rate-limit response headers of successful openai / anthropic
        calls (``llmotel.ratelimit.*``: limit, remaining, reset for requests and tokens) on their
        spans (default off: six more attributes per call); implies ``LLMOTEL_RESPONSE_HEADERS``.
    LLMOTEL_PROVIDER_HOSTS
        ``host=provider`` pairs, comma-separated: the ``gen_ai.provider.name`` of calls made with
        the ``openai`` SDK to an OpenAI-compatible host (``llm.internal=vllm``). They win over the
        built-in table (Azure OpenAI, Groq, DeepSeek, Mistral, xAI, Perplexity...); a name that
        starts with ``.`` matches the host's subdomains too (``.corp.example=acme``).
    LLMOTEL_STRICT
        ``1`` raises llmotel's own internal errors instead of logging them (the test suite sets it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

_log = logging.getLogger("llmotel")

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
EMIT_EVENT_ENV = "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"
SEMCONV_OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
EVENTS_UNSAMPLED_ENV = "LLMOTEL_EVENTS_UNSAMPLED"
CONTENT_MAX_LENGTH_ENV = "LLMOTEL_CONTENT_MAX_LENGTH"
STREAM_CHUNK_EVENTS_ENV = "LLMOTEL_STREAM_CHUNK_EVENTS"
MODEL_ATTRIBUTES_MAX_ENV = "LLMOTEL_MODEL_ATTRIBUTES_MAX"
METRICS_ENABLED_ENV = "LLMOTEL_METRICS_ENABLED"
RATELIMIT_ATTRIBUTES_ENV = "LLMOTEL_RATELIMIT_ATTRIBUTES"
RESPONSE_HEADERS_ENV = "LLMOTEL_RESPONSE_HEADERS"
STRICT_ENV = "LLMOTEL_STRICT"
PROVIDER_HOSTS_ENV = "LLMOTEL_PROVIDER_HOSTS"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

NO_CONTENT = "NO_CONTENT"
SPAN_ONLY = "SPAN_ONLY"
EVENT_ONLY = "EVENT_ONLY"
SPAN_AND_EVENT = "SPAN_AND_EVENT"
CONTENT_MODES = (NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT)
"""The values of ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``."""


def content_mode(raw: str | None) -> str | None:
    """The content mode a raw variable value means (``None``: not a valid value)."""
    value = (raw or "").strip()
    upper = value.upper()
    if upper in CONTENT_MODES:
        return upper
    lower = value.lower()
    if not lower or lower in _FALSE:
        return NO_CONTENT
    if lower in _TRUE:
        return SPAN_ONLY
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    """llmotel's configuration, read once from the environment."""

    capture_content: bool = False
    """Content on spans (``SPAN_ONLY``, ``SPAN_AND_EVENT``, ``true``)."""
    content_mode: str = NO_CONTENT
    event_content: bool = False
    """Content on the details log events (``EVENT_ONLY``, ``SPAN_AND_EVENT``)."""
    emit_events: bool = False
    """The details log event is emitted per call."""
    events_unsampled: bool = False
    latest_semconv: bool = False
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` includes ``gen_ai_latest_experimental``."""
    content_max_length: int = 16384
    stream_chunk_events: int = 10
    model_attributes_max: int = 24
    metrics_enabled: bool = True
    ratelimit_attributes: bool = False
    response_headers: bool = False
    """The processing time (and with ``ratelimit_attributes`` the rate limits) of successful SDK
    calls are read from their response headers (``LLMOTEL_RESPONSE_HEADERS``)."""
    strict: bool = False
    provider_hosts: tuple[tuple[str, str], ...] = ()
    """``LLMOTEL_PROVIDER_HOSTS``: (host, provider) pairs, in the order given."""


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


def _pairs(name: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in os.environ.get(name, "").split(","):
        key, sep, value = item.partition("=")
        if not item.strip():
            continue
        if not sep or not key.strip() or not value.strip():
            _log.warning("llmotel: %s entry %r is not host=provider; ignored", name, item)
            continue
        pairs.append((key.strip().lower(), value.strip()))
    return tuple(pairs)


def read_settings() -> Settings:
    """Build ``Settings`` from the current environment."""
    raw = os.environ.get(CAPTURE_CONTENT_ENV, "")
    mode = content_mode(raw)
    if mode is None:
        _log.warning(
            "llmotel: %s=%r is not one of %s; no content is recorded",
            CAPTURE_CONTENT_ENV,
            raw,
            ", ".join(CONTENT_MODES),
        )
        mode = NO_CONTENT
    event_content = mode in (EVENT_ONLY, SPAN_AND_EVENT)
    opt_in = {v.strip().lower() for v in os.environ.get(SEMCONV_OPT_IN_ENV, "").split(",")}
    ratelimits = _bool(RATELIMIT_ATTRIBUTES_ENV, False)
    return Settings(
        capture_content=mode in (SPAN_ONLY, SPAN_AND_EVENT),
        content_mode=mode,
        event_content=event_content,
        emit_events=_bool(EMIT_EVENT_ENV, event_content),
        events_unsampled=_bool(EVENTS_UNSAMPLED_ENV, False),
        latest_semconv="gen_ai_latest_experimental" in opt_in,
        content_max_length=_int(CONTENT_MAX_LENGTH_ENV, 16384),
        stream_chunk_events=_int(STREAM_CHUNK_EVENTS_ENV, 10),
        model_attributes_max=_int(MODEL_ATTRIBUTES_MAX_ENV, 24),
        metrics_enabled=_bool(METRICS_ENABLED_ENV, True),
        ratelimit_attributes=ratelimits,
        response_headers=ratelimits or _bool(RESPONSE_HEADERS_ENV, False),
        strict=_bool(STRICT_ENV, False),
        provider_hosts=_pairs(PROVIDER_HOSTS_ENV),
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
