"""Export throughput: how many llmotel spans per second reach an OTLP receiver, what is dropped,
and how much of the process's CPU time goes into exporting.

Run (one command, one process)::

    python benchmarks/bench_export.py            # gRPC and HTTP, 3 alternating runs of 10 s each (~1.5 min)
    python benchmarks/bench_export.py --quick    # one 1-s run per protocol (smoke test)
    python benchmarks/bench_export.py --seconds 20 --runs 5 --threads 8

Each run: a counting OTLP receiver starts in this process on 127.0.0.1 (ephemeral port; traffic
never leaves the loopback interface). ``llmotel.configure()`` sets up the pipeline as for an
application: TracerProvider + BatchSpanProcessor (``OTEL_BSP_*`` defaults unless set) + the OTLP
span exporter of the protocol under test, and a MeterProvider whose periodic reader exports
llmotel's metrics over OTLP too. The span exporter is wrapped to count what the SDK hands it and
the CPU time its ``export()`` calls take. Then ``--threads`` threads (default 4) call an
``@llmotel.trace_chat``-decorated fake LLM method as fast as they can for ``--seconds`` (and at
most ``--max-calls`` calls each), the pipeline is flushed, and the receiver's count is compared
with the number of spans created. See ``benchmarks/README.md`` for the columns.

CPU accounting: every thread's CPU time (user + system) is read from
``/proc/self/task/<tid>/stat`` at the start and end of the timed window (10 ms resolution, which
is < 1 % of a 10-s run), and each thread is attributed: the worker threads, the
BatchSpanProcessor's export thread (it pops batches, encodes them and waits on the transport),
the receiver's Python threads (registered by its handlers), and the rest (main thread, the
metric reader, gRPC's native threads of client and receiver). The export share is the export
thread's CPU over the process's CPU minus the receiver's (which would run elsewhere in
production). The wrapper's ``time.thread_time_ns()`` around each ``export()`` call is printed as
a cross-check.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import logging
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# Loopback only, whatever proxy variables the environment has (grpc and requests both honour them).
for _name in ("no_proxy", "NO_PROXY"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name, ""), "127.0.0.1", "localhost"]))

import grpc  # noqa: E402
from _common import all_tasks_cpu_ns, bench_line, machine_info, print_machine, pthread_cpu_ns  # noqa: E402
from bench_decorators import MESSAGES, MODEL, TracedChat, make_chunks  # noqa: E402
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc  # noqa: E402
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: E402
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: E402

import llmotel  # noqa: E402
from llmotel.export.setup import GRPC, HTTP, otlp_metric_exporter, otlp_span_exporter  # noqa: E402

PROTOCOLS = {"grpc": GRPC, "http": HTTP}

# --- a counting OTLP receiver (gRPC or HTTP/protobuf) ----------------------------------------------


class Counter:
    """What a receiver got. Counts only: it keeps no requests (a run delivers ~10^5-10^6 spans)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans = 0
        self.trace_requests = 0
        self.metric_requests = 0
        self.handler_cpu_ns = 0
        self.tids: set[int] = set()

    def traces(self, n: int, cpu_ns: int) -> None:
        with self.lock:
            self.spans += n
            self.trace_requests += 1
            self.handler_cpu_ns += cpu_ns
            self.tids.add(threading.get_native_id())

    def metrics(self, cpu_ns: int) -> None:
        with self.lock:
            self.metric_requests += 1
            self.handler_cpu_ns += cpu_ns
            self.tids.add(threading.get_native_id())


def span_count(request: trace_service_pb2.ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def Export(self, request: Any, context: Any) -> Any:
        t0 = time.thread_time_ns()
        n = span_count(request)
        self.counter.traces(n, time.thread_time_ns() - t0)
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def Export(self, request: Any, context: Any) -> Any:
        self.counter.metrics(0)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class GrpcReceiver:
    def __init__(self) -> None:
        self.counter = Counter()
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-receiver")
        self.server = grpc.server(self.executor)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self.counter), self.server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self.counter), self.server)  # type: ignore[no-untyped-call]
        before = {t.native_id for t in threading.enumerate()}
        self.port = int(self.server.add_insecure_port("127.0.0.1:0"))
        if not self.port:
            raise RuntimeError("could not bind 127.0.0.1")
        self.server.start()
        self.counter.tids |= {t.native_id for t in threading.enumerate() if t.native_id not in before and t.native_id}
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(None).wait(10)
        self.executor.shutdown(wait=True)


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector serves it
    timeout = 30
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def do_POST(self) -> None:
        t0 = time.thread_time_ns()
        counter = self.server.counter
        body = self._body()
        path = self.path.split("?", 1)[0]
        if path == "/v1/traces":
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            n = span_count(request)
        elif path == "/v1/metrics":
            reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
            n = -1
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if n >= 0:  # counted before the reply: once export() returns, the spans are in the count
            counter.traces(n, time.thread_time_ns() - t0)
        else:
            counter.metrics(time.thread_time_ns() - t0)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections end with their client (the exporter's session)
    block_on_close = False

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        super().__init__(("127.0.0.1", 0), _HttpHandler)


class HttpReceiver:
    def __init__(self) -> None:
        self.counter = Counter()
        self.server = _HttpServer(self.counter)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="bench-receiver-http", daemon=True
        )
        self.thread.start()
        if self.thread.native_id:
            self.counter.tids.add(self.thread.native_id)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# --- the exporter wrapper and the drop counter -----------------------------------------------------


class MeasuredExporter(SpanExporter):
    """Counts the spans the BatchSpanProcessor hands over and the CPU time of each export() call."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.calls = 0
        self.spans = 0
        self.failed_spans = 0
        self.cpu_ns = 0
        self.wall_ns = 0
        self.tids: set[int] = set()
        """Threads that exported other than the main thread (which exports only in force_flush)."""

    def export(self, spans: Any) -> SpanExportResult:
        if threading.current_thread() is not threading.main_thread():
            self.tids.add(threading.get_native_id())
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        try:
            result = self.inner.export(spans)
        finally:
            self.cpu_ns += time.thread_time_ns() - c0
            self.wall_ns += time.perf_counter_ns() - w0
        self.calls += 1
        self.spans += len(spans)
        if result is not SpanExportResult.SUCCESS:
            self.failed_spans += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class QueueFullCounter(logging.Filter):
    """Counts the SDK's "Queue full, dropping Span." warnings (one per dropped span) and keeps them
    off stderr. Installed *before* the SDK's own duplicate filter, which lets one through per 20 s."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Queue full"):
            self.count += 1
            return False
        return True


SDK_BATCH_LOGGER = "opentelemetry.sdk._shared_internal"


def cpu_snapshot() -> dict[int, int]:
    """CPU ns per thread id: exact (pthread CPU clock) for live Python threads, /proc ticks for the rest."""
    out = all_tasks_cpu_ns()
    for thread in threading.enumerate():
        if thread.native_id is not None:
            exact = pthread_cpu_ns(thread.ident)
            if exact is not None:
                out[thread.native_id] = exact
    return out


# --- one run ---------------------------------------------------------------------------------------


@dataclass
class Run:
    protocol: str
    seconds: float = 0.0
    created: int = 0
    handed: int = 0
    delivered: int = 0
    failed: int = 0
    queue_full: int = 0
    export_calls: int = 0
    export_fn_cpu_ns: int = 0
    flush_s: float = 0.0
    cpu_ns: dict[str, int] = field(default_factory=dict)
    capped: bool = False

    @property
    def dropped(self) -> int:
        return self.created - self.delivered

    def share(self, group: str) -> float:
        app = self.cpu_ns["total"] - self.cpu_ns["receiver"]
        return self.cpu_ns[group] / app if app > 0 else float("nan")


def _bsp_settings(configured: Any) -> str:
    try:
        procs = configured.tracer_provider._active_span_processor._span_processors
        bp = procs[0]._batch_processor
        return (
            f"max_queue_size={bp._max_queue_size} schedule_delay={bp._schedule_delay_millis:g} ms "
            f"max_export_batch_size={bp._max_export_batch_size}"
        )
    except (AttributeError, IndexError):
        return "(SDK internals moved: settings not shown)"


def one_run(protocol: str, seconds: float, threads: int, max_calls: int, metrics: bool, verbose: bool) -> Run:
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    proto = PROTOCOLS[protocol]
    exporter = MeasuredExporter(otlp_span_exporter(proto, endpoint=receiver.endpoint))
    reader = PeriodicExportingMetricReader(otlp_metric_exporter(proto, endpoint=receiver.endpoint)) if metrics else None
    configured = llmotel.configure(
        service_name="bench-export",
        span_exporter=exporter,
        metric_reader=reader,
        metrics_exporter=None if metrics else "none",
        force=True,
    )
    if verbose:
        print(f"  BatchSpanProcessor: {_bsp_settings(configured)}")
    counter = QueueFullCounter()
    sdk_logger = logging.getLogger(SDK_BATCH_LOGGER)
    sdk_logger.filters.insert(0, counter)

    run = Run(protocol)
    counts = [0] * threads
    worker_cpu = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def work(i: int) -> None:
        chat = TracedChat(make_chunks(3))
        start.wait()
        c0 = time.thread_time_ns()
        end = deadline[0]
        clock = time.perf_counter
        n = 0
        while n < max_calls and clock() < end:
            chat.create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
            n += 1
        worker_cpu[i] = time.thread_time_ns() - c0
        counts[i] = n

    workers = [threading.Thread(target=work, args=(i,), name=f"bench-worker-{i}") for i in range(threads)]
    for t in workers:
        t.start()
    chat = TracedChat(make_chunks(3))  # one call up front: the first export connects
    chat.create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
    configured.tracer_provider.force_flush()  # type: ignore[attr-defined]
    base_handed, base_delivered = exporter.spans, receiver.counter.spans
    handler_cpu0 = receiver.counter.handler_cpu_ns

    tasks0 = cpu_snapshot()
    proc0 = time.process_time_ns()
    export_cpu0 = exporter.cpu_ns
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.wait()
    for t in workers:
        t.join(seconds + 60)
    t1 = time.perf_counter()
    proc1 = time.process_time_ns()
    tasks1 = cpu_snapshot()
    export_cpu1 = exporter.cpu_ns

    f0 = time.perf_counter()
    configured.tracer_provider.force_flush()  # type: ignore[attr-defined]
    wait_until = time.monotonic() + 10
    while receiver.counter.spans - base_delivered < exporter.spans - exporter.failed_spans - base_handed:
        if time.monotonic() > wait_until:
            break
        time.sleep(0.01)
    run.flush_s = time.perf_counter() - f0

    run.seconds = t1 - t0
    run.created = sum(counts)
    run.capped = any(c >= max_calls for c in counts)
    run.handed = exporter.spans - base_handed
    run.delivered = receiver.counter.spans - base_delivered
    run.failed = exporter.failed_spans
    run.queue_full = counter.count
    run.export_calls = exporter.calls
    run.export_fn_cpu_ns = export_cpu1 - export_cpu0

    def delta(tids: set[int]) -> int:
        return sum(tasks1.get(t, 0) - tasks0.get(t, 0) for t in tids if t in tasks1)

    export_tids = set(exporter.tids)
    receiver_tids = set(receiver.counter.tids) - export_tids
    run.cpu_ns = {
        "total": proc1 - proc0,
        "workers": sum(worker_cpu),
        "export": delta(export_tids),
        # the handlers' own thread_time is exact; the threads' totals also include gRPC's server loop
        "receiver": max(delta(receiver_tids), receiver.counter.handler_cpu_ns - handler_cpu0),
    }
    run.cpu_ns["other"] = max(
        0, run.cpu_ns["total"] - run.cpu_ns["workers"] - run.cpu_ns["export"] - run.cpu_ns["receiver"]
    )

    sdk_logger.filters.remove(counter)
    configured.shutdown(10)
    receiver.stop()
    return run


# --- output ----------------------------------------------------------------------------------------


def print_run(i: int, r: Run) -> None:
    cpu = r.cpu_ns
    ms = {k: v / 1e6 for k, v in cpu.items()}
    print(
        f"  run {i} {r.protocol:<4} {r.seconds:5.1f} s: created {r.created:>8,} ({r.created / r.seconds:>8,.0f}/s)  "
        f"handed to exporter {r.handed:>8,}  delivered {r.delivered:>8,} ({r.delivered / r.seconds:>8,.0f}/s)  "
        f"dropped {r.dropped:>8,} ({100 * r.dropped / max(1, r.created):4.1f} %; "
        f"'Queue full' warnings {r.queue_full:,})  "
        f"export failures {r.failed:,}; {r.export_calls} export calls; flush {r.flush_s:.2f} s"
    )
    print(
        f"      CPU ms: process {ms['total']:,.0f} = workers {ms['workers']:,.0f} + export thread {ms['export']:,.0f} "
        f"+ receiver {ms['receiver']:,.0f} + other {ms['other']:,.0f}; export share of the app's CPU "
        f"{100 * r.share('export'):.1f} % (export() calls alone: {r.export_fn_cpu_ns / 1e6:,.0f} ms)"
        + ("  [a worker hit --max-calls]" if r.capped else "")
    )


def summarize(runs: list[Run]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    created = sum(r.created for r in runs)
    delivered = sum(r.delivered for r in runs)
    export_ns = [r.cpu_ns["export"] for r in runs]
    exported = [max(1, r.handed) for r in runs]
    return {
        "runs": len(runs),
        "seconds": med([r.seconds for r in runs]),
        "created_per_s": med([r.created / r.seconds for r in runs]),
        "delivered_per_s": med([r.delivered / r.seconds for r in runs]),
        "created": created,
        "delivered": delivered,
        "dropped": created - delivered,
        "dropped_pct": 100.0 * (created - delivered) / max(1, created),
        "queue_full": sum(r.queue_full for r in runs),
        "export_failures": sum(r.failed for r in runs),
        "export_cpu_share": med([r.share("export") for r in runs]),
        "worker_cpu_share": med([r.share("workers") for r in runs]),
        "export_us_per_span": med([e / n / 1000 for e, n in zip(export_ns, exported, strict=True)]),
        "process_cpu_per_s": med([r.cpu_ns["total"] / 1e9 / r.seconds for r in runs]),
    }


# --- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="one 1-second run per protocol (smoke test)")
    p.add_argument("--seconds", type=float, default=None, help="length of each run (default 10; 1 with --quick)")
    p.add_argument("--runs", type=int, default=None, help="runs per protocol, alternating (default 3; 1 with --quick)")
    p.add_argument("--threads", type=int, default=4, help="worker threads making decorated calls (default 4)")
    p.add_argument("--max-calls", type=int, default=5_000_000, help="cap on calls per worker per run")
    p.add_argument("--protocols", default="grpc,http", help="comma-separated: grpc, http (default both)")
    p.add_argument("--no-metrics", action="store_true", help="no MeterProvider (configure() with metrics off)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 10.0)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols or seconds <= 0 or runs < 1 or args.threads < 1 or args.max_calls < 1:
        raise SystemExit(f"bad arguments (protocols must be among {sorted(PROTOCOLS)})")
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_SDK_DISABLED"):
        if os.environ.get(name):
            print(f"note: {name}={os.environ[name]} is set and changes what is measured")

    print("llmotel export throughput (llmotel.configure() pipeline -> in-process OTLP receiver on 127.0.0.1)")
    print_machine()
    print(
        f"{args.threads} threads x @llmotel.trace_chat fake LLM calls, {seconds:g} s per run, {runs} run(s) per "
        f"protocol alternating ({', '.join(protocols)}); metrics {'off' if args.no_metrics else 'on (OTLP, periodic)'}"
    )
    started = time.monotonic()
    results: dict[str, list[Run]] = {p: [] for p in protocols}
    n = 0
    for _ in range(runs):
        for protocol in protocols:
            n += 1
            run = one_run(protocol, seconds, args.threads, args.max_calls, not args.no_metrics, verbose=(n == 1))
            results[protocol].append(run)
            print_run(n, run)

    summaries = {p: summarize(rs) for p, rs in results.items()}
    print("\n== summary (medians over runs; counts summed) ==")
    head = (
        f"{'protocol':<8} {'runs':>4} {'created/s':>10} {'delivered/s':>11} {'created':>10} {'delivered':>10} "
        f"{'dropped':>9} {'dropped %':>9} {'queue full':>10} {'export CPU %':>12} {'export us/span':>14} "
        f"{'workers CPU %':>13} {'CPU s/s':>7}"
    )
    print(head)
    print("-" * len(head))
    for protocol, s in summaries.items():
        print(
            f"{protocol:<8} {s['runs']:>4} {s['created_per_s']:>10,.0f} {s['delivered_per_s']:>11,.0f} "
            f"{s['created']:>10,} {s['delivered']:>10,} {s['dropped']:>9,} {s['dropped_pct']:>8.1f}% "
            f"{s['queue_full']:>10,} {100 * s['export_cpu_share']:>11.1f}% {s['export_us_per_span']:>14.2f} "
            f"{100 * s['worker_cpu_share']:>12.1f}% {s['process_cpu_per_s']:>7.2f}"
        )
    print(
        "created/s: decorated calls (= spans) per second, all threads; delivered/s: spans counted by the receiver;\n"
        "dropped = created - delivered after the flush; queue full = the SDK's 'Queue full, dropping Span.'\n"
        "warnings, one per span the BatchSpanProcessor drops (its check is not locked: may overcount by a few);\n"
        "export CPU % = the export thread's CPU / the process's CPU without the receiver's; export us/span = that\n"
        "thread's CPU per span handed to the exporter; workers CPU % likewise; CPU s/s = process CPU seconds per\n"
        "wall second (2 = both cores busy)"
    )
    print(f"total time {time.monotonic() - started:.0f} s\n")
    info = machine_info()
    for protocol, s in summaries.items():
        print(bench_line(f"export_{protocol}", threads=args.threads, nproc=info["nproc"], **s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
