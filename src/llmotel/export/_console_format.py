"""Console exporter: the formatting of one line (a span, its facts, an event) and its glyphs.

Colours (ANSI SGR parameters), column widths and clipping, durations and attribute values. The
tree layout that places these lines is in ``_console_tree``; the exporter is in ``console``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.semconv.attributes.exception_attributes import EXCEPTION_MESSAGE, EXCEPTION_TYPE
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import Attributes

from llmotel import semconv

__all__ = [
    "ASCII",
    "BOLD",
    "CYAN",
    "DIM",
    "MAGENTA",
    "MAX_EVENTS_PER_SPAN",
    "MIN_WIDTH",
    "PLAIN",
    "RED",
    "RESET",
    "UNICODE",
    "UNICODE_PROBE",
    "YELLOW",
    "Glyphs",
    "Segment",
    "clean",
    "format_value",
    "render",
    "span_lines",
]

MAX_EVENTS_PER_SPAN: Final = 5
"""Events listed under one span line; the rest are counted."""
MIN_WIDTH: Final = 20
_EXCEPTION_EVENT: Final = "exception"
_VALUE_CHARS: Final = 40
"""Longest event attribute value shown (characters)."""

# --- glyphs and styles ------------------------------------------------------------------------


@dataclass(frozen=True)
class Glyphs:
    tee: str
    last: str
    pipe: str
    space: str
    ellipsis: str
    arrow: str
    micro: str
    bullet: str


UNICODE: Final = Glyphs(tee="├─ ", last="└─ ", pipe="│  ", space="   ", ellipsis="…", arrow="→", micro="µ", bullet="•")
ASCII: Final = Glyphs(tee="|- ", last="`- ", pipe="|  ", space="   ", ellipsis="...", arrow="->", micro="u", bullet="*")
UNICODE_PROBE: Final = "├─└│…→µ•"

RESET: Final = "\x1b[0m"
PLAIN: Final = ""
BOLD: Final = "1"
DIM: Final = "2"
RED: Final = "31"
YELLOW: Final = "33"
MAGENTA: Final = "35"
CYAN: Final = "36"

Segment = tuple[str, str]
"""A piece of a line: its text and its SGR parameters (``""`` for none)."""

# C0 and C1 control characters (newlines, tabs, ESC...) become spaces: a span name must not move
# the cursor or inject terminal escape sequences.
_CONTROL_TO_SPACE: Final = dict.fromkeys((*range(0x20), *range(0x7F, 0xA0)), " ")


# --- small formatters -------------------------------------------------------------------------


def clean(text: str) -> str:
    return text.translate(_CONTROL_TO_SPACE)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return clean(lines[0].strip()) if lines else ""


def _trim_number(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _three_digits(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return _trim_number(f"{value:.1f}")
    return _trim_number(f"{value:.2f}")


def _format_seconds(seconds: float, glyphs: Glyphs) -> str:
    """Human duration: ``812µs``, ``12.3ms``, ``1.24s``, ``2m05s``, ``1h02m``."""
    if seconds <= 0:
        return f"0{glyphs.micro}s"
    rounded = float(f"{seconds:.3g}")  # pick the unit after rounding: 999.7µs is 1ms, not 1000µs
    if rounded < 1e-3:
        return f"{_three_digits(rounded * 1e6)}{glyphs.micro}s"
    if rounded < 1:
        return f"{_three_digits(rounded * 1e3)}ms"
    if rounded < 60:
        return f"{_three_digits(rounded)}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _text_width(text: str) -> int:
    return sum(_char_width(c) for c in text)


def _clip(text: str, columns: int) -> str:
    """The longest prefix of ``text`` that fits in ``columns``."""
    used = 0
    for i, char in enumerate(text):
        used += _char_width(char)
        if used > columns:
            return text[:i]
    return text


def render(segments: Sequence[Segment], *, color: bool, width: int, glyphs: Glyphs) -> str:
    """Join segments into one line of at most ``width`` columns, cut with an ellipsis."""
    if sum(_text_width(text) for text, _ in segments) > width:
        budget = width - _text_width(glyphs.ellipsis)
        cut: list[Segment] = []
        for text, style in segments:
            piece = _clip(text, budget)
            budget -= _text_width(piece)
            if piece:
                cut.append((piece, style))
            if piece != text:
                break
        segments = [*cut, (glyphs.ellipsis, PLAIN)]
    if not color:
        return "".join(text for text, _ in segments)
    return "".join(f"\x1b[{style}m{text}{RESET}" if style and text else text for text, style in segments)


def _int_attr(attrs: Attributes, key: str) -> int | None:
    value = attrs.get(key) if attrs else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_attr(attrs: Attributes, key: str) -> float | None:
    value = attrs.get(key) if attrs else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _raw_str_attr(attrs: Attributes, key: str) -> str | None:
    value = attrs.get(key) if attrs else None
    return value if isinstance(value, str) and value else None


def _str_attr(attrs: Attributes, key: str) -> str | None:
    value = _raw_str_attr(attrs, key)
    return clean(value) if value is not None else None


def format_value(value: object, glyphs: Glyphs) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        text = "[" + ", ".join(format_value(v, glyphs) for v in value) + "]"
    else:
        text = clean(str(value))
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - len(glyphs.ellipsis)] + glyphs.ellipsis
    return text


# --- one span ---------------------------------------------------------------------------------


def _error_text(span: ReadableSpan) -> str | None:
    if span.status.status_code is not StatusCode.ERROR:
        return None
    error_type = _str_attr(span.attributes, semconv.ERROR_TYPE)
    if error_type is None:
        for event in reversed(span.events):
            if event.name == _EXCEPTION_EVENT:
                error_type = _str_attr(event.attributes, EXCEPTION_TYPE)
                break
    description = _first_line(span.status.description or "")
    if error_type and description:
        # The SDK's description for an escaped exception is "Type: message": don't say Type twice.
        for prefix in {error_type, error_type.rsplit(".", 1)[-1]}:
            if description.startswith(f"{prefix}: "):
                description = description[len(prefix) + 2 :]
                break
    text = "ERROR"
    if error_type:
        text += f" {error_type}"
    if description:
        text += f": {description}"
    return text


def _facts(span: ReadableSpan, glyphs: Glyphs) -> list[Segment]:
    attrs = span.attributes
    facts: list[Segment] = []
    error = _error_text(span)
    if error is not None:
        facts.append((error, RED))
    model = _str_attr(attrs, semconv.GEN_AI_RESPONSE_MODEL) or _str_attr(attrs, semconv.GEN_AI_REQUEST_MODEL)
    if model and model not in span.name:
        facts.append((model, CYAN))
    if attrs and attrs.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_EXECUTE_TOOL:
        tool = _str_attr(attrs, semconv.GEN_AI_TOOL_NAME)
        if tool and tool not in span.name:
            facts.append((tool, CYAN))
    tokens_in = _int_attr(attrs, semconv.GEN_AI_USAGE_INPUT_TOKENS)
    tokens_out = _int_attr(attrs, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    if tokens_in is not None or tokens_out is not None:
        shown_in = "?" if tokens_in is None else str(tokens_in)
        shown_out = "?" if tokens_out is None else str(tokens_out)
        facts.append((f"tok {shown_in}{glyphs.arrow}{shown_out}", PLAIN))
    elif attrs and attrs.get(semconv.LLMOTEL_USAGE_UNKNOWN) is True:
        facts.append(("tok ?", DIM))
    ttfc = _float_attr(attrs, semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    if ttfc is not None:
        facts.append((f"ttfc {_format_seconds(ttfc, glyphs)}", PLAIN))
    chunks = _int_attr(attrs, semconv.LLMOTEL_STREAM_CHUNKS)
    if chunks is None:
        chunk_events = sum(1 for event in span.events if event.name == semconv.EVENT_STREAM_CHUNK)
        if chunk_events:
            chunks = chunk_events + (_int_attr(attrs, semconv.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED) or 0)
    if chunks is not None:
        facts.append((f"{chunks} chunk{'' if chunks == 1 else 's'}", PLAIN))
    if attrs and attrs.get(semconv.LLMOTEL_STREAM_COMPLETED) is False:
        reason = _str_attr(attrs, semconv.LLMOTEL_STREAM_STOP_REASON)
        facts.append((f"stopped early ({reason})" if reason else "stopped early", YELLOW))
    return facts


def _event_text(event: Event, glyphs: Glyphs) -> Segment | None:
    """The line text of an event worth listing, or None for the others."""
    if event.name == _EXCEPTION_EVENT:
        error_type = _str_attr(event.attributes, EXCEPTION_TYPE) or "exception"
        message = _first_line(_raw_str_attr(event.attributes, EXCEPTION_MESSAGE) or "")
        return (f"! {error_type}: {message}" if message else f"! {error_type}", RED)
    if event.name.startswith(semconv.LLMOTEL_PREFIX) and event.name != semconv.EVENT_STREAM_CHUNK:
        parts = [f"{glyphs.bullet} {clean(event.name)}"]
        for key, value in (event.attributes or {}).items():
            parts.append(f"{key.rsplit('.', 1)[-1]}={format_value(value, glyphs)}")
        return (" ".join(parts), YELLOW)
    return None


def span_lines(
    span: ReadableSpan,
    *,
    guide: str,
    child_prefix: str,
    has_children: bool,
    top_marker: str | None,
    glyphs: Glyphs,
    color: bool,
    width: int,
) -> list[str]:
    line: list[Segment] = [(guide, DIM)]
    if top_marker:
        line.append((f"[{top_marker}] ", MAGENTA))
    if span.attributes and span.attributes.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_EXECUTE_TOOL:
        line.append(("[tool] ", CYAN))
    line.append((clean(span.name), BOLD))
    start, end = span.start_time, span.end_time
    duration = _format_seconds((end - start) / 1e9, glyphs) if start is not None and end is not None else "?"
    line.append((f"  {duration}", DIM))
    for text, style in _facts(span, glyphs):
        line.append(("  ", PLAIN))
        line.append((text, style))
    lines = [render(line, color=color, width=width, glyphs=glyphs)]

    listed = [seg for seg in (_event_text(event, glyphs) for event in span.events) if seg is not None]
    if listed:
        indent = (child_prefix + (glyphs.pipe if has_children else glyphs.space), DIM)
        for text, style in listed[:MAX_EVENTS_PER_SPAN]:
            lines.append(render([indent, (text, style)], color=color, width=width, glyphs=glyphs))
        if len(listed) > MAX_EVENTS_PER_SPAN:
            more = f"{glyphs.ellipsis} {len(listed) - MAX_EVENTS_PER_SPAN} more"
            lines.append(render([indent, (more, DIM)], color=color, width=width, glyphs=glyphs))
    return lines
