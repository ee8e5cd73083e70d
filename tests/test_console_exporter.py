"""ConsoleTraceExporter: real SDK spans printed as trees, with their log records (ConsoleLogExporter)."""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags, Tracer
from opentelemetry.util.types import AttributeValue

from llmotel import internal_error_counts, semconv
from llmotel._safety import InternalError
from llmotel.export.console import ConsoleLogExporter, ConsoleTraceExporter, format_trace

T0 = 1_700_000_000_000_000_000
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeTTY(io.StringIO):
    """An in-memory stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class AsciiStream(io.StringIO):
    """An in-memory stream whose declared encoding is ASCII (e.g. a C-locale terminal)."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "ascii"


class BrokenStream(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError("disk full")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    yield
    # Span processors swallow exporter exceptions into a log record: treat one as a failure.
    sdk_errors = [r for r in caplog.records if r.name.startswith("opentelemetry") and r.levelno >= logging.ERROR]
    assert not sdk_errors, [r.getMessage() for r in sdk_errors]


def at(ms: float) -> int:
    return T0 + round(ms * 1_000_000)


def start(
    tracer: Tracer,
    name: str,
    ms: float,
    parent: Span | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Span:
    context = trace.set_span_in_context(parent) if parent is not None else Context()
    return tracer.start_span(name, context=context, start_time=at(ms), attributes=attributes)


def short_id(span: Span) -> str:
    return f"{span.get_span_context().trace_id:032x}"[:8]


def readable(span: Span) -> ReadableSpan:
    assert isinstance(span, ReadableSpan)  # SDK spans are both
    return span


def make_provider(*processors: SpanProcessor) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "svc-test"}), shutdown_on_exit=False)
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


class Setup:
    """An exporter printing to an in-memory stream, fed by a SimpleSpanProcessor."""

    def __init__(
        self,
        out: io.StringIO | None = None,
        *,
        color: bool | None = False,
        width: int | None = None,
        max_traces: int = 1000,
        max_spans: int = 10_000,
    ) -> None:
        self.out = out if out is not None else io.StringIO()
        self.exporter = ConsoleTraceExporter(
            out=self.out, color=color, width=width, max_traces=max_traces, max_spans=max_spans
        )
        self.provider = make_provider(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


@pytest.fixture
def setup() -> Iterator[Setup]:
    s = Setup()
    yield s
    s.provider.shutdown()


@pytest.fixture
def untraced() -> Iterator[Tracer]:
    """A tracer whose spans go nowhere: for feeding format_trace directly."""
    provider = make_provider()
    yield provider.get_tracer("tests")
    provider.shutdown()


def build_chain(tracer: Tracer) -> Span:
    """chain -> (retrieve, chat -> tool, summarize); children end out of start order."""
    root = start(tracer, "agent run", 0)
    root.add_event("llmotel.retries_exceeded", {"attempts": 3})
    retrieve = start(tracer, "retrieve", 5, root)
    chat = start(
        tracer,
        "chat gpt-4o",
        20,
        root,
        {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
            semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 34,
            semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.045,
            semconv.LLMOTEL_STREAM_CHUNKS: 37,
            semconv.LLMOTEL_STREAM_COMPLETED: True,
        },
    )
    for index in range(3):
        chat.add_event(semconv.EVENT_STREAM_CHUNK, {semconv.EVENT_CHUNK_INDEX: index})
    tool = start(
        tracer,
        "execute_tool web_search",
        100,
        chat,
        {semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.GEN_AI_TOOL_NAME: "web_search"},
    )
    tool.end(end_time=at(112.3))
    chat.end(end_time=at(500))  # ends before retrieve, which started first
    retrieve.end(end_time=at(700))
    summarize = start(tracer, "summarize", 900, root)
    summarize.end(end_time=at(1000))
    root.end(end_time=at(1240))
    return root


def test_chain_printed_as_tree(setup: Setup) -> None:
    root = build_chain(setup.tracer)
    assert setup.lines() == [
        f"trace {short_id(root)}  svc-test",
        "agent run  1.24s",
        "│  • llmotel.retries_exceeded attempts=3",
        "├─ retrieve  695ms",
        "├─ chat gpt-4o  480ms  tok 12→34  ttfc 45ms  37 chunks",
        "│  └─ [tool] execute_tool web_search  12.3ms",
        "└─ summarize  100ms",
    ]


def test_nothing_printed_before_root_ends(setup: Setup) -> None:
    root = start(setup.tracer, "root", 0)
    child = start(setup.tracer, "child", 1, root)
    child.end(end_time=at(2))
    assert setup.out.getvalue() == ""
    root.end(end_time=at(3))
    assert setup.lines()[1:] == ["root  3ms", "└─ child  1ms"]


def test_errored_spans(setup: Setup) -> None:
    root = start(setup.tracer, "pipeline", 0)
    tool = start(setup.tracer, "fetch", 1, root)
    try:
        raise TimeoutError("read timed out\nafter 30s")
    except TimeoutError as exc:
        tool.record_exception(exc)
    tool.set_attribute(semconv.ERROR_TYPE, "TimeoutError")
    tool.set_status(Status(StatusCode.ERROR, "upstream failed"))
    tool.end(end_time=at(2))
    with (
        pytest.raises(ValueError),
        setup.tracer.start_as_current_span("parse", context=trace.set_span_in_context(root)),
    ):
        raise ValueError("bad json\nat line 3")
    root.end(end_time=at(10))
    lines = setup.lines()
    assert lines[1:4] == [
        "pipeline  10ms",
        "├─ fetch  1ms  ERROR TimeoutError: upstream failed",
        "│     ! TimeoutError: read timed out",
    ]
    # The SDK's description "ValueError: bad json" does not repeat the type; first lines only.
    assert re.fullmatch(r"└─ parse  \S+  ERROR ValueError: bad json", lines[4])
    assert lines[5] == "      ! ValueError: bad json"
    assert len(lines) == 6


def test_model_tokens_and_stream_facts(untraced: Tracer) -> None:
    cases: list[tuple[str, dict[str, AttributeValue]]] = [
        ("chat", {semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini"}),
        ("chat claude-3", {semconv.GEN_AI_REQUEST_MODEL: "claude-3"}),
        ("partial", {semconv.GEN_AI_USAGE_INPUT_TOKENS: 7}),
        ("unknown usage", {semconv.LLMOTEL_USAGE_UNKNOWN: True}),
        (
            "stream",
            {
                semconv.LLMOTEL_STREAM_COMPLETED: False,
                semconv.LLMOTEL_STREAM_STOP_REASON: "closed",
                semconv.LLMOTEL_STREAM_CHUNKS: 1,
            },
        ),
    ]
    spans: list[ReadableSpan] = []
    for name, attributes in cases:
        span = start(untraced, name, 0, attributes=attributes)
        span.end(end_time=at(1))
        spans.append(readable(span))
    events_only = start(untraced, "counted", 0)
    for _ in range(3):
        events_only.add_event(semconv.EVENT_STREAM_CHUNK)
    events_only.end(end_time=at(1))
    spans.append(readable(events_only))

    lines = [line for span in spans for line in format_trace([span])[1:]]
    assert lines == [
        "chat  1ms  gpt-4o-mini",
        "chat claude-3  1ms",
        "partial  1ms  tok 7→?",
        "unknown usage  1ms  tok ?",
        "stream  1ms  1 chunk  stopped early (closed)",
        "counted  1ms  3 chunks",
    ]


@pytest.mark.parametrize(
    ("duration_ns", "shown"),
    [
        (812_000, "812µs"),
        (12_300_000, "12.3ms"),
        (45_000_000, "45ms"),
        (1_240_000_000, "1.24s"),
        (999_700, "1ms"),
        (125_000_000_000, "2m05s"),
        (3_720_000_000_000, "1h02m"),
    ],
)
def test_human_durations(untraced: Tracer, duration_ns: int, shown: str) -> None:
    span = untraced.start_span("op", context=Context(), start_time=T0)
    span.end(end_time=T0 + duration_ns)
    assert format_trace([readable(span)])[1] == f"op  {shown}"


def test_events_capped_and_chunks_not_listed(setup: Setup) -> None:
    root = start(setup.tracer, "root", 0)
    for index in range(8):
        root.add_event(f"llmotel.note{index}")
        root.add_event(semconv.EVENT_STREAM_CHUNK)
        root.add_event("unrelated.event")
    root.end(end_time=at(1))
    assert setup.lines()[1:] == [
        "root  1ms  8 chunks",
        *(f"   • llmotel.note{index}" for index in range(5)),
        "   … 3 more",
    ]


def test_orphan_printed_on_force_flush(setup: Setup) -> None:
    parent = start(setup.tracer, "never ends", 0)
    child = start(setup.tracer, "child", 1, parent)
    grandchild = start(setup.tracer, "grandchild", 2, child)
    grandchild.end(end_time=at(3))
    child.end(end_time=at(4))
    assert setup.out.getvalue() == ""
    assert setup.exporter.force_flush() is True
    assert setup.lines() == [
        f"trace {short_id(child)}  svc-test  (incomplete)",
        "[orphan] child  3ms",
        "└─ grandchild  1ms",
    ]
    setup.exporter.force_flush()  # nothing pending any more
    assert len(setup.lines()) == 3


def test_remote_parent_is_a_root(setup: Setup) -> None:
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    context = trace.set_span_in_context(NonRecordingSpan(remote))
    server = setup.tracer.start_span("handle request", context=context, start_time=at(0))
    server.end(end_time=at(5))
    assert setup.lines() == [f"trace {0xABC:032x}"[:14] + "  svc-test", "handle request  5ms"]


def test_span_ending_after_its_root_is_printed_on_arrival(setup: Setup) -> None:
    root = start(setup.tracer, "returns a stream", 0)
    stream = start(setup.tracer, "chat", 1, root, {semconv.LLMOTEL_STREAM_CHUNKS: 4})
    root.end(end_time=at(2))
    assert setup.lines()[1:] == ["returns a stream  2ms"]
    stream.end(end_time=at(50))
    assert setup.lines()[2:] == [
        "",
        f"trace {short_id(root)}  svc-test  (continued)",
        "[late] chat  49ms  4 chunks",
    ]


def test_blank_line_between_traces(setup: Setup) -> None:
    for name in ("first", "second"):
        start(setup.tracer, name, 0).end(end_time=at(1))
    text = setup.out.getvalue()
    assert not text.startswith("\n")
    blocks = text.split("\n\n")
    assert [block.splitlines()[1] for block in blocks] == ["first  1ms", "second  1ms"]
    assert text.endswith("second  1ms\n")


def test_color_codes_with_color_true() -> None:
    colored = Setup(color=True)
    plain = Setup()
    for s in (colored, plain):
        root = start(s.tracer, "root", 0)
        failing = start(s.tracer, "failing", 1, root)
        failing.set_status(Status(StatusCode.ERROR, "boom"))
        failing.end(end_time=at(2))
        root.end(end_time=at(3))
    text = colored.out.getvalue()
    assert "\x1b[31mERROR: boom\x1b[0m" in text
    assert "\x1b[1mfailing\x1b[0m" in text
    assert "\x1b" not in plain.out.getvalue()
    stripped = [ANSI.sub("", line) for line in colored.lines()]
    assert stripped[1:] == plain.lines()[1:] == ["root  3ms", "└─ failing  1ms  ERROR: boom"]


@pytest.mark.parametrize(
    ("stream_type", "env", "colored"),
    [
        (FakeTTY, {}, True),
        (FakeTTY, {"NO_COLOR": "1"}, False),
        (FakeTTY, {"TERM": "dumb"}, False),
        (io.StringIO, {}, False),
        (io.StringIO, {"FORCE_COLOR": "1"}, True),
    ],
)
def test_auto_color(
    monkeypatch: pytest.MonkeyPatch, stream_type: type[io.StringIO], env: dict[str, str], colored: bool
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Setup(out=stream_type(), color=None)
    start(s.tracer, "root", 0).end(end_time=at(1))
    text = s.out.getvalue()
    assert text
    assert ("\x1b[" in text) is colored


def test_tty_width_is_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # shutil.get_terminal_size reads it first
    s = Setup(out=FakeTTY())
    root = start(s.tracer, "r" * 150, 0)
    child = start(s.tracer, "short", 1, root, {semconv.GEN_AI_USAGE_INPUT_TOKENS: 5})
    child.end(end_time=at(2))
    root.end(end_time=at(3))
    lines = s.lines()
    assert lines[1] == "r" * 79 + "…"
    assert lines[2] == "└─ short  1ms  tok 5→?"
    assert all(len(line) <= 80 for line in lines)


def test_width_defaults_to_100_off_tty_and_can_be_set() -> None:
    default = Setup()
    narrow = Setup(width=80)
    for s in (default, narrow):
        start(s.tracer, "x" * 200, 0).end(end_time=at(1))
    assert default.lines()[1] == "x" * 99 + "…"
    assert narrow.lines()[1] == "x" * 79 + "…"


def test_long_facts_truncated_with_colour_codes_outside_the_count() -> None:
    s = Setup(color=True, width=40)
    span = start(s.tracer, "chat", 0, attributes={semconv.GEN_AI_RESPONSE_MODEL: "m" * 60})
    span.end(end_time=at(1))
    visible = ANSI.sub("", s.lines()[1])
    assert visible == ("chat  1ms  " + "m" * 60)[:39] + "…"
    assert s.lines()[1].endswith("…")


def test_ascii_guides_when_encoding_cannot_encode_them() -> None:
    s = Setup(out=AsciiStream())
    root = start(s.tracer, "café", 0)
    a = start(s.tracer, "a", 1, root, {semconv.GEN_AI_USAGE_INPUT_TOKENS: 1, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 2})
    b = start(s.tracer, "b", 2, a)
    b.end(end_time=at(2.5))
    a.end(end_time=at(3))
    c = start(s.tracer, "c", 4, root)
    c.end(end_time=at(5))
    root.end(end_time=at(6))
    assert s.lines()[1:] == [
        "caf?  6ms",
        "|- a  2ms  tok 1->2",
        "|  `- b  500us",
        "`- c  1ms",
    ]


def test_control_characters_in_names_are_neutralised(setup: Setup) -> None:
    start(setup.tracer, "evil\x1b[2J\nname", 0).end(end_time=at(1))
    assert setup.lines()[1:] == ["evil [2J name  1ms"]


def test_stdout_resolved_at_print_time(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = ConsoleTraceExporter(color=False)
    provider = make_provider(SimpleSpanProcessor(exporter))
    replacement = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replacement)
    start(provider.get_tracer("t"), "late bound", 0).end(end_time=at(1))
    provider.shutdown()
    assert replacement.getvalue().splitlines()[1:] == ["late bound  1ms"]


def test_batch_processor_children_and_root_in_different_batches() -> None:
    out = io.StringIO()
    exporter = ConsoleTraceExporter(out=out, color=False)
    batches: list[int] = []
    original_export = exporter.export

    def counting_export(spans: Sequence[ReadableSpan]) -> SpanExportResult:
        batches.append(len(spans))
        return original_export(spans)

    exporter.export = counting_export  # type: ignore[method-assign]
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=60_000)
    provider = make_provider(processor)
    tracer = provider.get_tracer("tests")
    try:
        root = start(tracer, "root", 0)
        first = start(tracer, "first", 1, root)
        second = start(tracer, "second", 2, root)
        second.end(end_time=at(3))
        first.end(end_time=at(4))
        assert provider.force_flush()
        assert batches == [2]
        assert out.getvalue() == ""
        root.end(end_time=at(5))
        assert provider.force_flush()
        assert batches == [2, 1]
        assert out.getvalue().splitlines() == [
            f"trace {short_id(root)}  svc-test",
            "root  5ms",
            "├─ first  3ms",
            "└─ second  1ms",
        ]
    finally:
        provider.shutdown()


def test_one_export_call_with_two_traces_children_first() -> None:
    out = io.StringIO()
    exporter = ConsoleTraceExporter(out=out, color=False)
    collected: list[ReadableSpan] = []

    class Collect(SimpleSpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            collected.append(span)

    provider = make_provider(Collect(exporter))
    tracer = provider.get_tracer("t")
    for name in ("one", "two"):
        root = start(tracer, name, 0)
        start(tracer, f"{name}.child", 1, root).end(end_time=at(2))
        root.end(end_time=at(3))
    assert exporter.export(collected) is SpanExportResult.SUCCESS
    blocks = [block.splitlines()[1:] for block in out.getvalue().split("\n\n")]
    assert blocks == [["one  3ms", "└─ one.child  1ms"], ["two  3ms", "└─ two.child  1ms"]]
    provider.shutdown()


def test_buffer_bound_on_traces_evicts_least_recently_active() -> None:
    s = Setup(max_traces=2)
    roots = [start(s.tracer, f"root{index}", 0) for index in range(3)]
    start(s.tracer, "child0", 1, roots[0]).end(end_time=at(2))
    start(s.tracer, "child1", 1, roots[1]).end(end_time=at(2))
    start(s.tracer, "child0b", 2, roots[0]).end(end_time=at(3))  # trace 0 is active again
    assert s.out.getvalue() == ""
    start(s.tracer, "child2", 1, roots[2]).end(end_time=at(2))  # a third trace: evict trace 1
    assert s.lines() == [f"trace {short_id(roots[1])}  svc-test  (incomplete)", "[orphan] child1  1ms"]
    roots[0].end(end_time=at(4))  # still pending: printed as a complete tree
    assert s.lines()[2:] == [
        "",
        f"trace {short_id(roots[0])}  svc-test",
        "root0  4ms",
        "├─ child0  1ms",
        "└─ child0b  1ms",
    ]
    s.provider.shutdown()  # prints the last pending trace
    assert s.lines()[-3:] == [
        "",
        f"trace {short_id(roots[2])}  svc-test  (incomplete)",
        "[orphan] child2  1ms",
    ]


def test_buffer_bound_on_spans_evicts() -> None:
    s = Setup(max_spans=3)
    root = start(s.tracer, "root", 0)
    for index in range(3):
        start(s.tracer, f"c{index}", index, root).end(end_time=at(index + 1))
    assert s.out.getvalue() == ""
    start(s.tracer, "c3", 3, root).end(end_time=at(4))
    assert s.lines()[0].endswith("(incomplete)")
    assert s.lines()[1:] == [f"[orphan] c{index}  1ms" for index in range(4)]
    s.provider.shutdown()


def test_shutdown_prints_pending_and_later_exports_fail(setup: Setup) -> None:
    root = start(setup.tracer, "root", 0)
    start(setup.tracer, "child", 1, root).end(end_time=at(2))
    setup.exporter.shutdown()
    assert setup.lines()[1:] == ["[orphan] child  1ms"]
    assert setup.exporter.export([]) is SpanExportResult.FAILURE


def test_export_failure_raises_in_strict_mode_and_fails_quietly_otherwise(
    env: Callable[..., None], caplog: pytest.LogCaptureFixture, untraced: Tracer
) -> None:
    exporter = ConsoleTraceExporter(out=BrokenStream(), color=False)
    root = start(untraced, "root", 0)
    root.end(end_time=at(1))
    child = start(untraced, "pending child", 0, start(untraced, "open parent", 0))
    child.end(end_time=at(1))
    with pytest.raises(InternalError) as raised:  # conftest sets LLMOTEL_STRICT=1
        exporter.export([readable(root)])
    assert isinstance(raised.value.__cause__, OSError)

    env(LLMOTEL_STRICT="0")
    assert exporter.export([readable(child), readable(root)]) is SpanExportResult.FAILURE
    assert exporter.force_flush() is False  # the pending child cannot be printed either
    exporter.shutdown()  # nothing left to print; does not raise
    assert internal_error_counts() == {"console exporter: export": 2, "console exporter: force_flush": 1}
    assert any(r.name == "llmotel" and "console exporter: force_flush" in r.getMessage() for r in caplog.records)


class LockCheckingStream(io.StringIO):
    """Records any write made while the exporter's lock is free (a write outside the lock), and
    whether two writes ever overlapped. Deterministic: no timing window is needed to see it."""

    def __init__(self) -> None:
        super().__init__()
        self.lock: Any = None
        self.active = 0
        self.overlapped = False
        self.unlocked_writes = 0

    def write(self, s: str) -> int:
        self.active += 1
        if self.active > 1:
            self.overlapped = True
        if self.lock.acquire(blocking=False):  # free: this write is not under the exporter's lock
            self.lock.release()
            self.unlocked_writes += 1
        written = super().write(s)
        self.active -= 1
        return written


def test_concurrent_exports_are_serialised_and_blocks_whole() -> None:
    stream = LockCheckingStream()
    s = Setup(out=stream)
    stream.lock = s.exporter._lock

    def work(worker: int) -> None:
        for index in range(25):
            root = start(s.tracer, f"w{worker}-{index}", 0)
            start(s.tracer, f"w{worker}-{index}.child", 1, root).end(end_time=at(2))
            root.end(end_time=at(3))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not stream.overlapped
    assert stream.unlocked_writes == 0
    blocks = stream.getvalue().rstrip("\n").split("\n\n")
    assert len(blocks) == 150
    for block in blocks:
        header, root_line, child_line = block.splitlines()
        name = root_line.split()[0]
        assert header.startswith("trace ")
        assert child_line == f"└─ {name}.child  1ms"
    s.provider.shutdown()


# --- log records (the GenAI details events) under their span -----------------------------------

INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
    {"role": "user", "parts": [{"type": "text", "content": "What is\nthe weather?"}]},
]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}],
        "finish_reason": "tool_call",
    }
]


class LogSetup(Setup):
    """A console exporter fed spans by a SimpleSpanProcessor (or a batch one) and log records by
    its paired log exporter behind a SimpleLogRecordProcessor, as ``configure()`` wires them."""

    def __init__(self, *, batch: bool = False, max_log_records: int = 1000, width: int | None = None) -> None:
        self.out = io.StringIO()
        self.exporter = ConsoleTraceExporter(out=self.out, color=False, width=width, max_log_records=max_log_records)
        processor = BatchSpanProcessor(self.exporter) if batch else SimpleSpanProcessor(self.exporter)
        self.provider = make_provider(processor)
        self.tracer = self.provider.get_tracer("tests")
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter.log_exporter()))
        self.logger = self.logger_provider.get_logger("llmotel")

    def emit(self, span: Span | None, attributes: dict[str, Any] | None = None, **kwargs: Any) -> None:
        context = trace.set_span_in_context(span) if span is not None else Context()
        fields: dict[str, Any] = {"event_name": semconv.EVENT_INFERENCE_DETAILS, **kwargs}
        self.logger.emit(LogRecord(context=context, attributes=attributes, **fields))

    def shutdown(self) -> None:
        self.provider.shutdown()
        self.logger_provider.shutdown()


@pytest.fixture
def logs() -> Iterator[LogSetup]:
    s = LogSetup()
    yield s
    s.shutdown()


def details(span: Span | None = None, **extra: Any) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
        semconv.GEN_AI_INPUT_MESSAGES: INPUT,
        semconv.GEN_AI_OUTPUT_MESSAGES: OUTPUT,
        **extra,
    }


def test_log_record_printed_under_its_span(logs: LogSetup) -> None:
    root = start(logs.tracer, "agent", 0)
    chat = start(logs.tracer, "chat gpt-4o", 1, root)
    logs.emit(chat, details(), body=None)
    chat.end(end_time=at(11))
    tool = start(logs.tracer, "tool", 12, root)
    tool.end(end_time=at(13))
    assert logs.out.getvalue() == ""  # held with its span until the trace is printed
    root.end(end_time=at(20))
    assert logs.lines() == [
        f"trace {short_id(root)}  svc-test",
        "agent  20ms",
        "├─ chat gpt-4o  10ms",
        "│     event gen_ai.client.inference.operation.details",
        "│       in      system: be brief | user: What is the weather?",
        '│       out     assistant: →weather({"city":"Paris"})  [tool_call]',
        "└─ tool  1ms",
    ]


def test_log_record_correlated_by_ids_with_a_batch_span_processor() -> None:
    # The record reaches the console at once; its span later, from the batch processor's thread.
    s = LogSetup(batch=True)
    with s.tracer.start_as_current_span("chat") as span:
        s.emit(span, {semconv.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "content": "be brief"}]})
        s.emit(span, {semconv.GEN_AI_INPUT_MESSAGES: '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'})
    assert s.out.getvalue() == ""
    s.shutdown()
    assert re.fullmatch(r"chat  \S+", s.lines()[1])
    assert s.lines()[2:] == [
        "   event gen_ai.client.inference.operation.details",
        "     system  be brief",
        "   event gen_ai.client.inference.operation.details",
        "     in      user: hi",  # content on spans is a JSON string: read the same way
    ]


def test_records_of_one_span_are_capped(logs: LogSetup) -> None:
    root = start(logs.tracer, "chat", 0)
    for index in range(5):
        logs.emit(root, None, body=f"note {index}", event_name=f"acme.note{index}")
    root.end(end_time=at(1))
    assert logs.lines()[1:] == [
        "chat  1ms",
        "   event acme.note0  note 0",
        "   event acme.note1  note 1",
        "   event acme.note2  note 2",
        "   … 2 more events",
    ]


def test_record_whose_span_was_printed_is_printed_at_once(logs: LogSetup) -> None:
    root = start(logs.tracer, "chat", 0)
    root.end(end_time=at(1))
    logs.emit(root, details())
    span_id = f"{root.get_span_context().span_id:016x}"[:8]
    assert logs.lines()[2:] == [
        "",
        f"trace {short_id(root)}  (continued)",
        f"[late span {span_id}] event gen_ai.client.inference.operation.details",
        "  in      system: be brief | user: What is the weather?",
        '  out     assistant: →weather({"city":"Paris"})  [tool_call]',
    ]


def test_record_whose_span_never_arrives_is_printed_by_force_flush(logs: LogSetup) -> None:
    ghost = NonRecordingSpan(SpanContext(0xAB << 96, 0xCD << 40, is_remote=False, trace_flags=TraceFlags(1)))
    logs.emit(ghost, {"acme.count": 3}, event_name="acme.event")
    assert logs.out.getvalue() == ""
    assert logs.exporter.force_flush() is True
    assert logs.lines() == [
        f"trace {0xAB << 96:032x}"[:14] + "  (span not seen)",
        f"[span {0xCD << 40:016x}"[:14] + "] event acme.event  count=3",
    ]
    logs.exporter.force_flush()  # printed once
    assert len(logs.lines()) == 2


def test_record_outside_any_span_or_unsampled_printed_at_once(logs: LogSetup) -> None:
    logs.emit(None, None, event_name="acme.startup", body="ready")
    unsampled = NonRecordingSpan(SpanContext(0xAB << 96, 0xCD, is_remote=False, trace_flags=TraceFlags(0)))
    logs.emit(unsampled, None, event_name="acme.unsampled")
    assert (
        logs.lines()
        == [
            "events  (no span)",
            "event acme.startup  ready",
            "",
            f"trace {0xAB << 96:032x}"[:14],  # its span is never exported: nothing to wait for
            f"[span {0xCD:016x}"[:14] + "] event acme.unsampled",
        ]
    )


def test_shutdown_prints_waiting_records_after_the_spans() -> None:
    s = LogSetup()
    parent = start(s.tracer, "never ends", 0)
    child = start(s.tracer, "child", 1, parent)
    s.emit(child, {semconv.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [{"type": "text", "content": "q"}]}]})
    ghost = NonRecordingSpan(SpanContext(0xAB, 0xCD, is_remote=False, trace_flags=TraceFlags(1)))
    s.emit(ghost, None, event_name="acme.lost")
    child.end(end_time=at(2))
    s.shutdown()  # the tracer provider first, as Configured.shutdown() may do it in any order
    assert s.lines()[1:4] == [
        "[orphan] child  1ms",
        "   event gen_ai.client.inference.operation.details",
        "     in      user: q",
    ]
    assert s.lines()[4:] == ["", f"trace {0xAB:032x}"[:14] + "  (span not seen)", "[span 00000000] event acme.lost"]
    assert s.exporter.log_exporter().export([]) is LogRecordExportResult.FAILURE


def test_buffered_records_are_capped_oldest_dropped_and_counted() -> None:
    s = LogSetup(max_log_records=2)
    for index in range(5):
        ghost = NonRecordingSpan(SpanContext(0xAB, index + 1, is_remote=False, trace_flags=TraceFlags(1)))
        s.emit(ghost, None, event_name=f"acme.e{index}")
    assert len(s.exporter._logs) == 2
    assert s.exporter.force_flush() is True
    assert [line.split("] ")[-1] for line in s.lines()[1:]] == [
        "event acme.e3",
        "event acme.e4",
        "",
        "… 3 log events dropped (buffer full)",  # said once, with the next output
    ]
    s.shutdown()


def test_record_lines_are_cut_to_the_width() -> None:
    s = LogSetup(width=40)
    root = start(s.tracer, "chat", 0)
    long_text = "word " * 100
    many = [{"role": "user", "parts": [{"type": "text", "content": f"{n} {long_text}"}]} for n in range(6)]
    s.emit(root, {semconv.GEN_AI_INPUT_MESSAGES: many})
    root.end(end_time=at(1))
    lines = s.lines()
    assert lines[2] == "   event gen_ai.client.inference.operat…"
    assert lines[3].startswith("     in      (+3 earlier) user: 3 word")  # the last three messages
    assert all(len(line) <= 40 for line in lines)
    s.shutdown()


def test_a_console_log_exporter_of_its_own_prints_each_record_at_once(untraced: Tracer) -> None:
    out = io.StringIO()
    exporter = ConsoleLogExporter(out=out, color=False)
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with untraced.start_as_current_span("chat") as span:
        provider.get_logger("llmotel").emit(
            LogRecord(event_name=semconv.EVENT_INFERENCE_DETAILS, attributes=details(), context=None)
        )
    assert out.getvalue().splitlines()[1].endswith("] event gen_ai.client.inference.operation.details")
    assert out.getvalue().splitlines()[0] == f"trace {span.get_span_context().trace_id:032x}"[:14]
    provider.shutdown()
    assert exporter.export([]) is LogRecordExportResult.FAILURE


def test_log_export_failure_raises_in_strict_mode_and_fails_quietly_otherwise(env: Callable[..., None]) -> None:
    exporter = ConsoleTraceExporter(out=BrokenStream(), color=False)
    provider = LoggerProvider(shutdown_on_exit=False)
    records: list[Any] = []

    class Keep(SimpleLogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            records.append(ReadableLogRecord(log_record.log_record, log_record.resource))

    provider.add_log_record_processor(Keep(exporter.log_exporter()))
    provider.get_logger("t").emit(LogRecord(event_name="acme.e", context=Context()))
    with pytest.raises(InternalError):
        exporter.log_exporter().export(records)
    env(LLMOTEL_STRICT="0")
    assert exporter.log_exporter().export(records) is LogRecordExportResult.FAILURE
    assert internal_error_counts() == {"console exporter: export log records": 2}
