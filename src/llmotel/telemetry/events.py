"""Span events from callbacks: ordered across threads, stamped explicitly, on the right span."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from time import time_ns
from typing import Any

from opentelemetry import trace

from llmotel.telemetry.context import Context, current_span

__all__ = ["EVENT_LOCK", "add_event", "event_in"]

EVENT_LOCK = threading.Lock()
"""Serializes callback events so their order on a span is the order they fired, across threads."""


def add_event(span: trace.Span, name: str, attributes: Mapping[str, Any]) -> None:
    """Add a callback event, ordered with every other callback event (explicit, monotonic stamp)."""
    if span.is_recording():
        with EVENT_LOCK:
            span.add_event(name, attributes, timestamp=time_ns())


def event_in(context: Context | None, name: str, attributes: Mapping[str, Any]) -> None:
    """An event on the current span of ``context`` (default: the current context)."""
    add_event(current_span(context), name, attributes)
