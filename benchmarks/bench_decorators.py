"""Overhead of llmotel's decorators, side by side with a hand-written OpenTelemetry span (the floor).

Run (one command, one process)::

    python benchmarks/bench_decorators.py            # full run, about 1-2 minutes
    python benchmarks/bench_decorators.py --quick    # smoke run, a few seconds
    python benchmarks/bench_decorators.py --repeat 600 --metrics --json out.json
    python benchmarks/bench_decorators.py --events   # + a pass with the details log events on (EVENT_ONLY)

For each benchmark three variants of the same fake LLM call are timed in interleaved rounds (the
order rotates ABC, BCA, CAB, ...):

    (a) plain     the fake method, untraced
    (b) floor     the same call wrapped by hand in ``tracer.start_as_current_span("chat fake",
                  kind=SpanKind.CLIENT)`` setting the same ~10 GenAI attributes llmotel records
    (c) llmotel   the fake method decorated with ``@llmotel.trace_chat(provider="openai")``

Both traced variants share one pipeline: an SDK ``TracerProvider`` with a ``SimpleSpanProcessor``
feeding a no-op exporter, and an SDK ``LoggerProvider`` with a ``SimpleLogRecordProcessor`` feeding a
no-op log exporter (only the ``--events`` pass emits to it: ``EVENT_ONLY``, one details event with
the call's content per call; the floor emits none, so that pass shows what the events cost).
Each round times one short batch per variant with ``perf_counter_ns``
and the garbage collector disabled; overheads are medians of the per-round paired differences
(c-a, b-a), so a CPU-speed change hits all three variants of a round alike. See
``benchmarks/README.md`` for the columns and targets. The last lines of the output are one
``BENCH name=... key=value ...`` line per benchmark, for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

import llmotel
from llmotel import config

perf_ns = time.perf_counter_ns

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
TARGET_RATIO = 1.25
"""Target for (c-a)/(b-a) on non-streaming calls."""
TARGET_PER_CHUNK_US = 2.0
"""Target for llmotel's per-chunk stream overhead with content capture off, in microseconds."""
MEMORY_RSS_NOISE_MB = 2.0
MEMORY_OBJECTS_NOISE = 1000
"""Growth below these after 100k calls counts as noise (a 1-object-per-call leak would be 100k)."""

VARIANTS = ("plain", "floor", "llmotel")

# --- the fake LLM ----------------------------------------------------------------------------------

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello in five words."},
]


def make_response() -> dict[str, Any]:
    """A fresh OpenAI-shaped chat completion (with usage), as an SDK would build per call."""
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, how are you?"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
    }


def make_chunks(n: int) -> list[dict[str, Any]]:
    """``n`` OpenAI-shaped ``chat.completion.chunk`` dicts: role, content..., finish, usage."""
    if n < 3:
        raise ValueError("a stream needs at least 3 chunks")

    def chunk(delta: dict[str, Any] | None, finish: str | None, usage: dict[str, int] | None = None) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": RESPONSE_MODEL,
            "system_fingerprint": "fp_bench",
            "choices": choices,
            "usage": usage,
        }

    chunks = [chunk({"role": "assistant", "content": ""}, None)]
    chunks += [chunk({"content": f" tok{i}"}, None) for i in range(n - 3)]
    chunks.append(chunk({}, "stop"))
    chunks.append(chunk(None, None, {"prompt_tokens": 21, "completion_tokens": n - 3, "total_tokens": n + 18}))
    return chunks


class FakeChat:
    """(a) plain: stands in for an SDK resource. No instance ``__dict__``, so llmotel records exactly
    the floor's attributes (no ``llmotel.model.*`` / ``server.*`` from instance fields)."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks

    def create(
        self, *, messages: list[dict[str, str]], model: str, temperature: float = 1.0, max_tokens: int = 16
    ) -> dict[str, Any]:
        return make_response()

    async def acreate(
        self, *, messages: list[dict[str, str]], model: str, temperature: float = 1.0, max_tokens: int = 16
    ) -> dict[str, Any]:
        return make_response()

    def stream(
        self,
        *,
        messages: list[dict[str, str]],
        model: str,
        temperature: float = 1.0,
        max_tokens: int = 16,
        stream: bool = True,
    ) -> Generator[dict[str, Any], None, None]:
        yield from self.chunks

    async def astream(
        self,
        *,
        messages: list[dict[str, str]],
        model: str,
        temperature: float = 1.0,
        max_tokens: int = 16,
        stream: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        for chunk in self.chunks:
            yield chunk


class TracedChat(FakeChat):
    """(c) llmotel: the same methods under ``@llmotel.trace_chat(provider="openai")``."""

    __slots__ = ()
    create = llmotel.trace_chat(provider="openai")(FakeChat.create)
    acreate = llmotel.trace_chat(provider="openai")(FakeChat.acreate)
    stream = llmotel.trace_chat(provider="openai")(FakeChat.stream)
    astream = llmotel.trace_chat(provider="openai")(FakeChat.astream)


class _Floor:
    tracer: trace.Tracer = trace.NoOpTracer()


def _request_attrs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": kwargs["model"],
        "gen_ai.request.temperature": kwargs["temperature"],
        "gen_ai.request.max_tokens": kwargs["max_tokens"],
    }


def _response_attrs(result: dict[str, Any]) -> dict[str, Any]:
    usage = result["usage"]
    return {
        "gen_ai.response.id": result["id"],
        "gen_ai.response.model": result["model"],
        "gen_ai.response.finish_reasons": [c["finish_reason"] for c in result["choices"]],
        "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"],
    }


def _stream_attrs(first: Any, last_choice: Any, final: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if first is not None:
        attrs["gen_ai.response.id"] = first["id"]
        attrs["gen_ai.response.model"] = first["model"]
    if last_choice is not None:
        attrs["gen_ai.response.finish_reasons"] = [c["finish_reason"] for c in last_choice["choices"]]
    usage = final["usage"] if final is not None else None
    if usage:
        attrs["gen_ai.usage.input_tokens"] = usage["prompt_tokens"]
        attrs["gen_ai.usage.output_tokens"] = usage["completion_tokens"]
    return attrs


class FloorChat(FakeChat):
    """(b) floor: what a careful hand-written instrumentation of the same calls costs."""

    __slots__ = ()

    def create(self, **kwargs: Any) -> dict[str, Any]:
        with _Floor.tracer.start_as_current_span(
            "chat fake", kind=SpanKind.CLIENT, attributes=_request_attrs(kwargs)
        ) as span:
            result = FakeChat.create(self, **kwargs)
            span.set_attributes(_response_attrs(result))
            return result

    async def acreate(self, **kwargs: Any) -> dict[str, Any]:
        with _Floor.tracer.start_as_current_span(
            "chat fake", kind=SpanKind.CLIENT, attributes=_request_attrs(kwargs)
        ) as span:
            result = await FakeChat.acreate(self, **kwargs)
            span.set_attributes(_response_attrs(result))
            return result

    def stream(self, **kwargs: Any) -> Generator[dict[str, Any], None, None]:
        attrs = _request_attrs(kwargs)
        attrs["gen_ai.request.stream"] = True
        with _Floor.tracer.start_as_current_span("chat fake", kind=SpanKind.CLIENT, attributes=attrs) as span:
            first = last_choice = chunk = None
            for chunk in FakeChat.stream(self, **kwargs):
                if first is None:
                    first = chunk
                if chunk["choices"]:
                    last_choice = chunk
                yield chunk
            span.set_attributes(_stream_attrs(first, last_choice, chunk))

    async def astream(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        attrs = _request_attrs(kwargs)
        attrs["gen_ai.request.stream"] = True
        with _Floor.tracer.start_as_current_span("chat fake", kind=SpanKind.CLIENT, attributes=attrs) as span:
            first = last_choice = chunk = None
            async for chunk in FakeChat.astream(self, **kwargs):
                if first is None:
                    first = chunk
                if chunk["choices"]:
                    last_choice = chunk
                yield chunk
            span.set_attributes(_stream_attrs(first, last_choice, chunk))


MODEL_FIELDS: dict[str, Any] = {
    "model_name": MODEL,
    "temperature": 0.2,
    "max_tokens": 256,
    "openai_api_key": "sk-not-recorded",
    "openai_api_base": "https://api.openai.com/v1",
    "openai_organization": None,
    "request_timeout": 30.0,
    "max_retries": 2,
    "streaming": False,
    "n": 1,
    "top_p": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "seed": None,
    "logprobs": False,
    "tags": None,
    "verbose": False,
    "base_url": "https://api.openai.com/v1",
    "default_headers": None,
    "cache": None,
    "name": "chat",
}
"""Configuration a LangChain-style chat model keeps in its instance ``__dict__`` (21 fields)."""


def with_fields(cls: type[FakeChat]) -> type[FakeChat]:
    """A subclass of ``cls`` whose instances carry ``MODEL_FIELDS`` in their ``__dict__``.

    llmotel then also records ``server.address``/``server.port`` and ``llmotel.model.*`` attributes
    (15 here) on its spans; the floor still records its 10 attributes.
    """

    def __init__(self: Any, chunks: list[dict[str, Any]]) -> None:
        cls.__init__(self, chunks)
        self.__dict__.update(MODEL_FIELDS)

    return type(cls.__name__ + "WithFields", (cls,), {"__init__": __init__})


# --- the pipeline ----------------------------------------------------------------------------------


class NoopExporter(SpanExporter):
    """Accepts every span and does nothing (``keep`` collects them for the sanity check)."""

    def __init__(self) -> None:
        self.keep: list[ReadableSpan] | None = None

    def export(self, spans: Any) -> SpanExportResult:
        if self.keep is not None:
            self.keep.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class NoopLogExporter(LogRecordExporter):
    """Accepts every log record and does nothing (``count`` for the sanity check)."""

    count = 0

    def export(self, batch: Any) -> LogRecordExportResult:
        self.count += len(batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        return None


@dataclass
class Pipeline:
    exporter: NoopExporter
    tracer_provider: TracerProvider
    metric_reader: InMemoryMetricReader | None


def setup_pipeline(with_metrics: bool) -> Pipeline:
    """Install the global providers (llmotel's decorators use the global ones) and the floor's tracer."""
    exporter = NoopExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(NoopLogExporter()))
    _logs.set_logger_provider(logger_provider)
    reader = None
    if with_metrics:
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    _Floor.tracer = provider.get_tracer("bench.floor")
    return Pipeline(exporter, provider, reader)


def set_capture(on: bool | str) -> None:
    """Content capture off, on (``True``: on spans), or a content mode (``"EVENT_ONLY"``)."""
    if on:
        os.environ[CAPTURE_ENV] = on if isinstance(on, str) else "true"
    else:
        os.environ.pop(CAPTURE_ENV, None)
    config.reload_settings()


# --- batches: the timed code, identical for the three variants -------------------------------------


def sync_call_batch(obj: FakeChat, n: int) -> int:
    t0 = perf_ns()
    for _ in range(n):
        obj.create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
    return perf_ns() - t0


async def async_call_batch(obj: FakeChat, n: int) -> int:
    t0 = perf_ns()
    for _ in range(n):
        await obj.acreate(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
    return perf_ns() - t0


def stream_batch(obj: FakeChat, n: int) -> int:
    t0 = perf_ns()
    for _ in range(n):
        for _chunk in obj.stream(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256, stream=True):
            pass
    return perf_ns() - t0


async def async_stream_batch(obj: FakeChat, n: int) -> int:
    t0 = perf_ns()
    for _ in range(n):
        async for _chunk in obj.astream(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256, stream=True):
            pass
    return perf_ns() - t0


@dataclass
class Case:
    name: str
    kind: str  # "call" or "stream"
    calls: int  # calls (or streams) per timed batch
    chunks: int  # chunks per stream (0 for calls)
    batch: Callable[[FakeChat, int], int]
    objects: dict[str, FakeChat]
    extra: bool = False  # not one of the benchmarks the targets are defined for


@dataclass
class Result:
    name: str
    kind: str
    capture: bool | str
    rounds: int
    calls_per_batch: int
    chunks: int
    samples_us: dict[str, list[float]] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def measure(case: Case, rounds: int, capture: bool | str) -> Result:
    """Interleaved rounds; each round times one batch per variant (rotating order), gc disabled."""
    for variant in VARIANTS:  # warm-up: caches, first-call paths, branch predictors
        case.batch(case.objects[variant], case.calls)
    gc.collect()
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        shift = r % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            obj = case.objects[variant]
            gc.disable()
            try:
                ns = case.batch(obj, case.calls)
            finally:
                gc.enable()
            samples[variant].append(ns / case.calls / 1000.0)
        gc.collect(1)  # outside the timed section
    res = Result(case.name, case.kind, capture, rounds, case.calls, case.chunks, samples)
    a, b, c = samples["plain"], samples["floor"], samples["llmotel"]
    d_floor = [y - x for x, y in zip(a, b, strict=True)]
    d_llm = [z - x for x, z in zip(a, c, strict=True)]
    ratios = [dl / df for dl, df in zip(d_llm, d_floor, strict=True) if df > 0]
    s = res.stats
    for label, values in (("plain", a), ("floor_call", b), ("llmotel_call", c)):
        s[f"{label}_p25"], s[f"{label}_us"], s[f"{label}_p75"] = quartiles(values)
    s["floor_p25"], s["floor_us"], s["floor_p75"] = quartiles(d_floor)
    s["llmotel_p25"], s["llmotel_us"], s["llmotel_p75"] = quartiles(d_llm)
    # The ratio is summarized per round too: both overheads of a round ran at the same CPU speed.
    s["ratio_p25"], s["ratio"], s["ratio_p75"] = quartiles(ratios) if ratios else (float("nan"),) * 3
    s["ratio_of_medians"] = s["llmotel_us"] / s["floor_us"] if s["floor_us"] > 0 else float("inf")
    if case.chunks:
        s["per_chunk_us"] = s["llmotel_us"] / case.chunks
        s["per_chunk_p25"] = s["llmotel_p25"] / case.chunks
        s["per_chunk_p75"] = s["llmotel_p75"] / case.chunks
        s["floor_per_chunk_us"] = s["floor_us"] / case.chunks
    return res


class _Loop:
    """The one event loop every async batch runs in."""

    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def close(cls) -> None:
        if cls.loop is not None:
            cls.loop.run_until_complete(cls.loop.shutdown_asyncgens())
            cls.loop.close()
            cls.loop = None


def build_cases(scale: float) -> list[Case]:
    def objects(chunks: list[dict[str, Any]]) -> dict[str, FakeChat]:
        return {"plain": FakeChat(chunks), "floor": FloorChat(chunks), "llmotel": TracedChat(chunks)}

    def in_loop(batch: Callable[[FakeChat, int], Any]) -> Callable[[FakeChat, int], int]:
        def run(obj: FakeChat, n: int) -> int:
            loop = _Loop.loop
            if loop is None:
                loop = _Loop.loop = asyncio.new_event_loop()
            return int(loop.run_until_complete(batch(obj, n)))

        return run

    c2000, c200 = make_chunks(2000), make_chunks(200)
    n = max(1, round(100 * scale))
    fields = {
        "plain": with_fields(FakeChat)(c200),
        "floor": with_fields(FloorChat)(c200),
        "llmotel": with_fields(TracedChat)(c200),
    }
    return [
        Case("sync_call", "call", n, 0, sync_call_batch, objects(c200)),
        Case("sync_call_fields", "call", n, 0, sync_call_batch, fields, extra=True),
        Case("async_call", "call", n, 0, in_loop(async_call_batch), objects(c200)),
        Case("stream_2000", "stream", 1, 2000, stream_batch, objects(c2000)),
        Case("stream_200", "stream", max(1, round(10 * scale)), 200, stream_batch, objects(c200)),
        Case("async_stream_2000", "stream", 1, 2000, in_loop(async_stream_batch), objects(c2000), extra=True),
    ]


# --- memory ----------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Current resident set size (``/proc/self/statm``), else the peak from ``getrusage``."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _snapshot() -> tuple[int, int]:
    gc.collect()
    gc.collect()
    objects = len(gc.get_objects())
    return rss_bytes(), objects


def memory_calls(calls: int) -> dict[str, float]:
    """RSS and live gc objects around ``calls`` decorated sync calls (gc enabled, as in production)."""
    obj = TracedChat(make_chunks(3))
    for _ in range(2000):  # warm-up: caches, allocator arenas
        obj.create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
    rss0, objects0 = _snapshot()
    t0 = perf_ns()
    for _ in range(calls):
        obj.create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
    elapsed = perf_ns() - t0
    rss1, objects1 = _snapshot()
    return {
        "calls": calls,
        "rss_before_mb": rss0 / 2**20,
        "rss_after_mb": rss1 / 2**20,
        "rss_delta_mb": (rss1 - rss0) / 2**20,
        "objects_before": objects0,
        "objects_after": objects1,
        "objects_delta": objects1 - objects0,
        "seconds": elapsed / 1e9,
    }


def memory_streams(streams: int, chunks: int) -> dict[str, float]:
    """Same for streams, through every exit path: exhausted, ``close()``d early, dropped early."""
    obj = TracedChat(make_chunks(chunks))
    kw: dict[str, Any] = {"messages": MESSAGES, "model": MODEL, "temperature": 0.2, "max_tokens": 256}

    def run(count: int) -> None:
        for i in range(count):
            it = obj.stream(**kw)
            if i % 4 == 1:  # consumer stops early and closes
                for _ in zip(range(10), it, strict=False):
                    pass
                it.close()
            elif i % 4 == 2:  # consumer stops early and drops the stream (finalizer ends the span)
                for _ in zip(range(10), it, strict=False):
                    pass
            else:
                for _ in it:
                    pass
            del it

    run(200)
    rss0, objects0 = _snapshot()
    t0 = perf_ns()
    run(streams)
    elapsed = perf_ns() - t0
    rss1, objects1 = _snapshot()
    return {
        "streams": streams,
        "chunks": chunks,
        "rss_delta_mb": (rss1 - rss0) / 2**20,
        "objects_delta": objects1 - objects0,
        "seconds": elapsed / 1e9,
    }


# --- sanity check ----------------------------------------------------------------------------------


def sanity_check(pipeline: Pipeline) -> dict[str, Any]:
    """Trace one call of each traced variant and compare what the spans carry."""
    kept: list[ReadableSpan] = []
    pipeline.exporter.keep = kept
    chunks = make_chunks(200)
    try:
        FloorChat(chunks).create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
        TracedChat(chunks).create(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256)
        for _ in FloorChat(chunks).stream(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256):
            pass
        for _ in TracedChat(chunks).stream(messages=MESSAGES, model=MODEL, temperature=0.2, max_tokens=256):
            pass
    finally:
        pipeline.exporter.keep = None
    if len(kept) != 4:
        raise SystemExit(f"sanity check: expected 4 spans, got {len(kept)}")
    floor_call, llm_call, floor_stream, llm_stream = kept
    missing = set(floor_call.attributes or {}) - set(llm_call.attributes or {})
    if missing:
        raise SystemExit(f"sanity check: llmotel span lacks {sorted(missing)}")
    return {
        "call_attrs_floor": len(floor_call.attributes or {}),
        "call_attrs_llmotel": len(llm_call.attributes or {}),
        "stream_attrs_floor": len(floor_stream.attributes or {}),
        "stream_attrs_llmotel": len(llm_stream.attributes or {}),
        "stream_events_llmotel": len(llm_stream.events),
        "llmotel_extra_stream_attrs": sorted(set(llm_stream.attributes or {}) - set(floor_stream.attributes or {})),
    }


# --- output ----------------------------------------------------------------------------------------


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def print_table(results: list[Result], title: str) -> None:
    print(f"\n== {title} ==")
    head = (
        f"{'benchmark':<18} {'a plain':>9} {'b floor':>9} {'c llmotel':>10} | "
        f"{'b-a floor ovh [IQR]':>24} {'c-a llmotel ovh [IQR]':>26} | {'(c-a)/(b-a) [IQR]':>20} | "
        f"{'us/chunk':>8} {'floor/chunk':>11}  target"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        s = r.stats
        floor = f"{_f(s['floor_us'])} [{_f(s['floor_p25'])}-{_f(s['floor_p75'])}]"
        llm = f"{_f(s['llmotel_us'])} [{_f(s['llmotel_p25'])}-{_f(s['llmotel_p75'])}]"
        ratio = f"{_f(s['ratio'])} [{_f(s['ratio_p25'])}-{_f(s['ratio_p75'])}]"
        if r.kind == "stream":
            per_chunk, floor_chunk = _f(s["per_chunk_us"], 3), _f(s["floor_per_chunk_us"], 3)
        else:
            per_chunk = floor_chunk = "-"
        print(
            f"{r.name:<18} {_f(s['plain_us']):>9} {_f(s['floor_call_us']):>9} {_f(s['llmotel_call_us']):>10} | "
            f"{floor:>24} {llm:>26} | {ratio:>20} | {per_chunk:>8} {floor_chunk:>11}  {verdict(r)}"
        )
    print(
        f"(a, b, c: microseconds per call, or per whole stream for streams; medians over {results[0].rounds}"
        " interleaved rounds.\n b-a, c-a, (c-a)/(b-a): medians of the per-round paired differences and ratios;"
        " us/chunk = (c-a)/chunks)"
    )


def verdict(r: Result) -> str:
    s = r.stats
    if r.capture:
        return "(no target with capture)"
    if r.kind == "call":
        ok = s["ratio"] <= TARGET_RATIO
        return f"ratio<={TARGET_RATIO}: {'ok' if ok else 'MISS'}"
    ok = s["per_chunk_us"] < TARGET_PER_CHUNK_US
    return f"us/chunk<{TARGET_PER_CHUNK_US}: {'ok' if ok else 'MISS'}"


def bench_line(r: Result) -> str:
    s = r.stats
    name = r.name + ("_events" if r.capture == "EVENT_ONLY" else "_capture" if r.capture else "")
    parts = [
        f"BENCH name={name}",
        f"capture={'events' if r.capture == 'EVENT_ONLY' else 'on' if r.capture else 'off'}",
        f"rounds={r.rounds}",
        f"plain_us={s['plain_us']:.3f}",
        f"floor_us={s['floor_us']:.3f}",
        f"llmotel_us={s['llmotel_us']:.3f}",
        f"ratio={s['ratio']:.3f}",
        f"ratio_p25={s['ratio_p25']:.3f}",
        f"ratio_p75={s['ratio_p75']:.3f}",
    ]
    if r.kind == "stream":
        parts += [
            f"chunks={r.chunks}",
            f"per_chunk_us={s['per_chunk_us']:.4f}",
            f"floor_per_chunk_us={s['floor_per_chunk_us']:.4f}",
        ]
    return " ".join(parts)


def memory_line(name: str, m: dict[str, float]) -> str:
    head = f"BENCH name={name} calls={m['calls']}" if "calls" in m else f"BENCH name={name} streams={m['streams']}"
    ok = m["rss_delta_mb"] <= MEMORY_RSS_NOISE_MB and m["objects_delta"] <= MEMORY_OBJECTS_NOISE
    return f"{head} rss_delta_mb={m['rss_delta_mb']:.3f} objects_delta={int(m['objects_delta'])} ok={int(ok)}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


# --- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="few rounds and a small memory run (smoke test, < 5 s)")
    p.add_argument(
        "--repeat", type=int, default=None, help="interleaved rounds per benchmark (default 500; 10 with --quick)"
    )
    p.add_argument("--metrics", action="store_true", help="install an SDK MeterProvider (InMemoryMetricReader)")
    p.add_argument("--json", metavar="PATH", help="also write every result (with raw samples) as JSON")
    p.add_argument("--no-capture-pass", action="store_true", help="skip the content-capture pass")
    p.add_argument("--events", action="store_true", help="also a pass with the details log events on (EVENT_ONLY)")
    p.add_argument("--memory-calls", type=int, default=None, help="decorated calls in the memory check")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = args.repeat if args.repeat is not None else (10 if args.quick else 500)
    scale = 0.2 if args.quick else 1.0
    memory_n = args.memory_calls if args.memory_calls is not None else (2_000 if args.quick else 100_000)
    memory_streams_n = 40 if args.quick else 2_000
    if rounds < 1 or memory_n < 1:
        raise SystemExit("--repeat and --memory-calls must be positive")

    started = time.perf_counter()
    pipeline = setup_pipeline(args.metrics)
    set_capture(False)
    s = config.settings()
    print("llmotel decorator overhead benchmark")
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"llmotel {llmotel.__version__}, opentelemetry-sdk {_version('opentelemetry-sdk')}, "
        f"wrapt {_version('wrapt')}, {os.cpu_count()} CPUs"
    )
    print("pipeline: SDK TracerProvider + SimpleSpanProcessor -> no-op exporter (same for floor and llmotel)")
    if args.metrics:
        print("metrics: SDK MeterProvider + InMemoryMetricReader installed (llmotel records its histograms;")
        print("         the floor records no metrics)")
    else:
        print("metrics: no MeterProvider installed: llmotel's histogram records go to the OpenTelemetry API's")
        print("         no-op proxy meter (pass --metrics for an SDK MeterProvider)")
    shown = ("stream_chunk_events", "model_attributes_max", "metrics_enabled", "strict")
    print("llmotel settings: " + " ".join(f"{name}={getattr(s, name, '?')}" for name in shown))
    print(f"timing: {rounds} interleaved rounds per benchmark (order rotates), perf_counter_ns, gc disabled during")
    print("        each timed batch (gc.collect(1) between rounds); medians and interquartile ranges [p25-p75]")

    check = sanity_check(pipeline)
    print(
        f"span check: call attributes floor={check['call_attrs_floor']} llmotel={check['call_attrs_llmotel']}; "
        f"stream attributes floor={check['stream_attrs_floor']} llmotel={check['stream_attrs_llmotel']} "
        f"(+{', '.join(check['llmotel_extra_stream_attrs'])}) and {check['stream_events_llmotel']} chunk events"
    )

    cases = build_cases(scale)
    passes: list[bool | str] = [False] if args.no_capture_pass else [False, True]
    if args.events:
        passes.append("EVENT_ONLY")
    all_results: list[Result] = []
    for capture in passes:
        set_capture(capture)
        results = [measure(case, rounds, capture) for case in cases]
        all_results += results
        label = (
            f"details log events ON ({CAPTURE_ENV}=EVENT_ONLY: content on events, none on spans)"
            if capture == "EVENT_ONLY"
            else "content capture ON (" + CAPTURE_ENV + "=true)"
            if capture
            else "content capture off (default)"
        )
        print_table(results, label)
    set_capture(False)
    _Loop.close()
    print(
        "extra rows (not among the targeted benchmarks; targets shown for reference):\n"
        "  sync_call_fields: the instance carries 21 LangChain-style config fields in __dict__, so llmotel also\n"
        "    records server.* and 15 llmotel.model.* attributes (the floor still records 10)\n"
        "  async_stream_2000: the 2,000-chunk stream as an async generator, consumed with async for"
    )

    print("\n== memory (content capture off) ==")
    mem = memory_calls(memory_n)
    print(
        f"{mem['calls']:,} decorated calls in {mem['seconds']:.1f} s: RSS {mem['rss_before_mb']:.1f} -> "
        f"{mem['rss_after_mb']:.1f} MB (delta {mem['rss_delta_mb']:+.2f} MB), gc objects "
        f"{mem['objects_before']:,} -> {mem['objects_after']:,} (delta {mem['objects_delta']:+,})"
    )
    mem_s = memory_streams(memory_streams_n, 200)
    print(
        f"{mem_s['streams']:,} decorated 200-chunk streams (1/4 closed early, 1/4 dropped early) in "
        f"{mem_s['seconds']:.1f} s: RSS delta {mem_s['rss_delta_mb']:+.2f} MB, gc objects delta "
        f"{mem_s['objects_delta']:+,}"
    )
    print(f"target: no growth beyond noise (RSS <= {MEMORY_RSS_NOISE_MB} MB, objects <= {MEMORY_OBJECTS_NOISE})")

    if pipeline.metric_reader is not None:
        data = pipeline.metric_reader.get_metrics_data()
        names = sorted(
            {m.name for rm in (data.resource_metrics if data else []) for sm in rm.scope_metrics for m in sm.metrics}
        )
        print(f"metrics recorded: {', '.join(names) or 'none'}")

    total = time.perf_counter() - started
    print(f"\ntotal time {total:.1f} s\n")
    for r in all_results:
        print(bench_line(r))
    print(memory_line("memory", mem))
    print(memory_line("memory_stream", mem_s))

    if args.json:
        payload = {
            "meta": {
                "python": platform.python_version(),
                "llmotel": llmotel.__version__,
                "opentelemetry_sdk": _version("opentelemetry-sdk"),
                "rounds": rounds,
                "metrics": args.metrics,
                "quick": args.quick,
                "seconds": total,
                "span_check": check,
            },
            "results": [
                {
                    "name": r.name + ("_events" if r.capture == "EVENT_ONLY" else "_capture" if r.capture else ""),
                    "kind": r.kind,
                    "capture": r.capture,
                    "rounds": r.rounds,
                    "calls_per_batch": r.calls_per_batch,
                    "chunks": r.chunks,
                    "stats": r.stats,
                    "samples_us": r.samples_us,
                }
                for r in all_results
            ],
            "memory": mem,
            "memory_stream": mem_s,
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
