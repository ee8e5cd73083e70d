"""Per-call overhead of llmotel's google-genai instrumentation, with the real google-genai SDK.

Run (one command each)::

    python benchmarks/bench_google_genai.py            # capture off then on (~1 min)
    python benchmarks/bench_google_genai.py --quick    # smoke run, under 20 s

The real ``genai.Client`` talks to an in-process fake Gemini API (``httpx.MockTransport`` through
``HttpOptions.client_args`` / ``async_client_args``: no socket is opened) that answers
``generateContent`` with a ``GenerateContentResponse`` (usage with cached and thinking tokens), or
``streamGenerateContent?alt=sse`` with 200 SSE chunks. Three variants of the same user code run in
interleaved blocks whose order rotates every round, in one process:

    bare    ``client.models.generate_content(...)``, uninstrumented
    floor   the bare call inside a hand-written SDK span recording the same GenAI attributes
            (request, server, response id/model, finish reasons, usage with cache and reasoning
            tokens; with content capture on also the input/output messages as JSON): what careful
            instrumentation costs at least
    instr   the same call with ``GoogleGenAIInstrumentor`` applied

The instrumentor is applied once; between blocks the benchmark puts the SDK's original methods
back and the wrappers again, so bare and floor run the unpatched SDK. Each block is timed in thread
CPU time (``time.thread_time_ns``). Per round: ``x_bare`` = instr / bare per call and ``x_floor`` =
(instr - bare) / (floor - bare); the medians over rounds are reported with their interquartile
range (p25..p75). The last lines are one ``BENCH name=google_genai.<case> key=value ...`` line each.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from _common import bench_line, median, print_machine, quartiles
from google import genai
from google.genai import models as models_module
from google.genai import types
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

tt = time.thread_time_ns
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
MODEL = "gemini-2.5-flash"
BASE_URL = "http://fake-gemini.bench:9443"
HOST, PORT = "fake-gemini.bench", 9443
STREAM_CHUNKS = 200
CONTENTS = "What is the capital of France?"
CONFIG = types.GenerateContentConfig(temperature=0.2, max_output_tokens=256)

RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "The capital of France is Paris."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1210,
        "candidatesTokenCount": 8,
        "totalTokenCount": 1260,
        "cachedContentTokenCount": 1024,
        "thoughtsTokenCount": 42,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mKx2aN7gLcOQ1MkPvKqP6Ak",
}


def sse_body(n: int) -> bytes:
    events = []
    for i in range(n):
        last = i == n - 1
        candidate: dict[str, Any] = {"content": {"parts": [{"text": f"tok{i} "}], "role": "model"}, "index": 0}
        usage: dict[str, Any] = {"promptTokenCount": 9, "totalTokenCount": 9}
        if last:
            candidate["finishReason"] = "STOP"
            usage = {"promptTokenCount": 9, "candidatesTokenCount": n, "thoughtsTokenCount": 24}
        events.append(
            {"candidates": [candidate], "usageMetadata": usage, "modelVersion": MODEL, "responseId": "s7x2aOXy"}
        )
    return "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events).encode()


class NoopExporter(SpanExporter):
    """Drops every span; keeps them in ``kept`` while that is a list (the span check only)."""

    def __init__(self) -> None:
        self.kept: list[ReadableSpan] | None = None

    def export(self, spans: Any) -> SpanExportResult:
        if self.kept is not None:
            self.kept.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def make_client(stream_body: bytes) -> genai.Client:
    reply = json.dumps(RESPONSE).encode()
    json_headers = {"content-type": "application/json; charset=UTF-8"}
    sse_headers = {"content-type": "text/event-stream"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(":streamGenerateContent"):
            return httpx.Response(200, content=stream_body, headers=sse_headers)
        return httpx.Response(200, content=reply, headers=json_headers)

    transport = httpx.MockTransport(handler)
    options = types.HttpOptions(
        base_url=BASE_URL, client_args={"transport": transport}, async_client_args={"transport": transport}
    )
    return genai.Client(api_key="bench-key", http_options=options)


# --- the floor: a hand-written span around the bare call -------------------------------------------

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


def _finish(reason: Any) -> str:
    text = str(getattr(reason, "value", reason))
    return _FINISH.get(text) or text.lower()


class Floor:
    """The attributes a careful hand-written instrumentation records, nothing else."""

    def __init__(self, tracer: trace.Tracer, capture: bool) -> None:
        self.tracer, self.capture = tracer, capture

    def _request(self, stream: bool) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": "gcp.gen_ai",
            "gen_ai.request.model": MODEL,
            "server.address": HOST,
            "server.port": PORT,
            "gen_ai.request.temperature": CONFIG.temperature,
            "gen_ai.request.max_tokens": CONFIG.max_output_tokens,
        }
        if stream:
            attrs["gen_ai.request.stream"] = True
        if self.capture:
            attrs["gen_ai.input.messages"] = json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": CONTENTS}]}], separators=(",", ":")
            )
        return attrs

    @staticmethod
    def _usage(meta: Any, attrs: dict[str, Any]) -> None:
        if meta is None:
            return
        attrs["gen_ai.usage.input_tokens"] = meta.prompt_token_count or 0
        attrs["gen_ai.usage.output_tokens"] = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        if meta.cached_content_token_count is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = meta.cached_content_token_count
        if meta.thoughts_token_count is not None:
            attrs["gen_ai.usage.reasoning.output_tokens"] = meta.thoughts_token_count

    def _output(self, text: str, finish: str | None) -> str:
        message = {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": finish}
        return json.dumps([message], separators=(",", ":"))

    def _response(self, result: Any) -> dict[str, Any]:
        reasons = [_finish(c.finish_reason) for c in result.candidates or ()]
        attrs: dict[str, Any] = {
            "gen_ai.response.id": result.response_id,
            "gen_ai.response.model": result.model_version,
            "gen_ai.response.finish_reasons": reasons,
        }
        self._usage(result.usage_metadata, attrs)
        if self.capture:
            attrs["gen_ai.output.messages"] = self._output(result.text or "", reasons[0] if reasons else None)
        return attrs

    def call(self, models: Any) -> Any:
        with self.tracer.start_as_current_span(
            f"generate_content {MODEL}", kind=SpanKind.CLIENT, attributes=self._request(False)
        ) as span:
            result = models.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG)
            span.set_attributes(self._response(result))
            return result

    async def acall(self, models: Any) -> Any:
        with self.tracer.start_as_current_span(
            f"generate_content {MODEL}", kind=SpanKind.CLIENT, attributes=self._request(False)
        ) as span:
            result = await models.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG)
            span.set_attributes(self._response(result))
            return result

    def stream(self, models: Any) -> Iterator[Any]:
        span = self.tracer.start_span(f"generate_content {MODEL}", kind=SpanKind.CLIENT, attributes=self._request(True))
        chunks = models.generate_content_stream(model=MODEL, contents=CONTENTS, config=CONFIG)
        first = finish = meta = None
        parts: list[str] | None = [] if self.capture else None
        try:
            while True:
                with trace.use_span(span, end_on_exit=False):
                    chunk = next(chunks, None)
                if chunk is None:
                    break
                if first is None:
                    first = chunk
                candidates = chunk.candidates
                if candidates:
                    if candidates[0].finish_reason is not None:
                        finish = _finish(candidates[0].finish_reason)
                    if parts is not None and chunk.text:
                        parts.append(chunk.text)
                if chunk.usage_metadata is not None:
                    meta = chunk.usage_metadata
                yield chunk
        finally:
            attrs: dict[str, Any] = {}
            if first is not None:
                attrs["gen_ai.response.id"] = first.response_id
                attrs["gen_ai.response.model"] = first.model_version
            if finish is not None:
                attrs["gen_ai.response.finish_reasons"] = [finish]
            self._usage(meta, attrs)
            if parts is not None:
                attrs["gen_ai.output.messages"] = self._output("".join(parts), finish)
            span.set_attributes(attrs)
            span.end()


# --- switching the patches off and on between blocks -----------------------------------------------

TARGETS = [
    (models_module.Models, "generate_content"),
    (models_module.Models, "generate_content_stream"),
    (models_module.AsyncModels, "generate_content"),
    (models_module.AsyncModels, "generate_content_stream"),
]


class Patches:
    def __init__(self, originals: list[Any]) -> None:
        self.originals = originals
        self.wrappers = [vars(owner)[name] for owner, name in TARGETS]
        assert all(w is not o for w, o in zip(self.wrappers, originals, strict=True)), "not instrumented"
        self.on = True

    def apply(self, on: bool) -> None:
        if on != self.on:
            for (owner, name), value in zip(TARGETS, self.wrappers if on else self.originals, strict=True):
                setattr(owner, name, value)
            self.on = on


# --- cases -----------------------------------------------------------------------------------------

VARIANTS = ("bare", "floor", "instr")
Block = Callable[[], int]


@dataclass
class Case:
    name: str
    chunks: int
    calls: int
    run: dict[str, Block]


def build_cases(client: genai.Client, floor: Floor, calls: int, loop: asyncio.AbstractEventLoop) -> list[Case]:
    models, amodels = client.models, client.aio.models

    def sync_block(fn: Callable[[], Any]) -> Block:
        def block() -> int:
            c0 = tt()
            for _ in range(calls):
                fn()
            return tt() - c0

        return block

    def async_block(fn: Callable[[], Any]) -> Block:
        async def run() -> int:
            c0 = tt()
            for _ in range(calls):
                await fn()
            return tt() - c0

        return lambda: loop.run_until_complete(run())

    def stream_block(open_stream: Callable[[], Any]) -> Block:
        def block() -> int:
            c0 = tt()
            for _chunk in open_stream():
                pass
            return tt() - c0

        return block

    def bare_call() -> Any:
        return models.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG)

    def bare_acall() -> Any:
        return amodels.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG)

    def bare_stream() -> Any:
        return models.generate_content_stream(model=MODEL, contents=CONTENTS, config=CONFIG)

    return [
        Case(
            "sync",
            0,
            calls,
            {
                "bare": sync_block(bare_call),
                "floor": sync_block(lambda: floor.call(models)),
                "instr": sync_block(bare_call),
            },
        ),
        Case(
            "async",
            0,
            calls,
            {
                "bare": async_block(bare_acall),
                "floor": async_block(lambda: floor.acall(amodels)),
                "instr": async_block(bare_acall),
            },
        ),
        Case(
            f"stream_{STREAM_CHUNKS}",
            STREAM_CHUNKS,
            1,
            {
                "bare": stream_block(bare_stream),
                "floor": stream_block(lambda: floor.stream(models)),
                "instr": stream_block(bare_stream),
            },
        ),
    ]


def measure(case: Case, patches: Patches, rounds: int, budget_s: float, min_rounds: int) -> dict[str, Any]:
    """Interleaved rounds, one block per variant each (order rotates), gc off inside each block."""
    per_call: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for variant in VARIANTS:  # warm-up
        patches.apply(variant == "instr")
        case.run[variant]()
    deadline = time.monotonic() + budget_s
    done = 0
    while done < rounds and (done < min_rounds or time.monotonic() < deadline):
        shift = done % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            patches.apply(variant == "instr")
            gc.disable()
            try:
                ns = case.run[variant]()
            finally:
                gc.enable()
            per_call[variant].append(ns / case.calls / 1000.0)
        gc.collect(1)
        done += 1
    patches.apply(True)
    bare, floor, instr = per_call["bare"], per_call["floor"], per_call["instr"]
    x_bare = [i / b for b, i in zip(bare, instr, strict=True) if b > 0]
    x_floor = [(i - b) / (f - b) for b, f, i in zip(bare, floor, instr, strict=True) if f - b > 0]
    xb25, xb50, xb75 = quartiles(x_bare)
    xf25, xf50, xf75 = quartiles(x_floor)
    stats: dict[str, Any] = {
        "rounds": done,
        "bare_us": median(bare),
        "floor_ovh_us": median([f - b for b, f in zip(bare, floor, strict=True)]),
        "ovh_us": median([i - b for b, i in zip(bare, instr, strict=True)]),
        "x_bare": xb50,
        "x_bare_p25": xb25,
        "x_bare_p75": xb75,
        "x_floor": xf50,
        "x_floor_p25": xf25,
        "x_floor_p75": xf75,
    }
    if case.chunks:
        stats["chunks"] = case.chunks
        stats["per_chunk_us"] = stats["ovh_us"] / case.chunks
        stats["floor_per_chunk_us"] = stats["floor_ovh_us"] / case.chunks
    return stats


def span_check(client: genai.Client, exporter: NoopExporter) -> ReadableSpan:
    """One instrumented call makes one span carrying what the floor records (the comparison is fair)."""
    exporter.kept = []
    client.models.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG)
    (span,) = exporter.kept
    values = dict(span.attributes or {})
    assert values["gen_ai.usage.output_tokens"] == 50, values
    assert values["gen_ai.usage.reasoning.output_tokens"] == 42, values
    assert values["server.address"] == HOST, values
    assert values["gen_ai.response.finish_reasons"] == ("stop",), values
    exporter.kept = None
    return span


PLANS = {  # rounds, seconds per case
    "full": (400, 12.0, 5, 20),
    "quick": (30, 1.2, 3, 5),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="a few rounds per case (smoke run, under 20 s)")
    p.add_argument("--no-capture-pass", action="store_true", help="only the capture-off pass")
    args = p.parse_args(argv)
    started = time.monotonic()
    rounds, budget_s, min_rounds, calls = PLANS["quick" if args.quick else "full"]
    print_machine()

    from llmotel import config
    from llmotel.integrations.google_genai import GoogleGenAIInstrumentor

    exporter = NoopExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    originals = [vars(owner)[name] for owner, name in TARGETS]
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    patches = Patches(originals)
    client = make_client(sse_body(STREAM_CHUNKS))
    span_check(client, exporter)

    loop = asyncio.new_event_loop()
    lines = []
    for capture in [False] if args.no_capture_pass else [False, True]:
        os.environ[CAPTURE_ENV] = "true" if capture else "false"
        config.reload_settings()
        floor = Floor(provider.get_tracer("bench-floor"), capture)
        print(f"\ncapture {'on' if capture else 'off'}:")
        header = f"{'case':<11} {'rounds':>6} {'bare us':>9} {'floor+us':>9} {'instr+us':>9}"
        print(f"{header} {'x_bare [IQR]':>22} {'x_floor [IQR]':>22}")
        for case in build_cases(client, floor, calls, loop):
            s = measure(case, patches, rounds, budget_s, min_rounds)
            print(
                f"{case.name:<11} {s['rounds']:>6} {s['bare_us']:>9.1f} {s['floor_ovh_us']:>9.1f} {s['ovh_us']:>9.1f} "
                f"{s['x_bare']:>7.3f} [{s['x_bare_p25']:.3f}..{s['x_bare_p75']:.3f}] "
                f"{s['x_floor']:>6.2f} [{s['x_floor_p25']:.2f}..{s['x_floor_p75']:.2f}]"
            )
            name = f"google_genai.{case.name}" + ("_capture" if capture else "")
            lines.append(bench_line(name, capture="on" if capture else "off", **s))
    loop.run_until_complete(client.aio.aclose())
    loop.close()
    client.close()
    instrumentor.uninstrument()
    os.environ.pop(CAPTURE_ENV, None)
    print(
        "\nus = microseconds of thread CPU time per call (per whole stream for streams); floor+/instr+ = median\n"
        "overhead over the bare call; x_bare = instr/bare, x_floor = instr overhead / floor overhead, medians\n"
        f"over rounds with their interquartile range. total time {time.monotonic() - started:.0f} s\n"
    )
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
