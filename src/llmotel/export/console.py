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
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmotel._safety import internal_error
from llmotel.export._console_format import MAX_EVENTS_PER_SPAN as MAX_EVENTS_PER_SPAN
from llmotel.export._console_format import MIN_WIDTH as MIN_WIDTH
from llmotel.export._console_format import UNICODE_PROBE
from llmotel.export._console_tree import format_trace

__all__ = ["ConsoleTraceExporter", "format_trace"]

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
