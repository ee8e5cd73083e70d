"""Faults and load (issue 17): what ``test_reliability.py`` does not already prove.

Collector faults (subprocess apps against the in-test receivers of ``helpers.otlp_receiver``):

- a *slow* collector (every export answered 0.3 s late): the caller's latency stays in the
  healthy range and every span still arrives;
- a collector *restarted mid-run*, while the app keeps calling: every span made before the stop
  and after the restart arrives exactly once; only spans made during the outage may be lost;
- ``os.fork()`` after ``configure()``: the child exports its own spans, the spans queued in the
  parent at fork time are exported once (by the parent, never again by the child).

Load (in-process, a private ``TracerProvider`` whose processor keeps only each span's ids, so 64,000
spans cost a few MB): 64 threads x 1,000 decorated calls and 1,000 concurrent async streams; every
span is present once, under its own parent, in its parent's trace.

Hostile input (hypothesis, production mode ``LLMOTEL_STRICT=0``): every extractor class of
``llmotel.extract`` and ``llmotel.integrations`` drives a decorated call, stream and failing call
whose arguments, instance, result, chunks and exception are hostile objects (properties that raise,
self-containing lists/dicts/objects, 1 MB strings, non-UTF-8 bytes, lone surrogates). No exception
escapes, the caller gets its own result / chunks / exception object back, exactly one span ends.

Nothing here sleeps to synchronize: the subprocesses talk a line protocol on stdin/stdout and the
receivers' ``wait_for_*`` methods block on a condition. (The restart app paces its calls with a
1 ms sleep so the batch queue is not overrun by design; that is load shaping, not synchronization.)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import pkgutil
import queue
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

import llmotel
import llmotel.integrations
from helpers.checks import SdkLogs
from helpers.collector import Receiver, clean_env, make_receiver, protocol_of
from helpers.objects import Attrs, Hostile
from llmotel import semconv as sc
from llmotel.extract import Extractor

# ==================================================================================================
# Part 1: collector faults, in a subprocess
# ==================================================================================================

LINE_TIMEOUT = 30.0
PROCESS_TIMEOUT = 45.0
P99_SLACK_MS = 10  # see test_reliability.P99_SLACK_MS: one GIL switch interval while a batch is encoded

APP = r"""
import json, logging, os, sys, threading, time
import llmotel

PLAN = json.loads(os.environ["FAULTS_PLAN"])
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class SdkLog(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0
        self.failed = threading.Event()

    def emit(self, record):
        self.count += 1
        if ".exporter." in record.name:
            self.failed.set()


SDK_LOG = SdkLog()
logging.getLogger("opentelemetry").addHandler(SDK_LOG)


@llmotel.trace_chat(provider="openai")
def chat(messages, model):
    return {"id": "r", "model": model, "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "ok"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def emit(keyword, value):
    print(keyword + " " + json.dumps(value), flush=True)


def stats(latencies):
    ordered = sorted(latencies)
    at = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1e6
    return {"calls": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": ordered[-1] / 1e6}


configured = llmotel.configure()
MESSAGES = [{"role": "user", "content": "hi"}]

if PLAN["kind"] == "timed":
    for _ in range(200):
        chat(MESSAGES, model="warmup")
    rss_start = rss_max = rss()
    latencies = []
    for i in range(PLAN["calls"]):
        started = time.perf_counter_ns()
        chat(MESSAGES, model="timed")
        latencies.append(time.perf_counter_ns() - started)
        if i % 500 == 499:
            rss_max = max(rss_max, rss())
    flushed = configured.tracer_provider.force_flush(30000)
    emit("RESULT", {**stats(latencies), "rss_growth_mb": (rss_max - rss_start) / 2**20, "flushed": flushed,
                    "sdk_warnings": SDK_LOG.count, "internal_errors": llmotel.internal_error_counts()})

elif PLAN["kind"] == "restart":
    # calls in a loop; the test moves the phase (and the collector) from stdin while calls go on
    phase, stop, made = [0], threading.Event(), {}

    def control():
        for line in sys.stdin:
            word = line.split()
            if word[0] == "phase":
                phase[0] = int(word[1])
                emit("AT", {"phase": phase[0]})
            elif word[0] == "await_failure":
                SDK_LOG.failed.clear()
                emit("FAILED", {"seen": SDK_LOG.failed.wait(20)})
            elif word[0] == "stop":
                stop.set()
                return

    threading.Thread(target=control, daemon=True).start()
    while not stop.is_set():
        current = phase[0]
        chat(MESSAGES, model="phase-%d" % current)
        made[current] = made.get(current, 0) + 1
        time.sleep(PLAN["pace_s"])  # load shaping: stay under the exporter's throughput
    emit("RESULT", {"made": made, "flushed": configured.tracer_provider.force_flush(20000),
                    "internal_errors": llmotel.internal_error_counts()})

elif PLAN["kind"] == "fork":
    for _ in range(PLAN["before"]):
        chat(MESSAGES, model="before-fork")  # queued (long schedule delay) when the fork happens
    pid = os.fork()
    if pid == 0:
        for _ in range(PLAN["child"]):
            chat(MESSAGES, model="child")
        ok = configured.tracer_provider.force_flush(20000)
        emit("CHILD", {"pid": os.getpid(), "flushed": ok, "internal_errors": llmotel.internal_error_counts()})
        sys.exit(0)  # a normal exit: atexit (configure()'s shutdown) runs in the child too
    _, status = os.waitpid(pid, 0)
    for _ in range(PLAN["after"]):
        chat(MESSAGES, model="parent-after")
    ok = configured.tracer_provider.force_flush(20000)
    emit("RESULT", {"child_status": status, "flushed": ok, "internal_errors": llmotel.internal_error_counts()})
"""


def app_env(receiver: Receiver, plan: dict[str, Any], **values: str) -> dict[str, str]:
    settings_ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol_of(receiver),
        "OTEL_SERVICE_NAME": "faults-app",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_BSP_MAX_QUEUE_SIZE": "2048",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "256",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        "FAULTS_PLAN": json.dumps(plan),
    }
    return clean_env(**{**settings_, **values})


class App:
    """The app subprocess: ``KEYWORD {json}`` lines on stdout, commands on stdin, always reaped."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._out, daemon=True),
            threading.Thread(target=self._err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def expect(self, keyword: str) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no {keyword} line within {LINE_TIMEOUT}s; stderr:\n{self.err}") from None
        assert line is not None, f"the app ended before {keyword}; stderr:\n{self.err}"
        assert line.startswith(keyword + " "), f"expected {keyword}, got {line!r}; stderr:\n{self.err}"
        value: dict[str, Any] = json.loads(line[len(keyword) + 1 :])
        return value

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=PROCESS_TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=PROCESS_TIMEOUT)
        assert "Traceback" not in self.err, self.err
        return code

    @property
    def err(self) -> str:
        return "".join(self.stderr)

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # only the child this object started
            self.proc.wait(timeout=PROCESS_TIMEOUT)


def named(receiver: Receiver, name: str) -> list[dict[str, Any]]:
    return [s for s in receiver.spans() if s["name"] == name]


def wait_for_named(receiver: Receiver, name: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Block on the receiver's condition (never sleeping) until ``count`` spans named ``name`` arrived."""
    deadline = time.monotonic() + timeout
    while True:
        total = len(receiver.spans())
        spans = named(receiver, name)
        if len(spans) >= count:
            return spans
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{len(spans)}/{count} {name!r} spans arrived; {receiver!r}"
        receiver.wait_for_spans(total + 1, timeout=remaining)


def timed_run(receiver: Receiver, calls: int) -> dict[str, Any]:
    with App(app_env(receiver, {"kind": "timed", "calls": calls})) as app:
        result = app.expect("RESULT")
        assert app.finish() == 0, app.err
    assert result["internal_errors"] == {}
    return result


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_slow_collector_does_not_slow_the_caller_and_gets_every_span(transport: str) -> None:
    calls = 1500  # + 200 warm-up calls: below the 2,048-span queue, so no span may be dropped
    with make_receiver(transport) as healthy_receiver:
        healthy = timed_run(healthy_receiver, calls)
        wait_for_named(healthy_receiver, "chat timed", calls)
    with make_receiver(transport, "slow") as receiver:
        slow = timed_run(receiver, calls)  # times its calls, then force_flush()
        # 1,700 spans in batches of 256: 7+ exports, each answered 0.3 s late, all delivered
        spans = wait_for_named(receiver, "chat timed", calls)
    print(f"\n{transport} slow: {slow} (healthy: {healthy})")
    assert len({s["span_id"] for s in spans}) == calls
    assert slow["calls"] == calls
    assert slow["flushed"] is True and slow["sdk_warnings"] == 0  # late, not failed: nothing dropped
    assert slow["p99_ms"] < 5 * healthy["p99_ms"] + P99_SLACK_MS
    assert slow["max_ms"] < 150  # a call that waited for one slow export would take >= 300 ms
    assert slow["rss_growth_mb"] < 24


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_collector_restarted_mid_run_gets_every_span_made_outside_the_outage(transport: str) -> None:
    plan = {"kind": "restart", "pace_s": 0.001}
    # a 10 s export deadline: a batch that met the dead collector is retried until it comes back
    with make_receiver(transport) as receiver, App(app_env(receiver, plan, OTEL_EXPORTER_OTLP_TIMEOUT="10")) as app:
        before = wait_for_named(receiver, "chat phase-0", 100)  # the app is calling, spans arrive
        assert before
        receiver.stop()
        app.send("phase 1")
        assert app.expect("AT")["phase"] == 1
        app.send("await_failure")  # the exporter meets the dead collector while calls go on
        assert app.expect("FAILED")["seen"] is True
        receiver.start()  # same port, calls still going
        app.send("phase 2")
        assert app.expect("AT")["phase"] == 2
        wait_for_named(receiver, "chat phase-2", 200)
        app.send("stop")
        result = app.expect("RESULT")
        assert app.finish() == 0, app.err
        spans = receiver.spans()
    made = {int(k): v for k, v in result["made"].items()}
    got = {p: sum(s["name"] == f"chat phase-{p}" for s in spans) for p in (0, 1, 2)}
    print(f"\n{transport} restart: made {made}, delivered {got}, lost during the outage {made.get(1, 0) - got[1]}")
    assert result["flushed"] is True
    assert result["internal_errors"] == {}
    assert len({s["span_id"] for s in spans}) == len(spans)  # nothing delivered twice
    assert got[0] == made[0]  # everything before the stop (the batches in flight were retried)
    assert got[2] == made[2]  # everything after the restart
    assert got[1] <= made[1]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_a_child_forked_after_configure_exports_its_own_spans(transport: str) -> None:
    plan = {"kind": "fork", "before": 20, "child": 50, "after": 30}
    with make_receiver(transport) as receiver:
        env = app_env(receiver, plan, OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="512")
        with App(env) as app:
            child = app.expect("CHILD")
            result = app.expect("RESULT")
            assert app.finish() == 0, app.err
        wait_for_named(receiver, "chat parent-after", 30)
        spans = receiver.spans()
    print(f"\n{transport} fork: child {child}, parent {result}")
    assert child["flushed"] is True and result["flushed"] is True
    assert result["child_status"] == 0
    assert child["internal_errors"] == {} and result["internal_errors"] == {}
    counts = {name: sum(s["name"] == name for s in spans) for name in {s["name"] for s in spans}}
    # the 20 spans queued at fork time are sent once (by the parent), not copied by the child
    assert counts == {"chat before-fork": 20, "chat child": 50, "chat parent-after": 30}
    assert len({s["span_id"] for s in spans}) == len(spans)
    # every span is its own trace root (no parent), so a clone of the parent's ids would show here
    assert all(s["parent_span_id"] is None for s in spans)
    assert len({s["trace_id"] for s in spans}) == len(spans)


# ==================================================================================================
# Part 2: load, in-process, on a private provider that keeps only ids
# ==================================================================================================


class Ids(SpanProcessor):
    """(name, span id, parent span id, trace id, status, attributes subset) of every ended span,
    and the spans started and not ended."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ended: list[tuple[str, int, int | None, int, StatusCode, Any]] = []
        self.open: set[int] = set()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self.lock:
            self.open.add(span.context.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        row = (
            span.name,
            span.context.span_id,
            span.parent.span_id if span.parent else None,
            span.context.trace_id,
            span.status.status_code,
            (attributes.get(sc.GEN_AI_REQUEST_MODEL), attributes.get(sc.LLMOTEL_STREAM_CHUNKS)),
        )
        with self.lock:
            self.ended.append(row)
            self.open.discard(span.context.span_id)

    def clear(self) -> None:
        with self.lock:
            self.ended.clear()
            self.open.clear()


IDS = Ids()
PROVIDER = TracerProvider(shutdown_on_exit=False)
PROVIDER.add_span_processor(IDS)
TRACER = PROVIDER.get_tracer("test_faults")


@pytest.fixture
def ids() -> Iterator[Ids]:
    IDS.clear()
    yield IDS
    IDS.clear()


@llmotel.trace_chat(provider="openai", tracer_provider=PROVIDER)
def load_call(model: str) -> dict[str, Any]:
    return {"id": model, "model": model, "choices": [{"index": 0, "finish_reason": "stop"}]}


@llmotel.trace_chat(provider="openai", tracer_provider=PROVIDER)
async def load_stream(model: str, chunks: int) -> AsyncIterator[dict[str, Any]]:
    for i in range(chunks):
        await asyncio.sleep(0)  # hand over to the other 999 streams between chunks
        yield {"id": model, "model": model, "choices": [{"index": 0, "delta": {"content": f"{model}:{i}"}}]}


def check_parents(rows: list[Any], roots: dict[str, tuple[int, int]], children: dict[str, str]) -> None:
    """``roots``: root name -> (span id, trace id); ``children``: LLM span model -> its root's name."""
    llm = [r for r in rows if r[0].startswith("chat ")]
    assert len(llm) == len(children), f"{len(llm)} LLM spans for {len(children)} calls"
    assert len({r[1] for r in rows}) == len(rows), "a span was exported twice"
    models = [r[5][0] for r in llm]
    assert len(set(models)) == len(models) and set(models) == set(children)
    wrong = [
        r[5][0]
        for r in llm
        if (r[2], r[3]) != roots[children[r[5][0]]] or (r[4] is not StatusCode.UNSET and r[4] is not StatusCode.OK)
    ]
    assert wrong == [], f"{len(wrong)} mis-parented spans, e.g. {wrong[:5]}"


def test_64_threads_of_1000_calls_lose_and_misparent_no_span(ids: Ids) -> None:
    threads, per_thread, group = 64, 1000, 50
    barrier = threading.Barrier(threads)
    roots: dict[str, tuple[int, int]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for g in range(per_thread // group):
                with TRACER.start_as_current_span(f"root t{t}-g{g}") as root:
                    roots[f"t{t}-g{g}"] = (root.get_span_context().span_id, root.get_span_context().trace_id)
                    for i in range(group):
                        model = f"t{t}-{g * group + i}"
                        assert load_call(model=model)["id"] == model
        except BaseException as exc:  # reported below
            errors.append(exc)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch often, so the threads really interleave
    try:
        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(previous)
    assert not any(thread.is_alive() for thread in pool)
    assert errors == []
    children = {f"t{t}-{i}": f"t{t}-g{i // group}" for t in range(threads) for i in range(per_thread)}
    rows = list(ids.ended)
    assert len(rows) == threads * per_thread + len(roots)
    check_parents(rows, roots, children)
    assert ids.open == set()
    assert llmotel.internal_error_counts() == {}


async def test_1000_concurrent_async_streams_lose_and_misparent_no_span(ids: Ids) -> None:
    streams, chunks = 1000, 5
    roots: dict[str, tuple[int, int]] = {}
    all_started = asyncio.Event()
    started = 0

    async def consume(n: int) -> list[Any]:
        nonlocal started
        with TRACER.start_as_current_span(f"root s{n}") as root:
            roots[f"s{n}"] = (root.get_span_context().span_id, root.get_span_context().trace_id)
            stream = load_stream(model=f"s{n}", chunks=chunks)
            first = await stream.__anext__()
            started += 1
            if started == streams:
                all_started.set()
            await all_started.wait()  # all 1,000 streams are open at the same time
            return [first] + [chunk async for chunk in stream]

    results = await asyncio.gather(*(consume(n) for n in range(streams)))
    for n, received in enumerate(results):
        assert [c["choices"][0]["delta"]["content"] for c in received] == [f"s{n}:{i}" for i in range(chunks)]
    rows = list(ids.ended)
    assert len(rows) == 2 * streams
    check_parents(rows, roots, {f"s{n}": f"s{n}" for n in range(streams)})
    assert {r[5][1] for r in rows if r[0].startswith("chat ")} == {chunks}  # each span counted its own chunks
    assert ids.open == set()
    assert llmotel.internal_error_counts() == {}


# ==================================================================================================
# Part 3: every extractor against hostile objects (hypothesis, production mode)
# ==================================================================================================


def extractor_classes() -> list[type[Extractor]]:
    """``Extractor`` and every subclass defined in ``llmotel.integrations.*`` (package or ``_extract``)."""
    for info in pkgutil.iter_modules(llmotel.integrations.__path__):
        if info.ispkg:
            importlib.import_module(f"llmotel.integrations.{info.name}")
            with contextlib.suppress(ModuleNotFoundError):
                importlib.import_module(f"llmotel.integrations.{info.name}._extract")
    found: dict[str, type[Extractor]] = {}
    todo: list[type[Extractor]] = [Extractor]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("llmotel."):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        todo.extend(cls.__subclasses__())
    return [found[k] for k in sorted(found)]


EXTRACTORS = extractor_classes()


def test_the_fuzz_covers_every_provider_extractor() -> None:
    names = {cls.__name__ for cls in EXTRACTORS}
    for expected in ("Extractor", "OpenAIExtractor", "AnthropicExtractor", "BedrockExtractor", "CohereExtractor"):
        assert expected in names
    assert len(EXTRACTORS) >= 12, names


class HugeText(str):
    def __repr__(self) -> str:
        return f"<HugeText {len(self)}>"


class HugeBytes(bytes):
    def __repr__(self) -> str:
        return f"<HugeBytes {len(self)}>"


def self_list() -> list[Any]:
    value: list[Any] = [{"role": "user", "content": "x"}]
    value.append(value)
    return value


def self_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"role": "user", "type": "text", "text": "x"}
    value["content"] = value
    value["choices"] = [value]
    value["usage"] = value
    return value


def self_object() -> Attrs:
    value = Attrs({"model": "m", "text": "x"})
    value.__dict__.update(content=value, message=value, choices=[value], usage=value, response=value, delta=value)
    return value


class RaisingProperties:
    """Real properties (not ``__getattr__``) that raise, with the names SDK objects use."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ValueError(f"property {name} raised")

    @property
    def model(self) -> str:
        raise KeyError("model")

    @property
    def choices(self) -> list[Any]:
        raise RuntimeError("choices")

    @property
    def usage(self) -> Any:
        raise RecursionError("usage")

    def __repr__(self) -> str:
        return "RaisingProperties()"


HUGE = HugeText("\U0001f600" * (1 << 19))  # 512 Ki characters, 2 MB of UTF-8
hostile_leaves = st.one_of(
    st.builds(Hostile),
    st.builds(RaisingProperties),
    st.builds(self_list),
    st.builds(self_dict),
    st.builds(self_object),
    st.just(HUGE),
    st.just(HugeBytes(b"\xff\xfe\x80" * (1 << 18))),
    st.binary(max_size=16).map(lambda b: b + b"\xc3\x28\xff"),  # not UTF-8
    st.just("lone \ud800 surrogate \udfff"),
    st.sampled_from([None, 0, -1, 2**64, float("nan"), float("inf"), True, "", "gpt-4o", {}, []]),
)
hostile = st.recursive(
    hostile_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["role", "content", "text", "type", "model", "usage", "choices", "delta", "message"]),
            children,
            max_size=4,
        ),
        st.dictionaries(st.sampled_from(["model", "usage", "choices", "text", "content"]), children, max_size=3).map(
            Attrs
        ),
    ),
    max_leaves=6,
)
kwargs_strategy = st.dictionaries(
    st.sampled_from(
        ["model", "messages", "contents", "prompt", "input", "system", "tools", "stream", "modelId", "body"]
    ),
    hostile,
    max_size=4,
)


class HostileError(Exception):
    """The user's exception, carrying hostile facts where SDK errors carry a response."""

    def __init__(self, facts: Any) -> None:
        super().__init__("boom")
        self.response = facts
        self.status_code = facts
        self.body = facts
        self.code = facts


FUZZ_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(params=[False, True], ids=["capture-off", "capture-on"])
def production(request: pytest.FixtureRequest, env: Any) -> None:
    env(
        LLMOTEL_STRICT="0",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true" if request.param else "false",
        LLMOTEL_CONTENT_MAX_LENGTH="2000",
    )


def one_clean_span(ids: Ids, logs: list[Any]) -> tuple[Any, ...]:
    rows = list(ids.ended)
    assert len(rows) == 1, [r[0] for r in rows]
    assert ids.open == set()
    assert [r.getMessage() for r in logs] == [], "the SDK rejected an attribute"
    return rows[0]


class Instance:
    """The decorated method's ``self``: hostile configuration, like a misbehaving SDK client."""

    def __init__(self, fields: Any) -> None:
        self.model = fields
        self.client = fields
        self.base_url = fields
        self.temperature = fields


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("cls", EXTRACTORS, ids=lambda c: c.__name__)
@FUZZ_SETTINGS
@given(kwargs=kwargs_strategy, instance=hostile, result=hostile)
def test_hostile_call_through_every_extractor_returns_the_result_unchanged(
    ids: Ids, cls: type[Extractor], kwargs: dict[str, Any], instance: Any, result: Any
) -> None:
    ids.clear()

    class Client(Instance):
        @llmotel.trace_chat(provider="fuzz", extractor=cls(), tracer_provider=PROVIDER, stream=False)
        def chat(self, *args: Any, **kwargs: Any) -> Any:
            return result

    with SdkLogs() as logs:
        returned = Client(instance).chat(instance, **kwargs)
    assert returned is result
    row = one_clean_span(ids, logs)
    assert row[4] is not StatusCode.ERROR


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("cls", EXTRACTORS, ids=lambda c: c.__name__)
@FUZZ_SETTINGS
@given(kwargs=kwargs_strategy, chunks=st.lists(hostile, max_size=5))
def test_hostile_stream_through_every_extractor_yields_the_chunks_unchanged(
    ids: Ids, cls: type[Extractor], kwargs: dict[str, Any], chunks: list[Any]
) -> None:
    ids.clear()

    @llmotel.trace_chat(provider="fuzz", extractor=cls(), tracer_provider=PROVIDER)
    def stream(**kwargs: Any) -> Iterator[Any]:
        yield from chunks

    with SdkLogs() as logs:
        received = list(stream(**kwargs))
    assert len(received) == len(chunks) and all(a is b for a, b in zip(received, chunks, strict=True))
    row = one_clean_span(ids, logs)
    assert row[5][1] == len(chunks)


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("cls", EXTRACTORS, ids=lambda c: c.__name__)
@FUZZ_SETTINGS
@given(kwargs=kwargs_strategy, facts=hostile, chunks=st.lists(hostile, max_size=3), asynchronous=st.booleans())
def test_hostile_error_through_every_extractor_reaches_the_caller_unchanged(
    ids: Ids, cls: type[Extractor], kwargs: dict[str, Any], facts: Any, chunks: list[Any], asynchronous: bool
) -> None:
    ids.clear()
    error = HostileError(facts)

    @llmotel.trace_chat(provider="fuzz", extractor=cls(), tracer_provider=PROVIDER)
    async def failing_stream(**kwargs: Any) -> AsyncIterator[Any]:
        for chunk in chunks:
            yield chunk
        raise error

    @llmotel.trace_chat(provider="fuzz", extractor=cls(), tracer_provider=PROVIDER)
    def failing_call(**kwargs: Any) -> Any:
        raise error

    async def consume() -> list[Any]:
        return [chunk async for chunk in failing_stream(**kwargs)]

    with SdkLogs() as logs, pytest.raises(HostileError) as raised:
        if asynchronous:
            asyncio.run(consume())
        else:
            failing_call(**kwargs)
    assert raised.value is error
    row = one_clean_span(ids, logs)
    assert row[4] is StatusCode.ERROR
