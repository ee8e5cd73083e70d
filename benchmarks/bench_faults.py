"""Faults and load: the figures behind the README's Guarantees section (issue 17).

Collector faults: one app subprocess per scenario (``configure()`` + OTLP to an in-process receiver
from ``tests/helpers/otlp_receiver.py``), three phases:

1. ``pre``: 200 calls with the collector healthy (except ``down``: refused from the start);
2. ``fault``: N timed calls while the collector is healthy / down (connection refused) / stopped
   after ``pre`` and restarted after this phase (``restart``) / answering UNAVAILABLE-503 /
   black-holed / answering 0.3 s late (``slow``);
3. ``after``: the collector is healthy again; M calls, then ``force_flush()``.

Per scenario: the fault phase's caller latency p50/p99/max and its ratio to the healthy run's (same
invocation), RSS growth over the fault phase, spans delivered of each phase (``after`` must be all
of them: delivered after recovery), spans lost.

Load (in-process, a processor that keeps only ids): T threads x C decorated calls, and S
concurrent async streams; spans missing, duplicated or mis-parented (must be 0) and the wall time.

    python benchmarks/bench_faults.py            # full: 4,000 timed calls, 64 x 1,000, 1,000 streams
    python benchmarks/bench_faults.py --quick    # < 20 s: 1,000 calls, 16 x 200, 200 streams
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # helpers.otlp_receiver

from _common import bench_line, print_machine
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

import llmotel
from helpers.otlp_receiver import GrpcReceiver, HttpReceiver

APP = r"""
import json, os, sys, time
import llmotel

PLAN = json.loads(os.environ["FAULTS_PLAN"])


def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@llmotel.trace_chat(provider="openai")
def chat(messages, model):
    return {"id": "r", "model": model, "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "ok"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def handshake(name):
    print("READY " + name, flush=True)
    assert sys.stdin.readline().strip() == "go"


configured = llmotel.configure()
M = [{"role": "user", "content": "hi"}]
for _ in range(PLAN["pre"]):
    chat(M, model="pre")
handshake("pre")
rss_start = rss_max = rss()
lat = []
for i in range(PLAN["fault"]):
    t = time.perf_counter_ns()
    chat(M, model="fault")
    lat.append(time.perf_counter_ns() - t)
    if i % 250 == 249:
        rss_max = max(rss_max, rss())
rss_max = max(rss_max, rss())
handshake("fault")
for _ in range(PLAN["after"]):
    chat(M, model="after")
flushed = configured.tracer_provider.force_flush(30000)
lat.sort()
at = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6
print("RESULT " + json.dumps({"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": lat[-1] / 1e6, "flushed": flushed,
      "rss_growth_mb": (rss_max - rss_start) / 2**20, "internal_errors": llmotel.internal_error_counts()}), flush=True)
"""

SCENARIOS = ["healthy", "down", "restart", "unavailable", "blackhole", "slow"]


def run_scenario(transport: str, scenario: str, fault_calls: int, after_calls: int) -> dict[str, Any]:
    receiver = GrpcReceiver() if transport == "grpc" else HttpReceiver()
    with receiver:
        if scenario == "down":
            receiver.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMOTEL_"))}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc" if transport == "grpc" else "http/protobuf",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_BSP_SCHEDULE_DELAY="50",
            OTEL_BSP_MAX_QUEUE_SIZE="2048",
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="256",
            OTEL_EXPORTER_OTLP_TIMEOUT="1",
            FAULTS_PLAN=json.dumps({"pre": 200, "fault": fault_calls, "after": after_calls}),
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", APP], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline().startswith("READY pre")
            if scenario == "restart":
                receiver.stop()
            elif scenario in ("unavailable", "blackhole", "slow"):
                receiver.mode = scenario  # type: ignore[assignment]
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().startswith("READY fault")
            if scenario in ("down", "restart"):
                receiver.start()
            receiver.mode = "ok"
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line.startswith("RESULT "), line
            result: dict[str, Any] = json.loads(line[7:])
            proc.stdin.close()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()  # only the child started here
                proc.wait()
        spans = receiver.spans()
    made = {"pre": 200, "fault": fault_calls, "after": after_calls}
    got = {p: sum(s["name"] == f"chat {p}" for s in spans) for p in made}
    result.update(
        delivered=got,
        lost=sum(made.values()) - sum(got.values()),
        after_delivered=got["after"],
        after_made=after_calls,
        duplicates=len(spans) - len({s["span_id"] for s in spans}),
    )
    return result


# --- load -----------------------------------------------------------------------------------------


class Ids(SpanProcessor):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, int, int | None, int, Any]] = []

    def on_end(self, span: ReadableSpan) -> None:
        row = (
            span.name,
            span.context.span_id,
            span.parent.span_id if span.parent else None,
            span.context.trace_id,
            (span.attributes or {}).get("gen_ai.request.model"),
        )
        with self.lock:
            self.rows.append(row)


IDS = Ids()
PROVIDER = TracerProvider(shutdown_on_exit=False)
PROVIDER.add_span_processor(IDS)
TRACER = PROVIDER.get_tracer("bench_faults")


@llmotel.trace_chat(provider="openai", tracer_provider=PROVIDER)
def load_call(model: str) -> dict[str, Any]:
    return {"id": model, "model": model}


@llmotel.trace_chat(provider="openai", tracer_provider=PROVIDER)
async def load_stream(model: str, chunks: int) -> Any:
    for i in range(chunks):
        await asyncio.sleep(0)
        yield {"id": model, "choices": [{"index": 0, "delta": {"content": str(i)}}]}


def check(roots: dict[str, tuple[int, int]], expected: dict[str, str]) -> dict[str, int]:
    llm = [r for r in IDS.rows if r[0].startswith("chat ")]
    seen = {r[4] for r in llm}
    misparented = sum((r[2], r[3]) != roots.get(expected.get(r[4], ""), (0, 0)) for r in llm)
    return {
        "spans": len(llm),
        "missing": len(set(expected) - seen),
        "duplicated": len(llm) - len(seen),
        "misparented": misparented,
    }


def threads_run(threads: int, calls: int) -> dict[str, Any]:
    IDS.rows.clear()
    roots: dict[str, tuple[int, int]] = {}
    barrier = threading.Barrier(threads + 1)

    def work(t: int) -> None:
        barrier.wait()
        with TRACER.start_as_current_span(f"root t{t}") as root:
            roots[f"t{t}"] = (root.get_span_context().span_id, root.get_span_context().trace_id)
            for i in range(calls):
                load_call(model=f"t{t}-{i}")

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    result = check(roots, {f"t{t}-{i}": f"t{t}" for t in range(threads) for i in range(calls)})
    return {**result, "wall_s": wall, "calls_per_s": threads * calls / wall}


def streams_run(streams: int, chunks: int) -> dict[str, Any]:
    IDS.rows.clear()
    roots: dict[str, tuple[int, int]] = {}

    async def consume(n: int) -> int:
        with TRACER.start_as_current_span(f"root s{n}") as root:
            roots[f"s{n}"] = (root.get_span_context().span_id, root.get_span_context().trace_id)
            return len([c async for c in load_stream(model=f"s{n}", chunks=chunks)])

    async def main() -> list[int]:
        return await asyncio.gather(*(consume(n) for n in range(streams)))

    started = time.perf_counter()
    counts = asyncio.run(main())
    wall = time.perf_counter() - started
    result = check(roots, {f"s{n}": f"s{n}" for n in range(streams)})
    return {**result, "chunks_lost": streams * chunks - sum(counts), "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 20 s")
    parser.add_argument("--transport", choices=["grpc", "http", "both"], default=None)
    args = parser.parse_args(argv)
    quick = args.quick
    transports = (
        ["grpc", "http"] if (args.transport or ("grpc" if quick else "both")) == "both" else [args.transport or "grpc"]
    )
    fault_calls, after_calls = (1000, 300) if quick else (4000, 1000)
    print_machine()
    print(
        f"faults: {fault_calls} timed calls per scenario, then {after_calls} after recovery; "
        "export timeout 1 s, queue 2048"
    )
    header = f"{'scenario':<22}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'p99 x':>7}{'RSS MB':>8}"
    header += "  delivered pre/fault/after   lost"
    print(header)
    for transport in transports:
        healthy: dict[str, Any] | None = None
        for scenario in SCENARIOS:
            r = run_scenario(transport, scenario, fault_calls, after_calls)
            healthy = healthy or r
            ratio = r["p99_ms"] / healthy["p99_ms"]
            d = r["delivered"]
            print(
                f"{transport + '/' + scenario:<22}{r['p50_ms']:>8.3f}{r['p99_ms']:>8.3f}{r['max_ms']:>8.1f}"
                f"{ratio:>7.2f}"
                f"{r['rss_growth_mb']:>8.1f}  {d['pre']:>5}/{d['fault']:>5}/{d['after']:>5}{r['lost']:>12}"
            )
            print(
                bench_line(
                    f"faults.{transport}.{scenario}",
                    p50_ms=r["p50_ms"],
                    p99_ms=r["p99_ms"],
                    max_ms=r["max_ms"],
                    p50_x_healthy=r["p50_ms"] / healthy["p50_ms"],
                    p99_x_healthy=ratio,
                    rss_growth_mb=r["rss_growth_mb"],
                    after_delivered=r["after_delivered"],
                    after_made=r["after_made"],
                    lost=r["lost"],
                    duplicates=r["duplicates"],
                    internal_errors=sum(r["internal_errors"].values()),
                )
            )
    threads, calls, streams = (16, 200, 200) if quick else (64, 1000, 1000)
    t = threads_run(threads, calls)
    print(f"{threads} threads x {calls} calls: {t}")
    print(bench_line(f"faults.threads_{threads}x{calls}", **t))
    s = streams_run(streams, 5)
    print(f"{streams} concurrent async streams x 5 chunks: {s}")
    print(bench_line(f"faults.async_streams_{streams}", **s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
