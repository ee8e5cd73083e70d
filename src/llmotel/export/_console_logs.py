"""Console exporter: log records (the GenAI details events) shown under their span.

``LogBuffer`` holds records until their span is printed, bounded: past ``max_records`` the oldest
record is dropped and counted. ``record_lines`` renders one span's records as indented lines:

    event gen_ai.client.inference.operation.details
      system  be brief
      in      user: what is 2+2?
      out     assistant: 4  [stop]

and ``format_records`` prints records whose span was never seen (or was printed already) on their
own, one block per trace. Messages are read in the GenAI parts schema (``role``, ``parts`` of
``text``/``tool_call``/``tool_call_response``/..., ``finish_reason``), structured or as a JSON
string; every line is cut to the width like the span lines.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from llmotel import semconv
from llmotel.export._console_format import (
    BOLD,
    CYAN,
    DIM,
    MAGENTA,
    PLAIN,
    YELLOW,
    Glyphs,
    Segment,
    clean,
    format_value,
    render,
)
from llmotel.telemetry._otel_compat import ReadableLogRecord, attributes, event_name

__all__ = [
    "DEFAULT_MAX_LOG_RECORDS",
    "MAX_RECORDS_PER_SPAN",
    "LogBuffer",
    "dropped_line",
    "format_records",
    "ids_of",
    "record_lines",
]

DEFAULT_MAX_LOG_RECORDS: Final = 1000
"""Log records held while waiting for their span."""
MAX_RECORDS_PER_SPAN: Final = 3
"""Log records listed under one span; the rest are counted."""
_MESSAGES_SHOWN: Final = 3
"""Messages shown per content line (the last ones; the earlier are counted)."""
_PIECE_CHARS: Final = 200
"""Longest text of one message part kept before the line is cut to the width."""
_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
# content attribute -> its label on the console, in display order
_CONTENT_LABELS: Final = (
    (semconv.GEN_AI_SYSTEM_INSTRUCTIONS, "system"),
    (semconv.GEN_AI_INPUT_MESSAGES, "in"),
    (semconv.GEN_AI_OUTPUT_MESSAGES, "out"),
    (_TOOL_DEFINITIONS, "tools"),
)
_LABEL_WIDTH: Final = max(len(label) for _, label in _CONTENT_LABELS) + 2


def ids_of(record: ReadableLogRecord) -> tuple[int, int]:
    """The record's (trace id, span id); 0 where it has none."""
    log = record.log_record
    return int(log.trace_id or 0), int(log.span_id or 0)


# --- the buffer -------------------------------------------------------------------------------


class LogBuffer:
    """Records waiting for their span, oldest first, at most ``max_records`` of them."""

    def __init__(self, max_records: int) -> None:
        self._max = max_records
        self._next = 0
        self._records: OrderedDict[int, tuple[tuple[int, int], ReadableLogRecord]] = OrderedDict()
        self._by_span: dict[tuple[int, int], list[int]] = {}
        self.dropped = 0
        """Records dropped because the buffer was full, since the last ``take_dropped()``."""

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: ReadableLogRecord) -> None:
        key = ids_of(record)
        self._records[self._next] = (key, record)
        self._by_span.setdefault(key, []).append(self._next)
        self._next += 1
        while len(self._records) > self._max:
            _, (old_key, _) = self._records.popitem(last=False)
            sequence = self._by_span[old_key]
            sequence.pop(0)  # the oldest record overall is the oldest of its span
            if not sequence:
                del self._by_span[old_key]
            self.dropped += 1

    def take(self, trace_id: int, span_ids: Iterable[int]) -> dict[int, list[ReadableLogRecord]]:
        """Remove and return the records of these spans, by span id, in arrival order."""
        taken: dict[int, list[ReadableLogRecord]] = {}
        for span_id in span_ids:
            sequence = self._by_span.pop((trace_id, span_id), None)
            if sequence:
                taken[span_id] = [self._records.pop(n)[1] for n in sequence]
        return taken

    def drain(self) -> list[ReadableLogRecord]:
        """Remove and return every record, oldest first."""
        records = [record for _, record in self._records.values()]
        self._records.clear()
        self._by_span.clear()
        return records

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped


# --- content --------------------------------------------------------------------------------------


def _structured(value: object) -> object:
    """A content attribute as structured data: JSON strings (content on spans) are parsed."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _short(text: str, glyphs: Glyphs) -> str:
    text = " ".join(clean(text).split())
    return text if len(text) <= _PIECE_CHARS else text[: _PIECE_CHARS - 1] + glyphs.ellipsis


def _compact_json(value: object, glyphs: Glyphs) -> str:
    if isinstance(value, str):
        return _short(value, glyphs)
    try:
        return _short(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str), glyphs)
    except (TypeError, ValueError):
        return _short(str(value), glyphs)


def _part_text(part: object, glyphs: Glyphs) -> str:
    if not isinstance(part, Mapping):
        return _compact_json(part, glyphs)
    kind = part.get("type")
    if kind == "tool_call":
        name = part.get("name")
        return f"{glyphs.arrow}{clean(str(name or 'tool'))}({_compact_json(part.get('arguments', ''), glyphs)})"
    if kind == "tool_call_response":
        return f"{glyphs.arrow}{_compact_json(part.get('response', part.get('result', '')), glyphs)}"
    content = part.get("content")
    if content is not None:
        text = _compact_json(content, glyphs)
        return f"({kind}) {text}" if kind not in (None, "text") else text
    return f"[{clean(str(kind))}]" if kind else _compact_json(part, glyphs)


def _parts_text(parts: object, glyphs: Glyphs) -> str:
    if isinstance(parts, Sequence) and not isinstance(parts, (str, bytes)):
        return " ".join(_part_text(part, glyphs) for part in parts)
    return _part_text(parts, glyphs)


def _message_text(message: object, glyphs: Glyphs) -> str:
    if not isinstance(message, Mapping):
        return _part_text(message, glyphs)
    text = _parts_text(message.get("parts", message.get("content", "")), glyphs)
    role = message.get("role")
    if role:
        text = f"{clean(str(role))}: {text}"
    finish = message.get("finish_reason")
    if finish:
        text += f"  [{clean(str(finish))}]"
    return text


def _content_text(key: str, value: object, glyphs: Glyphs) -> str:
    value = _structured(value)
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return _compact_json(value, glyphs)
    if key == semconv.GEN_AI_SYSTEM_INSTRUCTIONS:
        return _parts_text(value, glyphs)
    if key == _TOOL_DEFINITIONS:
        names = [clean(str(t.get("name"))) if isinstance(t, Mapping) else "?" for t in value]
        return ", ".join(names)
    shown = [_message_text(message, glyphs) for message in value[-_MESSAGES_SHOWN:]]
    earlier = len(value) - len(shown)
    prefix = f"(+{earlier} earlier) " if earlier > 0 else ""
    return prefix + " | ".join(shown)


# --- lines ----------------------------------------------------------------------------------------


def _headline(record: ReadableLogRecord, glyphs: Glyphs) -> list[Segment]:
    log = record.log_record
    name = event_name(log)
    segments: list[Segment] = [("event ", DIM), (clean(name), MAGENTA)] if name else [("log", DIM)]
    if not name and (log.severity_text or log.severity_number is not None):
        level = log.severity_text or getattr(log.severity_number, "name", "")
        segments.append((f" {clean(str(level))}", YELLOW))
    if log.body is not None and log.body != "":
        segments.append((f"  {_compact_json(log.body, glyphs)}", PLAIN))
    if name != semconv.EVENT_INFERENCE_DETAILS:  # the details event repeats its span's attributes
        content_keys = {key for key, _ in _CONTENT_LABELS}
        for key, value in attributes(log).items():
            if key not in content_keys:
                segments.append((f"  {key.rsplit('.', 1)[-1]}={format_value(value, glyphs)}", PLAIN))
    return segments


def _one_record(
    record: ReadableLogRecord, indent: str, marker: str | None, *, glyphs: Glyphs, color: bool, width: int
) -> list[str]:
    head: list[Segment] = [(indent, DIM)]
    if marker:
        head.append((f"[{marker}] ", MAGENTA))
    head.extend(_headline(record, glyphs))
    lines = [render(head, color=color, width=width, glyphs=glyphs)]
    attrs = record.log_record.attributes or {}
    for key, label in _CONTENT_LABELS:
        if key in attrs:
            text = _content_text(key, attrs[key], glyphs)
            segments: list[Segment] = [(indent + "  ", DIM), (label.ljust(_LABEL_WIDTH), CYAN), (text, PLAIN)]
            lines.append(render(segments, color=color, width=width, glyphs=glyphs))
    return lines


def record_lines(
    records: Sequence[ReadableLogRecord], *, indent: str, glyphs: Glyphs, color: bool, width: int
) -> list[str]:
    """The lines of one span's records, each line starting with ``indent`` (the span's guides)."""
    lines: list[str] = []
    for record in records[:MAX_RECORDS_PER_SPAN]:
        lines.extend(_one_record(record, indent, None, glyphs=glyphs, color=color, width=width))
    if len(records) > MAX_RECORDS_PER_SPAN:
        more = f"{glyphs.ellipsis} {len(records) - MAX_RECORDS_PER_SPAN} more events"
        lines.append(render([(indent, DIM), (more, DIM)], color=color, width=width, glyphs=glyphs))
    return lines


def format_records(
    records: Sequence[ReadableLogRecord],
    *,
    note: str | None,
    marker: str | None,
    glyphs: Glyphs,
    color: bool,
    width: int,
) -> list[str]:
    """Records printed without their span: one block per trace (blocks separated by ``""``), its
    header noted ``(<note>)``, each record marked ``[<marker> span <8 hex>]``; records outside any
    trace come last."""
    by_trace: dict[int, list[ReadableLogRecord]] = {}
    for record in records:
        by_trace.setdefault(ids_of(record)[0], []).append(record)
    if 0 in by_trace:
        by_trace[0] = by_trace.pop(0)  # last
    lines: list[str] = []
    for trace_id, trace_records in by_trace.items():
        if lines:
            lines.append("")
        header: list[Segment] = [(f"trace {trace_id:032x}"[:14] if trace_id else "events", BOLD)]
        if note or not trace_id:
            header.append((f"  ({note})" if trace_id else "  (no span)", YELLOW))
        lines.append(render(header, color=color, width=width, glyphs=glyphs))
        for record in trace_records:
            span_id = ids_of(record)[1]
            label = f"{marker + ' ' if marker else ''}span {f'{span_id:016x}'[:8]}" if span_id else None
            lines.extend(_one_record(record, "", label, glyphs=glyphs, color=color, width=width))
    return lines


def dropped_line(count: int, *, glyphs: Glyphs, color: bool, width: int) -> str:
    """The line saying ``count`` records were dropped because the buffer was full."""
    text = f"{glyphs.ellipsis} {count} log event{'' if count == 1 else 's'} dropped (buffer full)"
    return render([(text, YELLOW)], color=color, width=width, glyphs=glyphs)
