"""Per-call overhead of llmotel's AWS Bedrock instrumentation, with the real boto3/botocore client.

Run (one command each)::

    python benchmarks/bench_bedrock.py            # converse + 200/2,000-event streams, capture off, on (~1 min)
    python benchmarks/bench_bedrock.py --quick    # smoke run, under 20 s

botocore sends with urllib3, so the fake endpoint is a real local HTTP server (a
``ThreadingHTTPServer`` on 127.0.0.1, an ephemeral port, in this process) answering ``Converse``
with one JSON body and ``ConverseStream`` with an AWS event stream of 200 or 2,000 events
(messageStart, text deltas, messageStop, metadata; ``--quick`` runs the 200 only). Three variants
of the same user code run in interleaved, rotating blocks:

    bare    the SDK call, uninstrumented
    floor   the bare call inside a hand-written SDK span recording the same GenAI attributes
            (request, server, response id, finish reasons, usage; with content capture on also the
            input/output messages as JSON): what careful instrumentation costs at least
    instr   the SDK call with ``BedrockInstrumentor``

The instrumentation is applied once; between blocks the benchmark swaps
``botocore.client.BaseClient._make_api_call`` for the original and back. Each block is timed in
thread CPU time (``time.thread_time_ns``: the benchmark thread only, not the server's threads).
Overheads are medians of per-round paired differences (instr - bare, floor - bare), with their
interquartile range and 90 % bootstrap intervals; ``x_floor`` = median overhead / median floor
overhead (1.0 = as cheap as the hand-written span). The last lines are ``BENCH name=bedrock.<case>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.client
from _common import bench_line, bootstrap, median, print_machine, quartiles
from botocore.config import Config
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from llmotel import config
from llmotel.integrations.bedrock import BedrockInstrumentor

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
REQUEST_ID = "9c3b8c39-5d0f-4e9a-9d47-3f8d2a1b6c70"
MESSAGES = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Paris."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18},
    "metrics": {"latencyMs": 412},
}
STREAM_SIZES = (200, 2000)
BIG_MODEL = "bench.stream-2000"
"""The model id of the 2,000-event stream (the fake endpoint answers by the request path)."""
VARIANTS = ("bare", "floor", "instr")


# --- the fake endpoint -----------------------------------------------------------------------------


def _message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event stream message (prelude, prelude CRC, string headers, payload, message CRC)."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        raw = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    body = json.dumps(payload, separators=(",", ":")).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def stream_body(n: int) -> bytes:
    events = [_message("messageStart", {"role": "assistant"})]
    events += [
        _message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f" tok{i}"}}) for i in range(n - 3)
    ]
    events.append(_message("messageStop", {"stopReason": "end_turn"}))
    usage = {"inputTokens": 21, "outputTokens": n - 3, "totalTokens": n + 18}
    events.append(_message("metadata", {"usage": usage, "metrics": {"latencyMs": 300}}))
    return b"".join(events)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    json_body = json.dumps(CONVERSE).encode()
    events_bodies = {n: stream_body(n) for n in STREAM_SIZES}

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        streaming = self.path.endswith("/converse-stream")
        if streaming:
            data = self.events_bodies[2000 if BIG_MODEL in self.path else 200]
        else:
            data = self.json_body
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream" if streaming else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", REQUEST_ID)
        self.end_headers()
        self.wfile.write(data)


def start_server() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# --- the pipeline and the floor --------------------------------------------------------------------


class NoopExporter(SpanExporter):
    def __init__(self) -> None:
        self.keep: list[ReadableSpan] | None = None

    def export(self, spans: Any) -> SpanExportResult:
        if self.keep is not None:
            self.keep.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class Floor:
    """The hand-written span: what careful instrumentation of the same call records."""

    def __init__(self, tracer: trace.Tracer, capture: bool, host: str, port: int) -> None:
        self.tracer, self.capture, self.host, self.port = tracer, capture, host, port

    def _start(self, kwargs: dict[str, Any], stream: bool) -> Any:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "aws.bedrock",
            "gen_ai.request.model": kwargs["modelId"],
            "server.address": self.host,
            "server.port": self.port,
            "gen_ai.request.max_tokens": kwargs["inferenceConfig"]["maxTokens"],
        }
        if stream:
            attributes["gen_ai.request.stream"] = True
        if self.capture:
            attributes["gen_ai.input.messages"] = json.dumps(
                [{"role": m["role"], "parts": [{"type": "text", "content": m["content"][0]["text"]}]} for m in MESSAGES]
            )
        return self.tracer.start_span(f"chat {kwargs['modelId']}", kind=SpanKind.CLIENT, attributes=attributes)

    def _end(self, span: Any, request_id: str, reason: str, usage: dict[str, Any], text: str | None) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.response.id": request_id,
            "gen_ai.response.finish_reasons": ("stop" if reason == "end_turn" else reason,),
            "gen_ai.usage.input_tokens": usage["inputTokens"],
            "gen_ai.usage.output_tokens": usage["outputTokens"],
        }
        if self.capture:
            parts = [{"type": "text", "content": text}] if text else []
            attributes["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": parts, "finish_reason": "stop"}]
            )
        span.set_attributes(attributes)
        span.end()

    def converse(self, client: Any, **kwargs: Any) -> Any:
        span = self._start(kwargs, False)
        with trace.use_span(span, end_on_exit=False):
            result = client.converse(**kwargs)
        text = result["output"]["message"]["content"][0]["text"] if self.capture else None
        self._end(span, result["ResponseMetadata"]["RequestId"], result["stopReason"], result["usage"], text)
        return result

    def converse_stream(self, client: Any, **kwargs: Any) -> int:
        span = self._start(kwargs, True)
        with trace.use_span(span, end_on_exit=False):
            result = client.converse_stream(**kwargs)
        reason, usage, texts, n = "", {}, [], 0
        for event in result["stream"]:
            n += 1
            if "contentBlockDelta" in event:
                if self.capture:
                    texts.append(event["contentBlockDelta"]["delta"]["text"])
            elif "messageStop" in event:
                reason = event["messageStop"]["stopReason"]
            elif "metadata" in event:
                usage = event["metadata"]["usage"]
        span.set_attribute("llmotel.stream.chunks", n)
        self._end(span, result["ResponseMetadata"]["RequestId"], reason, usage, "".join(texts))
        return n


# --- the runs --------------------------------------------------------------------------------------


class Switch:
    """``BaseClient._make_api_call``: the original (bare, floor) or llmotel's wrapper (instr)."""

    def __init__(self, original: Any, wrapper: Any) -> None:
        self.original, self.wrapper = original, wrapper

    def apply(self, on: bool) -> None:
        botocore.client.BaseClient._make_api_call = self.wrapper if on else self.original  # type: ignore[method-assign]


def cases(client: Any, floor: Floor) -> dict[str, dict[str, Callable[[], Any]]]:
    kwargs = {"modelId": MODEL, "messages": MESSAGES, "inferenceConfig": {"maxTokens": 256}}

    def read(result: Any) -> int:
        return sum(1 for _ in result["stream"])

    return {
        "converse": {
            "bare": lambda: client.converse(**kwargs),
            "floor": lambda: floor.converse(client, **kwargs),
            "instr": lambda: client.converse(**kwargs),
        },
        **{
            f"converse_stream_{n}": {
                "bare": lambda kw=kw: read(client.converse_stream(**kw)),
                "floor": lambda kw=kw: floor.converse_stream(client, **kw),
                "instr": lambda kw=kw: read(client.converse_stream(**kw)),
            }
            for n, kw in ((200, kwargs), (2000, {**kwargs, "modelId": BIG_MODEL}))
        },
    }


def measure(
    run: dict[str, Callable[[], Any]], switch: Switch, rounds: int, calls: int, budget_s: float
) -> dict[str, Any]:
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for variant in VARIANTS:  # warm up
        switch.apply(variant == "instr")
        run[variant]()
    deadline = time.monotonic() + budget_s
    done = 0
    while done < rounds and (done < 3 or time.monotonic() < deadline):
        shift = done % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            switch.apply(variant == "instr")
            fn = run[variant]
            gc.disable()
            try:
                t0 = time.thread_time_ns()
                for _ in range(calls):
                    fn()
                elapsed = time.thread_time_ns() - t0
            finally:
                gc.enable()
            cpu[variant].append(elapsed / calls / 1000.0)
        gc.collect(1)
        done += 1
    switch.apply(True)
    return summarize(cpu, done, calls)


def summarize(cpu: dict[str, list[float]], rounds: int, calls: int) -> dict[str, Any]:
    bare, floor, instr = cpu["bare"], cpu["floor"], cpu["instr"]
    d_floor = [f - b for b, f in zip(bare, floor, strict=True)]
    d_instr = [i - b for b, i in zip(bare, instr, strict=True)]
    per_round = [di / df for di, df in zip(d_instr, d_floor, strict=True) if df > 0]
    x_bare_rounds = [i / b for b, i in zip(bare, instr, strict=True) if b > 0]

    def med(values: list[float], idx: list[int]) -> float:
        return median([values[i] for i in idx])

    def ratio(idx: list[int]) -> float:
        f = med(d_floor, idx)
        return med(d_instr, idx) / f if f > 0 else float("nan")

    s: dict[str, Any] = {"rounds": rounds, "calls_per_block": calls, "bare_us": median(bare)}
    s["floor_ovh_us"] = median(d_floor)
    s["ovh_us"] = median(d_instr)
    s["ovh_p25"], _, s["ovh_p75"] = quartiles(d_instr)
    s["ovh_lo"], s["ovh_hi"] = bootstrap(lambda idx: med(d_instr, idx), rounds)
    s["pct_of_bare"] = 100.0 * s["ovh_us"] / s["bare_us"] if s["bare_us"] > 0 else float("nan")
    s["x_bare"] = median(instr) / s["bare_us"] if s["bare_us"] > 0 else float("nan")
    s["x_bare_p25"], _, s["x_bare_p75"] = quartiles(x_bare_rounds)
    s["x_floor"] = s["ovh_us"] / s["floor_ovh_us"] if s["floor_ovh_us"] > 0 else float("nan")
    s["x_floor_p25"], _, s["x_floor_p75"] = quartiles(per_round)
    s["x_floor_lo"], s["x_floor_hi"] = bootstrap(ratio, rounds)
    return s


def span_check(run: dict[str, Callable[[], Any]], switch: Switch, exporter: NoopExporter) -> str:
    """One call per traced variant: exactly one span each, with the same core attributes."""
    found = []
    for variant in ("floor", "instr"):
        kept: list[ReadableSpan] = []
        exporter.keep = kept
        switch.apply(variant == "instr")
        try:
            run[variant]()
        finally:
            exporter.keep = None
        switch.apply(True)
        if len(kept) != 1:
            raise SystemExit(f"span check: {variant} made {len(kept)} spans")
        values = dict(kept[0].attributes or {})
        found.append((values.get("gen_ai.response.id"), values.get("gen_ai.usage.output_tokens")))
    if found[0] != found[1]:
        raise SystemExit(f"span check: floor and instr disagree: {found}")
    return f"one span per call, floor == instr on id/output tokens {found[0]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run (a few seconds)")
    parser.add_argument("--no-capture-pass", action="store_true", help="only the content-capture-off pass")
    args = parser.parse_args()
    started = time.monotonic()
    print_machine()
    plan = (
        {"converse": (30, 10, 4.0), "converse_stream_200": (20, 2, 4.0)}
        if args.quick
        else {
            "converse": (60, 40, 12.0),
            "converse_stream_200": (40, 8, 12.0),
            "converse_stream_2000": (20, 1, 12.0),
        }
    )  # case -> (max rounds, calls per block, seconds budget)

    exporter = NoopExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    server, url = start_server()
    host, port = "127.0.0.1", int(server.server_address[1])
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench-secret",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    original = vars(botocore.client.BaseClient)["_make_api_call"]
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    switch = Switch(original, vars(botocore.client.BaseClient)["_make_api_call"])
    assert switch.wrapper is not original, "BedrockInstrumentor patched nothing"

    results: list[tuple[str, bool, dict[str, Any]]] = []
    for capture in [False] if (args.no_capture_pass or args.quick) else [False, True]:
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true" if capture else "false"
        config.reload_settings()
        floor = Floor(provider.get_tracer("bench"), capture, host, port)
        for name, run in cases(client, floor).items():
            if name not in plan:
                continue
            print(f"{name} (capture {'on' if capture else 'off'}): {span_check(run, switch, exporter)}")
            rounds, calls, budget = plan[name]
            results.append((name, capture, measure(run, switch, rounds, calls, budget)))
    instrumentor.uninstrument()
    server.shutdown()

    head = f"{'case':<28} {'rounds':>6} {'bare us':>9} {'floor ovh':>10} {'ovh us [IQR]':>22} {'% bare':>7}"
    print(f"\n{head} {'x floor [IQR]':>20}")
    for name, capture, s in results:
        label = name + ("_capture" if capture else "")
        iqr = f"{s['ovh_us']:.1f} [{s['ovh_p25']:.1f}..{s['ovh_p75']:.1f}]"
        xf = f"{s['x_floor']:.2f} [{s['x_floor_p25']:.2f}..{s['x_floor_p75']:.2f}]"
        row = f"{label:<28} {s['rounds']:>6} {s['bare_us']:>9.1f} {s['floor_ovh_us']:>10.1f} {iqr:>22}"
        print(f"{row} {s['pct_of_bare']:>6.1f}% {xf:>20}")
    print(
        "\nus = microseconds of benchmark-thread CPU time per call (per whole stream for streams); ovh = median over\n"
        "rounds of (instr - bare) of the same round; x floor = ovh / floor ovh; IQR = interquartile range over rounds"
    )
    print(f"total time {time.monotonic() - started:.0f} s\n")
    for name, capture, s in results:
        fields = {"capture": "on" if capture else "off", **{k: v for k, v in s.items() if k != "calls_per_block"}}
        if name.startswith("converse_stream"):
            chunks = int(name.rsplit("_", 1)[1])
            fields["chunks"] = chunks
            fields["per_chunk_us"] = s["ovh_us"] / chunks
            fields["floor_per_chunk_us"] = s["floor_ovh_us"] / chunks
        print(bench_line(f"bedrock.{name}" + ("_capture" if capture else ""), **fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
