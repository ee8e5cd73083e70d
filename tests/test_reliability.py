"""Reliability: llmotel never hurts the application, whatever the collector, the load or the input.

Collector faults (subprocess). The *application* runs in a fresh interpreter (``APP`` below): it
calls ``llmotel.configure()`` and makes decorated LLM calls in a bounded loop, timing every call
itself (``perf_counter_ns``) and sampling its RSS from ``/proc/self/statm``; it prints one
``RESULT {json}`` line. Its OTLP exporter points at an in-test receiver that is healthy, absent
(connection refused), answering UNAVAILABLE / 503, black-holed (accepts, never answers), or
restarting mid-run. The app's per-call latency must stay in the healthy range (the export never
runs on the caller's thread), nothing but the SDK's own one-line warnings may reach its stderr,
memory stays bounded by the batch queue, spans made after the collector comes back arrive, and
interpreter exit with queued spans and a silent collector is bounded by the export timeout.
Coordination with the child is a line protocol on its stdin/stdout (``READY {json}`` / ``go``) plus
the receiver's blocking ``wait_for_*`` methods: nothing here sleeps to synchronize.

Concurrency (in-process, global in-memory exporter): 16 threads and 500 asyncio tasks run nested
chain -> LLM -> tool spans; every span is counted exactly and checked for parent and trace.

Bad input (in-process, production mode ``LLMOTEL_STRICT=0``): hypothesis-generated callback
arguments, header maps, usage values and messages (binary, 1 MB) go through ``TracingHandler`` and
the decorators with content capture on and off. Nothing escapes, every started span ends, and
every span stays exportable: valid attribute values, encoded by the real OTLP encoder without an
error or a dropped attribute, and bounded in size. These tests use a private ``TracerProvider``
without SDK attribute-length limits (``SpanLimits.UNSET``, i.e. ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``
unset) plus a processor that tracks started-but-not-ended spans; the conftest secret scanner is
attached to it too.

Secrets: authorization / cookie / x-api-key / api-key headers, keys on model objects, tool calls
and messages, and ``api-key`` URL query parameters never reach an exported span, in-process and in
what the subprocess receivers decoded.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llmotel
from conftest import FAKE_SECRETS, SECRET_SCANNER, finished
from helpers.checks import SdkLogs, strict_json, valid_attribute
from helpers.collector import Receiver, clean_env, closed_port, make_receiver, protocol_of
from helpers.objects import Attrs, Hostile
from helpers.otlp_receiver import GrpcReceiver, decode_spans
from llmotel import callbacks
from llmotel import semconv as sc

# ==================================================================================================
# Part 1: the application in a subprocess, against a healthy or failing collector
# ==================================================================================================

PROCESS_TIMEOUT = 45.0  # a hung child fails the test instead of hanging the suite
LINE_TIMEOUT = 30.0  # waiting for one protocol line from the child
EXPORT_TIMEOUT_S = 1  # OTEL_EXPORTER_OTLP_TIMEOUT (seconds in Python) for the fault runs
CALLS = 4000  # timed calls per latency run
MEMORY_CALLS = 20_000  # timed calls of the memory run
QUEUE_SIZE = 256  # OTEL_BSP_MAX_QUEUE_SIZE
# Whenever the exporter thread encodes a batch, a call may wait for the GIL for up to Python's
# 5 ms switch interval, whatever the collector does: p99 is compared with this much slack. A call
# that waited for an export would take the export timeout (1 s) or a retry backoff (~1 s).
P99_SLACK_MS = 10

SECRET_QUERY_URL = (
    f"https://acme.openai.azure.com/openai/deployments/gpt?api-version=2024-06-01&api-key={FAKE_SECRETS[4]}"
)

APP = r'''
import gc, json, logging, os, sys, threading, time

import llmotel
from llmotel import callbacks

PLAN = json.loads(os.environ["RELIABILITY_PLAN"])
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class SdkLog(logging.Handler):
    """Counts the SDK's warnings per logger and prints them exactly as Python would without it."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.counts = {}
        self.export_failed = threading.Event()

    def emit(self, record):
        self.counts[record.name] = self.counts.get(record.name, 0) + 1
        if ".exporter." in record.name:
            self.export_failed.set()
        logging.lastResort.handle(record)


SDK_LOG = SdkLog()
logging.getLogger("opentelemetry").addHandler(SDK_LOG)

SECRET_HEADERS = {
    "Authorization": "Bearer test-bearer-token-789",
    "Proxy-Authorization": "Basic hunter2-password",
    "Cookie": "session=hunter2-password",
    "Set-Cookie": "sid=hunter2-password; HttpOnly",
    "X-Api-Key": "sk-test-secret-key-123",
    "api-key": "sk-ant-test-secret-456",
    "x-request-id": "req-42",
    "openai-processing-ms": "12",
    "x-ratelimit-remaining-requests": "99",
}
HANDLERS = callbacks.Callbacks(callbacks.TracingHandler())
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]


class AzureChat:
    """A chat client holding its secrets the way SDK clients do."""

    def __init__(self):
        self.model = "gpt-reliability"
        self.api_key = "sk-test-secret-key-123"
        self.base_url = PLAN.get("base_url", "https://acme.openai.azure.com/openai")
        self.default_headers = {"Authorization": "Bearer test-bearer-token-789"}
        self.default_query = {"api-key": "hunter2-password"}
        self.temperature = 0.2

    @llmotel.trace_chat(provider="openai")
    def chat(self, messages, model, **kwargs):
        HANDLERS.fire("on_llm_response_headers", self, SECRET_HEADERS)
        return {
            "id": "resp-1",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunny."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        }


def call(llm, model):
    return llm.chat(
        MESSAGES,
        model=model,
        api_key="sk-test-secret-key-123",
        extra_headers={"Authorization": "Bearer test-bearer-token-789", "Cookie": "session=hunter2-password"},
        extra_query={"api-key": "hunter2-password"},
    )


def queued(configured):
    total = 0
    for processor in configured.tracer_provider._active_span_processor._span_processors:
        total += len(processor._batch_processor._queue)
    return total


def percentile(ordered, p):
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1e6


configured = llmotel.configure()
llm = AzureChat()
for _ in range(PLAN.get("warmup", 200)):
    call(llm, "warmup")
gc.collect()
rss_start = rss_max = rss()
latencies = []
for phase, calls in enumerate(PLAN["phases"]):
    SDK_LOG.export_failed.clear()
    model = "phase-%d" % phase
    for i in range(calls):
        started = time.perf_counter_ns()
        call(llm, model)
        latencies.append(time.perf_counter_ns() - started)
        if i % 500 == 499:
            rss_max = max(rss_max, rss())
    rss_max = max(rss_max, rss())
    if phase in PLAN.get("await_export_failure", ()):
        # after the timed loop: block until the exporter has met the fault (it logs it)
        SDK_LOG.export_failed.wait(20)
    if PLAN.get("handshake"):
        print("READY " + json.dumps({"phase": phase, "export_failed": SDK_LOG.export_failed.is_set()}), flush=True)
        if sys.stdin.readline().strip() != "go":
            sys.exit(3)

ordered = sorted(latencies)
print("RESULT " + json.dumps({
    "calls": len(ordered),
    "median_ms": percentile(ordered, 0.5),
    "p99_ms": percentile(ordered, 0.99),
    "max_ms": ordered[-1] / 1e6,
    "rss_growth_mb": (rss_max - rss_start) / 2**20,
    "queued": queued(configured),
    "sdk_warnings": SDK_LOG.counts,
    "internal_errors": llmotel.internal_error_counts(),
    "handler_errors": callbacks.handler_error_counts(),
}), flush=True)
# no shutdown(): configure() flushes at interpreter exit, bounded by the export timeout
'''

# Everything the OpenTelemetry SDK (1.45) may print on stderr while its collector misbehaves: one
# line per message, never a traceback. Anything else on the app's stderr fails the test.
SDK_STDERR_LINES = [
    re.compile(p)
    for p in (
        r"Queue full, dropping Span\.",
        r"Transient error StatusCode\.\w+ encountered while exporting (traces|metrics) to \S+, retrying in [\d.]+s\. Error details: .*",
        r"Failed to export (traces|metrics) to \S+, error code: StatusCode\.(UNAVAILABLE|DEADLINE_EXCEEDED), error details: .*",
        r"Transient error .+ encountered while exporting (spans|metrics) batch, retrying in [\d.]+s\.",
        r"Failed to export (spans|metrics) batch due to timeout, max retries or shutdown\.",
        r"Failed to export (spans|metrics) batch code: \w+, reason: .+",
        r"Shutdown in progress, aborting retry\.",
        # gRPC's C core (not Python logging) at INFO when a restarting collector cancels the calls
        r"I\d{4} [\d:.]+\s+\d+ chttp2_transport\.cc:\d+\] \S+: Got goaway \[\d+\] err=UNAVAILABLE:GOAWAY received; .*",
    )
]


def app_env(endpoint: str, transport: str, plan: dict[str, Any], **values: str) -> dict[str, str]:
    settings_ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol_of(transport),
        "OTEL_SERVICE_NAME": "reliability-app",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_BSP_MAX_QUEUE_SIZE": str(QUEUE_SIZE),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
        "OTEL_EXPORTER_OTLP_TIMEOUT": str(EXPORT_TIMEOUT_S),
        "RELIABILITY_PLAN": json.dumps(plan),
    }
    settings_.update(values)
    return clean_env(**settings_)


class App:
    """The application process: a line protocol on stdin/stdout, stderr collected, always reaped."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[tuple[str, float] | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.result: dict[str, Any] = {}
        self.result_at = 0.0
        self.exited_at = 0.0

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self._lines.put((line.rstrip("\n"), time.monotonic()))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def expect(self, keyword: str) -> dict[str, Any]:
        """The next stdout line, which must be ``KEYWORD {json}``; returns the JSON."""
        try:
            item = self._lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            raise AssertionError(
                f"no {keyword} line from the app within {LINE_TIMEOUT}s; stderr:\n{self.err}"
            ) from None
        assert item is not None, f"the app ended before {keyword}:\n{''.join(self.stdout)}\n{self.err}"
        line, at = item
        assert line.startswith(keyword + " "), f"expected {keyword}, got {line!r}; stderr:\n{self.err}"
        if keyword == "RESULT":
            self.result_at = at
        value: dict[str, Any] = json.loads(line[len(keyword) + 1 :])
        return value

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> dict[str, Any]:
        """Read RESULT, wait for the exit (timed from the RESULT line), return RESULT."""
        self.result = self.expect("RESULT")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=PROCESS_TIMEOUT)
        self.exited_at = time.monotonic()
        for reader in self._readers:
            reader.join(timeout=PROCESS_TIMEOUT)
        return self.result

    @property
    def err(self) -> str:
        return "".join(self.stderr)

    @property
    def exit_seconds(self) -> float:
        """From the app's last line (end of its main code) to the end of the process: the exit."""
        return self.exited_at - self.result_at

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # only ever the child this object started
            self.proc.wait(timeout=PROCESS_TIMEOUT)

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_clean_output(app: App) -> None:
    """Exit code 0; stdout is only the protocol; stderr only the SDK's known one-line warnings."""
    assert app.proc.returncode == 0, f"exit code {app.proc.returncode}; stderr:\n{app.err}"
    assert all(line.startswith(("READY ", "RESULT ")) for line in app.stdout), app.stdout
    assert "Traceback" not in app.err, app.err
    unknown = [line for line in app.err.splitlines() if not any(p.fullmatch(line) for p in SDK_STDERR_LINES)]
    assert unknown == [], f"unexpected stderr lines: {unknown}"
    assert app.result["internal_errors"] == {}
    assert app.result["handler_errors"] == {}


def leaked_secrets(spans: Sequence[dict[str, Any]]) -> list[str]:
    """Every FAKE_SECRET found anywhere in decoded spans (names, attributes, events, status, resource)."""
    found = []
    for span in spans:
        text = json.dumps(span, default=repr, ensure_ascii=False)
        found.extend(f"{span['name']}: {secret!r}" for secret in FAKE_SECRETS if secret in text)
    return found


def wait_for_named_spans(receiver: Receiver, name: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Block (on the receiver's condition, never sleeping) until ``count`` spans named ``name`` arrived."""
    deadline = time.monotonic() + timeout
    while True:
        spans = receiver.spans()
        named = [s for s in spans if s["name"] == name]
        if len(named) >= count:
            return named
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{len(named)}/{count} {name!r} spans arrived; {receiver!r}"
        receiver.wait_for_spans(len(spans) + 1, timeout=remaining)


_healthy: dict[str, dict[str, Any]] = {}


def healthy_baseline(transport: str) -> dict[str, Any]:
    """The app's RESULT against a healthy receiver (run once per transport, then reused)."""
    if transport not in _healthy:
        with (
            make_receiver(transport) as receiver,
            App(app_env(receiver.endpoint, transport, {"phases": [CALLS]})) as app,
        ):
            result = app.finish()
            check_clean_output(app)
            spans = receiver.wait_for_spans(1)
            assert leaked_secrets(spans) == []
            sample = next(s for s in spans if s["name"] == "chat phase-0")
            # the allow-listed header facts arrived: the secret-carrying headers callback did run
            assert sample["attributes"]["llmotel.response.request_id"] == "req-42"
            assert sample["attributes"]["server.address"] == "acme.openai.azure.com"
        _healthy[transport] = result
    return _healthy[transport]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_healthy_collector_baseline(transport: str) -> None:
    result = healthy_baseline(transport)
    assert result["calls"] == CALLS
    assert result["max_ms"] < 1000 * EXPORT_TIMEOUT_S / 2


FAULTS = ["down", "unavailable", "blackhole"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_failing_collector_does_not_slow_or_break_the_app(transport: str, fault: str) -> None:
    healthy = healthy_baseline(transport)
    plan = {"phases": [CALLS], "await_export_failure": [0]}
    if fault == "down":
        endpoint = f"http://127.0.0.1:{closed_port()}"  # connection refused
        with App(app_env(endpoint, transport, plan)) as app:
            result = app.finish()
        received: list[dict[str, Any]] = []
    else:
        with make_receiver(transport, fault) as receiver:  # type: ignore[arg-type]
            with App(app_env(receiver.endpoint, transport, plan)) as app:
                result = app.finish()
            assert receiver.attempts >= 1  # the exporter did reach the collector
            received = receiver.spans()
        assert received == []
    print(f"\n{transport}/{fault}: {result} (healthy: {healthy})")

    check_clean_output(app)
    exporter_warnings = sum(n for name, n in result["sdk_warnings"].items() if ".exporter." in name)
    assert exporter_warnings >= 1, result["sdk_warnings"]  # the fault was met (and logged, without traceback)
    assert result["calls"] == CALLS
    # the caller never waits for the collector: same latency range as with a healthy one
    assert result["median_ms"] < 5 * healthy["median_ms"] + 2
    assert result["p99_ms"] < 5 * healthy["p99_ms"] + P99_SLACK_MS
    assert result["max_ms"] < 1000 * EXPORT_TIMEOUT_S / 2  # no call ever waited for an export
    assert result["rss_growth_mb"] < 24
    assert result["queued"] <= QUEUE_SIZE
    assert app.exit_seconds < EXPORT_TIMEOUT_S + 3  # exit is bounded by the export timeout
    assert leaked_secrets(received) == []


def test_memory_is_bounded_by_the_batch_queue_while_the_collector_is_down() -> None:
    # Each span of this app costs ~4 KB while queued: 20k calls with an unbounded queue grow RSS by
    # ~80 MB (measured with OTEL_BSP_MAX_QUEUE_SIZE=100000); with a 256-span queue, ~3 MB.
    plan = {"phases": [MEMORY_CALLS], "await_export_failure": [0]}
    with App(app_env(f"http://127.0.0.1:{closed_port()}", "grpc", plan)) as app:
        result = app.finish()
    print(f"\nmemory: {result}")
    check_clean_output(app)
    assert result["calls"] == MEMORY_CALLS
    assert result["queued"] <= QUEUE_SIZE
    assert result["rss_growth_mb"] < 20, result


RECOVERIES = [("grpc", "restart"), ("http", "restart"), ("grpc", "blackhole"), ("http", "unavailable")]


@pytest.mark.parametrize(("transport", "outage"), RECOVERIES)
def test_spans_made_after_the_collector_comes_back_arrive(transport: str, outage: str) -> None:
    """Phase 0 with a healthy collector, phase 1 during the outage, phase 2 after it: every span
    of phase 2 arrives while the app still runs (before its exit flush)."""
    per_phase = 150
    plan = {
        "phases": [per_phase] * 3,
        "warmup": 0,
        "handshake": True,
        "await_export_failure": [1] if outage == "restart" else [],
    }
    with make_receiver(transport) as receiver:
        # 3 s: after a refused connection the exporter retries once (backoff ~1 s) within its deadline
        env = app_env(
            receiver.endpoint, transport, plan, OTEL_EXPORTER_OTLP_TIMEOUT="3", OTEL_BSP_MAX_QUEUE_SIZE="2048"
        )
        with App(env) as app:
            assert app.expect("READY")["phase"] == 0
            wait_for_named_spans(receiver, "chat phase-0", per_phase)

            attempts = receiver.attempts
            if outage == "restart":
                receiver.stop()
            else:
                receiver.mode = outage  # type: ignore[assignment]
            app.send("go")
            ready = app.expect("READY")
            assert ready["phase"] == 1
            if outage == "restart":
                assert ready["export_failed"] is True  # the exporter met the dead collector
                receiver.start()  # same port
            else:
                receiver.wait_for_attempts(attempts + 1)  # an export reached the failing collector
                receiver.mode = "ok"
            app.send("go")
            assert app.expect("READY")["phase"] == 2
            after = wait_for_named_spans(receiver, "chat phase-2", per_phase)
            app.send("go")
            result = app.finish()
        spans = receiver.spans()
    print(
        f"\n{transport}/{outage}: {result}; phase-1 spans that arrived: {sum(s['name'] == 'chat phase-1' for s in spans)}"
    )
    check_clean_output(app)
    assert len(after) == per_phase
    assert len({s["span_id"] for s in after}) == per_phase  # each once
    assert len({s["span_id"] for s in spans}) == len(spans)
    assert leaked_secrets(spans) == []


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_interpreter_exit_with_queued_spans_and_a_blackholed_collector_is_bounded(transport: str) -> None:
    calls = 500  # below the batch size and no scheduled export: all of them are queued at exit
    plan = {"phases": [calls], "warmup": 0}
    with make_receiver(transport, "blackhole") as receiver:
        env = app_env(
            receiver.endpoint,
            transport,
            plan,
            OTEL_BSP_SCHEDULE_DELAY="600000",
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="512",
            OTEL_BSP_MAX_QUEUE_SIZE="2048",
        )
        with App(env) as app:
            result = app.finish()
        receiver.wait_for_attempts(1)  # the exit flush did try to send them
        assert receiver.requests == []
    print(f"\nexit {transport}: {app.exit_seconds:.2f}s, {result}")
    check_clean_output(app)
    assert result["queued"] == calls
    assert app.exit_seconds < EXPORT_TIMEOUT_S + 2.5  # no hang: the budget is the export timeout
    assert app.exit_seconds > EXPORT_TIMEOUT_S * 0.8  # and it did wait for the collector, that long


def test_secrets_never_reach_the_collector() -> None:
    # The same app, its client configured with the key in the endpoint URL's query (Azure style).
    plan = {"phases": [50], "warmup": 0, "base_url": SECRET_QUERY_URL}
    with GrpcReceiver() as receiver:
        with App(app_env(receiver.endpoint, "grpc", plan)) as app:
            app.finish()
        spans = receiver.wait_for_spans(50)
    check_clean_output(app)
    assert {s["attributes"]["server.address"] for s in spans} == {"acme.openai.azure.com"}
    assert leaked_secrets(spans) == []


# ==================================================================================================
# Part 2: concurrency (in-process, global in-memory exporter)
# ==================================================================================================


class Chain:
    """A user's chain object: what callbacks receive as their first argument."""

    def __init__(self, tag: str, tokens: int) -> None:
        self.tag = tag
        self.tokens = tokens


HANDLERS = callbacks.Callbacks(callbacks.TracingHandler())  # one handler shared by every chain


def tool_call(chain: Chain) -> dict[str, Any]:
    return {"id": f"call-{chain.tag}", "name": f"tool-{chain.tag}", "arguments": '{"q": 1}'}


def response(chain: Chain, model: str) -> dict[str, Any]:
    return {
        "id": f"resp-{chain.tag}",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    }


@llmotel.trace_chat(provider="openai")
def llm_call(chain: Chain, model: str, tool_inside: bool) -> dict[str, Any]:
    HANDLERS.fire("on_llm_token_usage", chain, {"input": chain.tokens, "output": 1})
    if tool_inside:  # a tool run while the LLM span is current: still the chain's child
        HANDLERS.fire("on_tool_execution_started", chain, tool_call(chain), None)
        HANDLERS.fire("on_tool_execution_completed", chain, tool_call(chain), "done")
    return response(chain, model)


@llmotel.trace_chat(provider="openai")
async def llm_call_async(chain: Chain, model: str, tool_inside: bool) -> dict[str, Any]:
    await asyncio.sleep(0)
    HANDLERS.fire("on_llm_token_usage", chain, {"input": chain.tokens, "output": 1})
    if tool_inside:
        HANDLERS.fire("on_tool_execution_started", chain, tool_call(chain), None)
        await asyncio.sleep(0)
        HANDLERS.fire("on_tool_execution_completed", chain, tool_call(chain), "done")
    await asyncio.sleep(0)
    return response(chain, model)


def run_chain(tag: str, tokens: int) -> None:
    chain = Chain(tag, tokens)
    with llmotel.trace_chain(f"chain-{tag}", chain=chain):
        llm_call(chain, model=f"model-{tag}", tool_inside=tokens % 2 == 0)
        if tokens % 2:
            HANDLERS.fire("on_tool_execution_started", chain, tool_call(chain), None)
            HANDLERS.fire("on_tool_execution_completed", chain, tool_call(chain), "done")


async def run_chain_async(tag: str, tokens: int) -> None:
    chain = Chain(tag, tokens)
    async with llmotel.trace_chain(f"chain-{tag}", chain=chain):
        await asyncio.sleep(0)
        await llm_call_async(chain, model=f"model-{tag}", tool_inside=tokens % 2 == 0)
        if tokens % 2:
            HANDLERS.fire("on_tool_execution_started", chain, tool_call(chain), None)
            await asyncio.sleep(0)
            HANDLERS.fire("on_tool_execution_completed", chain, tool_call(chain), "done")


def check_chains(runs: list[tuple[str, int]]) -> None:
    """Exactly one chain, LLM and tool span per run, correctly parented, one trace per chain."""
    spans = finished()
    assert len(spans) == 3 * len(runs)
    assert len({s.context.span_id for s in spans}) == len(spans)  # nothing exported twice
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    duplicated = {name: len(group) for name, group in by_name.items() if len(group) != 1}
    assert duplicated == {}
    expected = {
        f"{kind} {x}-{tag}"
        for tag, _ in runs
        for kind, x in [("invoke_workflow", "chain"), ("chat", "model"), ("execute_tool", "tool")]
    }
    assert set(by_name) == expected  # none missing, none foreign
    traces = set()
    for tag, tokens in runs:
        [chain] = by_name[f"invoke_workflow chain-{tag}"]
        [llm] = by_name[f"chat model-{tag}"]
        [tool] = by_name[f"execute_tool tool-{tag}"]
        assert chain.parent is None, tag
        assert llm.parent is not None and llm.parent.span_id == chain.context.span_id, tag
        assert tool.parent is not None and tool.parent.span_id == chain.context.span_id, tag
        assert llm.context.trace_id == chain.context.trace_id == tool.context.trace_id, tag
        traces.add(chain.context.trace_id)
        # the callbacks fired for this chain landed on this chain's spans
        assert (llm.attributes or {})[sc.GEN_AI_USAGE_INPUT_TOKENS] == tokens, tag
        assert (chain.attributes or {})[sc.GEN_AI_USAGE_INPUT_TOKENS] == tokens, tag
        assert (tool.attributes or {})[sc.GEN_AI_TOOL_CALL_ID] == f"call-{tag}", tag
        assert (tool.attributes or {})["llmotel.tool.completed"] is True, tag
        assert tool.status.status_code is StatusCode.OK, tag
    assert len(traces) == len(runs)
    assert callbacks.handler_error_counts() == {}


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as possible, so the chains really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def run_in_threads(work: Callable[[int], None], threads: int) -> None:
    """Run ``work(t)`` for t in range(threads), each on its own thread, and wait for them all: a
    thread still alive after 60 s or an exception in any thread fails the test."""
    errors: list[BaseException] = []

    def guarded(t: int) -> None:
        try:
            work(t)
        except BaseException as exc:  # reported below: a thread's exception must fail the test
            errors.append(exc)

    pool = [threading.Thread(target=guarded, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool)
    assert errors == []


@pytest.mark.usefixtures("busy_switching")
def test_16_threads_of_nested_chains() -> None:
    threads, per_thread = 16, 30
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            run_chain(f"t{t}-{i}", t * per_thread + i + 1)

    run_in_threads(work, threads)
    check_chains([(f"t{t}-{i}", t * per_thread + i + 1) for t in range(threads) for i in range(per_thread)])


async def test_500_asyncio_tasks_of_nested_chains() -> None:
    runs = [(f"a{i}", i + 1) for i in range(500)]
    await asyncio.gather(*(run_chain_async(tag, tokens) for tag, tokens in runs))
    check_chains(runs)


@pytest.mark.usefixtures("busy_switching")
def test_16_threads_each_running_32_tasks() -> None:
    threads, tasks = 16, 32

    def work(t: int) -> None:
        async def main() -> None:
            await asyncio.gather(*(run_chain_async(f"m{t}-{i}", t * tasks + i + 1) for i in range(tasks)))

        asyncio.run(main())

    run_in_threads(work, threads)
    check_chains([(f"m{t}-{i}", t * tasks + i + 1) for t in range(threads) for i in range(tasks)])


def test_every_llm_span_of_a_long_running_process_gets_its_delta_events() -> None:
    """Sequential chains, one streamed delta each: every LLM span records its first delta (index 0).

    The handler counts deltas per ``id()`` of the LLM span (or chain run) object; those objects are
    short-lived, CPython reuses their addresses, and a new span inherits a dead span's count."""
    handler = callbacks.TracingHandler()

    @llmotel.trace_chat(provider="openai", model="m")
    def streamed(chain: Chain) -> dict[str, Any]:
        handler.on_llm_new_delta(chain, ["token"])
        return {"id": "r"}

    for i in range(200):
        chain = Chain(f"d{i}", 1)
        with llmotel.trace_chain("deltas", chain=chain):
            streamed(chain)
    llm_spans = [s for s in finished() if s.name == "chat m"]
    assert len(llm_spans) == 200
    delta_indexes = [
        [e.attributes["llmotel.delta.index"] for e in s.events if e.name == "llmotel.llm.new_delta"] for s in llm_spans
    ]  # type: ignore[index]
    missing = sum(indexes != [0] for indexes in delta_indexes)
    assert missing == 0, f"{missing}/200 LLM spans lost their delta event: {delta_indexes}"


# ==================================================================================================
# Part 3: bad input, exportability and bounded content (private provider, production mode)
# ==================================================================================================


class OpenSpans(SpanProcessor):
    """Spans started and not (yet) ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open: dict[int, str] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.open.pop(span.context.span_id, None)


OPEN_SPANS = OpenSpans()
LOCAL_EXPORTER = InMemorySpanExporter()
# No SDK attribute-length limit whatever the environment says: llmotel's own bounds must suffice.
LOCAL_PROVIDER = TracerProvider(
    resource=Resource.create({"service.name": "llmotel-reliability"}),
    span_limits=SpanLimits(max_attribute_length=SpanLimits.UNSET, max_span_attribute_length=SpanLimits.UNSET),
    shutdown_on_exit=False,
)
LOCAL_PROVIDER.add_span_processor(OPEN_SPANS)
LOCAL_PROVIDER.add_span_processor(SECRET_SCANNER)
LOCAL_PROVIDER.add_span_processor(SimpleSpanProcessor(LOCAL_EXPORTER))

CONTENT_MAX = 2000  # LLMOTEL_CONTENT_MAX_LENGTH in the property tests
DEFAULT_CONTENT_MAX = 16384  # llmotel's default
MAX_ENCODED_SPAN = 1_000_000  # bytes of one OTLP-encoded span
MB = 1 << 20


class HugeText(str):
    """A 1 MB string with a short repr (hypothesis prints failing examples)."""

    def __repr__(self) -> str:
        return f"<{len(self)} characters>"


class HugeBytes(bytes):
    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


BIG_TEXT = HugeText("y" * MB)
BIG_BYTES = HugeBytes(b"\x00\xff" * (MB // 2))

JSON_CONTENT_KEYS = {
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_TOOL_CALL_RESULT,
    "llmotel.message.content",
}
TEXT_CONTENT_KEYS = {"llmotel.delta.content", "llmotel.chunk.content"}

PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no "explain" phase: it costs seconds per failure
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def _local_spans() -> Iterator[None]:
    callbacks.reset_handler_errors()
    LOCAL_EXPORTER.clear()
    OPEN_SPANS.open.clear()
    yield
    LOCAL_EXPORTER.clear()


def production(env: Any, capture: bool, max_length: int | None = CONTENT_MAX) -> None:
    values = {
        "LLMOTEL_STRICT": "0",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true" if capture else "false",
    }
    if max_length is not None:
        values["LLMOTEL_CONTENT_MAX_LENGTH"] = str(max_length)
    env(**values)


def check_exportable(spans: Sequence[ReadableSpan], content_max: int | None = None) -> None:
    """Valid attribute values; the real OTLP encoder encodes every span whole (nothing logged, no
    attribute dropped) within MAX_ENCODED_SPAN bytes; content attributes bounded (JSON ones valid)."""
    for span in spans:
        groups = [(span.name, dict(span.attributes or {}))]
        groups += [(f"{span.name} / {e.name}", dict(e.attributes or {})) for e in span.events]
        for where, attributes in groups:
            bad = {k: repr(v)[:80] for k, v in attributes.items() if not valid_attribute(v)}
            assert bad == {}, f"{where}: invalid attribute values {bad}"
            if content_max is None:
                continue
            for key, value in attributes.items():
                if key in JSON_CONTENT_KEYS or key in TEXT_CONTENT_KEYS:
                    assert isinstance(value, str), (where, key)
                    assert len(value) <= content_max, f"{where}: {key} has {len(value)} characters (max {content_max})"
                if key in JSON_CONTENT_KEYS:
                    strict_json(value)
    with SdkLogs() as logs:
        encoded = [encode_spans([span]) for span in spans]
    assert [r.getMessage() for r in logs] == [], "the OTLP encoder dropped attributes"
    for span, request in zip(spans, encoded, strict=True):
        size = len(request.SerializeToString())
        assert size < MAX_ENCODED_SPAN, f"{span.name}: {size} bytes encoded"
        [decoded] = decode_spans(request)
        assert set(decoded["attributes"]) == set(span.attributes or {}), span.name
        assert [set(e["attributes"]) for e in decoded["events"]] == [set(e.attributes or {}) for e in span.events]


def local_spans() -> list[ReadableSpan]:
    return list(LOCAL_EXPORTER.get_finished_spans())


def fresh_example() -> None:
    """Each hypothesis example starts from no span (function-scoped fixtures run once per test)."""
    LOCAL_EXPORTER.clear()
    with OPEN_SPANS._lock:
        OPEN_SPANS.open.clear()


# --- strategies -----------------------------------------------------------------------------------


class BrokenError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ of the error raised")


def a_tool(city: str) -> str:
    """Look up the weather."""
    return city


FIELDS = (
    "id",
    "call_id",
    "tool_call_id",
    "name",
    "type",
    "function",
    "arguments",
    "args",
    "role",
    "content",
    "text",
    "tool_calls",
    "input",
    "output",
    "prompt_tokens",
    "completion_tokens",
    "input_tokens",
    "output_tokens",
    "description",
    "blocks",
    "additional_kwargs",
)
HEADER_NAMES = (
    "x-request-id",
    "request-id",
    "anthropic-request-id",
    "openai-processing-ms",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "anthropic-ratelimit-input-tokens-remaining",
    "ratelimit-limit",
    "retry-after",
    "retry_after",
    "remaining_requests",
    "limit-tokens",
)
SECRET_HEADER_NAMES = (
    "authorization",
    "Authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "proxy-authorization",
)

huge_ints = st.integers(min_value=2**63 - 2, max_value=2**70) | st.integers(max_value=-(2**63) + 1)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=16),
    st.sampled_from(["stop", "assistant", "tool", '{"city": "Paris"}', "{not json", '{"x": NaN}']),
    st.builds(Hostile),
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), children, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS), children, max_size=4).map(Attrs),
    ),
    max_leaves=8,
)
"""Anything: scalars, hostile objects, and lists/dicts/attribute objects of them."""

big = st.sampled_from([BIG_TEXT, BIG_BYTES])
texts = st.text(max_size=40) | st.binary(max_size=40) | big
counts = st.one_of(
    st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64, math.nan, math.inf, 1.5, "12", "-3", None, True]),
    st.integers(),
    huge_ints,
    st.text(max_size=4),
    st.builds(Hostile),
)
usage_maps = st.fixed_dictionaries(
    {},
    optional={
        "input": counts,
        "output": counts,
        "prompt_tokens": counts,
        "completion_tokens": counts,
        "input_tokens": counts,
        "output_tokens": counts,
        "cache_read_input_tokens": counts,
        "prompt_tokens_details": st.fixed_dictionaries({}, optional={"cached_tokens": counts}) | junk,
    },
)
usages = usage_maps | usage_maps.map(Attrs) | junk
header_keys = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.text(max_size=30),
    st.binary(max_size=10),
    st.integers(),
    st.none(),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.builds(Hostile),
)
header_values = st.one_of(
    texts, st.integers(), huge_ints, st.floats(), st.lists(st.text(max_size=10), max_size=2), junk
)
secret_headers = st.dictionaries(st.sampled_from(SECRET_HEADER_NAMES), st.sampled_from(FAKE_SECRETS), max_size=4)
headers = st.one_of(
    st.builds(lambda a, b: {**a, **b}, st.dictionaries(header_keys, header_values, max_size=8), secret_headers),
    junk,
)
tool_calls = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.text(max_size=8) | junk,
            "name": st.sampled_from(["search", "calc"]) | junk,
            "type": st.sampled_from(["function", "datastore"]) | junk,
            "arguments": texts | junk,
            "args": junk,
            "function": st.fixed_dictionaries({}, optional={"name": junk, "arguments": texts | junk}) | junk,
        },
    ),
    st.dictionaries(st.sampled_from(FIELDS), junk, max_size=4).map(Attrs),
    junk,
)
functions = st.one_of(
    st.none(), st.just(a_tool), st.builds(Attrs, st.fixed_dictionaries({"name": junk, "description": junk})), junk
)
errors = st.one_of(
    st.builds(ValueError, st.text(max_size=40)),
    st.builds(BrokenError),
    st.text(max_size=40),
    junk,
)
contents = st.one_of(
    texts,
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "image_url", "input_audio", "bogus"])},
            optional={"text": texts, "image_url": junk},
        )
        | junk,
        max_size=3,
    ),
    junk,
)
messages = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["user", "assistant", "tool", "system"]) | junk,
            "content": contents,
            "tool_calls": st.lists(tool_calls, max_size=2) | junk,
            "name": junk,
        },
    ),
    texts,
    junk,
)
deltas = st.lists(st.text(max_size=20) | st.fixed_dictionaries({"content": junk}) | junk, max_size=3) | junk

CALLBACK_ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "on_llm_new_delta": st.tuples(deltas),
    "on_llm_new_message": st.tuples(messages),
    "on_llm_ratelimit_info": st.tuples(headers),
    "on_llm_token_usage": st.tuples(usages),
    "on_llm_response_headers": st.tuples(headers),
    "on_message_processed": st.tuples(messages),
    "on_message_processing_error": st.tuples(messages),
    "on_error_message_created": st.tuples(messages),
    "on_tool_call_identified": st.tuples(tool_calls, functions),
    "on_tool_execution_started": st.tuples(tool_calls, functions),
    "on_tool_execution_completed": st.tuples(tool_calls, junk | texts),
    "on_tool_execution_failed": st.tuples(tool_calls, errors),
    "on_tool_response_created": st.tuples(messages),
    "on_retries_exceeded": st.just(()),
    "on_a_future_callback": st.tuples(junk, junk),
}
assert set(CALLBACK_ARGUMENTS) >= set(callbacks.CALLBACK_NAMES)

Step = tuple[str, str, tuple[Any, ...]]
steps = st.lists(
    st.one_of(
        [
            st.tuples(st.just(name), st.sampled_from(["chain", "none", "stranger"]), arguments)
            for name, arguments in CALLBACK_ARGUMENTS.items()
        ]
    ),
    max_size=6,
)
"""Callback invocations: (name, which chain argument, arguments)."""

responses = st.one_of(
    st.fixed_dictionaries(
        {"id": st.just("r")},
        optional={
            "model": junk,
            "usage": usages,
            "choices": st.lists(
                st.fixed_dictionaries({"index": st.just(0)}, optional={"message": messages, "finish_reason": junk}),
                max_size=2,
            ),
        },
    ),
    junk,
)


def fire(handler: callbacks.TracingHandler, name: str, which: str, chain: Chain, args: tuple[Any, ...]) -> None:
    """Call the handler method directly: ``callbacks.fire`` would swallow what escapes it."""
    target = {"chain": chain, "none": None, "stranger": Chain("stranger", 0)}[which]
    getattr(handler, name)(target, *args)


@llmotel.trace_chat(provider="openai", tracer_provider=LOCAL_PROVIDER)
def scripted_llm(handler: callbacks.TracingHandler, chain: Chain, script: list[Step], **kwargs: Any) -> Any:
    for name, which, args in script:
        fire(handler, name, which, chain, args)
    return kwargs["response"]


class Model:
    """A chat client with arbitrary configuration fields (llmotel reads them from ``__dict__``)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)

    @llmotel.trace_chat(provider="openai", tracer_provider=LOCAL_PROVIDER)
    def chat(self, **kwargs: Any) -> Any:
        return kwargs.get("response")


def run_script(before: list[Step], inside: list[Step], after: list[Step], llm_kwargs: dict[str, Any]) -> None:
    """A chain span; callbacks before, during (inside the decorated LLM call) and after the call."""
    chain = Chain("bad", 0)
    handler = callbacks.TracingHandler(tracer_provider=LOCAL_PROVIDER)
    with llmotel.trace_chain("bad-input", chain=chain, tracer_provider=LOCAL_PROVIDER):
        for name, which, args in before:
            fire(handler, name, which, chain, args)
        scripted_llm(handler, chain, inside, **llm_kwargs)
        for name, which, args in after:
            fire(handler, name, which, chain, args)


def check_run(capture: bool) -> list[ReadableSpan]:
    assert OPEN_SPANS.open == {}, f"spans never ended: {OPEN_SPANS.open}"
    spans = local_spans()
    names = [s.name for s in spans]
    assert names.count("invoke_workflow bad-input") == 1
    assert sum(s.name.startswith("chat") for s in spans) == 1
    assert all(s.end_time is not None for s in spans)
    check_exportable(spans, CONTENT_MAX if capture else None)
    if not capture:  # no content anywhere without capture
        for span in spans:
            keys = set(span.attributes or {}) | {k for e in span.events for k in (e.attributes or {})}
            assert not keys & (JSON_CONTENT_KEYS | TEXT_CONTENT_KEYS), span.name
    return spans


@pytest.mark.parametrize("capture", [False, True])
@PROPERTY_SETTINGS
@given(
    before=steps,
    inside=steps,
    after=steps,
    llm_messages=st.lists(messages, max_size=3) | messages,
    llm_response=responses,
    extra=st.fixed_dictionaries(
        {}, optional={"extra_headers": headers, "system": contents, "temperature": counts, "max_tokens": counts}
    ),
)
def test_any_callback_arguments_leave_every_span_ended_and_exportable(
    env: Any,
    capture: bool,
    before: list[Step],
    inside: list[Step],
    after: list[Step],
    llm_messages: Any,
    llm_response: Any,
    extra: dict[str, Any],
) -> None:
    production(env, capture)
    fresh_example()
    with SdkLogs() as sdk_logs:
        run_script(before, inside, after, {"messages": llm_messages, "response": llm_response, **extra})
    assert [r.getMessage() for r in sdk_logs] == []  # no invalid attribute, no call on an ended span
    check_run(capture)


HEADER_FACT = re.compile(
    r"llmotel\.(response\.(request_id|processing_ms)"
    r"|ratelimit\.(requests|tokens|input_tokens|output_tokens)\.(limit|remaining|reset)|ratelimit\.retry_after)"
)


@pytest.mark.parametrize("capture", [False, True])
@PROPERTY_SETTINGS
@given(response_headers=headers, ratelimit_info=headers)
def test_any_header_map_yields_only_allow_listed_bounded_facts(
    env: Any, capture: bool, response_headers: Any, ratelimit_info: Any
) -> None:
    production(env, capture)
    fresh_example()
    script = [
        ("on_llm_response_headers", "chain", (response_headers,)),
        ("on_llm_ratelimit_info", "chain", (ratelimit_info,)),
    ]
    run_script([], script, script, {"messages": "hi", "response": {"id": "r"}})
    spans = check_run(capture)
    baseline = {sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_RESPONSE_ID, sc.LLMOTEL_USAGE_UNKNOWN}
    baseline |= {sc.GEN_AI_WORKFLOW_NAME, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES}
    for span in spans:
        recorded = dict(span.attributes or {})
        for event in span.events:
            recorded.update(event.attributes or {})
        facts = {k: v for k, v in recorded.items() if k not in baseline}
        assert [k for k in facts if not HEADER_FACT.fullmatch(k)] == [], span.name
        assert all(len(v) <= 128 for v in facts.values() if isinstance(v, str)), facts
    leaks = [s for s in FAKE_SECRETS for span in spans if s in json.dumps(dict(span.attributes or {}), default=repr)]
    assert leaks == []


@pytest.mark.parametrize("capture", [False, True])
@PROPERTY_SETTINGS
@given(
    fields=st.dictionaries(
        st.sampled_from(["model", "base_url", "api_base", "temperature", "max_tokens", "endpoint"])
        | st.text(max_size=8),
        junk | st.text(max_size=40) | st.binary(max_size=40),
        max_size=5,
    ),
    llm_messages=st.lists(messages, max_size=3) | messages,
    llm_response=responses,
)
def test_any_messages_and_model_fields_through_the_decorator(
    env: Any, capture: bool, fields: dict[str, Any], llm_messages: Any, llm_response: Any
) -> None:
    production(env, capture)
    fresh_example()
    with SdkLogs() as sdk_logs:
        assert Model(fields).chat(messages=llm_messages, response=llm_response) is llm_response
    assert [r.getMessage() for r in sdk_logs] == []
    assert OPEN_SPANS.open == {}
    [span] = local_spans()
    check_exportable([span], CONTENT_MAX if capture else None)


# --- 1 MB content, each path that records content ---------------------------------------------


@llmotel.trace_chat(provider="openai", model="m", tracer_provider=LOCAL_PROVIDER)
def plain_llm(
    messages: Any, reply: Any = "ok", system: Any = None, chain: Any = None, handler: Any = None, callback: Any = None
) -> Any:
    if callback is not None:
        callback(handler, chain)
    return {
        "id": "r",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
    }


@llmotel.trace_chat(provider="openai", model="m", tracer_provider=LOCAL_PROVIDER)
def streamed_llm(messages: Any) -> Iterator[Any]:
    yield {"id": "r", "choices": [{"index": 0, "delta": {"role": "assistant", "content": BIG_TEXT}}]}
    yield {"id": "r", "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}]}


BIG_PATHS: dict[str, Callable[[callbacks.TracingHandler, Chain], None]] = {
    "input message": lambda h, c: plain_llm([{"role": "user", "content": BIG_TEXT}]),
    "binary input message": lambda h, c: plain_llm([{"role": "user", "content": BIG_BYTES}]),
    "image part": lambda h, c: plain_llm(
        [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + BIG_TEXT}}],
            }
        ]
    ),
    "system instructions": lambda h, c: plain_llm("hi", system=BIG_TEXT),
    "output message": lambda h, c: plain_llm("hi", reply=BIG_TEXT),
    "stream chunk": lambda h, c: list(streamed_llm("hi")),
    "callback message": lambda h, c: h.on_llm_new_message(c, {"role": "assistant", "content": BIG_TEXT}),
    "callback delta": lambda h, c: plain_llm(
        "hi", chain=c, handler=h, callback=lambda h2, c2: h2.on_llm_new_delta(c2, [BIG_TEXT])
    ),
    "tool arguments and result": lambda h, c: (
        h.on_tool_execution_started(c, {"id": "1", "name": "t", "arguments": BIG_TEXT}),
        h.on_tool_execution_completed(c, {"id": "1", "name": "t"}, BIG_TEXT),
    ),
    "tool response message": lambda h, c: h.on_tool_response_created(c, {"role": "tool", "content": BIG_TEXT}),
}


@pytest.mark.parametrize("path", list(BIG_PATHS))
def test_a_1mb_content_is_bounded_by_the_content_max_length_and_exportable(env: Any, path: str) -> None:
    # LLMOTEL_CONTENT_MAX_LENGTH unset (default 16384) and no SDK attribute-length limit.
    production(env, capture=True, max_length=None)
    assert os.environ.get("LLMOTEL_CONTENT_MAX_LENGTH") is None
    chain = Chain("big", 0)
    handler = callbacks.TracingHandler(tracer_provider=LOCAL_PROVIDER)
    with llmotel.trace_chain("big-content", chain=chain, tracer_provider=LOCAL_PROVIDER):
        BIG_PATHS[path](handler, chain)
    spans = local_spans()
    recorded = [
        k
        for s in spans
        for k in [*(s.attributes or {}), *(k for e in s.events for k in (e.attributes or {}))]
        if k in JSON_CONTENT_KEYS | TEXT_CONTENT_KEYS
    ]
    assert recorded, "content capture recorded nothing on this path"
    check_exportable(spans, DEFAULT_CONTENT_MAX)


def test_content_with_lone_surrogates_stays_exportable(env: Any) -> None:
    """Text decoded from binary with ``surrogateescape`` (file names, raw bytes) holds lone
    surrogates, which UTF-8, hence protobuf, cannot encode."""
    production(env, capture=True)
    raw = b"report \xff\xfe.pdf".decode("utf-8", "surrogateescape")
    plain_llm([{"role": "user", "content": raw}], reply=raw)
    check_exportable(local_spans(), CONTENT_MAX)


def test_chain_token_totals_stay_exportable(env: Any) -> None:
    """Each reported count fits an int64; the chain span's running total of them must too."""
    production(env, capture=False)
    chain = Chain("totals", 0)
    handler = callbacks.TracingHandler(tracer_provider=LOCAL_PROVIDER)
    with llmotel.trace_chain("totals", chain=chain, tracer_provider=LOCAL_PROVIDER):
        for _ in range(2):
            handler.on_llm_token_usage(chain, {"input_tokens": 2**63 - 1, "output_tokens": 1})
    check_exportable(local_spans())


def test_huge_identifiers_keep_spans_exportable(env: Any) -> None:
    """1 MB identifiers from a broken or hostile upstream (response id, model, finish reason, tool
    call name and id): llmotel's own bounds, not the SDK's optional limit, must keep each span
    encodable well within a collector's request size."""
    production(env, capture=False)
    chain = Chain("ids", 0)
    handler = callbacks.TracingHandler(tracer_provider=LOCAL_PROVIDER)

    @llmotel.trace_chat(provider="openai", tracer_provider=LOCAL_PROVIDER)
    def chat(messages: Any, **kwargs: Any) -> Any:
        choice = {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": BIG_TEXT}
        return {"id": BIG_TEXT, "model": BIG_TEXT, "choices": [choice]}

    with llmotel.trace_chain("ids", chain=chain, tracer_provider=LOCAL_PROVIDER):
        chat([], model=BIG_TEXT)
        handler.on_tool_execution_started(chain, {"id": BIG_TEXT, "name": BIG_TEXT}, None)
        handler.on_tool_execution_completed(chain, {"id": BIG_TEXT, "name": BIG_TEXT}, "ok")
    spans = local_spans()
    oversized = {
        (span.name[:20], key): len(value)
        for span in spans
        for key, value in (span.attributes or {}).items()
        if isinstance(value, str) and len(value) > DEFAULT_CONTENT_MAX
    }
    oversized.update(
        {(span.name[:20], "span name"): len(span.name) for span in spans if len(span.name) > DEFAULT_CONTENT_MAX}
    )
    assert oversized == {}
    check_exportable(spans)


def test_a_tool_error_or_result_that_cannot_be_printed_still_ends_the_tool_span(env: Any) -> None:
    """A tool error or result whose ``str()`` raises: the tool span must still end (once popped from
    the open tools, nothing else will ever end it, not even the end of the chain)."""
    production(env, capture=True)
    chain = Chain("unprintable", 0)
    handler = callbacks.TracingHandler(tracer_provider=LOCAL_PROVIDER)
    with llmotel.trace_chain("unprintable", chain=chain, tracer_provider=LOCAL_PROVIDER):
        for call_id, outcome, value in [
            ("1", "failed", BrokenError()),
            ("2", "failed", Hostile()),
            ("3", "completed", Hostile()),
        ]:
            call = {"id": call_id, "name": f"tool-{call_id}"}
            handler.on_tool_execution_started(chain, call, None)
            getattr(handler, f"on_tool_execution_{outcome}")(chain, call, value)
    assert OPEN_SPANS.open == {}, f"spans never ended: {sorted(OPEN_SPANS.open.values())}"
    assert sorted(s.name for s in local_spans()) == [
        "execute_tool tool-1",
        "execute_tool tool-2",
        "execute_tool tool-3",
        "invoke_workflow unprintable",
    ]


@pytest.mark.parametrize("shape", ["with", "async with", "decorator", "async decorator"])
def test_a_user_exception_whose_str_raises_leaves_the_chain_unchanged(env: Any, shape: str) -> None:
    """The user's exception is theirs: ``trace_chain`` may not replace it with its own error while
    describing it, and the chain span must still end, with ERROR."""
    production(env, capture=False)
    raised = BrokenError()

    def body() -> None:
        raise raised

    async def abody() -> None:
        await asyncio.sleep(0)
        raise raised

    async def in_async_with() -> None:
        async with llmotel.trace_chain("broken", tracer_provider=LOCAL_PROVIDER):
            await abody()

    with pytest.raises(BrokenError) as caught:
        if shape == "with":
            with llmotel.trace_chain("broken", tracer_provider=LOCAL_PROVIDER):
                body()
        elif shape == "async with":
            asyncio.run(in_async_with())
        elif shape == "decorator":
            llmotel.trace_chain("broken", tracer_provider=LOCAL_PROVIDER)(body)()
        else:
            asyncio.run(llmotel.trace_chain("broken", tracer_provider=LOCAL_PROVIDER)(abody)())
    assert caught.value is raised
    assert OPEN_SPANS.open == {}, f"spans never ended: {sorted(OPEN_SPANS.open.values())}"
    [span] = local_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[sc.ERROR_TYPE].endswith("BrokenError")


# ==================================================================================================
# Part 4: secrets, in-process (global provider: the conftest scanner and an explicit scan)
# ==================================================================================================

SECRET_HEADER_MAP = {
    "Authorization": "Bearer test-bearer-token-789",
    "proxy-authorization": "Basic hunter2-password",
    "Cookie": "session=hunter2-password",
    "set-cookie": "sid=hunter2-password; HttpOnly",
    "x-api-key": "sk-test-secret-key-123",
    "api-key": "sk-ant-test-secret-456",
    "x-goog-api-key": "sk-test-secret-key-123",
    "x-request-id": "req-7",
    "x-ratelimit-remaining-tokens": "900",
}


class SecretError(Exception):
    """An SDK-style HTTP error: the request and response headers travel on the exception."""

    def __init__(self) -> None:
        super().__init__("401 Unauthorized")
        self.headers = SECRET_HEADER_MAP
        self.request = Attrs({"headers": SECRET_HEADER_MAP, "url": SECRET_QUERY_URL})


def secret_client(**fields: Any) -> Any:
    class SecretClient:
        def __init__(self) -> None:
            self.model = "gpt-secret"
            self.__dict__.update(fields)

        @llmotel.trace_chat(provider="openai")
        def chat(self, messages: Any, **kwargs: Any) -> Any:
            return {
                "id": "r",
                "model": "gpt-secret",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            }

    return SecretClient()


def _headers_everywhere(handlers: callbacks.Callbacks, chain: Chain) -> None:
    handlers.fire("on_llm_response_headers", chain, SECRET_HEADER_MAP)  # chain span
    handlers.fire("on_llm_ratelimit_info", chain, SECRET_HEADER_MAP)

    @llmotel.trace_chat(provider="openai", model="m")
    def call() -> Any:
        handlers.fire("on_llm_response_headers", chain, SECRET_HEADER_MAP)  # LLM span
        handlers.fire("on_llm_ratelimit_info", chain, {k.replace("-", "_"): v for k, v in SECRET_HEADER_MAP.items()})
        return {"id": "r"}

    call()


def _headers_without_chain(handlers: callbacks.Callbacks, chain: Chain) -> None:
    from opentelemetry import trace

    with trace.get_tracer("tests").start_as_current_span("app"):  # the current span gets them
        handlers.fire("on_llm_response_headers", None, SECRET_HEADER_MAP)
        handlers.fire("on_llm_ratelimit_info", None, SECRET_HEADER_MAP)


def _request_keys_and_headers(handlers: callbacks.Callbacks, chain: Chain) -> None:
    secret_client().chat(
        [{"role": "user", "content": "hi"}],
        api_key="sk-test-secret-key-123",
        headers=SECRET_HEADER_MAP,
        extra_headers=SECRET_HEADER_MAP,
        default_headers=SECRET_HEADER_MAP,
        extra_query={"api-key": "hunter2-password"},
        authorization="Bearer test-bearer-token-789",
    )


def _client_keys_and_headers(handlers: callbacks.Callbacks, chain: Chain) -> None:
    secret_client(
        api_key="sk-test-secret-key-123",
        openai_api_key="sk-test-secret-key-123",
        anthropic_api_key="sk-ant-test-secret-456",
        azure_ad_token="Bearer test-bearer-token-789",
        access_token="test-bearer-token-789",
        password="hunter2-password",
        cookie="session=hunter2-password",
        default_headers=SECRET_HEADER_MAP,
        default_query={"api-key": "hunter2-password"},
        proxy="http://user:hunter2-password@proxy.local:8080",
    ).chat([{"role": "user", "content": "hi"}])


def _client_endpoint_with_key_in_query(handlers: callbacks.Callbacks, chain: Chain) -> None:
    secret_client(base_url=SECRET_QUERY_URL, azure_endpoint=SECRET_QUERY_URL).chat([{"role": "user", "content": "hi"}])


def _tool_calls_and_errors(handlers: callbacks.Callbacks, chain: Chain) -> None:
    call = {
        "id": "c1",
        "name": "fetch",
        "arguments": '{"q": "weather"}',
        "headers": SECRET_HEADER_MAP,
        "api_key": "sk-test-secret-key-123",
    }
    function = Attrs(
        {
            "name": "fetch",
            "description": "Fetch a page.",
            "api_key": "sk-test-secret-key-123",
            "headers": SECRET_HEADER_MAP,
        }
    )
    handlers.fire("on_tool_call_identified", chain, call, function)
    handlers.fire("on_tool_execution_started", chain, call, function)
    handlers.fire("on_tool_execution_completed", chain, call, Attrs({"content": "sunny", "headers": SECRET_HEADER_MAP}))
    call2 = {**call, "id": "c2"}
    handlers.fire("on_tool_execution_started", chain, call2, function)
    handlers.fire("on_tool_execution_failed", chain, call2, SecretError())


def _messages_and_usage(handlers: callbacks.Callbacks, chain: Chain) -> None:
    message = {
        "role": "assistant",
        "content": "done",
        "api_key": "sk-test-secret-key-123",
        "headers": SECRET_HEADER_MAP,
    }
    for name in (
        "on_llm_new_message",
        "on_message_processed",
        "on_message_processing_error",
        "on_error_message_created",
    ):
        handlers.fire(name, chain, message)
    handlers.fire("on_tool_response_created", chain, {**message, "role": "tool"})
    handlers.fire(
        "on_llm_token_usage",
        chain,
        {"input_tokens": 1, "output_tokens": 2, "authorization": "Bearer test-bearer-token-789"},
    )
    handlers.fire("on_llm_new_delta", chain, [{"content": "x", "api_key": "sk-test-secret-key-123"}])
    handlers.fire("on_a_future_callback", chain, SECRET_HEADER_MAP, SecretError())


SECRET_PLACES: dict[str, Callable[[callbacks.Callbacks, Chain], None]] = {
    "response headers and rate-limit info": _headers_everywhere,
    "headers outside any chain": _headers_without_chain,  # run without a chain span
    "request keys and headers": _request_keys_and_headers,
    "client keys and headers": _client_keys_and_headers,
    "client endpoint with api-key query": _client_endpoint_with_key_in_query,
    "tool calls and errors": _tool_calls_and_errors,
    "messages, usage and unknown callbacks": _messages_and_usage,
}


@pytest.mark.parametrize("capture", [False, True])
@pytest.mark.parametrize("place", list(SECRET_PLACES))
def test_callback_and_header_secrets_never_reach_a_span(env: Any, place: str, capture: bool) -> None:
    production(env, capture)
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    chain = Chain("secret", 0)
    if place == "headers outside any chain":
        SECRET_PLACES[place](handlers, chain)
    else:
        with llmotel.trace_chain("secret-chain", chain=chain):
            SECRET_PLACES[place](handlers, chain)
    assert callbacks.handler_error_counts() == {}
    assert llmotel.internal_error_counts() == {}
    spans = finished()
    assert spans
    found = []
    for span in spans:
        texts = [span.name, span.status.description or "", json.dumps(dict(span.attributes or {}), default=repr)]
        texts += [e.name + json.dumps(dict(e.attributes or {}), default=repr) for e in span.events]
        found += [f"{span.name}: {secret!r}" for secret in FAKE_SECRETS for text in texts if secret in text]
    found += SECRET_SCANNER.violations
    SECRET_SCANNER.violations.clear()  # reported here, as this test's failure
    assert found == []
