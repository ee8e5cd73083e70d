"""Memory and span bookkeeping under load: does anything grow, and does every started span end?

Run (one command, one process)::

    python benchmarks/bench_memory.py            # 100,000 calls + 10,000 abandoned streams + extras (~15 s)
    python benchmarks/bench_memory.py --quick    # 5,000 calls + 500 abandoned streams (smoke test)

Phases, each after a warm-up, with the garbage collector enabled as in production:

    calls              ``--calls`` (100,000) calls of an ``@llmotel.trace_chat``-decorated fake LLM method
    abandoned_streams  ``--streams`` (10,000) decorated generators of 10 chunks: 2 chunks read, then
                       the stream is dropped (no ``close()``): llmotel must end the span on its own
    abandoned_async    extra: 2,000 decorated async generators, 2 of 10 chunks read, then dropped
    abandoned_openai   extra: 2,000 real ``openai`` SDK streams under llmotel's ``OpenAIInstrumentor``
                       (in-process fake server), 2 of 10 chunks read, then dropped (skipped if the
                       openai SDK or httpx is not installed)

Around each phase: resident set size (``/proc/self/statm``) and the number of gc-tracked objects
(``len(gc.get_objects())``), both after ``gc.collect()``. A SpanProcessor counts ``on_start`` and
``on_end`` per span id: OPEN SPANS LEFT = started but never ended after the phase and a
``gc.collect()``; it must be 0 (the script exits 1 otherwise). It also checks that no span is left
as the current span. The last lines are one ``BENCH name=memory_... key=value ...`` line per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from _common import bench_line, print_machine, rss_bytes
from bench_decorators import MESSAGES, MODEL, TracedChat, make_chunks
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

RSS_NOISE_MB = 2.0
OBJECTS_NOISE = 1000
"""Growth below these counts as noise (a leak of one object per call would show 100,000)."""

KW: dict[str, Any] = {"messages": MESSAGES, "model": MODEL, "temperature": 0.2, "max_tokens": 256}


class OpenSpans(SpanProcessor):
    """Counts spans started and ended; keeps only span ids (never the spans, which would keep
    them alive)."""

    def __init__(self) -> None:
        self.open: set[int] = set()
        self.started = 0
        self.ended = 0

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        self.started += 1
        self.open.add(span.get_span_context().span_id)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1
        ctx = span.get_span_context()
        if ctx is not None:
            self.open.discard(ctx.span_id)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class NoopExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def setup() -> OpenSpans:
    provider = TracerProvider()
    counter = OpenSpans()
    provider.add_span_processor(counter)
    provider.add_span_processor(SimpleSpanProcessor(NoopExporter()))
    trace.set_tracer_provider(provider)
    # negative control: the counter sees a span that is started and not yet ended
    probe = provider.get_tracer("bench.memory").start_span("probe")
    if len(counter.open) != 1:
        raise SystemExit("span counter self-check failed: an open span was not seen")
    probe.end()
    if counter.open:
        raise SystemExit("span counter self-check failed: an ended span still counts as open")
    counter.started = counter.ended = 0
    return counter


def snapshot() -> tuple[int, int]:
    gc.collect()
    gc.collect()
    return rss_bytes(), len(gc.get_objects())


def type_counts() -> Counter[str]:
    return Counter(type(o).__name__ for o in gc.get_objects())


def measure(name: str, unit: str, n: int, warmup: int, step: Callable[[int], None], spans: OpenSpans) -> dict[str, Any]:
    for i in range(warmup):
        step(i)
    r0, o0 = snapshot()
    types0 = type_counts()
    started0, ended0 = spans.started, spans.ended
    t0 = time.perf_counter()
    for i in range(n):
        step(i)
    seconds = time.perf_counter() - t0
    r1, o1 = snapshot()
    open_spans = len(spans.open)
    current = trace.get_current_span().get_span_context()
    result = {
        "name": name,
        unit: n,
        "seconds": seconds,
        "rss_before_mb": r0 / 2**20,
        "rss_after_mb": r1 / 2**20,
        "rss_delta_mb": (r1 - r0) / 2**20,
        "objects_before": o0,
        "objects_after": o1,
        "objects_delta": o1 - o0,
        "spans_started": spans.started - started0,
        "spans_ended": spans.ended - ended0,
        "open_spans": open_spans,
        "current_span_leaked": int(current.is_valid),
    }
    result["ok"] = int(
        open_spans == 0
        and not current.is_valid
        and result["rss_delta_mb"] <= RSS_NOISE_MB
        and result["objects_delta"] <= OBJECTS_NOISE
    )
    if result["objects_delta"] > OBJECTS_NOISE:
        grown = type_counts()
        grown.subtract(types0)
        result["grown_types"] = ", ".join(f"{k} +{v}" for k, v in grown.most_common(5) if v > 0)
    return result


# --- phases ----------------------------------------------------------------------------------------


def calls_phase(n: int, spans: OpenSpans) -> dict[str, Any]:
    chat = TracedChat(make_chunks(3))

    def step(_: int) -> None:
        chat.create(**KW)

    return measure("calls", "calls", n, 2_000, step, spans)


def abandoned_streams_phase(n: int, spans: OpenSpans) -> dict[str, Any]:
    chat = TracedChat(make_chunks(10))

    def step(_: int) -> None:
        stream = chat.stream(**KW)
        next(stream)
        next(stream)
        del stream  # dropped half-read: no close(), no exhaustion

    return measure("abandoned_streams", "streams", n, 500, step, spans)


def abandoned_async_phase(n: int, spans: OpenSpans) -> dict[str, Any]:
    chat = TracedChat(make_chunks(10))
    loop = asyncio.new_event_loop()

    async def one() -> None:
        stream = chat.astream(**KW)
        await stream.__anext__()
        await stream.__anext__()
        del stream

    def step(i: int) -> None:
        loop.run_until_complete(one())

    try:
        result = measure("abandoned_async_streams", "streams", n, 200, step, spans)
        # the loop finalizes dropped async generators in tasks of its own: let them run, then re-count
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        gc.collect()
        result["open_spans_after_loop_shutdown"] = len(spans.open)
    finally:
        loop.close()
    return result


def abandoned_openai_phase(n: int, spans: OpenSpans) -> dict[str, Any] | str:
    try:
        import httpx
        import openai
        from bench_openai import BASE_URL, FakeOpenAI, sse_body

        from llmotel.integrations.openai import OpenAIInstrumentor
    except ImportError as exc:
        return f"skipped: {exc}"
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=trace.get_tracer_provider())
    client = openai.OpenAI(
        api_key="sk-bench-not-a-key",
        base_url=BASE_URL,
        http_client=httpx.Client(transport=httpx.MockTransport(FakeOpenAI(sse_body(10), "text/event-stream"))),
        max_retries=0,
    )
    completions = client.chat.completions
    kw = {**KW, "stream": True, "stream_options": {"include_usage": True}}

    def step(_: int) -> None:
        stream = completions.create(**kw)
        it = iter(stream)
        next(it)
        next(it)
        del it, stream

    try:
        return measure("abandoned_openai_streams", "streams", n, 200, step, spans)
    finally:
        client.close()
        instrumentor.uninstrument()


# --- output ----------------------------------------------------------------------------------------


def describe(r: dict[str, Any]) -> str:
    unit = "calls" if "calls" in r else "streams"
    lines = [
        f"{r['name']}: {r[unit]:,} {unit} in {r['seconds']:.1f} s; RSS {r['rss_before_mb']:.1f} -> "
        f"{r['rss_after_mb']:.1f} MB ({r['rss_delta_mb']:+.2f} MB); gc objects {r['objects_before']:,} -> "
        f"{r['objects_after']:,} ({r['objects_delta']:+,}); spans started {r['spans_started']:,}, ended "
        f"{r['spans_ended']:,}",
        f"    OPEN SPANS LEFT after gc.collect(): {r['open_spans']}   current span leaked: "
        f"{'YES' if r['current_span_leaked'] else 'no'}   {'ok' if r['ok'] else 'NOT OK'}",
    ]
    if "open_spans_after_loop_shutdown" in r:
        lines.append(
            f"    open spans after the event loop's shutdown_asyncgens(): {r['open_spans_after_loop_shutdown']}"
        )
    if "grown_types" in r:
        lines.append(f"    grown: {r['grown_types']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="5,000 calls and 500 streams per phase (smoke test)")
    p.add_argument("--calls", type=int, default=None, help="decorated calls (default 100,000)")
    p.add_argument("--streams", type=int, default=None, help="abandoned generator streams (default 10,000)")
    p.add_argument("--extra-streams", type=int, default=None, help="abandoned async / openai streams (default 2,000)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    calls = args.calls if args.calls is not None else (5_000 if args.quick else 100_000)
    streams = args.streams if args.streams is not None else (500 if args.quick else 10_000)
    extra = args.extra_streams if args.extra_streams is not None else (200 if args.quick else 2_000)
    if min(calls, streams, extra) < 1:
        raise SystemExit("counts must be positive")
    print("llmotel memory and open-span check")
    print_machine()
    print(
        "pipeline: TracerProvider + span-counting processor + SimpleSpanProcessor -> no-op exporter; "
        f"no MeterProvider; gc enabled; thresholds: RSS <= {RSS_NOISE_MB} MB, objects <= {OBJECTS_NOISE:,}, "
        "open spans 0\n"
    )
    spans = setup()
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for phase in (
        lambda: calls_phase(calls, spans),
        lambda: abandoned_streams_phase(streams, spans),
        lambda: abandoned_async_phase(extra, spans),
        lambda: abandoned_openai_phase(extra, spans),
    ):
        r = phase()
        if isinstance(r, str):
            print(f"abandoned_openai_streams: {r}")
            continue
        results.append(r)
        print(describe(r))
    print(f"\ntotal time {time.perf_counter() - started:.0f} s\n")
    failed = False
    for r in results:
        unit = "calls" if "calls" in r else "streams"
        fields = {
            unit: r[unit],
            "rss_before_mb": r["rss_before_mb"],
            "rss_after_mb": r["rss_after_mb"],
            "rss_delta_mb": r["rss_delta_mb"],
            "objects_before": r["objects_before"],
            "objects_after": r["objects_after"],
            "objects_delta": r["objects_delta"],
            "spans_started": r["spans_started"],
            "spans_ended": r["spans_ended"],
            "open_spans": r["open_spans"],
            "current_span_leaked": r["current_span_leaked"],
            "ok": r["ok"],
        }
        if unit == "streams":
            fields = {unit: r[unit], "read": 2, "of": 10, **{k: v for k, v in fields.items() if k != unit}}
        print(bench_line(f"memory_{r['name']}", **fields))
        failed = failed or r["open_spans"] != 0 or bool(r["current_span_leaked"])
    if failed:
        print("FAILED: spans were left open (or current) after gc.collect()", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
