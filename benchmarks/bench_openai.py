"""Per-call overhead of llmotel's openai instrumentation, with the real openai SDK.

Run (one command each)::

    python benchmarks/bench_openai.py              # llmotel, content capture off then on (~2 min)
    python benchmarks/bench_openai.py --quick      # smoke run, a few seconds
    bash benchmarks/compare.sh                     # + the widely used instrumentations, own venv
    python benchmarks/bench_openai.py --compare    # the same, in an environment that has them

The real ``openai`` client talks to an in-process fake server (``httpx.MockTransport``: no socket
is opened) that answers a chat completion with usage, or an SSE stream of 200 or 2,000
``chat.completion.chunk`` events plus a usage chunk. Three variants of the same user code run in
interleaved, rotating blocks in one process:

    bare    the SDK call, uninstrumented
    floor   the bare call inside a hand-written SDK span that records the same GenAI attributes
            (request, server, response id/model, finish reasons, usage; with content capture on
            also the input/output messages as JSON): what careful instrumentation costs at least
    instr   the SDK call with the instrumentation under test (llmotel's ``OpenAIInstrumentor``, or
            with ``--compare`` one of the widely used ones, one per worker process)

The instrumentation is applied once; between blocks the benchmark swaps the patched attributes
of the openai classes for the originals and back (found by diffing the class dictionaries before
and after ``instrument()``), so the bare and floor blocks run the unpatched SDK. Each block is
timed in thread CPU time (``time.thread_time_ns``: time the benchmark thread ran, not time it was
descheduled on a busy machine), overheads are medians of per-round paired differences with 90 %
bootstrap intervals. See ``benchmarks/README.md`` for the columns. The last lines of the output
are one ``BENCH name=... key=value ...`` line per benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from _common import (
    bench_line,
    bootstrap,
    machine_info,
    median,
    percentile,
    print_machine,
    quartiles,
)
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

tt = time.thread_time_ns
pn = time.perf_counter_ns

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
TARGET_PER_CHUNK_US = 2.0
WORKER_MARK = "WORKER_RESULT "

# --- the contenders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    name: str
    module: str
    distribution: str
    capture_env: dict[bool, dict[str, str]]
    """Environment for content capture off (False) / on (True); every variable any contender reads
    is cleared first."""
    default_capture: bool
    note: str = ""


CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "llmotel",
            "llmotel.integrations.openai",
            "llmotel",
            {False: {}, True: {CAPTURE_ENV: "true"}},
            False,
        ),
        Contender(
            "otel-v2",
            "opentelemetry.instrumentation.openai_v2",
            "opentelemetry-instrumentation-openai-v2",
            {False: {}, True: {CAPTURE_ENV: "span_only"}},
            False,
            "OpenTelemetry's own; opentelemetry-util-genai pinned to 1.1b0",
        ),
        Contender(
            "openinference",
            "openinference.instrumentation.openai",
            "openinference-instrumentation-openai",
            {False: {"OPENINFERENCE_HIDE_INPUTS": "true", "OPENINFERENCE_HIDE_OUTPUTS": "true"}, True: {}},
            True,
            "Arize; content off = OPENINFERENCE_HIDE_INPUTS/OUTPUTS",
        ),
        Contender(
            "openllmetry",
            "opentelemetry.instrumentation.openai",
            "opentelemetry-instrumentation-openai",
            {False: {"TRACELOOP_TRACE_CONTENT": "false"}, True: {"TRACELOOP_TRACE_CONTENT": "true"}},
            True,
            "Traceloop; content off = TRACELOOP_TRACE_CONTENT=false",
        ),
    )
}
CAPTURE_VARS = sorted({k for c in CONTENDERS.values() for env in c.capture_env.values() for k in env})


def set_capture_env(contender: Contender, capture: bool) -> None:
    for key in CAPTURE_VARS:
        os.environ.pop(key, None)
    os.environ.update(contender.capture_env[capture])
    if contender.name == "llmotel":
        from llmotel import config

        config.reload_settings()


# --- the fake server (in-process, httpx.MockTransport) ---------------------------------------------

BASE_URL = "http://127.0.0.1:9/v1"  # never contacted: the transport answers in-process
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello in five words."},
]
KW: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "temperature": 0.2, "max_tokens": 256}
STREAM_KW: dict[str, Any] = {**KW, "stream": True, "stream_options": {"include_usage": True}}
HEADERS = {
    "x-request-id": "req_7f3a9c",
    "openai-processing-ms": "344",
    "openai-organization": "org-bench",
    "openai-version": "2020-10-01",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-tokens": "29999990",
    "x-ratelimit-reset-tokens": "0s",
}
"""Response headers as api.openai.com sends them (llmotel records some of them on its spans)."""

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_741_570_283,
    "model": RESPONSE_MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there, how are you?", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
    "service_tier": "default",
    "system_fingerprint": "fp_bench",
}


def sse_body(n: int) -> bytes:
    """An SSE stream of ``n`` events: role chunk, content chunks, finish chunk, usage chunk, [DONE]."""
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_741_570_283,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_bench",
    }

    def chunk(delta: dict[str, Any] | None, finish: str | None, usage: dict[str, int] | None = None) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return "data: " + json.dumps({**base, "choices": choices, "usage": usage}, separators=(",", ":")) + "\n\n"

    parts = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    parts += [chunk({"content": f" tok{i}"}, None) for i in range(n - 3)]
    parts.append(chunk({}, "stop"))
    parts.append(chunk(None, None, {"prompt_tokens": 21, "completion_tokens": n - 3, "total_tokens": n + 18}))
    return ("".join(parts) + "data: [DONE]\n\n").encode()


class FakeOpenAI:
    """An httpx handler that answers every request with one canned body."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.headers = {**HEADERS, "content-type": content_type}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=self.body, headers=self.headers)


STREAM_SIZES = (200, 2000)


class Clients:
    """One sync and one async client per answer (completion, 200-chunk and 2,000-chunk streams)."""

    def __init__(self) -> None:
        self.handlers: dict[Any, FakeOpenAI] = {"call": FakeOpenAI(json.dumps(COMPLETION).encode(), "application/json")}
        for n in STREAM_SIZES:
            self.handlers[n] = FakeOpenAI(sse_body(n), "text/event-stream")
        self.sync = {
            k: openai.OpenAI(
                api_key="sk-bench-not-a-key",
                base_url=BASE_URL,
                http_client=httpx.Client(transport=httpx.MockTransport(h)),
                max_retries=0,
            )
            for k, h in self.handlers.items()
        }
        self.aclient = openai.AsyncOpenAI(
            api_key="sk-bench-not-a-key",
            base_url=BASE_URL,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handlers["call"])),
            max_retries=0,
        )
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        for client in self.sync.values():
            client.close()
        self.loop.run_until_complete(self.aclient.close())
        self.loop.close()


# --- the pipeline ----------------------------------------------------------------------------------


class NoopExporter(SpanExporter):
    """Accepts every span and does nothing (``keep`` collects them for the span check)."""

    def __init__(self) -> None:
        self.keep: list[ReadableSpan] | None = None

    def export(self, spans: Any) -> SpanExportResult:
        if self.keep is not None:
            self.keep.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class NoopLogExporter:
    def export(self, batch: Any) -> Any:
        from opentelemetry.sdk._logs.export import LogExportResult

        return LogExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


@dataclass
class Pipeline:
    exporter: NoopExporter
    tracer_provider: TracerProvider
    logger_provider: Any
    meter_provider: Any


def setup_pipeline(with_metrics: bool) -> Pipeline:
    """SDK TracerProvider + SimpleSpanProcessor -> no-op exporter (global, and passed to the
    instrumentor), an SDK LoggerProvider (for instrumentations that emit log events), and with
    ``--metrics`` an SDK MeterProvider with an in-memory reader (else metrics go to no-op instruments)."""
    from opentelemetry import _logs
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    exporter = NoopExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(NoopLogExporter()))  # type: ignore[arg-type]
    _logs.set_logger_provider(logger_provider)
    meter_provider = None
    if with_metrics:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        metrics.set_meter_provider(meter_provider)
    return Pipeline(exporter, provider, logger_provider, meter_provider)


def instrument(contender: Contender, pipeline: Pipeline) -> Any:
    module = importlib.import_module(contender.module)
    instrumentor = module.OpenAIInstrumentor()
    kwargs: dict[str, Any] = {
        "tracer_provider": pipeline.tracer_provider,
        "logger_provider": pipeline.logger_provider,
    }
    if pipeline.meter_provider is not None:
        kwargs["meter_provider"] = pipeline.meter_provider
    instrumentor.instrument(**kwargs)
    return instrumentor


# --- switching the patches off and on between blocks -----------------------------------------------

_MISSING = object()
_IGNORED = ("__pydantic", "_abc_", "__abstractmethods__", "__warningregistry__", "__annotations__")


def _namespaces() -> Iterator[Any]:
    """Every ``openai.*`` module and every class defined in one (each once)."""
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "openai" or name.startswith("openai.")):
            continue
        if id(module) not in seen:
            seen.add(id(module))
            yield module
        for value in list(vars(module).values()):
            # type(), not isinstance(): openai keeps lazy proxies in some modules, and isinstance()
            # asks them for __class__, which imports what they stand for
            if issubclass(type(value), type) and str(vars(value).get("__module__", "")).startswith("openai"):
                if id(value) in seen:
                    continue
                seen.add(id(value))
                yield value


def snapshot() -> dict[int, tuple[Any, dict[str, Any]]]:
    return {id(ns): (ns, dict(vars(ns))) for ns in _namespaces()}


@dataclass
class PatchSet:
    """What ``instrument()`` replaced: ``(owner, name, original-or-missing, patched)``."""

    changes: list[tuple[Any, str, Any, Any]] = field(default_factory=list)
    on: bool = True

    @classmethod
    def diff(cls, before: dict[int, tuple[Any, dict[str, Any]]]) -> PatchSet:
        changes = []
        for ns, old in before.values():
            new = vars(ns)
            for key in set(old) | set(new):
                if key.startswith(_IGNORED):
                    continue
                was, now = old.get(key, _MISSING), new.get(key, _MISSING)
                if was is now:
                    continue
                if now is _MISSING:
                    continue  # removed by instrument(): nothing to switch
                if issubclass(type(now), (type, type(sys))):
                    continue  # a class or module bound as a side effect of an import
                wrapper = hasattr(now, "__wrapped__")
                if key.startswith("__") and key.endswith("__") and not wrapper:
                    continue  # e.g. a lazily computed __signature__
                if not (wrapper or callable(now) or hasattr(now, "__get__")):
                    continue  # caches and other data that changed meanwhile
                changes.append((ns, key, was, now))
        changes.sort(key=lambda c: (getattr(c[0], "__module__", ""), getattr(c[0], "__qualname__", ""), c[1]))
        return cls(changes)

    def apply(self, on: bool) -> None:
        if on == self.on:
            return
        for owner, name, was, now in self.changes:
            if on:
                setattr(owner, name, now)
            elif was is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, was)
        self.on = on

    def names(self) -> list[str]:
        out = []
        for owner, name, was, _ in self.changes:
            where = owner.__name__ if isinstance(owner, type(sys)) else f"{owner.__module__}.{owner.__qualname__}"
            out.append(f"{where}.{name}" + (" (added)" if was is _MISSING else ""))
        return out


# --- the floor: a hand-written span around the bare call -------------------------------------------


def _messages_json(messages: list[dict[str, str]]) -> str:
    return json.dumps(
        [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in messages],
        separators=(",", ":"),
    )


def _output_json(text: str | None, finish: str | None) -> str:
    return json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": text or ""}], "finish_reason": finish}],
        separators=(",", ":"),
    )


class Floor:
    """The attributes a careful hand-written instrumentation records, nothing else."""

    def __init__(self, tracer: trace.Tracer, capture: bool) -> None:
        self.tracer = tracer
        self.capture = capture

    def _request(self, resource: Any, kw: dict[str, Any], stream: bool) -> dict[str, Any]:
        url = resource._client.base_url
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": kw["model"],
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "gen_ai.request.temperature": kw["temperature"],
            "gen_ai.request.max_tokens": kw["max_tokens"],
        }
        if stream:
            attrs["gen_ai.request.stream"] = True
        if self.capture:
            attrs["gen_ai.input.messages"] = _messages_json(kw["messages"])
        return attrs

    def _response(self, result: Any) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.response.id": result.id,
            "gen_ai.response.model": result.model,
            "gen_ai.response.finish_reasons": [c.finish_reason for c in result.choices],
        }
        usage = result.usage
        if usage is not None:
            attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if self.capture and result.choices:
            choice = result.choices[0]
            attrs["gen_ai.output.messages"] = _output_json(choice.message.content, choice.finish_reason)
        return attrs

    def create(self, resource: Any, kw: dict[str, Any]) -> Any:
        with self.tracer.start_as_current_span(
            f"chat {kw['model']}", kind=SpanKind.CLIENT, attributes=self._request(resource, kw, False)
        ) as span:
            result = resource.create(**kw)
            span.set_attributes(self._response(result))
            return result

    async def acreate(self, resource: Any, kw: dict[str, Any]) -> Any:
        with self.tracer.start_as_current_span(
            f"chat {kw['model']}", kind=SpanKind.CLIENT, attributes=self._request(resource, kw, False)
        ) as span:
            result = await resource.create(**kw)
            span.set_attributes(self._response(result))
            return result

    def stream(self, resource: Any, kw: dict[str, Any]) -> Iterator[Any]:
        span = self.tracer.start_span(
            f"chat {kw['model']}", kind=SpanKind.CLIENT, attributes=self._request(resource, kw, True)
        )
        with trace.use_span(span, end_on_exit=False):
            stream = resource.create(**kw)
        return self._iterate(span, stream)

    def _iterate(self, span: Any, stream: Any) -> Iterator[Any]:
        first = finish = usage = None
        parts: list[str] | None = [] if self.capture else None
        try:
            for chunk in stream:
                if first is None:
                    first = chunk
                choices = chunk.choices
                if choices:
                    choice = choices[0]
                    if choice.finish_reason is not None:
                        finish = choice.finish_reason
                    if parts is not None and choice.delta.content:
                        parts.append(choice.delta.content)
                if chunk.usage is not None:
                    usage = chunk.usage
                yield chunk
        finally:
            attrs: dict[str, Any] = {}
            if first is not None:
                attrs["gen_ai.response.id"] = first.id
                attrs["gen_ai.response.model"] = first.model
            if finish is not None:
                attrs["gen_ai.response.finish_reasons"] = [finish]
            if usage is not None:
                attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
                attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
            if parts is not None:
                attrs["gen_ai.output.messages"] = _output_json("".join(parts), finish)
            span.set_attributes(attrs)
            span.end()


# --- cases and blocks ------------------------------------------------------------------------------

VARIANTS = ("bare", "floor", "instr")
CASES = ("sync", "async", *(f"stream_{n}" for n in STREAM_SIZES))


@dataclass
class Case:
    name: str
    kind: str  # "call" or "stream"
    chunks: int
    calls: int  # calls (or streams) per block
    run: dict[str, Callable[[list[int] | None], tuple[int, int]]]
    """variant -> block(latencies) -> (cpu_ns, wall_ns); streams append per-chunk wall latencies."""


def build_cases(clients: Clients, floor: Floor, calls_per_block: int) -> list[Case]:
    completions = clients.sync["call"].chat.completions
    acompletions = clients.aclient.chat.completions
    loop = clients.loop

    def sync_block(fn: Callable[[], Any]) -> Callable[[list[int] | None], tuple[int, int]]:
        def block(_: list[int] | None) -> tuple[int, int]:
            c0, w0 = tt(), pn()
            for _i in range(calls_per_block):
                fn()
            return tt() - c0, pn() - w0

        return block

    def async_block(fn: Callable[[], Any]) -> Callable[[list[int] | None], tuple[int, int]]:
        async def run() -> tuple[int, int]:
            c0, w0 = tt(), pn()
            for _i in range(calls_per_block):
                await fn()
            return tt() - c0, pn() - w0

        def block(_: list[int] | None) -> tuple[int, int]:
            return loop.run_until_complete(run())

        return block

    def stream_block(open_stream: Callable[[], Any]) -> Callable[[list[int] | None], tuple[int, int]]:
        def block(lat: list[int] | None) -> tuple[int, int]:
            c0, w0 = tt(), pn()
            stream = open_stream()
            t = pn()
            if lat is None:
                for _chunk in stream:
                    pass
            else:
                append = lat.append
                for _chunk in stream:
                    t2 = pn()
                    append(t2 - t)
                    t = t2
            return tt() - c0, pn() - w0

        return block

    cases = [
        Case(
            "sync",
            "call",
            0,
            calls_per_block,
            {
                "bare": sync_block(lambda: completions.create(**KW)),
                "floor": sync_block(lambda: floor.create(completions, KW)),
                "instr": sync_block(lambda: completions.create(**KW)),
            },
        ),
        Case(
            "async",
            "call",
            0,
            calls_per_block,
            {
                "bare": async_block(lambda: acompletions.create(**KW)),
                "floor": async_block(lambda: floor.acreate(acompletions, KW)),
                "instr": async_block(lambda: acompletions.create(**KW)),
            },
        ),
    ]
    for n in STREAM_SIZES:
        resource = clients.sync[n].chat.completions

        def opener(resource: Any = resource) -> Callable[[], Any]:
            return lambda: resource.create(**STREAM_KW)

        def floor_opener(resource: Any = resource) -> Callable[[], Any]:
            return lambda: floor.stream(resource, STREAM_KW)

        cases.append(
            Case(
                f"stream_{n}",
                "stream",
                n,
                1,
                {
                    "bare": stream_block(opener()),
                    "floor": stream_block(floor_opener()),
                    "instr": stream_block(opener()),
                },
            )
        )
    return cases


@dataclass(frozen=True)
class Plan:
    rounds: dict[str, int]
    budget_s: dict[str, float]
    min_rounds: int = 3
    warmup: bool = True


PLANS = {
    "full": Plan(
        {"sync": 1000, "async": 1000, "stream_200": 300, "stream_2000": 60},
        {"sync": 15, "async": 15, "stream_200": 15, "stream_2000": 30},
    ),
    "compare": Plan(  # 2 x 4 workers of ~22 s each: about 3 minutes in all
        {"sync": 300, "async": 300, "stream_200": 80, "stream_2000": 15},
        {"sync": 4, "async": 4, "stream_200": 4, "stream_2000": 6},
    ),
    "quick": Plan(
        {"sync": 6, "async": 6, "stream_200": 2, "stream_2000": 1},
        {"sync": 0.5, "async": 0.5, "stream_200": 0.5, "stream_2000": 1},
        min_rounds=1,
        warmup=False,
    ),
}


class Rounds:
    """The rounds of one case, measured in one go (``measure``) or in slices (``--compare``'s
    workers run a slice each in turn, so a change in the machine's speed hits every contender)."""

    def __init__(self, case: Case, patches: PatchSet) -> None:
        self.case, self.patches = case, patches
        self.count = 0
        self.seconds = 0.0
        self.cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self.wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self.lat: dict[str, list[int]] | None = {v: [] for v in VARIANTS} if case.kind == "stream" else None

    def warm_up(self) -> None:
        for variant in VARIANTS:
            self.patches.apply(variant == "instr")
            self.case.run[variant](None)
        self.patches.apply(True)
        gc.collect()

    def run(self, max_rounds: int, budget_s: float, min_rounds: int = 1) -> None:
        """Up to ``max_rounds`` more rounds (at least ``min_rounds``) or until ``budget_s`` seconds pass."""
        case, patches, cpu, wall, lat = self.case, self.patches, self.cpu, self.wall, self.lat
        t0 = time.monotonic()
        deadline = t0 + budget_s
        done = 0
        while done < max_rounds and (done < min_rounds or time.monotonic() < deadline):
            shift = self.count % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                patches.apply(variant == "instr")
                gc.disable()
                try:
                    c, w = case.run[variant](lat[variant] if lat is not None else None)
                finally:
                    gc.enable()
                cpu[variant].append(c / case.calls / 1000.0)
                wall[variant].append(w / case.calls / 1000.0)
            gc.collect(1)
            done += 1
            self.count += 1
        patches.apply(True)
        self.seconds += time.monotonic() - t0

    def summary(self) -> dict[str, Any]:
        stats = summarize(self.case, self.count, self.cpu, self.wall, self.lat)
        stats["seconds"] = self.seconds
        return stats


def measure(case: Case, patches: PatchSet, plan: Plan) -> dict[str, Any]:
    """Interleaved rounds, one block per variant each (order rotates), gc off inside each block."""
    rounds = Rounds(case, patches)
    if plan.warmup:
        rounds.warm_up()
    rounds.run(plan.rounds[case.name], plan.budget_s[case.name], plan.min_rounds)
    return rounds.summary()


def summarize(
    case: Case, rounds: int, cpu: dict[str, list[float]], wall: dict[str, list[float]], lat: dict[str, list[int]] | None
) -> dict[str, Any]:
    a, b, c = cpu["bare"], cpu["floor"], cpu["instr"]
    d_floor = [y - x for x, y in zip(a, b, strict=True)]
    d_instr = [z - x for x, z in zip(a, c, strict=True)]

    def med(values: list[float], idx: list[int]) -> float:
        return median([values[i] for i in idx])

    def ratio(idx: list[int]) -> float:
        f = med(d_floor, idx)
        return med(d_instr, idx) / f if f > 0 else float("nan")

    def pct(idx: list[int]) -> float:
        return 100.0 * med(d_instr, idx) / med(a, idx)

    s: dict[str, Any] = {
        "case": case.name,
        "kind": case.kind,
        "chunks": case.chunks,
        "rounds": rounds,
        "calls_per_block": case.calls,
        "bare_us": median(a),
        "floor_call_us": median(b),
        "instr_call_us": median(c),
        "bare_wall_us": median(wall["bare"]),
    }
    s["floor_ovh_us"] = median(d_floor)
    s["floor_ovh_lo"], s["floor_ovh_hi"] = bootstrap(lambda idx: med(d_floor, idx), rounds)
    s["ovh_us"] = median(d_instr)
    s["ovh_lo"], s["ovh_hi"] = bootstrap(lambda idx: med(d_instr, idx), rounds)
    s["ovh_p25"], _, s["ovh_p75"] = quartiles(d_instr)
    s["pct_of_bare"] = 100.0 * s["ovh_us"] / s["bare_us"] if s["bare_us"] > 0 else float("nan")
    s["pct_lo"], s["pct_hi"] = bootstrap(pct, rounds)
    s["floor_pct_of_bare"] = 100.0 * s["floor_ovh_us"] / s["bare_us"] if s["bare_us"] > 0 else float("nan")
    s["x_bare"] = s["instr_call_us"] / s["bare_us"] if s["bare_us"] > 0 else float("nan")
    s["x_floor"] = s["ovh_us"] / s["floor_ovh_us"] if s["floor_ovh_us"] > 0 else float("nan")
    s["x_floor_lo"], s["x_floor_hi"] = bootstrap(ratio, rounds)
    s["ovh_wall_us"] = median([z - x for x, z in zip(wall["bare"], wall["instr"], strict=True)])
    if case.kind == "stream" and lat is not None:
        n = case.chunks
        s["per_chunk_us"] = s["ovh_us"] / n
        s["per_chunk_lo"], s["per_chunk_hi"] = s["ovh_lo"] / n, s["ovh_hi"] / n
        s["floor_per_chunk_us"] = s["floor_ovh_us"] / n
        p10 = {v: percentile(lat[v], 10) / 1000.0 for v in VARIANTS}
        p50 = {v: percentile(lat[v], 50) / 1000.0 for v in VARIANTS}
        s["bare_chunk_p10_us"], s["bare_chunk_p50_us"] = p10["bare"], p50["bare"]
        s["per_chunk_p10_us"] = p10["instr"] - p10["bare"]
        s["per_chunk_p50_us"] = p50["instr"] - p50["bare"]
        s["floor_per_chunk_p10_us"] = p10["floor"] - p10["bare"]
    return s


# --- span check ------------------------------------------------------------------------------------


def span_check(cases: list[Case], pipeline: Pipeline, patches: PatchSet) -> dict[str, Any]:
    """One traced call per case and variant: spans per call, attributes, events, stream integrity."""
    out: dict[str, Any] = {}
    for case in cases:
        for variant in ("floor", "instr"):
            kept: list[ReadableSpan] = []
            pipeline.exporter.keep = kept
            patches.apply(variant == "instr")
            lat: list[int] = []
            try:
                case.run[variant](lat if case.kind == "stream" else None)
            finally:
                pipeline.exporter.keep = None
                patches.apply(True)
            calls = case.calls
            spans = [s for s in kept if s.kind == SpanKind.CLIENT] or kept
            attrs = dict(spans[-1].attributes or {}) if spans else {}
            out[f"{case.name}.{variant}"] = {
                "spans_per_call": len(kept) / calls,
                "attrs": len(attrs),
                "keys": sorted(attrs),
                "events": len(spans[-1].events) if spans else 0,
                "chunks_seen": len(lat) if case.kind == "stream" else None,
                "attr_bytes": sum(len(str(v)) for v in attrs.values()),
            }
    return out


def describe_span_check(check: dict[str, Any], contender: str, cases: list[Case]) -> list[str]:
    lines = []
    for case in cases:
        floor, instr = check[f"{case.name}.floor"], check[f"{case.name}.instr"]
        text = (
            f"  {case.name:<12} floor: {floor['attrs']} attrs; {contender}: {instr['spans_per_call']:g} span(s)/call, "
            f"{instr['attrs']} attrs (~{instr['attr_bytes']} B of values), {instr['events']} events"
        )
        if case.kind == "stream":
            ok = instr["chunks_seen"] == case.chunks
            text += f"; chunks reaching the caller {instr['chunks_seen']}/{case.chunks}{'' if ok else '  <-- BROKEN'}"
        lines.append(text)
        if contender == "llmotel":
            missing = sorted(set(floor["keys"]) - set(instr["keys"]))
            extra = sorted(set(instr["keys"]) - set(floor["keys"]))
            if missing:
                lines.append(f"      llmotel lacks the floor's {missing}")
            if extra and case.name in ("sync", "stream_200"):
                lines.append(f"      llmotel also records: {', '.join(extra)}")
    return lines


# --- one contender in this process -----------------------------------------------------------------


class Session:
    """Pipeline, clients and one instrumentation, set up once; ``run(capture)`` measures all cases."""

    def __init__(self, contender: Contender, with_metrics: bool, calls_per_block: int, cases: list[str]) -> None:
        self.contender = contender
        self.pipeline = setup_pipeline(with_metrics)
        self.clients = Clients()
        self.floor = Floor(self.pipeline.tracer_provider.get_tracer("bench.floor"), False)
        every = build_cases(self.clients, self.floor, calls_per_block)
        for case in every:  # import every module the calls need before the snapshot
            if case.name in ("sync", "async", "stream_200"):
                case.run["bare"]([])
        self.cases = [case for case in every if case.name in cases]
        before = snapshot()
        self.instrumentor = instrument(contender, self.pipeline)
        self.patches = PatchSet.diff(before)

    def run(self, capture: bool, plan: Plan, verbose: bool = True) -> dict[str, Any]:
        lines = self.prepare(capture, verbose)
        results = [measure(case, self.patches, plan) for case in self.cases]
        return {"contender": self.contender.name, "capture": capture, "cases": results, "span_check": lines}

    def prepare(self, capture: bool, verbose: bool) -> list[str]:
        """Set the content-capture switch and run the span check; returns its lines."""
        set_capture_env(self.contender, capture)
        self.floor.capture = capture
        check = span_check(self.cases, self.pipeline, self.patches)
        lines = describe_span_check(check, self.contender.name, self.cases)
        if verbose:
            print(f"span check ({self.contender.name}, content capture {'on' if capture else 'off'}):")
            print("\n".join(lines))
        return lines

    def close(self) -> None:
        self.clients.close()


# --- output ----------------------------------------------------------------------------------------


def _ci(v: float, lo: float, hi: float, digits: int = 1) -> str:
    return f"{v:.{digits}f} [{lo:.{digits}f}..{hi:.{digits}f}]"


def print_table(results: list[dict[str, Any]], contender: str, capture: bool) -> None:
    print(f"\n== {contender}, content capture {'ON' if capture else 'off'} ==")
    head = (
        f"{'case':<12} {'rounds':>6} {'bare us':>8} | {'floor ovh us [90% CI]':>22} {'ovh us [90% CI]':>24} "
        f"{'% of bare':>9} {'x bare':>6} {'x floor [90% CI]':>18} | {'us/chunk [CI]':>17} {'p10/chunk':>9} "
        f"{'floor/chunk':>11}"
    )
    print(head)
    print("-" * len(head))
    for s in results:
        chunk = p10 = floor_chunk = "-"
        if s["kind"] == "stream":
            chunk = _ci(s["per_chunk_us"], s["per_chunk_lo"], s["per_chunk_hi"], 2)
            p10 = f"{s['per_chunk_p10_us']:.2f}"
            floor_chunk = f"{s['floor_per_chunk_us']:.2f}"
        print(
            f"{s['case']:<12} {s['rounds']:>6} {s['bare_us']:>8.1f} | "
            f"{_ci(s['floor_ovh_us'], s['floor_ovh_lo'], s['floor_ovh_hi']):>22} "
            f"{_ci(s['ovh_us'], s['ovh_lo'], s['ovh_hi']):>24} {s['pct_of_bare']:>8.1f}% {s['x_bare']:>6.3f} "
            f"{_ci(s['x_floor'], s['x_floor_lo'], s['x_floor_hi'], 2):>18} | {chunk:>17} {p10:>9} {floor_chunk:>11}"
        )


def case_name(stats: dict[str, Any], capture: bool) -> str:
    return f"openai_{stats['case']}" + ("_capture" if capture else "")


def bench_fields(stats: dict[str, Any], capture: bool, contender: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "capture": "on" if capture else "off",
        "instr": contender,
        "rounds": stats["rounds"],
        "bare_us": stats["bare_us"],
        "floor_ovh_us": stats["floor_ovh_us"],
        "ovh_us": stats["ovh_us"],
        "ovh_lo": stats["ovh_lo"],
        "ovh_hi": stats["ovh_hi"],
        "pct_of_bare": stats["pct_of_bare"],
        "x_bare": stats["x_bare"],
        "x_floor": stats["x_floor"],
        "x_floor_lo": stats["x_floor_lo"],
        "x_floor_hi": stats["x_floor_hi"],
    }
    if stats["kind"] == "stream":
        fields.update(
            chunks=stats["chunks"],
            per_chunk_us=stats["per_chunk_us"],
            per_chunk_p10_us=stats["per_chunk_p10_us"],
            floor_per_chunk_us=stats["floor_per_chunk_us"],
        )
    return fields


def per_chunk_verdict(stats: dict[str, Any]) -> str:
    ok = stats["per_chunk_us"] <= TARGET_PER_CHUNK_US
    p10_ok = stats["per_chunk_p10_us"] <= TARGET_PER_CHUNK_US
    return (
        f"{stats['case']}: whole-stream {stats['per_chunk_us']:.2f} us/chunk "
        f"[{stats['per_chunk_lo']:.2f}..{stats['per_chunk_hi']:.2f}] {'ok' if ok else 'MISS'}, "
        f"per-next() p10 {stats['per_chunk_p10_us']:.2f} us {'ok' if p10_ok else 'MISS'}"
    )


# --- modes -----------------------------------------------------------------------------------------


def run_local(args: argparse.Namespace, plan: Plan, started: float) -> int:
    contender = CONTENDERS["llmotel"]
    session = Session(contender, args.metrics, args.calls_per_block, selected_cases(args))
    print("patched (switched off for the bare and floor blocks): " + ", ".join(session.patches.names()))
    passes = [False] if args.no_capture_pass else [False, True]
    outputs = []
    for capture in passes:
        out = session.run(capture, plan)
        outputs.append(out)
        print_table(out["cases"], "llmotel", capture)
        if not capture:
            print(f"target (capture off) per chunk <= {TARGET_PER_CHUNK_US} us:")
            for s in out["cases"]:
                if s["kind"] == "stream":
                    print("  " + per_chunk_verdict(s))
    session.close()
    set_capture_env(contender, False)
    print_legend()
    print(f"total time {time.monotonic() - started:.0f} s\n")
    for out in outputs:
        for s in out["cases"]:
            print(bench_line(case_name(s, out["capture"]), **bench_fields(s, out["capture"], "llmotel")))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine_info(), "results": outputs}, indent=1))
    return 0


def print_legend() -> None:
    print(
        "\nus = microseconds of thread CPU time per call (per whole stream for streams); bare = median bare call;\n"
        "ovh = median over rounds of (instr - bare) of the same round, 90 % bootstrap interval in brackets;\n"
        "% of bare = ovh / bare; x bare = instr / bare; x floor = ovh / floor ovh (1.0 = as cheap as the\n"
        "hand-written span); us/chunk = whole-stream ovh / chunks (includes span start/end);\n"
        "p10/chunk = 10th percentile of the per-next() wall latency, instr minus bare (the steadiest per-chunk figure)"
    )


def run_worker(args: argparse.Namespace, plan: Plan) -> int:
    contender = CONTENDERS[args.worker]
    capture = args.capture == "on"
    try:
        set_capture_env(contender, capture)  # before the import: some read it once
        importlib.import_module(contender.module)
    except Exception as exc:  # a contender that does not import is skipped, not an error
        print(WORKER_MARK + json.dumps({"status": "skipped", "reason": f"import failed: {type(exc).__name__}: {exc}"}))
        return 0
    session = Session(contender, args.metrics, args.calls_per_block, selected_cases(args))
    lines = session.prepare(capture, verbose=False)
    ready = {"status": "ok", "patched": session.patches.names(), "version": _dist_version(contender.distribution)}
    print(WORKER_MARK + json.dumps({**ready, "span_check": lines}), flush=True)
    rounds = {case.name: Rounds(case, session.patches) for case in session.cases}
    for line in sys.stdin:  # one command per line from the parent; only one worker measures at a time
        command = json.loads(line)
        if command["op"] == "run":
            r = rounds[command["case"]]
            if command["warmup"]:
                r.warm_up()
            r.run(command["rounds"], command["budget_s"], command["min_rounds"])
            print(WORKER_MARK + json.dumps({"rounds": r.count}), flush=True)
        elif command["op"] == "finish":
            print(WORKER_MARK + json.dumps({"cases": [r.summary() for r in rounds.values()]}), flush=True)
            break
    session.close()
    return 0


class Worker:
    """One contender's worker process (its own interpreter, one instrumentation): set up once, then
    it measures a slice of a case's rounds whenever the parent says so, and waits otherwise."""

    def __init__(self, name: str, capture: bool, args: argparse.Namespace) -> None:
        self.name = name
        contender = CONTENDERS[name]
        env = {k: v for k, v in os.environ.items() if k not in CAPTURE_VARS}
        env.update(contender.capture_env[capture])
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--capture", "on" if capture else "off"]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--metrics"] if args.metrics else []
        cmd += ["--calls-per-block", str(args.calls_per_block), "--cases", ",".join(selected_cases(args))]
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by kill()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(WORKER_MARK):
                self.lines.put(line[len(WORKER_MARK) :])
        self.lines.put(None)

    def reply(self, timeout: float) -> dict[str, Any]:
        """The worker's next answer; raises RuntimeError (with its last stderr line) if it died or hung."""
        try:
            payload = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise RuntimeError("worker timed out") from None
        if payload is None:
            self.proc.wait()
            self.stderr.seek(0)
            tail = (self.stderr.read().strip().splitlines() or ["no output"])[-1]
            self.kill()
            raise RuntimeError(f"worker failed (exit {self.proc.returncode}): {tail}")
        answer: dict[str, Any] = json.loads(payload)
        return answer

    def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # the reply reports why the worker is gone
        return self.reply(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def _dist_version(dist: str) -> str:
    from _common import version

    return version(dist)


def run_compare(args: argparse.Namespace, started: float) -> int:
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contender(s) {unknown}; known: {', '.join(CONTENDERS)}")
    failures: dict[str, str] = {}
    if args.install_failures and os.path.exists(args.install_failures):
        for line in Path(args.install_failures).read_text().splitlines():
            if line.strip():
                name, _, reason = line.partition(" ")
                failures[name] = reason.strip()
    captures = {"off": [False], "on": [True], "both": [False, True]}[args.compare_capture]
    plan = PLANS["quick" if args.quick else "compare"]
    slices = 1 if args.quick else max(1, args.slices)
    print(
        f"compare: {', '.join(names)}; content capture {args.compare_capture}; one worker process each, all set up "
        f"first, then each case measured in {slices} slice(s) per worker, the workers taking turns (rotating order)"
    )
    results: dict[tuple[str, bool], dict[str, Any]] = {}
    skipped: dict[str, str] = {}

    def skip(name: str, reason: str) -> None:
        skipped[name] = reason
        print(f"{name}: skipped: {reason}")

    for capture in captures:
        workers: list[Worker] = []
        for name in names:
            contender = CONTENDERS[name]
            if name in skipped:
                continue
            if importlib.util.find_spec(contender.module.split(".")[0]) is None or not _spec(contender.module):
                skip(name, failures.get(name) or f"not installed ({contender.distribution})")
                continue
            workers.append(Worker(name, capture, args))
        ready: dict[str, dict[str, Any]] = {}
        for worker in list(workers):
            try:
                answer = worker.reply(timeout=600)
            except RuntimeError as exc:
                skip(worker.name, str(exc))
                workers.remove(worker)
                continue
            if answer["status"] != "ok":
                reason = answer["reason"]
                skip(worker.name, f"{failures[worker.name]}; {reason}" if worker.name in failures else reason)
                worker.kill()
                workers.remove(worker)
                continue
            ready[worker.name] = answer
            default = " (its default)" if capture == CONTENDERS[worker.name].default_capture else ""
            print(
                f"\n{worker.name} {answer['version']}, content capture {'on' if capture else 'off'}{default}; "
                f"patched: {', '.join(answer['patched'])}"
            )
            print("\n".join(answer["span_check"]))
        t0 = time.monotonic()
        for case in selected_cases(args):
            per_slice = -(-plan.rounds[case] // slices)
            min_rounds = -(-plan.min_rounds // slices)
            for i in range(slices):
                shift = i % len(workers) if workers else 0
                for worker in workers[shift:] + workers[:shift]:
                    command = {
                        "op": "run",
                        "case": case,
                        "rounds": per_slice,
                        "budget_s": plan.budget_s[case] / slices,
                        "min_rounds": min_rounds,
                        "warmup": plan.warmup and i == 0,
                    }
                    try:
                        worker.ask(command, timeout=900)
                    except RuntimeError as exc:
                        skip(worker.name, str(exc))
                        workers.remove(worker)
        for worker in workers:
            try:
                answer = worker.ask({"op": "finish"}, timeout=300)
            except RuntimeError as exc:
                skip(worker.name, str(exc))
                continue
            worker.kill()
            results[(worker.name, capture)] = {**ready[worker.name], "cases": answer["cases"]}
        print(f"\ncontent capture {'on' if capture else 'off'}: measured in {time.monotonic() - t0:.0f} s")
    for capture in captures:
        rows = [(n, results[(n, capture)]) for n in names if (n, capture) in results]
        if rows:
            print_compare_table(rows, capture)
    print_legend()
    print(
        "contenders' content defaults: "
        + ", ".join(f"{c.name} {'on' if c.default_capture else 'off'}" for c in CONTENDERS.values())
    )
    print(f"total time {time.monotonic() - started:.0f} s\n")
    for capture in captures:
        for name in names:
            out = results.get((name, capture))
            if out is None:
                continue
            for s in out["cases"]:
                print(bench_line(f"compare.{name}.{case_name(s, capture)}", **bench_fields(s, capture, name)))
    for name, reason in skipped.items():
        print(bench_line(f"compare.{name}", status="skipped", reason=reason.replace("=", ":")[:160]))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine_info(),
                    "results": [{**v, "contender": k[0], "capture": k[1]} for k, v in results.items()],
                    "skipped": skipped,
                },
                indent=1,
            )
        )
    return 0


def _spec(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def print_compare_table(rows: list[tuple[str, dict[str, Any]]], capture: bool) -> None:
    print(f"\n== comparison, content capture {'ON' if capture else 'off'} (each row: its own worker process) ==")
    head = (
        f"{'case':<12} {'instrumentation':<14} {'bare us':>8} {'ovh us [90% CI]':>24} {'% of bare [CI]':>20} "
        f"{'x floor [CI]':>20} {'us/chunk':>8} {'p10/chunk':>9}  vs llmotel"
    )
    print(head)
    print("-" * len(head))
    mine = {s["case"]: s for name, out in rows if name == "llmotel" for s in out["cases"]}
    case_names = [s["case"] for s in rows[0][1]["cases"]]
    for case in case_names:
        for name, out in rows:
            s = next(x for x in out["cases"] if x["case"] == case)
            chunk = f"{s['per_chunk_us']:.2f}" if s["kind"] == "stream" else "-"
            p10 = f"{s['per_chunk_p10_us']:.2f}" if s["kind"] == "stream" else "-"
            versus = ""
            if name != "llmotel" and case in mine:
                m = mine[case]
                lower = m["pct_of_bare"] < s["pct_of_bare"]
                separated = m["pct_hi"] < s["pct_lo"]
                versus = (
                    ("llmotel lower" + (" (CIs apart)" if separated else " (CIs overlap)"))
                    if lower
                    else "llmotel NOT lower"
                )
            print(
                f"{case:<12} {name:<14} {s['bare_us']:>8.1f} {_ci(s['ovh_us'], s['ovh_lo'], s['ovh_hi']):>24} "
                f"{_ci(s['pct_of_bare'], s['pct_lo'], s['pct_hi']):>20} "
                f"{_ci(s['x_floor'], s['x_floor_lo'], s['x_floor_hi'], 2):>20} {chunk:>8} {p10:>9}  {versus}"
            )
        print()


# --- main ------------------------------------------------------------------------------------------


def selected_cases(args: argparse.Namespace) -> list[str]:
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise SystemExit(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    return cases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="a few rounds per case (smoke test, a few seconds)")
    p.add_argument("--compare", action="store_true", help="also the widely used instrumentations, one worker each")
    p.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"with --compare: which ones (default all: {','.join(CONTENDERS)})",
    )
    p.add_argument("--compare-capture", choices=("off", "on", "both"), default="both", help="with --compare")
    p.add_argument(
        "--slices",
        type=int,
        default=8,
        help="with --compare: each case's rounds are measured in this many slices per worker, the workers taking "
        "turns, so a change in the machine's speed hits all contenders alike (default 8)",
    )
    p.add_argument("--install-failures", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    p.add_argument("--capture", choices=("on", "off"), default="off", help=argparse.SUPPRESS)
    p.add_argument("--metrics", action="store_true", help="install an SDK MeterProvider (in-memory reader)")
    p.add_argument("--no-capture-pass", action="store_true", help="skip the content-capture pass (llmotel only)")
    p.add_argument("--calls-per-block", type=int, default=4, help="non-streaming calls per timed block (default 4)")
    p.add_argument("--cases", default=",".join(CASES), help=f"which cases (default all: {','.join(CASES)})")
    p.add_argument("--json", metavar="PATH", help="also write the statistics as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = PLANS["quick" if args.quick else ("compare" if args.compare or args.worker else "full")]
    if args.worker:
        return run_worker(args, plan)
    started = time.monotonic()
    print("llmotel openai instrumentation overhead (real openai SDK, in-process fake server)")
    print_machine()
    print(
        "pipeline: TracerProvider + SimpleSpanProcessor -> no-op exporter; SDK LoggerProvider; "
        + ("SDK MeterProvider (in-memory)" if args.metrics else "no MeterProvider (metric calls hit no-op instruments)")
    )
    print(
        f"timing: thread CPU time per block ({args.calls_per_block} calls or 1 stream), bare/floor/instr blocks "
        "interleaved with rotating order, gc off inside blocks; per case at most "
        + ", ".join(f"{k} {plan.rounds[k]} rounds/{plan.budget_s[k]:g} s" for k in plan.rounds)
    )
    return run_compare(args, started) if args.compare else run_local(args, plan, started)


if __name__ == "__main__":
    sys.exit(main())
