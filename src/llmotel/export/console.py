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

Log records (the GenAI ``gen_ai.client.inference.operation.details`` events) reach the tree through
the paired ``ConsoleLogExporter`` (``exporter.log_exporter()``, behind a ``SimpleLogRecordProcessor``
so a record is held before its span, which ends later, is exported)::

    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter.log_exporter()))

Each record is listed under the span whose ``span_id`` it carries, when that span is printed. A
record whose span was printed already is printed at once, on its own (``(continued)``); records
whose span never arrives are printed on their own by ``force_flush()``/``shutdown()``. At most
``max_log_records`` records wait for their span; past that the oldest is dropped, and the count of
dropped records is printed with the next output.

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
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmotel._safety import internal_error
from llmotel.export._console_format import ASCII, UNICODE, UNICODE_PROBE
from llmotel.export._console_format import MAX_EVENTS_PER_SPAN as MAX_EVENTS_PER_SPAN
from llmotel.export._console_format import MIN_WIDTH as MIN_WIDTH
from llmotel.export._console_logs import DEFAULT_MAX_LOG_RECORDS, LogBuffer, dropped_line, format_records, ids_of
from llmotel.export._console_tree import format_trace
from llmotel.telemetry._otel_compat import LogRecordExporter, LogRecordExportResult, ReadableLogRecord

__all__ = ["ConsoleLogExporter", "ConsoleTraceExporter", "format_trace"]

DEFAULT_MAX_TRACES: Final = 1000
DEFAULT_MAX_SPANS: Final = 10_000
_NON_TTY_WIDTH: Final = 100


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
    """``COLUMNS`` when set (piped output included: ``COLUMNS=60 app | less``), else the terminal's
    width, else 100 columns when not writing to a terminal; never below ``MIN_WIDTH``."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return max(int(raw), MIN_WIDTH)
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
        UNICODE_PROBE.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


# --- the exporter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    spans: list[ReadableSpan]
    note: str | None = None
    orphan_label: str = "orphan"
    records: dict[int, list[ReadableLogRecord]] = field(default_factory=dict)
    """Log records of these spans, by span id."""
    loose: list[ReadableLogRecord] = field(default_factory=list)
    """Log records printed without their span (then ``spans`` is empty)."""
    dropped: int = 0


class ConsoleTraceExporter(SpanExporter):
    """A span exporter that prints each finished trace as a tree on a text stream.

    ``out`` is the stream (default: ``sys.stdout`` as it is at print time). ``color``: ``None``
    decides per stream (TTY, ``NO_COLOR``, ``FORCE_COLOR``, ``TERM=dumb``). ``width``: ``None``
    uses the terminal width on a TTY, else 100 columns. ``max_traces`` and ``max_spans`` bound the
    spans held while waiting for their root, ``max_log_records`` the log records held while waiting
    for their span (see ``log_exporter()``).
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        color: bool | None = None,
        width: int | None = None,
        max_traces: int = DEFAULT_MAX_TRACES,
        max_spans: int = DEFAULT_MAX_SPANS,
        max_log_records: int = DEFAULT_MAX_LOG_RECORDS,
    ) -> None:
        if width is not None and width < MIN_WIDTH:
            raise ValueError(f"width must be at least {MIN_WIDTH} columns, got {width}")
        if max_traces < 1 or max_spans < 1 or max_log_records < 1:
            raise ValueError("max_traces, max_spans and max_log_records must be at least 1")
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
        self._logs = LogBuffer(max_log_records)
        self._log_exporter: ConsoleLogExporter | None = None
        self._wrote_any = False
        self._is_shutdown = False

    def log_exporter(self) -> ConsoleLogExporter:
        """The log record exporter whose records this exporter prints under their span (one per
        exporter; use it behind a ``SimpleLogRecordProcessor``)."""
        with self._lock:
            if self._log_exporter is None:
                self._log_exporter = ConsoleLogExporter(self)
            return self._log_exporter

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
                self._write(self._drain(), flushing=True)
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
                self._write(self._drain(), flushing=True)
        except Exception as exc:
            internal_error("console exporter: shutdown", exc)

    def _export_logs(self, records: Sequence[ReadableLogRecord], *, wait: bool = True) -> LogRecordExportResult:
        """Hold each record for its span, or print it now: it has no span, its span is not sampled
        (never exported) or was printed already, or ``wait`` is false."""
        try:
            with self._lock:
                if self._is_shutdown:
                    return LogRecordExportResult.FAILURE
                alone: list[ReadableLogRecord] = []
                late: list[ReadableLogRecord] = []
                for record in records:
                    trace_id, span_id = ids_of(record)
                    flags = record.log_record.trace_flags
                    if not wait or not span_id or (flags is not None and not flags.sampled):
                        alone.append(record)
                    elif span_id in self._printed.get(trace_id, ()):
                        late.append(record)
                    else:
                        self._logs.add(record)
                self._write([_Block([], loose=alone), _Block([], note="continued", orphan_label="late", loose=late)])
        except Exception as exc:
            internal_error("console exporter: export log records", exc)
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    # buffering (called with the lock held) -------------------------------------------------------

    def _block(
        self, trace_id: int, spans: list[ReadableSpan], note: str | None = None, orphan_label: str = "orphan"
    ) -> _Block:
        """A block of spans with the log records waiting for them."""
        span_ids = [span.context.span_id for span in spans if span.context is not None]
        return _Block(spans, note, orphan_label, records=self._logs.take(trace_id, span_ids))

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
                blocks.append(self._block(trace_id, self._take_subtree(trace_id, span_id)))
            elif parent.span_id in self._printed.get(trace_id, ()):
                # Ended after its parent was printed: print it (and its pending descendants) now.
                subtree = self._take_subtree(trace_id, span_id)
                blocks.append(self._block(trace_id, subtree, note="continued", orphan_label="late"))
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
            blocks.append(self._block(trace_id, list(bucket.values()), note="incomplete"))
        return blocks

    def _drain(self) -> list[_Block]:
        blocks: list[_Block] = []
        while self._pending:
            trace_id, bucket = self._pending.popitem(last=False)
            self._remember(trace_id, bucket.keys())
            blocks.append(self._block(trace_id, list(bucket.values()), note="incomplete"))
        self._pending_spans = 0
        blocks.append(_Block([], note="span not seen", orphan_label="", loose=self._logs.drain()))
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

    def _write(self, blocks: Sequence[_Block], *, flushing: bool = False) -> None:
        blocks = [block for block in blocks if block.spans or block.loose]
        if (blocks or flushing) and self._logs.dropped:  # said with the next output, not once per drop
            blocks.append(_Block([], dropped=self._logs.take_dropped()))
        if not blocks:
            return
        stream: TextIO | None = self._out if self._out is not None else getattr(sys, "stdout", None)
        if stream is None:  # pythonw: no console
            return
        encoding = _stream_encoding(stream)
        ascii_only = not _can_encode_unicode(encoding)
        color = self._color if self._color is not None else _auto_color(stream)
        width = self._width if self._width is not None else _auto_width(stream)
        glyphs = ASCII if ascii_only else UNICODE
        parts: list[str] = []
        for block in blocks:
            if block.spans:
                lines = format_trace(
                    block.spans,
                    color=color,
                    width=width,
                    ascii_only=ascii_only,
                    note=block.note,
                    orphan_label=block.orphan_label,
                    records=block.records,
                )
            elif block.loose:
                lines = format_records(
                    block.loose,
                    note=block.note,
                    marker=block.orphan_label if block.note else None,
                    glyphs=glyphs,
                    color=color,
                    width=width,
                )
            else:
                lines = [dropped_line(block.dropped, glyphs=glyphs, color=color, width=width)]
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


class ConsoleLogExporter(LogRecordExporter):
    """A log record exporter that prints each record in a ``ConsoleTraceExporter``'s trees, under
    the span it belongs to.

    Get the one paired with a trace exporter from ``ConsoleTraceExporter.log_exporter()``. Made on
    its own (``ConsoleLogExporter(out=..., color=..., width=...)``), it prints through a console
    exporter of its own that sees no span, so each record is printed when it arrives.
    """

    def __init__(
        self,
        traces: ConsoleTraceExporter | None = None,
        *,
        out: TextIO | None = None,
        color: bool | None = None,
        width: int | None = None,
    ) -> None:
        self._owned = traces is None
        self._traces = ConsoleTraceExporter(out, color=color, width=width) if traces is None else traces
        self._is_shutdown = False

    @property
    def trace_exporter(self) -> ConsoleTraceExporter:
        """The console exporter that prints this exporter's records."""
        return self._traces

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._is_shutdown:
            return LogRecordExportResult.FAILURE
        return self._traces._export_logs(batch, wait=not self._owned)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Paired: nothing to do (the trace exporter's flush prints the records still waiting)."""
        return self._traces.force_flush(timeout_millis) if self._owned else True

    def shutdown(self) -> None:
        """Later exports fail. Paired, the records still waiting are printed by the trace
        exporter's ``force_flush()``/``shutdown()``, after the spans they wait for."""
        self._is_shutdown = True
        if self._owned:
            self._traces.shutdown()
