"""Where llmotel's per-call and per-chunk time goes: cProfile grouped by owner, plus stage timings.

Run::

    python benchmarks/profile_decorators.py                 # 50k calls, 20 streams of 2,000 chunks
    python benchmarks/profile_decorators.py --calls 10000 --streams 5 --top 40
    python benchmarks/profile_decorators.py --no-stages     # cProfile only (public API only)

1. cProfile of the decorated fake LLM (the same fakes and pipeline as ``bench_decorators.py``) and
   of the hand-written floor, with every function's own time charged to an owner: llmotel's code,
   the OpenTelemetry SDK, the OpenTelemetry API package (attribute cleaning, context), wrapt, or the
   benchmark's own code (the fake LLM and, for the floor, its hand-written instrumentation).
   Builtins (``isinstance``, ``dict.get``...), ``abc`` and ``contextlib`` frames are charged to
   whoever called them. Profiler overhead inflates every function call, so read the owners'
   *shares*, not the absolute microseconds.
2. Stage timings (``--stages``, on by default): the llmotel call path and stream-chunk path
   re-enacted step by step with ``perf_counter_ns`` between steps (medians, stamp cost subtracted),
   without the profiler. This reaches into llmotel internals (``LLMSpan``, ``Extractor``...); if
   those change it says so and skips the section.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_decorators as bench

KW: dict[str, Any] = {"messages": bench.MESSAGES, "model": bench.MODEL, "temperature": 0.2, "max_tokens": 256}
NEUTRAL = "(neutral)"
OTEL_SDK = "otel sdk (span, processor)"
OTEL_API = "otel api (attrs, context)"
HARNESS = "benchmark code"
OWNERS = ("llmotel", OTEL_SDK, OTEL_API, "wrapt", HARNESS, "other")


def owner_of(func: tuple[str, int, str]) -> str:
    filename, _, name = func
    path = filename.replace("\\", "/")
    if filename == "~" or filename.startswith("<frozen abc>") or "/contextlib.py" in path:
        return NEUTRAL  # builtins, abc instance checks, contextlib: charged to their caller
    if "/llmotel/" in path:
        return "llmotel"
    if "/opentelemetry/sdk/" in path:
        return OTEL_SDK
    if "/opentelemetry/" in path:
        return OTEL_API
    if "/wrapt/" in path:
        return "wrapt"
    if "/benchmarks/" in path or "cProfile" in name:
        return HARNESS
    return "other"


def owner_times(stats: pstats.Stats) -> dict[str, float]:
    """Own time (seconds) per owner; neutral frames are split among their callers' owners."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def shares(func: Any, depth: int = 0) -> dict[str, float]:
        """How a neutral function's time divides among owners (fractions summing to 1)."""
        if func in memo:
            return memo[func]
        owner = owner_of(func)
        if owner != NEUTRAL:
            return {owner: 1.0}
        memo[func] = {"other": 1.0}  # cycle guard
        callers = raw[func][4] if func in raw else {}
        total = sum(v[2] for v in callers.values()) or 0.0
        result: dict[str, float] = defaultdict(float)
        if depth > 20 or not callers or total <= 0:
            result["other"] = 1.0
        else:
            for caller, value in callers.items():
                for who, part in shares(caller, depth + 1).items():
                    result[who] += part * value[2] / total
        memo[func] = dict(result)
        return memo[func]

    out: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, _) in raw.items():
        for who, part in shares(func).items():
            out[who] += tottime * part
    return out


def profile(run: Callable[[], None]) -> pstats.Stats:
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    return pstats.Stats(prof)


def print_owner_table(title: str, unit: str, count: int, profiles: dict[str, pstats.Stats]) -> None:
    print(f"\n== {title}: own time per owner under cProfile ({unit}, profiler-inflated; compare shares) ==")
    names = list(profiles)
    tables = {name: owner_times(st) for name, st in profiles.items()}
    print(f"{'owner':<26}" + "".join(f"{n:>22}" for n in names))
    for owner in OWNERS:
        cells = []
        for name in names:
            t = tables[name].get(owner, 0.0)
            total = sum(tables[name].values()) or 1.0
            cells.append(f"{t / count * 1e6:10.2f} ({100 * t / total:4.1f}%)")
        print(f"{owner:<26}" + "".join(f"{c:>22}" for c in cells))
    totals = [sum(tables[n].values()) / count * 1e6 for n in names]
    print(f"{'total':<26}" + "".join(f"{t:>22.2f}" for t in totals))
    print(
        "(benchmark code = the fake LLM and loops, and for the floor its hand-written instrumentation; "
        "builtins,\n abc and contextlib frames are charged to their callers)"
    )


def print_top(stats: pstats.Stats, count: int, unit: str, top: int) -> None:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    print(f"{'own ' + unit:>12} {'incl ' + unit:>12} {'calls/unit':>10}  function")
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in rows:
        short = filename
        for marker in ("/site-packages/", "/src/", "/benchmarks/"):
            if marker in filename:
                short = filename.split(marker, 1)[1]
                break
        where = f"{short}:{line}({name})"
        print(f"{tottime / count * 1e6:12.3f} {cumtime / count * 1e6:12.3f} {ncalls / count:10.1f}  {where}")


# --- stage timings -------------------------------------------------------------------------------


def _stamp_cost() -> float:
    samples = []
    for _ in range(20000):
        a = perf_counter_ns()
        b = perf_counter_ns()
        samples.append(b - a)
    return statistics.median(samples)


def _report(title: str, labels: list[str], acc: list[list[int]], stamp: float) -> None:
    print(f"\n{title}")
    total = 0.0
    for label, values in zip(labels, acc, strict=True):
        us = max(0.0, statistics.median(values) - stamp) / 1000
        total += us
        print(f"  {label:<52} {us:8.3f} us")
    print(f"  {'sum':<52} {total:8.3f} us")


def stage_timings(n_calls: int, n_streams: int) -> None:
    """The call and chunk paths, step by step (mirrors llmotel's wrappers; internals may move)."""
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled
    from opentelemetry.trace import SpanKind

    from llmotel.config import settings
    from llmotel.extract import DEFAULT_EXTRACTOR as X
    from llmotel.records import LLMCall
    from llmotel.telemetry import attributes as A
    from llmotel.telemetry import spans as S
    from llmotel.wrap import decorators as D

    tel = D.default_telemetry()
    tracer = tel.tracer
    obj = bench.FakeChat(bench.make_chunks(2000))
    create = bench.FakeChat.create
    kw = KW
    stamp = _stamp_cost()
    print(f"\n== stage timings (medians, perf_counter_ns stamp cost {stamp:.0f} ns subtracted, gc off) ==")

    labels = [
        "is_instrumentation_enabled()",
        "inside_inference()",
        "LLMCall(...)",
        "extractor.request (model, params, server)",
        "start_attributes + span name",
        "tracer.start_span (SDK, 5 attributes)",
        "LLMSpan.__init__ (contexts, settings, model_config)",
        "attach",
        "the wrapped call (fake LLM)",
        "detach",
        "stream-kind check",
        "extractor.response (id, model, reasons, usage)",
        "response_attributes",
        "span.set_attributes (SDK, 5 attributes)",
        "span.end (SDK + SimpleSpanProcessor + exporter)",
        "metrics: metric_attributes + 3 histogram records",
    ]
    acc: list[list[int]] = [[] for _ in labels]
    flabels = [
        "start_as_current_span(...).__enter__ (5 attributes)",
        "the wrapped call (fake LLM)",
        "build 5 response attributes",
        "span.set_attributes (SDK, 5 attributes)",
        "__exit__ (span.end + export + detach)",
    ]
    facc: list[list[int]] = [[] for _ in flabels]
    pn = perf_counter_ns
    gc.disable()
    try:
        for _ in range(n_calls):
            t0 = pn()
            is_instrumentation_enabled()
            t1 = pn()
            S.inside_inference()
            t2 = pn()
            call = LLMCall("chat", "openai")
            t3 = pn()
            X.request(call, obj, (), kw)
            t4 = pn()
            attrs = A.start_attributes(call)
            name = call.name
            t5 = pn()
            span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
            t6 = pn()
            llm_span = S.LLMSpan(tel, call, span, X, obj, (), kw)
            t7 = pn()
            token = llm_span.attach()
            t8 = pn()
            result = create(obj, **kw)
            t9 = pn()
            llm_span.detach(token)
            t10 = pn()
            D._stream_kinds.get(type(result))
            t11 = pn()
            X.response(call, result, False)
            t12 = pn()
            response_attrs = A.response_attributes(call)
            t13 = pn()
            span.set_attributes(response_attrs)
            t14 = pn()
            span.end()
            t15 = pn()
            if settings().metrics_enabled:
                tel.metrics.record(A.metric_attributes(call, None), 0.1, call.usage, None, None)
            t16 = pn()
            stamps = (t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15, t16)
            for i in range(len(labels)):
                acc[i].append(stamps[i + 1] - stamps[i])

            t0 = pn()
            cm = tracer.start_as_current_span("chat fake", kind=SpanKind.CLIENT, attributes=bench._request_attrs(kw))
            fspan = cm.__enter__()
            t1 = pn()
            result = create(obj, **kw)
            t2 = pn()
            response_attrs = bench._response_attrs(result)
            t3 = pn()
            fspan.set_attributes(response_attrs)
            t4 = pn()
            cm.__exit__(None, None, None)
            t5 = pn()
            fstamps = (t0, t1, t2, t3, t4, t5)
            for i in range(len(flabels)):
                facc[i].append(fstamps[i + 1] - fstamps[i])
    finally:
        gc.enable()
    _report("llmotel sync call path (CallSpec.call_wrapper, step by step):", labels, acc, stamp)
    _report("floor sync call path:", flabels, facc, stamp)

    clabels = [
        "LLMSpan.attach",
        "next(inner generator)",
        "LLMSpan.detach",
        "chunk() bookkeeping (count, timings, samples)",
        "extractor.chunk (reader -> _openai_chunk)",
    ]
    cacc: list[list[int]] = [[] for _ in clabels]
    traced = bench.TracedChat(bench.make_chunks(2000))
    gc.disable()
    try:
        for _ in range(n_streams):
            proxy: Any = traced.stream(**kw)
            llm_span = proxy._self_llm_span
            inner = proxy.__wrapped__
            call = llm_span.call
            state = call.stream_state
            while True:
                t0 = pn()
                token = llm_span.attach()
                t1 = pn()
                try:
                    chunk = next(inner)
                except StopIteration:
                    llm_span.detach(token)
                    llm_span.finish_stream("exhausted")
                    break
                t2 = pn()
                llm_span.detach(token)
                t3 = pn()
                n = state.count
                state.count = n + 1
                now = pn()
                if n == 0:
                    state.first_ns = now
                state.last_ns = now
                state.last_chunk = chunk
                cap = llm_span._cap
                if cap and n % state.stride == 0:
                    samples = state.samples
                    samples.append((n, now, chunk))
                    if len(samples) >= cap:
                        del samples[1::2]
                        state.stride *= 2
                t4 = pn()
                X.chunk(call, state, chunk, False)
                t5 = pn()
                cstamps = (t0, t1, t2, t3, t4, t5)
                for i in range(len(clabels)):
                    cacc[i].append(cstamps[i + 1] - cstamps[i])
            del proxy
    finally:
        gc.enable()
    _report(
        "llmotel per-chunk path (SyncStreamProxy.__next__ + LLMSpan.chunk, step by step; "
        "the proxy's own dispatch is not included):",
        clabels,
        cacc,
        stamp,
    )


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--calls", type=int, default=50_000, help="decorated sync calls to profile")
    p.add_argument("--streams", type=int, default=20, help="2,000-chunk streams to profile")
    p.add_argument("--top", type=int, default=25, help="functions listed per profile")
    p.add_argument("--capture", action="store_true", help="profile with content capture on")
    p.add_argument("--no-stages", action="store_true", help="skip the stage timings (llmotel internals)")
    args = p.parse_args(argv)

    bench.setup_pipeline(False)
    bench.set_capture(args.capture)
    chunks = bench.make_chunks(2000)
    objects = {"floor": bench.FloorChat(chunks), "llmotel": bench.TracedChat(chunks)}
    for obj in objects.values():  # warm-up
        for _ in range(500):
            obj.create(**KW)
        for _ in obj.stream(**KW):
            pass

    def calls(obj: bench.FakeChat) -> Callable[[], None]:
        def run() -> None:
            for _ in range(args.calls):
                obj.create(**KW)

        return run

    def streams(obj: bench.FakeChat) -> Callable[[], None]:
        def run() -> None:
            for _ in range(args.streams):
                for _chunk in obj.stream(**KW):
                    pass

        return run

    print(f"content capture {'ON' if args.capture else 'off'}; no MeterProvider (as bench_decorators.py default)")
    call_profiles = {name: profile(calls(obj)) for name, obj in objects.items()}
    print_owner_table(f"{args.calls:,} sync calls", "us per call", args.calls, call_profiles)
    print(f"\ntop {args.top} functions by own time, llmotel sync calls (us per call, under cProfile):")
    print_top(call_profiles["llmotel"], args.calls, "us", args.top)

    n_chunks = args.streams * len(chunks)
    stream_profiles = {name: profile(streams(obj)) for name, obj in objects.items()}
    print_owner_table(f"{args.streams} streams x {len(chunks):,} chunks", "us per chunk", n_chunks, stream_profiles)
    print(f"\ntop {args.top} functions by own time, llmotel streams (us per chunk, under cProfile):")
    print_top(stream_profiles["llmotel"], n_chunks, "us", args.top)

    if not args.no_stages:
        try:
            stage_timings(min(args.calls, 20_000), max(1, min(args.streams, 20)))
        except (AttributeError, ImportError, TypeError) as exc:
            print(f"\n(stage timings skipped: llmotel internals changed: {exc!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
