"""Chunk events put on the SDK's own spans without the SDK re-checking what llmotel built.

``Span.add_event`` wraps the attributes in a new ``BoundedAttributes`` (a lock, a copy and a type
check of every value) and then appends an ``Event``: about 40k instructions per event, most of what
a stream's chunk events cost. llmotel builds its chunk events' attributes itself (counts, a bounded
finish reason, text bounded by ``LLMOTEL_CONTENT_MAX_LENGTH``) and keeps their number within the
span's event limit, so for the SDK's own span class, with limits that could not cut any of them,
``event_appender`` hands out the span's ``_add_event``, which takes an ``Event`` built directly
(12k instructions; it still refuses an ended span and keeps the event limit). Any other span (a
subclass, another SDK, an attribute-length limit) gets ``None``: use ``span.add_event``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from opentelemetry.sdk.trace import Event as SdkEvent
    from opentelemetry.sdk.trace import Span as _SdkSpan
    from opentelemetry.sdk.trace import _Span as _SdkSpanImpl
except ImportError:  # pragma: no cover - the SDK is a dependency; a stripped one falls back
    SdkEvent = None  # type: ignore[assignment,misc]
    _SDK_SPANS: frozenset[type] = frozenset()
else:
    _SDK_SPANS = frozenset(cls for cls in (_SdkSpan, _SdkSpanImpl) if callable(getattr(cls, "_add_event", None)))

__all__ = ["SdkEvent", "event_appender"]


def event_appender(span: Any, attributes_per_event: int) -> Callable[[Any], None] | None:
    """``span._add_event`` when ``span`` is the SDK's own and its limits keep events of up to
    ``attributes_per_event`` attributes whole (then pass it ``SdkEvent(name, attributes, timestamp)``,
    never a mapping that will change); else ``None``."""
    if type(span) not in _SDK_SPANS:
        return None
    limits = getattr(span, "_limits", None)
    if limits is None or getattr(limits, "max_attribute_length", None) is not None:
        return None
    max_attributes = getattr(limits, "max_event_attributes", None)
    if max_attributes is not None and max_attributes < attributes_per_event:
        return None
    add: Callable[[Any], None] = span._add_event
    return add
