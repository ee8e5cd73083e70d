"""Smoke tests of the benchmarks: each script's ``--quick`` run exits 0 and ends with parseable
``BENCH name=... key=value ...`` lines.

Timings are not asserted (they depend on the machine); only that every benchmark reports numbers.
The scripts run as subprocesses, all started at once (they take a few seconds each).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCHMARKS / "bench_decorators.py"

CALLS = ("sync_call", "async_call")
STREAMS = ("stream_2000", "stream_200")
CALL_KEYS = ("plain_us", "floor_us", "llmotel_us", "ratio", "ratio_p25", "ratio_p75")
STREAM_KEYS = (*CALL_KEYS, "chunks", "per_chunk_us", "floor_per_chunk_us")

OPENAI_CASES = ("openai_sync", "openai_async", "openai_stream_200", "openai_stream_2000")
OPENAI_KEYS = ("bare_us", "floor_ovh_us", "ovh_us", "ovh_lo", "ovh_hi", "pct_of_bare", "x_bare", "x_floor")
OPENAI_STREAM_KEYS = (*OPENAI_KEYS, "chunks", "per_chunk_us", "per_chunk_p10_us", "floor_per_chunk_us")
EXPORT_KEYS = (
    "created_per_s",
    "delivered_per_s",
    "created",
    "delivered",
    "dropped",
    "queue_full",
    "export_cpu_share",
    "export_us_per_span",
)
MEMORY_PHASES = ("memory_calls", "memory_abandoned_streams", "memory_abandoned_async_streams")
MEMORY_KEYS = ("rss_before_mb", "rss_after_mb", "rss_delta_mb", "objects_before", "objects_after", "objects_delta")


def parse_bench_lines(stdout: str) -> dict[str, dict[str, str]]:
    lines: dict[str, dict[str, str]] = {}
    for line in stdout.splitlines():
        if not line.startswith("BENCH "):
            continue
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        lines[fields.pop("name")] = fields
    return lines


def number(value: str) -> float:
    parsed = float(value)
    assert math.isfinite(parsed), value
    return parsed


class Result:
    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr

    def explain(self) -> str:
        return f"{' '.join(self.args)}\n--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every quick run, started in parallel; outputs go to files (no pipe can fill up and block)."""
    tmp = tmp_path_factory.mktemp("bench")
    commands = {
        "decorators": ["bench_decorators.py", "--quick", "--events", "--json", str(tmp / "decorators.json")],
        "openai": ["bench_openai.py", "--quick", "--json", str(tmp / "openai.json")],
        "compare": [
            "bench_openai.py",
            "--quick",
            "--compare",
            "--contenders",
            "llmotel,otel-v2",
            "--compare-capture",
            "off",
            "--cases",
            "sync,stream_200",
        ],
        "export": ["bench_export.py", "--quick", "--seconds", "0.5"],
        "memory": ["bench_memory.py", "--quick"],
        "google_genai": ["bench_google_genai.py", "--quick"],
        "bedrock": ["bench_bedrock.py", "--quick"],
        "faults": ["bench_faults.py", "--quick"],
    }
    env = dict(os.environ)
    for name in (
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_SAMPLER",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    ):
        env.pop(name, None)
    started = {}
    for key, command in commands.items():
        out, err = (tmp / f"{key}.out").open("w"), (tmp / f"{key}.err").open("w")
        args = [sys.executable, str(BENCHMARKS / command[0]), *command[1:]]
        started[key] = (args, subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env), out, err)
    results: dict[str, Any] = {"tmp": tmp}
    for key, (args, proc, out, err) in started.items():
        try:
            code = proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        out.close()
        err.close()
        results[key] = Result(args, code, (tmp / f"{key}.out").read_text(), (tmp / f"{key}.err").read_text())
    return results


@pytest.fixture(scope="module")
def quick_run(runs: dict[str, Any]) -> tuple[Result, Path]:
    return runs["decorators"], runs["tmp"] / "decorators.json"


@pytest.mark.parametrize("key", ["decorators", "openai", "compare", "export", "memory"])
def test_quick_run_exits_zero_and_ends_with_bench_lines(runs: dict[str, Any], key: str) -> None:
    result: Result = runs[key]
    assert result.returncode == 0, result.explain()
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if line.startswith("BENCH ")), None)
    assert first is not None, result.explain()
    assert all(line.startswith("BENCH ") for line in lines[first:]), "BENCH lines must be the last lines"
    for line in lines[first:]:
        for part in line.split()[1:]:
            assert "=" in part and part.split("=", 1)[1], line


# --- bench_decorators.py ---------------------------------------------------------------------------


def test_call_benchmarks_report_numbers(quick_run: tuple[Result, Path]) -> None:
    lines = parse_bench_lines(quick_run[0].stdout)
    for name in CALLS + tuple(f"{n}_capture" for n in CALLS):
        assert name in lines, sorted(lines)
        for key in CALL_KEYS:
            number(lines[name][key])
    assert lines["sync_call"]["capture"] == "off"
    assert lines["sync_call_capture"]["capture"] == "on"
    for name in CALLS:  # the --events pass: the details log events on
        assert lines[f"{name}_events"]["capture"] == "events"
        for key in CALL_KEYS:
            number(lines[f"{name}_events"][key])


def test_stream_benchmarks_report_per_chunk_numbers(quick_run: tuple[Result, Path]) -> None:
    lines = parse_bench_lines(quick_run[0].stdout)
    for name in STREAMS + tuple(f"{n}_capture" for n in STREAMS):
        assert name in lines, sorted(lines)
        for key in STREAM_KEYS:
            number(lines[name][key])
    assert int(lines["stream_2000"]["chunks"]) == 2000
    assert int(lines["stream_200"]["chunks"]) == 200


def test_memory_benchmark_reports_deltas(quick_run: tuple[Result, Path]) -> None:
    lines = parse_bench_lines(quick_run[0].stdout)
    memory = lines["memory"]
    assert int(memory["calls"]) > 0
    number(memory["rss_delta_mb"])
    int(memory["objects_delta"])
    assert "memory_stream" in lines
    number(lines["memory_stream"]["rss_delta_mb"])


def test_human_table_and_json_are_written(quick_run: tuple[Result, Path]) -> None:
    proc, json_path = quick_run
    assert "content capture off" in proc.stdout
    assert "content capture ON" in proc.stdout
    payload = json.loads(json_path.read_text())
    names = {r["name"] for r in payload["results"]}
    assert {"sync_call", "async_call", "stream_2000", "stream_200"} <= names
    assert payload["memory"]["calls"] > 0


# --- bench_openai.py -------------------------------------------------------------------------------


def test_openai_benchmarks_report_numbers(runs: dict[str, Any]) -> None:
    result: Result = runs["openai"]
    lines = parse_bench_lines(result.stdout)
    for capture in (False, True):
        for case in OPENAI_CASES:
            name = case + ("_capture" if capture else "")
            assert name in lines, sorted(lines)
            fields = lines[name]
            assert fields["capture"] == ("on" if capture else "off")
            assert fields["instr"] == "llmotel"
            assert int(fields["rounds"]) >= 1
            keys = OPENAI_STREAM_KEYS if "stream" in case else OPENAI_KEYS
            for key in keys:
                float(fields[key])  # x_floor may be nan when the floor's overhead is lost in noise
            number(fields["bare_us"])
            number(fields["ovh_us"])
    assert int(lines["openai_stream_2000"]["chunks"]) == 2000
    assert int(lines["openai_stream_200"]["chunks"]) == 200
    assert "span check (llmotel" in result.stdout
    assert "BROKEN" not in result.stdout  # every chunk reached the caller through the proxy
    payload = json.loads((runs["tmp"] / "openai.json").read_text())
    assert {c["case"] for c in payload["results"][0]["cases"]} == {"sync", "async", "stream_200", "stream_2000"}


def test_openai_compare_reports_each_contender_or_why_it_was_skipped(runs: dict[str, Any]) -> None:
    lines = parse_bench_lines(runs["compare"].stdout)
    for case in ("openai_sync", "openai_stream_200"):  # the cases the smoke run selects
        fields = lines[f"compare.llmotel.{case}"]
        assert fields["instr"] == "llmotel"
        number(fields["ovh_us"])
    # otel-v2 is not a dependency: measured where it is installed, else skipped with a reason
    if "compare.otel-v2" in lines:
        assert lines["compare.otel-v2"]["status"] == "skipped"
        assert lines["compare.otel-v2"]["reason"]
        assert "otel-v2: skipped:" in runs["compare"].stdout
    else:
        number(lines["compare.otel-v2.openai_sync"]["ovh_us"])


# --- bench_export.py -------------------------------------------------------------------------------


def test_export_benchmark_reports_throughput_and_drops(runs: dict[str, Any]) -> None:
    lines = parse_bench_lines(runs["export"].stdout)
    for protocol in ("grpc", "http"):
        fields = lines[f"export_{protocol}"]
        for key in EXPORT_KEYS:
            number(fields[key])
        created, delivered = int(fields["created"]), int(fields["delivered"])
        assert created > 0 and delivered > 0, fields
        assert int(fields["dropped"]) == created - delivered
        assert int(fields["export_failures"]) == 0, fields


# --- bench_memory.py -------------------------------------------------------------------------------


def test_memory_benchmark_reports_phases_and_no_open_spans(runs: dict[str, Any]) -> None:
    lines = parse_bench_lines(runs["memory"].stdout)
    for phase in MEMORY_PHASES:
        fields = lines[phase]
        for key in MEMORY_KEYS:
            number(fields[key])
        assert int(fields["open_spans"]) == 0, fields
        assert int(fields["current_span_leaked"]) == 0, fields
        assert int(fields["spans_started"]) == int(fields["spans_ended"]) > 0, fields
    assert int(lines["memory_calls"]["calls"]) > 0
    assert int(lines["memory_abandoned_streams"]["streams"]) > 0
    assert "OPEN SPANS LEFT after gc.collect(): 0" in runs["memory"].stdout


# --- the providers' benchmarks ---------------------------------------------------------------------

PROVIDER_KEYS = ("rounds", "bare_us", "ovh_us", "x_bare", "x_floor")


@pytest.mark.parametrize("provider", ["google_genai"])
def test_provider_benchmarks_report_numbers(runs: dict[str, Any], provider: str) -> None:
    result: Result = runs[provider]
    assert result.returncode == 0, result.explain()
    lines = parse_bench_lines(result.stdout)
    for case in ("sync", "async", "stream_200"):
        for name in (f"{provider}.{case}", f"{provider}.{case}_capture"):
            assert name in lines, sorted(lines)
            for key in PROVIDER_KEYS:
                float(lines[name][key])
    assert int(lines[f"{provider}.stream_200"]["chunks"]) == 200


def test_bedrock_benchmark_reports_numbers(runs: dict[str, Any]) -> None:
    result: Result = runs["bedrock"]
    assert result.returncode == 0, result.explain()
    lines = parse_bench_lines(result.stdout)
    for name in ("bedrock.converse", "bedrock.converse_stream_200"):
        assert name in lines, sorted(lines)
        for key in ("rounds", "bare_us", "ovh_us"):
            float(lines[name][key])


# --- bench_faults.py -------------------------------------------------------------------------------

FAULT_SCENARIOS = ("healthy", "down", "restart", "unavailable", "blackhole", "slow")
FAULT_KEYS = ("p50_ms", "p99_ms", "max_ms", "p50_x_healthy", "p99_x_healthy", "rss_growth_mb")
LOAD_KEYS = ("spans", "missing", "duplicated", "misparented", "wall_s")


def test_faults_benchmark_exits_zero_with_well_formed_bench_lines(runs: dict[str, Any]) -> None:
    result: Result = runs["faults"]
    assert result.returncode == 0, result.explain()
    # bench_faults.py prints each scenario's BENCH line under its table row (not all at the end)
    bench = [line for line in result.stdout.splitlines() if line.startswith("BENCH ")]
    assert len(bench) == len(FAULT_SCENARIOS) + 2, result.explain()
    for line in bench:
        for part in line.split()[1:]:
            assert "=" in part and part.split("=", 1)[1], line


def test_faults_benchmark_delivers_everything_after_recovery(runs: dict[str, Any]) -> None:
    lines = parse_bench_lines(runs["faults"].stdout)
    for scenario in FAULT_SCENARIOS:  # --quick: the gRPC transport only
        fields = lines[f"faults.grpc.{scenario}"]
        for key in FAULT_KEYS:
            number(fields[key])
        assert int(fields["after_made"]) == 300, fields
        assert int(fields["after_delivered"]) == int(fields["after_made"]), fields  # delivered after recovery
        assert int(fields["duplicates"]) == 0, fields
        assert int(fields["internal_errors"]) == 0, fields
        assert int(fields["lost"]) >= 0, fields
    assert float(lines["faults.grpc.healthy"]["p99_x_healthy"]) == 1


def test_faults_benchmark_loses_duplicates_and_misparents_no_span_under_load(runs: dict[str, Any]) -> None:
    lines = parse_bench_lines(runs["faults"].stdout)
    threads, streams = lines["faults.threads_16x200"], lines["faults.async_streams_200"]
    assert int(threads["spans"]) == 16 * 200, threads
    assert int(streams["spans"]) == 200, streams
    for fields in (threads, streams):
        for key in LOAD_KEYS:
            number(fields[key])
        assert (int(fields["missing"]), int(fields["duplicated"]), int(fields["misparented"])) == (0, 0, 0), fields
    assert int(streams["chunks_lost"]) == 0, streams
    number(threads["calls_per_s"])
