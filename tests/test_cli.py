"""The ``llmotel`` command (``llmotel demo``, ``llmotel doctor``), run as a user runs it.

Every run that sets up telemetry is ``python -m llmotel ...`` in a subprocess whose environment has
no inherited ``OTEL_*``/``LLMOTEL_*`` variables, only what the test sets, usually pointing at an
in-test OTLP receiver that decodes what arrived. Everything the command exported has been answered
before it exits, so after ``subprocess.run`` returns, "nothing arrived" is final. Argument parsing
and ``doctor --no-send`` (which only read the environment) also run in-process, via ``main()``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

from helpers.collector import (
    RUN_TIMEOUT,
    Receiver,
    clean_env,
    closed_port,
    installed_script,
    make_receiver,
    otlp_env,
    protocol_of,
)
from helpers.otlp_receiver import GrpcReceiver, HttpReceiver, Mode
from llmotel.cli import main

MODEL = "llmotel-fake-1"
RESPONSE_MODEL = "llmotel-fake-1-2026-01-01"
SPANS_PER_RUN = 9  # 7 LLM calls + the chain span + the tool span
SECRET = "sk-demo-never-recorded"  # the fake client's api_key


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def llmotel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmotel", *args], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return llmotel("demo", "--latency-ms", "0", *args, env=env)


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    """Nothing alarming: no traceback anywhere, no logger output on stdout."""
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    assert "ERROR" not in proc.stdout and "WARNING" not in proc.stdout, proc.stdout


def only(spans: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [s for s in spans if all(s.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{match}: {[s['name'] for s in found]}"
    return found[0]


# --------------------------------------------------------------------------------------------------
# the command line itself
# --------------------------------------------------------------------------------------------------


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``llmotel ARGS`` in-process (only for what sets up no telemetry: usage, help, doctor --no-send)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process's environment without OTEL_* variables (restored afterwards)."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_python_m_llmotel_help_and_unknown_command() -> None:
    proc = llmotel("--help", env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: llmotel ") and "demo" in proc.stdout and "doctor" in proc.stdout
    assert proc.stderr == ""
    proc = llmotel("bogus", env=clean_env())
    assert proc.returncode == 2
    assert "invalid choice: 'bogus'" in proc.stderr and proc.stdout == ""


def test_console_script_is_installed() -> None:
    script = installed_script("llmotel")
    proc = subprocess.run([script, "--version"], env=clean_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0 and re.fullmatch(r"llmotel \d+\.\d+\.\d+\S*\n", proc.stdout), proc


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["usage: llmotel", "demo", "doctor", "OTEL_*"]),
        (("demo",), ["usage: llmotel demo", "--repeat", "--stream-chunks", "--latency-ms", "--quiet"]),
        (("doctor",), ["usage: llmotel doctor", "--timeout", "--no-send"]),
    ],
)
def test_help_exits_0(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: list[str]) -> None:
    code, out, err = run_main(capsys, *args, "--help")
    assert code == 0
    for text in expected:
        assert text in out
    assert err == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bogus",), "invalid choice: 'bogus'"),
        ((), "usage: llmotel"),  # no command: the help, on stderr
        (("demo", "--repeat", "0"), "must be at least 1"),
        (("demo", "--latency-ms", "-1"), "must not be negative"),
        (("doctor", "--timeout", "0"), "must be greater than 0"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    code, out, err = run_main(capsys, *args)
    assert code == 2
    assert message in err
    assert out == ""


# --------------------------------------------------------------------------------------------------
# llmotel demo: console mode
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["60", "40"])
def test_demo_console_trees_fit_columns_when_piped(columns: str) -> None:
    """``COLUMNS`` sets the width of the trees even when the output is not a terminal (a pipe)."""
    proc = demo(env=clean_env(COLUMNS=columns))
    assert proc.returncode == 0, proc.stderr
    *tree, summary = proc.stdout.rstrip("\n").splitlines()
    assert len(tree) > 20 and max(len(line) for line in tree) <= int(columns)
    assert max(len(line) for line in tree) == int(columns)  # long lines are cut to it, not shorter
    assert "\x1b[" not in proc.stdout and summary.startswith("llmotel demo: ")


def test_demo_console_mode_prints_the_trees_and_the_summary() -> None:
    proc = demo(env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "\x1b[" not in out  # not a TTY: no colour codes
    assert len(re.findall(r"^trace [0-9a-f]{8}  llmotel-demo$", out, re.M)) == 5
    assert re.search(r"^invoke_workflow weather-agent ", out, re.M)
    for child in (f"├─ chat {MODEL} ", "├─ [tool] execute_tool get_weather ", f"└─ chat {MODEL} "):
        assert child in out
    assert "ERROR llmotel.cli.demo.FakeRateLimitError" in out
    assert "ERROR llmotel.cli.demo.FakeServiceUnavailableError" in out
    assert re.search(r"ttfc \S+  25 chunks", out)
    assert f"text_completion {MODEL} " in out
    assert SECRET not in out
    last = out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"llmotel demo: 1 run\(s\), 7 LLM calls, 9 spans in \d+\.\d\ds; traces -> console", last)


def test_demo_quiet_prints_only_the_summary() -> None:
    proc = demo("--quiet", "--repeat", "2", env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmotel demo: 2 run(s), 14 LLM calls, 18 spans in "), lines


# --------------------------------------------------------------------------------------------------
# llmotel demo: exporting over OTLP
# --------------------------------------------------------------------------------------------------


def check_demo_trace(spans: list[dict[str, Any]], service: str = "llmotel-demo") -> None:
    """The whole trace of one demo run, as decoded by the receiver."""
    assert len(spans) == SPANS_PER_RUN, [s["name"] for s in spans]
    assert Counter(s["name"] for s in spans) == {
        f"chat {MODEL}": 6,
        f"text_completion {MODEL}": 1,
        "invoke_workflow weather-agent": 1,
        "execute_tool get_weather": 1,
    }
    for span in spans:
        assert span["resource"]["service.name"] == service
        assert span["resource"]["telemetry.sdk.language"] == "python"
        assert SECRET not in repr(span["attributes"]) + repr(span["events"])
    assert len({s["span_id"] for s in spans}) == SPANS_PER_RUN

    llm = [s for s in spans if s["attributes"].get("gen_ai.operation.name") in ("chat", "text_completion")]
    assert len(llm) == 7
    for span in llm:
        a = span["attributes"]
        assert span["kind"] == "CLIENT", span["name"]
        assert a["gen_ai.provider.name"] == "llmotel.fake"
        assert a["gen_ai.request.model"] == MODEL
        assert a["server.address"] == "fake-llm.invalid" and a["server.port"] == 8080
        if span["status"]["code"] == 2:  # ERROR
            assert a["error.type"].startswith("llmotel.cli.demo.Fake")
            assert "gen_ai.response.id" not in a
            [event] = span["events"]
            assert event["name"] == "exception"
            assert event["attributes"]["exception.type"] == a["error.type"]
        else:
            assert span["status"]["code"] == 0 and "error.type" not in a
            assert a["gen_ai.response.model"] == RESPONSE_MODEL
            assert re.fullmatch(r"chatcmpl-demo-\d{4}", a["gen_ai.response.id"])
            assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    ok_ids = [s["attributes"]["gen_ai.response.id"] for s in llm if s["status"]["code"] == 0]
    assert len(ok_ids) == 5 and len(set(ok_ids)) == 5

    # the chain: a root INTERNAL span with the first chat, the tool, the failed chat and the retry
    chain = only(spans, name="invoke_workflow weather-agent")
    assert chain["kind"] == "INTERNAL" and chain["parent_span_id"] is None and chain["status"]["code"] != 2
    assert chain["attributes"] == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "weather-agent",
        "gen_ai.usage.input_tokens": 16 + 24,  # running totals of the chain's successful LLM calls
        "gen_ai.usage.output_tokens": 6 + 6,
    }
    assert [e["name"] for e in chain["events"]] == [  # the chain's callbacks, in the order they fired
        "llmotel.tool.call_identified",
        "llmotel.chain.tool_response_created",
        "llmotel.retry",
        "llmotel.chain.message_processed",
    ]
    assert chain["events"][0]["attributes"] == {
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_weather_1",
    }
    assert chain["events"][2]["attributes"]["error.type"] == "FakeRateLimitError"
    children = sorted(
        (s for s in spans if s["parent_span_id"] == chain["span_id"]), key=lambda s: s["start_time_unix_nano"]
    )
    assert [s["name"] for s in children] == [f"chat {MODEL}", "execute_tool get_weather"] + [f"chat {MODEL}"] * 2
    assert {s["trace_id"] for s in children} == {chain["trace_id"]}
    first, tool, rate_limited, final = children
    assert first["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert tool["kind"] == "INTERNAL" and tool["status"]["code"] == 1  # OK
    assert tool["attributes"] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_weather_1",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "The demo's tool.",
        "llmotel.tool.completed": True,
    }
    assert rate_limited["status"]["code"] == 2
    assert rate_limited["attributes"]["error.type"] == "llmotel.cli.demo.FakeRateLimitError"
    assert "429" in rate_limited["status"]["message"]
    assert final["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert (final["attributes"]["gen_ai.usage.input_tokens"], final["attributes"]["gen_ai.usage.output_tokens"]) == (
        24,
        6,
    )

    # the other four calls are roots of their own traces
    roots = sorted(
        (s for s in spans if s["parent_span_id"] is None and s is not chain), key=lambda s: s["start_time_unix_nano"]
    )
    assert len(roots) == 4 and len({s["trace_id"] for s in roots} | {chain["trace_id"]}) == 5
    plain, completion, streamed, failed = roots
    assert plain["attributes"]["gen_ai.request.temperature"] == 0.0
    assert plain["attributes"]["gen_ai.request.seed"] == 7
    assert plain["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert completion["attributes"]["gen_ai.operation.name"] == "text_completion"
    assert completion["attributes"]["gen_ai.request.max_tokens"] == 5
    assert completion["attributes"]["gen_ai.response.finish_reasons"] == ["length"]
    a = streamed["attributes"]
    assert a["gen_ai.request.stream"] is True
    assert a["llmotel.stream.chunks"] == 25  # 24 content chunks + the final usage-only chunk
    assert a["llmotel.stream.completed"] is True
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (9, 24)
    check_chunk_events(streamed)
    assert failed["status"]["code"] == 2
    assert failed["attributes"]["error.type"] == "llmotel.cli.demo.FakeServiceUnavailableError"


def check_chunk_events(streamed: dict[str, Any]) -> None:
    chunks = streamed["attributes"]["llmotel.stream.chunks"]
    events = [e for e in streamed["events"] if e["name"] == "llmotel.stream.chunk"]
    indexes = [e["attributes"]["llmotel.chunk.index"] for e in events]
    assert 2 <= len(events) <= 16  # LLMOTEL_STREAM_CHUNK_EVENTS default cap
    assert indexes == sorted(set(indexes)) and indexes[0] == 0 and indexes[-1] == chunks - 1
    assert len(events) + streamed["attributes"].get("llmotel.stream.chunk_events_dropped", 0) == chunks


def test_demo_exports_the_whole_trace_with_headers_and_gzip(receiver: Receiver) -> None:
    env = otlp_env(receiver, OTEL_EXPORTER_OTLP_HEADERS="x-api-key=demo-key-42", OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
    proc = demo(env=env)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    assert proc.stderr == ""
    target = receiver.endpoint if isinstance(receiver, GrpcReceiver) else receiver.traces_endpoint
    summary = rf"llmotel demo: 1 run\(s\), 7 LLM calls, 9 spans in \d+\.\d\ds; traces -> otlp/{protocol_of(receiver)} "
    assert re.fullmatch(summary + re.escape(target) + "\n", proc.stdout), proc.stdout
    check_demo_trace(receiver.wait_for_spans(SPANS_PER_RUN))
    metric_names = {m["name"] for m in receiver.wait_for_metrics(lambda ms: len({m["name"] for m in ms}) >= 4)}
    assert metric_names == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.operation.time_per_output_chunk",
    }
    assert {r.signal for r in receiver.requests} == {"traces", "metrics"}
    assert {r.headers.get("x-api-key") for r in receiver.requests} == {"demo-key-42"}
    if isinstance(receiver, HttpReceiver):  # gRPC decompresses transparently; it just has to work
        assert {r.compression for r in receiver.requests} == {"gzip"}
        assert {r.path for r in receiver.requests} == {"/v1/traces", "/v1/metrics"}


def test_demo_repeat_and_service_name(grpc_receiver: GrpcReceiver) -> None:
    env = otlp_env(grpc_receiver, OTEL_SERVICE_NAME="checkout")
    proc = demo("--repeat", "3", env=env)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    assert "3 run(s), 21 LLM calls, 27 spans" in proc.stdout
    spans = grpc_receiver.wait_for_spans(3 * SPANS_PER_RUN)
    assert len(spans) == 3 * SPANS_PER_RUN
    assert {s["resource"]["service.name"] for s in spans} == {"checkout"}
    assert Counter(s["name"] for s in spans) == {
        f"chat {MODEL}": 18,
        f"text_completion {MODEL}": 3,
        "invoke_workflow weather-agent": 3,
        "execute_tool get_weather": 3,
    }
    assert len({s["trace_id"] for s in spans}) == 3 * 5  # 5 traces per run
    chains = [s for s in spans if s["name"] == "invoke_workflow weather-agent"]
    for chain in chains:
        assert sum(s["parent_span_id"] == chain["span_id"] for s in spans) == 4
    ids = [s["attributes"].get("gen_ai.response.id") for s in spans]
    assert sorted(i for i in ids if i) == [f"chatcmpl-demo-{n:04d}" for n in range(1, 16)]


def test_demo_stream_chunks(http_receiver: HttpReceiver) -> None:
    proc = demo("--stream-chunks", "200", env=otlp_env(http_receiver, LLMOTEL_METRICS_ENABLED="false"))
    assert proc.returncode == 0, proc.stderr
    spans = http_receiver.wait_for_spans(SPANS_PER_RUN)
    [streamed] = [s for s in spans if s["attributes"].get("gen_ai.request.stream")]
    assert streamed["attributes"]["llmotel.stream.chunks"] == 201  # 200 content chunks + the usage chunk
    assert streamed["attributes"]["gen_ai.usage.output_tokens"] == 200
    check_chunk_events(streamed)
    assert {r.signal for r in http_receiver.requests} == {"traces"}  # metrics off


def test_demo_with_the_sdk_disabled_sends_nothing(grpc_receiver: GrpcReceiver) -> None:
    proc = demo(env=otlp_env(grpc_receiver, OTEL_SDK_DISABLED="true"))
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    assert "7 LLM calls, 0 spans" in proc.stdout
    assert "traces -> nowhere (OTEL_SDK_DISABLED=true)" in proc.stdout
    assert grpc_receiver.attempts == 0 and grpc_receiver.requests == []


def test_demo_with_sampler_always_off_sends_metrics_only(grpc_receiver: GrpcReceiver) -> None:
    proc = demo(env=otlp_env(grpc_receiver, OTEL_TRACES_SAMPLER="always_off"))
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    assert "0 spans" in proc.stdout
    names = {m["name"] for m in grpc_receiver.wait_for_metrics(1)}
    assert "gen_ai.client.operation.duration" in names
    assert grpc_receiver.spans() == []
    assert {r.signal for r in grpc_receiver.requests} == {"metrics"}


# --------------------------------------------------------------------------------------------------
# llmotel demo: the collector is unreachable or misbehaves
# --------------------------------------------------------------------------------------------------

EXPORT_TIMEOUT_S = 2  # unreachable collector (connection refused: no waiting for the timeout)
FAULT_TIMEOUT_S = 1  # misbehaving collector: these runs do wait for it
FRIENDLY = re.compile(
    r"llmotel demo: telemetry could not be exported \(traces -> (?P<target>[^)]+\)?)\): (?P<reason>[^\n]+)\n"
    r"  Run 'llmotel doctor' to check the endpoint and configuration\.\n"
)


def check_failed_demo(proc: subprocess.CompletedProcess[str], elapsed: float, timeout: float) -> re.Match[str]:
    """Exit 1, the friendly two lines as the whole stderr, the summary as the whole stdout, in time."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert_clean(proc)
    friendly = FRIENDLY.fullmatch(proc.stderr)
    assert friendly, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmotel demo: 1 run(s), 7 LLM calls"), lines
    assert elapsed < 2 * timeout + 5
    return friendly


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_demo_with_the_collector_unreachable(protocol: str) -> None:
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_TIMEOUT=str(EXPORT_TIMEOUT_S),
    )
    started = time.monotonic()
    proc = demo(env=env)
    check_failed_demo(proc, time.monotonic() - started, EXPORT_TIMEOUT_S)


@pytest.mark.parametrize("mode", ["unavailable", "blackhole"])
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_demo_with_a_failing_collector(transport: str, mode: Mode) -> None:
    with make_receiver(transport, mode) as receiver:
        started = time.monotonic()
        proc = demo(env=otlp_env(receiver, OTEL_EXPORTER_OTLP_TIMEOUT=str(FAULT_TIMEOUT_S)))
        elapsed = time.monotonic() - started
        receiver.wait_for_attempts(1)  # the exporters did try
        assert receiver.requests == []
    check_failed_demo(proc, elapsed, FAULT_TIMEOUT_S)
    if mode == "blackhole":  # nobody ever answers: the run waits for the timeout (seconds), no longer
        assert elapsed >= FAULT_TIMEOUT_S * 0.8


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_demo_exits_about_a_second_after_its_work_when_the_collector_is_down_by_default(protocol: str) -> None:
    """No timeout set (the exporters' default is 10 s): the final flush still gives up after the
    1 s shutdown budget (it took 7-8 s before), with the one clear warning."""
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}", OTEL_EXPORTER_OTLP_PROTOCOL=protocol
    )
    started = time.monotonic()
    proc = demo(env=env)
    elapsed = time.monotonic() - started
    check_failed_demo(proc, elapsed, 1)
    assert elapsed < 4  # interpreter start-up + the demo (~0.4 s) + at most the 1 s budget, with slack


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_demo_delivers_to_a_slow_collector_within_the_default_budget(transport: str) -> None:
    with make_receiver(transport, "slow") as receiver:
        proc = demo(env=otlp_env(receiver, LLMOTEL_METRICS_ENABLED="false", OTEL_LOGS_EXPORTER="none"))
        assert proc.returncode == 0, proc.stderr
        assert len(receiver.spans()) == SPANS_PER_RUN  # answered late, delivered all the same


def test_demo_fails_within_the_budget_when_an_exporter_would_wait_longer() -> None:
    # Metrics only, to a collector that never answers, with a 30 s metrics timeout: the demo's
    # shutdown budget (OTEL_EXPORTER_OTLP_TIMEOUT) runs out first, and that is reported as a failure
    # although no exporter has logged anything yet.
    with HttpReceiver("blackhole") as receiver:
        env = otlp_env(
            receiver,
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_TIMEOUT=str(FAULT_TIMEOUT_S),
            OTEL_EXPORTER_OTLP_METRICS_TIMEOUT="30",
        )
        started = time.monotonic()
        proc = demo(env=env)
        elapsed = time.monotonic() - started
        receiver.wait_for_attempts(1)
    friendly = check_failed_demo(proc, elapsed, FAULT_TIMEOUT_S)
    reason = f"no answer within the shutdown budget ({FAULT_TIMEOUT_S}s, LLMOTEL_SHUTDOWN_TIMEOUT, in seconds)"
    assert friendly["reason"] == reason


# --------------------------------------------------------------------------------------------------
# llmotel doctor
# --------------------------------------------------------------------------------------------------

DOCTOR_SECRET = "doctor-secret-value-123"


def config_rows(stdout: str) -> dict[str, str]:
    """The ``key  value`` rows of the configuration block."""
    rows = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"  (\S[^ ]*(?: [^ ]+)*)  +(.*)", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_doctor_against_a_live_receiver(receiver: Receiver) -> None:
    env = otlp_env(receiver, OTEL_EXPORTER_OTLP_HEADERS=f"x-api-key={DOCTOR_SECRET}", OTEL_SERVICE_NAME="doc-svc")
    proc = llmotel("doctor", env=env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert_clean(proc)
    assert "ACCEPTED" in proc.stdout
    assert DOCTOR_SECRET not in proc.stdout + proc.stderr  # masked
    rows = config_rows(proc.stdout)
    assert rows["headers"] == "x-api-key=do…23 (23 chars)"
    assert rows["protocol"] == protocol_of(receiver)
    assert rows["service.name"] == "doc-svc"
    if isinstance(receiver, GrpcReceiver):
        assert rows["endpoint"] == receiver.endpoint and rows["transport"] == "plaintext (http://)"
    else:
        assert rows["endpoint"] == receiver.traces_endpoint
    [span] = receiver.wait_for_spans(1)
    assert span["name"] == "llmotel doctor test span"
    assert span["attributes"]["llmotel.doctor"] is True
    assert span["resource"]["service.name"] == "doc-svc"
    assert receiver.headers[0]["x-api-key"] == DOCTOR_SECRET


def test_doctor_with_nothing_listening() -> None:
    port = closed_port()
    proc = llmotel("doctor", "--timeout", "2", env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}"))
    assert proc.returncode == 1
    assert_clean(proc)
    assert f"NOT DELIVERED: connection refused by 127.0.0.1:{port}" in proc.stdout
    assert "ACCEPTED" not in proc.stdout


@pytest.mark.parametrize("with_path", [False, True])
def test_doctor_http_traces_endpoint_needs_v1_traces(http_receiver: HttpReceiver, with_path: bool) -> None:
    endpoint = http_receiver.traces_endpoint if with_path else http_receiver.endpoint
    env = clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint)
    proc = llmotel("doctor", env=env)
    assert config_rows(proc.stdout)["endpoint"] == endpoint  # verbatim, nothing appended
    if with_path:
        assert proc.returncode == 0 and "ACCEPTED" in proc.stdout, proc.stdout
        assert len(http_receiver.wait_for_spans(1)) == 1
    else:
        assert proc.returncode == 1, proc.stdout
        assert "REFUSED" in proc.stdout and "404" in proc.stdout and "must end in /v1/traces" in proc.stdout
        assert http_receiver.requests == []
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("endpoint", "insecure", "transport"),
    [
        ("collector:4317", None, "TLS: the endpoint has no scheme, so the gRPC exporter uses TLS"),
        ("collector:4317", "true", "plaintext (OTEL_EXPORTER_OTLP_INSECURE=true)"),
        ("http://collector:4317", None, "plaintext (http://)"),
        ("https://collector:4317", None, "TLS (https://)"),
    ],
)
def test_doctor_explains_grpc_transport_security(
    capsys: pytest.CaptureFixture[str],
    no_otel_env: pytest.MonkeyPatch,
    endpoint: str,
    insecure: str | None,
    transport: str,
) -> None:
    no_otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    if insecure:
        no_otel_env.setenv("OTEL_EXPORTER_OTLP_INSECURE", insecure)
    code, out, _ = run_main(capsys, "doctor", "--no-send")
    assert code == 0
    assert config_rows(out)["transport"].startswith(transport)


@pytest.mark.parametrize(("value", "warned"), [("10000", True), ("10", False)])
def test_doctor_warns_that_the_timeout_is_in_seconds(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch, value: str, warned: bool
) -> None:
    no_otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", value)
    code, out, _ = run_main(capsys, "doctor", "--no-send")
    assert code == 0
    timeout = config_rows(out)["timeout"]
    assert timeout.startswith(f"{value} s")
    assert ("seconds in Python" in timeout) is warned


def test_doctor_rejects_an_invalid_protocol() -> None:
    proc = llmotel("doctor", env=clean_env(OTEL_EXPORTER_OTLP_PROTOCOL="http/json"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "configuration error" in proc.stderr and "'http/json'" in proc.stderr
    assert "'grpc'" in proc.stderr and "'http/protobuf'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_doctor_no_send_only_prints_the_configuration(grpc_receiver: GrpcReceiver) -> None:
    env = otlp_env(grpc_receiver, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
    proc = llmotel("doctor", "--no-send", env=env)
    assert proc.returncode == 0
    assert proc.stdout.startswith("llmotel doctor: effective configuration\n")
    rows = config_rows(proc.stdout)
    assert rows["endpoint"] == grpc_receiver.endpoint and rows["sampler"] == "traceidratio 0.1"
    assert rows["headers"] == "(none)"
    assert "Sending" not in proc.stdout and "ACCEPTED" not in proc.stdout
    # nothing was sent (checked by name: the receiver's port is only ours while it is bound)
    assert "llmotel doctor test span" not in [s["name"] for s in grpc_receiver.spans()]


def test_doctor_lists_the_instrumentations_and_their_state(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch
) -> None:
    no_otel_env.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "llmotel_anthropic, llmotel_openai")
    no_otel_env.setenv("LLMOTEL_INSTRUMENT", "mypkg.llm:MyLLM.chat=chat")
    code, out, _ = run_main(capsys, "doctor", "--no-send")
    assert code == 0
    lines = out[out.index("instrumentations:") :].splitlines()[1:]
    assert [line.strip() for line in lines] == [
        "llmotel_anthropic: anthropic installed, disabled",
        "llmotel_bedrock: botocore installed, enabled",
        "llmotel_cohere: cohere installed, enabled",
        "llmotel_configured: LLMOTEL_INSTRUMENT=mypkg.llm:MyLLM.chat=chat, enabled",
        "llmotel_google_genai: google.genai installed, enabled",
        "llmotel_langchain: langchain_core installed, enabled",
        "llmotel_litellm: litellm installed, enabled",
        "llmotel_llama_index: llama_index.core installed, enabled",
        "llmotel_mistral: mistralai installed, enabled",
        "llmotel_ollama: ollama installed, enabled",
        "llmotel_openai: openai installed, disabled",
    ]


@pytest.mark.parametrize(
    ("value", "content", "events"),
    [
        (None, "NO_CONTENT (default): content goes nowhere", "not emitted"),
        ("NO_CONTENT", "NO_CONTENT: content goes nowhere", "not emitted"),
        ("false", "NO_CONTENT (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false): content goes nowhere", "not"),
        ("span_only", "SPAN_ONLY: content goes to spans", "not emitted"),
        ("true", "SPAN_ONLY (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true): content goes to spans", "not"),
        ("Event_Only", "EVENT_ONLY: content goes to events", "emitted, one per LLM call"),
        ("SPAN_AND_EVENT", "SPAN_AND_EVENT: content goes to both spans and events", "emitted, one per LLM call"),
        ("sometimes", "'sometimes' is not one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT", "not emitted"),
    ],
)
def test_doctor_says_where_message_content_goes(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch, value: str | None, content: str, events: str
) -> None:
    if value is not None:
        no_otel_env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    code, out, _ = run_main(capsys, "doctor", "--no-send")
    assert code == 0
    rows = config_rows(out)
    assert rows["content capture"].startswith(content), rows["content capture"]
    assert rows["log events"].startswith(events), rows["log events"]


def test_doctor_log_events_can_be_forced_on_or_off(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch
) -> None:
    no_otel_env.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "true")
    assert config_rows(run_main(capsys, "doctor", "--no-send")[1])["log events"].startswith("emitted")
    no_otel_env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "EVENT_ONLY")
    no_otel_env.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "false")
    assert config_rows(run_main(capsys, "doctor", "--no-send")[1])["log events"].startswith("not emitted")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"logs exporter": "otlp", "logs protocol": "grpc", "logs endpoint": "http://localhost:4317"}),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://col:4318"},
            {"logs protocol": "http/protobuf", "logs endpoint": "http://col:4318/v1/logs"},
        ),
        (  # per-signal variables: the logs' own protocol, and their endpoint used verbatim
            {
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4318/custom",
                "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-logs-key=abcdefghijkl",
            },
            {
                "protocol": "grpc",
                "logs protocol": "http/protobuf",
                "logs endpoint": "http://logs:4318/custom",
                "logs headers": "x-logs-key=ab…kl (12 chars)",
            },
        ),
        (
            {"OTEL_LOGS_EXPORTER": "otlp_proto_http"},
            {"logs exporter": "otlp_proto_http", "logs protocol": "http/protobuf"},
        ),
        ({"OTEL_LOGS_EXPORTER": "none"}, {"logs exporter": "off (OTEL_LOGS_EXPORTER=none)"}),
        (
            {"OTEL_TRACES_EXPORTER": "console"},
            {"logs exporter": "off (no OTLP endpoint: the traces go to console, and OTEL_LOGS_EXPORTER is unset)"},
        ),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_LOGS_EXPORTER": "console"}, {"logs exporter": "console"}),
        (
            {"OTEL_TRACES_EXPORTER": "llmotel_console"},
            {"logs exporter": "llmotel_console (the events are printed under their span)"},
        ),
    ],
)
def test_doctor_reports_the_logs_pipeline(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch, env: dict[str, str], expected: dict[str, str]
) -> None:
    for name, value in env.items():
        no_otel_env.setenv(name, value)
    code, out, _ = run_main(capsys, "doctor", "--no-send")
    assert code == 0
    rows = config_rows(out)
    assert {key: rows.get(key) for key in expected} == expected
    if expected.get("logs exporter", "").startswith("off"):
        assert "logs protocol" not in rows and "logs endpoint" not in rows


def test_doctor_warns_when_the_log_events_go_nowhere(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch
) -> None:
    no_otel_env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "EVENT_ONLY")
    no_otel_env.setenv("OTEL_LOGS_EXPORTER", "none")
    rows = config_rows(run_main(capsys, "doctor", "--no-send")[1])
    assert rows["log events"] == "emitted, but the logs pipeline is off: they go nowhere"


def test_doctor_rejects_an_invalid_logs_protocol(
    capsys: pytest.CaptureFixture[str], no_otel_env: pytest.MonkeyPatch
) -> None:
    no_otel_env.setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json")
    code, out, err = run_main(capsys, "doctor", "--no-send")
    assert code == 2 and out == ""
    assert "'http/json'" in err and "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL" in err
