"""Console exporter: the tree layout of finished spans.

Groups spans by trace and by parent, orders siblings by start time and draws the guides; each
span's own lines come from ``_console_format``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan

from llmotel.export._console_format import (
    ASCII,
    BOLD,
    MIN_WIDTH,
    PLAIN,
    UNICODE,
    YELLOW,
    Glyphs,
    Segment,
    clean,
    render,
    span_lines,
)
from llmotel.export._console_logs import record_lines
from llmotel.telemetry._otel_compat import ReadableLogRecord

__all__ = ["format_trace"]


def _span_id(span: ReadableSpan) -> int:
    context = span.context
    return int(context.span_id) if context is not None else 0


def _has_local_parent(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is not None and not parent.is_remote


def _start_key(span: ReadableSpan) -> int:
    return span.start_time or 0


def _format_one_trace(
    trace_id: int,
    spans: Sequence[ReadableSpan],
    *,
    color: bool,
    width: int,
    glyphs: Glyphs,
    note: str | None,
    orphan_label: str,
    records: Mapping[int, Sequence[ReadableLogRecord]],
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
    header: list[Segment] = [(f"trace {trace_id:032x}"[:14], BOLD)]
    if isinstance(service, str) and service:
        header.append((f"  {clean(service)}", PLAIN))
    if note:
        header.append((f"  ({note})", YELLOW))
    lines = [render(header, color=color, width=width, glyphs=glyphs)]

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
                span_lines(
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
            span_records = records.get(span_id)
            if span_records:
                indent = child_prefix + (glyphs.pipe if kids else glyphs.space)
                lines.extend(record_lines(span_records, indent=indent, glyphs=glyphs, color=color, width=width))
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
    records: Mapping[int, Sequence[ReadableLogRecord]] | None = None,
) -> list[str]:
    """Render finished spans as trees, one block per trace (in order of first appearance).

    Each block starts with a header line (``trace <first 8 hex of the id>  <service.name>``, then
    ``(<note>)`` when given); blocks are separated by an empty string. Children are listed under
    their parent in start order; a span whose local parent is not among ``spans`` is shown at the
    top level, marked ``[<orphan_label>]``. No line is wider than ``width`` columns. ``color`` adds
    ANSI SGR codes; ``ascii_only`` replaces the box-drawing guides and other non-ASCII glyphs.
    ``records`` (span id -> log records, e.g. the GenAI details events) are listed under their span,
    after its span events.
    """
    if width < MIN_WIDTH:
        raise ValueError(f"width must be at least {MIN_WIDTH} columns, got {width}")
    glyphs = ASCII if ascii_only else UNICODE
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
                records=records or {},
            )
        )
    return lines
