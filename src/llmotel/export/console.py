"""Console exporter: prints each finished trace as an indented tree.

Meant for development: run a program and read what your LLM calls did, one trace at a time::

    trace 4bf92f35  my-agent
    answer_question  1.24s
    ├─ retrieve  12.3ms
    ├─ chat gpt-4o-mini  812ms  tok 120→34  ttfc 45ms  37 chunks
    └─ [tool] execute_tool web_search  230ms  ERROR TimeoutError: read timed out
          ! TimeoutError: read timed out

Use it with the SDK directly::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from llmotel.export.console import ConsoleTraceExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleTraceExporter()))
    trace.set_tracer_provider(provider)

or, with SDK auto-configuration (``opentelemetry-instrument``), ``OTEL_TRACES_EXPORTER=llmotel_console``.

Spans reach an exporter when they end, children before their parents, possibly spread over several
``export`` calls (``BatchSpanProcessor``). The exporter buffers them per trace and prints a tree when
its local root (a span without a parent, or whose parent is remote) arrives. Spans that end after
their root was printed (a stream read after the function that returned it finished) are printed on
their own as a ``(continued)`` block. The buffer is bounded: past ``max_traces`` pending traces or
``max_spans`` pending spans the least recently active trace is printed as it is, marked
``(incomplete)``. ``force_flush()`` and ``shutdown()`` print whatever is still pending.

Output follows the stream: colour only on a TTY (``NO_COLOR`` disables it, ``FORCE_COLOR`` forces
it, ``TERM=dumb`` disables it), ASCII tree guides when the stream's encoding cannot encode the
box-drawing characters, and lines cut to the terminal width (100 columns when not a TTY).

``export``, ``force_flush`` and ``shutdown`` never raise: a failure (say, a closed stream) goes
through llmotel's internal-error guard (counted, logged once) and ``export`` returns
``SpanExportResult.FAILURE``. With ``LLMOTEL_STRICT=1`` (the test suite) the guard raises
``llmotel._safety.InternalError`` instead, so bugs are seen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.semconv.attributes.exception_attributes import EXCEPTION_MESSAGE, EXCEPTION_TYPE
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import Attributes

from llmotel import semconv
from llmotel._safety import internal_error

__all__ = ["ConsoleTraceExporter", "format_trace"]

DEFAULT_MAX_TRACES: Final = 1000
DEFAULT_MAX_SPANS: Final = 10_000
MAX_EVENTS_PER_SPAN: Final = 5
"""Events listed under one span line; the rest are counted."""
MIN_WIDTH: Final = 20
_NON_TTY_WIDTH: Final = 100
_EXCEPTION_EVENT: Final = "exception"
_VALUE_CHARS: Final = 40
"""Longest event attribute value shown (characters)."""

# --- glyphs and styles ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Glyphs:
    tee: str
    last: str
    pipe: str
    space: str
    ellipsis: str
    arrow: str
    micro: str
    bullet: str


_UNICODE: Final = _Glyphs(
    tee="├─ ", last="└─ ", pipe="│  ", space="   ", ellipsis="…", arrow="→", micro="µ", bullet="•"
)
_ASCII: Final = _Glyphs(
    tee="|- ", last="`- ", pipe="|  ", space="   ", ellipsis="...", arrow="->", micro="u", bullet="*"
)
_UNICODE_PROBE: Final = "├─└│…→µ•"

_RESET: Final = "\x1b[0m"
_PLAIN: Final = ""
_BOLD: Final = "1"
_DIM: Final = "2"
_RED: Final = "31"
_YELLOW: Final = "33"
_MAGENTA: Final = "35"
_CYAN: Final = "36"

_Segment = tuple[str, str]
"""A piece of a line: its text and its SGR parameters (``""`` for none)."""

# C0 and C1 control characters (newlines, tabs, ESC...) become spaces: a span name must not move
# the cursor or inject terminal escape sequences.
_CONTROL_TO_SPACE: Final = dict.fromkeys((*range(0x20), *range(0x7F, 0xA0)), " ")


# --- small formatters -------------------------------------------------------------------------


def _clean(text: str) -> str:
    return text.translate(_CONTROL_TO_SPACE)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return _clean(lines[0].strip()) if lines else ""


def _trim_number(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _three_digits(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return _trim_number(f"{value:.1f}")
    return _trim_number(f"{value:.2f}")


def _format_seconds(seconds: float, glyphs: _Glyphs) -> str:
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


def _render(segments: Sequence[_Segment], *, color: bool, width: int, glyphs: _Glyphs) -> str:
    """Join segments into one line of at most ``width`` columns, cut with an ellipsis."""
    if sum(_text_width(text) for text, _ in segments) > width:
        budget = width - _text_width(glyphs.ellipsis)
        cut: list[_Segment] = []
        for text, style in segments:
            piece = _clip(text, budget)
            budget -= _text_width(piece)
            if piece:
                cut.append((piece, style))
            if piece != text:
                break
        segments = [*cut, (glyphs.ellipsis, _PLAIN)]
    if not color:
        return "".join(text for text, _ in segments)
    return "".join(f"\x1b[{style}m{text}{_RESET}" if style and text else text for text, style in segments)


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
    return _clean(value) if value is not None else None


def _format_value(value: object, glyphs: _Glyphs) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_format_value(v, glyphs) for v in value) + "]"
    else:
        text = _clean(str(value))
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - len(glyphs.ellipsis)] + glyphs.ellipsis
    return text


# --- tree formatting --------------------------------------------------------------------------


def _span_id(span: ReadableSpan) -> int:
    context = span.context
    return int(context.span_id) if context is not None else 0


def _has_local_parent(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is not None and not parent.is_remote


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


def _facts(span: ReadableSpan, glyphs: _Glyphs) -> list[_Segment]:
    attrs = span.attributes
    facts: list[_Segment] = []
    error = _error_text(span)
    if error is not None:
        facts.append((error, _RED))
    model = _str_attr(attrs, semconv.GEN_AI_RESPONSE_MODEL) or _str_attr(attrs, semconv.GEN_AI_REQUEST_MODEL)
    if model and model not in span.name:
        facts.append((model, _CYAN))
    if attrs and attrs.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_EXECUTE_TOOL:
        tool = _str_attr(attrs, semconv.GEN_AI_TOOL_NAME)
        if tool and tool not in span.name:
            facts.append((tool, _CYAN))
    tokens_in = _int_attr(attrs, semconv.GEN_AI_USAGE_INPUT_TOKENS)
    tokens_out = _int_attr(attrs, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    if tokens_in is not None or tokens_out is not None:
        shown_in = "?" if tokens_in is None else str(tokens_in)
        shown_out = "?" if tokens_out is None else str(tokens_out)
        facts.append((f"tok {shown_in}{glyphs.arrow}{shown_out}", _PLAIN))
    elif attrs and attrs.get(semconv.LLMOTEL_USAGE_UNKNOWN) is True:
        facts.append(("tok ?", _DIM))
    ttfc = _float_attr(attrs, semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    if ttfc is not None:
        facts.append((f"ttfc {_format_seconds(ttfc, glyphs)}", _PLAIN))
    chunks = _int_attr(attrs, semconv.LLMOTEL_STREAM_CHUNKS)
    if chunks is None:
        chunk_events = sum(1 for event in span.events if event.name == semconv.EVENT_STREAM_CHUNK)
        if chunk_events:
            chunks = chunk_events + (_int_attr(attrs, semconv.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED) or 0)
    if chunks is not None:
        facts.append((f"{chunks} chunk{'' if chunks == 1 else 's'}", _PLAIN))
    if attrs and attrs.get(semconv.LLMOTEL_STREAM_COMPLETED) is False:
        reason = _str_attr(attrs, semconv.LLMOTEL_STREAM_STOP_REASON)
        facts.append((f"stopped early ({reason})" if reason else "stopped early", _YELLOW))
    return facts


def _event_text(event: Event, glyphs: _Glyphs) -> _Segment | None:
    """The line text of an event worth listing, or None for the others."""
    if event.name == _EXCEPTION_EVENT:
        error_type = _str_attr(event.attributes, EXCEPTION_TYPE) or "exception"
        message = _first_line(_raw_str_attr(event.attributes, EXCEPTION_MESSAGE) or "")
        return (f"! {error_type}: {message}" if message else f"! {error_type}", _RED)
    if event.name.startswith(semconv.LLMOTEL_PREFIX) and event.name != semconv.EVENT_STREAM_CHUNK:
        parts = [f"{glyphs.bullet} {_clean(event.name)}"]
        for key, value in (event.attributes or {}).items():
            parts.append(f"{key.rsplit('.', 1)[-1]}={_format_value(value, glyphs)}")
        return (" ".join(parts), _YELLOW)
    return None


def _span_lines(
    span: ReadableSpan,
    *,
    guide: str,
    child_prefix: str,
    has_children: bool,
    top_marker: str | None,
    glyphs: _Glyphs,
    color: bool,
    width: int,
) -> list[str]:
    line: list[_Segment] = [(guide, _DIM)]
    if top_marker:
        line.append((f"[{top_marker}] ", _MAGENTA))
    if span.attributes and span.attributes.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_EXECUTE_TOOL:
        line.append(("[tool] ", _CYAN))
    line.append((_clean(span.name), _BOLD))
    start, end = span.start_time, span.end_time
    duration = _format_seconds((end - start) / 1e9, glyphs) if start is not None and end is not None else "?"
    line.append((f"  {duration}", _DIM))
    for text, style in _facts(span, glyphs):
        line.append(("  ", _PLAIN))
        line.append((text, style))
    lines = [_render(line, color=color, width=width, glyphs=glyphs)]

    listed = [seg for seg in (_event_text(event, glyphs) for event in span.events) if seg is not None]
    if listed:
        indent = (child_prefix + (glyphs.pipe if has_children else glyphs.space), _DIM)
        for text, style in listed[:MAX_EVENTS_PER_SPAN]:
            lines.append(_render([indent, (text, style)], color=color, width=width, glyphs=glyphs))
        if len(listed) > MAX_EVENTS_PER_SPAN:
            more = f"{glyphs.ellipsis} {len(listed) - MAX_EVENTS_PER_SPAN} more"
            lines.append(_render([indent, (more, _DIM)], color=color, width=width, glyphs=glyphs))
    return lines


def _start_key(span: ReadableSpan) -> int:
    return span.start_time or 0


def _format_one_trace(
    trace_id: int,
    spans: Sequence[ReadableSpan],
    *,
    color: bool,
    width: int,
    glyphs: _Glyphs,
    note: str | None,
    orphan_label: str,
) -> list[str]:
    by_id: dict[int, ReadableSpan] = {}
    for span in spans:
        by_id.setdefault(_span_id(span), span)
    children: dict[int, list[ReadableSpan]] = {}
    tops: list[ReadableSpan] = []
    for span_id, span in by_id.items():
        parent = span.parent
        if parent is not None and not parent.is_remote and parent.span_id in by_id and parent.span_id != span_id:
            children.setdefault(parent.span_id, []).append(span)
        else:
            tops.append(span)
    for siblings in children.values():
        siblings.sort(key=_start_key)  # stable: ties keep arrival order
    tops.sort(key=_start_key)

    roots = [span for span in tops if not _has_local_parent(span)]
    resource_span = roots[0] if roots else (tops[0] if tops else spans[0])
    service = resource_span.resource.attributes.get(SERVICE_NAME)
    header: list[_Segment] = [(f"trace {trace_id:032x}"[:14], _BOLD)]
    if isinstance(service, str) and service:
        header.append((f"  {_clean(service)}", _PLAIN))
    if note:
        header.append((f"  ({note})", _YELLOW))
    lines = [_render(header, color=color, width=width, glyphs=glyphs)]

    visited: set[int] = set()
    pending_tops = list(reversed(tops))
    while True:
        if not pending_tops:
            # Spans whose parent links form a cycle are reachable from no top: show them anyway.
            unvisited = [span for span_id, span in by_id.items() if span_id not in visited]
            if not unvisited:
                break
            pending_tops = [unvisited[0]]
        top = pending_tops.pop()
        # (span, guide before its name, prefix of its children's guides, is a top)
        stack: list[tuple[ReadableSpan, str, str, bool]] = [(top, "", "", True)]
        while stack:
            span, guide, child_prefix, is_top = stack.pop()
            span_id = _span_id(span)
            if span_id in visited:
                continue
            visited.add(span_id)
            kids = [kid for kid in children.get(span_id, ()) if _span_id(kid) not in visited]
            lines.extend(
                _span_lines(
                    span,
                    guide=guide,
                    child_prefix=child_prefix,
                    has_children=bool(kids),
                    top_marker=orphan_label if is_top and _has_local_parent(span) else None,
                    glyphs=glyphs,
                    color=color,
                    width=width,
                )
            )
            for index in reversed(range(len(kids))):
                last = index == len(kids) - 1
                stack.append(
                    (
                        kids[index],
                        child_prefix + (glyphs.last if last else glyphs.tee),
                        child_prefix + (glyphs.space if last else glyphs.pipe),
                        False,
                    )
                )
    return lines


def format_trace(
    spans: Iterable[ReadableSpan],
    *,
    color: bool = False,
    width: int = 100,
    ascii_only: bool = False,
    note: str | None = None,
    orphan_label: str = "orphan",
) -> list[str]:
    """Render finished spans as trees, one block per trace (in order of first appearance).

    Each block starts with a header line (``trace <first 8 hex of the id>  <service.name>``, then
    ``(<note>)`` when given); blocks are separated by an empty string. Children are listed under
    their parent in start order; a span whose local parent is not among ``spans`` is shown at the
    top level, marked ``[<orphan_label>]``. No line is wider than ``width`` columns. ``color`` adds
    ANSI SGR codes; ``ascii_only`` replaces the box-drawing guides and other non-ASCII glyphs.
    """
    if width < MIN_WIDTH:
        raise ValueError(f"width must be at least {MIN_WIDTH} columns, got {width}")
    glyphs = _ASCII if ascii_only else _UNICODE
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        context = span.context
        if context is not None:
            by_trace.setdefault(context.trace_id, []).append(span)
    lines: list[str] = []
    for trace_id, trace_spans in by_trace.items():
        if lines:
            lines.append("")
        lines.extend(
            _format_one_trace(
                trace_id,
                trace_spans,
                color=color,
                width=width,
                glyphs=glyphs,
                note=note,
                orphan_label=orphan_label,
            )
        )
    return lines


# --- stream capabilities ----------------------------------------------------------------------


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _auto_color(stream: TextIO) -> bool:
    # Same precedence as CPython's own colouring (Lib/_colorize.py); see https://no-color.org.
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _auto_width(stream: TextIO) -> int:
    if not _isatty(stream):
        return _NON_TTY_WIDTH
    return max(shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def _stream_encoding(stream: TextIO) -> str | None:
    encoding = getattr(stream, "encoding", None)
    return encoding if isinstance(encoding, str) and encoding else None


def _can_encode_unicode(encoding: str | None) -> bool:
    if encoding is None:  # an in-memory text stream: any str goes
        return True
    try:
        _UNICODE_PROBE.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


# --- the exporter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    spans: list[ReadableSpan]
    note: str | None = None
    orphan_label: str = "orphan"


class ConsoleTraceExporter(SpanExporter):
    """A span exporter that prints each finished trace as a tree on a text stream.

    ``out`` is the stream (default: ``sys.stdout`` as it is at print time). ``color``: ``None``
    decides per stream (TTY, ``NO_COLOR``, ``FORCE_COLOR``, ``TERM=dumb``). ``width``: ``None``
    uses the terminal width on a TTY, else 100 columns. ``max_traces`` and ``max_spans`` bound the
    spans held while waiting for their root.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        color: bool | None = None,
        width: int | None = None,
        max_traces: int = DEFAULT_MAX_TRACES,
        max_spans: int = DEFAULT_MAX_SPANS,
    ) -> None:
        if width is not None and width < MIN_WIDTH:
            raise ValueError(f"width must be at least {MIN_WIDTH} columns, got {width}")
        if max_traces < 1 or max_spans < 1:
            raise ValueError("max_traces and max_spans must be at least 1")
        self._out = out
        self._color = color
        self._width = width
        self._max_traces = max_traces
        self._max_spans = max_spans
        self._lock = threading.Lock()
        # trace id -> span id -> span, least recently active trace first
        self._pending: OrderedDict[int, dict[int, ReadableSpan]] = OrderedDict()
        self._pending_spans = 0
        # trace id -> ids of its spans already printed, to print late spans at once (same bounds)
        self._printed: OrderedDict[int, set[int]] = OrderedDict()
        self._printed_ids = 0
        self._wrote_any = False
        self._is_shutdown = False

    # SpanExporter API -------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            with self._lock:
                if self._is_shutdown:
                    return SpanExportResult.FAILURE
                self._write(self._ingest(spans))
        except Exception as exc:
            internal_error("console exporter: export", exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Print every pending span now, as incomplete traces."""
        try:
            with self._lock:
                self._write(self._drain())
        except Exception as exc:
            internal_error("console exporter: force_flush", exc)
            return False
        return True

    def shutdown(self) -> None:
        """Print every pending span; later exports fail."""
        try:
            with self._lock:
                if self._is_shutdown:
                    return
                self._is_shutdown = True
                self._write(self._drain())
        except Exception as exc:
            internal_error("console exporter: shutdown", exc)

    # buffering (called with the lock held) -------------------------------------------------------

    def _ingest(self, spans: Iterable[ReadableSpan]) -> list[_Block]:
        blocks: list[_Block] = []
        for span in spans:
            context = span.context
            if context is None:
                continue
            trace_id, span_id = context.trace_id, context.span_id
            self._add(trace_id, span_id, span)
            parent = span.parent
            if parent is None or parent.is_remote:
                blocks.append(_Block(self._take_subtree(trace_id, span_id)))
            elif parent.span_id in self._printed.get(trace_id, ()):
                # Ended after its parent was printed: print it (and its pending descendants) now.
                blocks.append(_Block(self._take_subtree(trace_id, span_id), note="continued", orphan_label="late"))
            blocks.extend(self._evict())
        return blocks

    def _add(self, trace_id: int, span_id: int, span: ReadableSpan) -> None:
        bucket = self._pending.get(trace_id)
        if bucket is None:
            bucket = self._pending[trace_id] = {}
        else:
            self._pending.move_to_end(trace_id)
        if span_id not in bucket:
            self._pending_spans += 1
        bucket[span_id] = span

    def _take_subtree(self, trace_id: int, span_id: int) -> list[ReadableSpan]:
        bucket = self._pending.get(trace_id)
        if bucket is None:
            return []
        children: dict[int, list[int]] = {}
        for child_id, span in bucket.items():
            parent = span.parent
            if parent is not None and not parent.is_remote:
                children.setdefault(parent.span_id, []).append(child_id)
        taken: list[ReadableSpan] = []
        seen: set[int] = set()
        stack = [span_id]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in bucket:
                taken.append(bucket.pop(current))
                stack.extend(children.get(current, ()))
        self._pending_spans -= len(taken)
        if not bucket:
            del self._pending[trace_id]
        self._remember(trace_id, seen)
        return taken

    def _evict(self) -> list[_Block]:
        blocks: list[_Block] = []
        while self._pending and (len(self._pending) > self._max_traces or self._pending_spans > self._max_spans):
            trace_id, bucket = self._pending.popitem(last=False)
            self._pending_spans -= len(bucket)
            self._remember(trace_id, bucket.keys())
            blocks.append(_Block(list(bucket.values()), note="incomplete"))
        return blocks

    def _drain(self) -> list[_Block]:
        blocks: list[_Block] = []
        while self._pending:
            trace_id, bucket = self._pending.popitem(last=False)
            self._remember(trace_id, bucket.keys())
            blocks.append(_Block(list(bucket.values()), note="incomplete"))
        self._pending_spans = 0
        return blocks

    def _remember(self, trace_id: int, span_ids: Iterable[int]) -> None:
        ids = self._printed.get(trace_id)
        if ids is None:
            ids = self._printed[trace_id] = set()
        else:
            self._printed.move_to_end(trace_id)
        before = len(ids)
        ids.update(span_ids)
        self._printed_ids += len(ids) - before
        while self._printed and (len(self._printed) > self._max_traces or self._printed_ids > self._max_spans):
            _, old = self._printed.popitem(last=False)
            self._printed_ids -= len(old)

    # output ---------------------------------------------------------------------------------------

    def _write(self, blocks: Sequence[_Block]) -> None:
        blocks = [block for block in blocks if block.spans]
        if not blocks:
            return
        stream: TextIO | None = self._out if self._out is not None else getattr(sys, "stdout", None)
        if stream is None:  # pythonw: no console
            return
        encoding = _stream_encoding(stream)
        ascii_only = not _can_encode_unicode(encoding)
        color = self._color if self._color is not None else _auto_color(stream)
        width = self._width if self._width is not None else _auto_width(stream)
        parts: list[str] = []
        for block in blocks:
            lines = format_trace(
                block.spans,
                color=color,
                width=width,
                ascii_only=ascii_only,
                note=block.note,
                orphan_label=block.orphan_label,
            )
            if self._wrote_any:
                parts.append("\n")
            parts.append("\n".join(lines) + "\n")
            self._wrote_any = True
        text = "".join(parts)
        if encoding is not None:
            # Span names may hold characters the stream cannot encode: show "?" rather than fail.
            with contextlib.suppress(LookupError):
                text = text.encode(encoding, "replace").decode(encoding, "replace")
        stream.write(text)
        stream.flush()
