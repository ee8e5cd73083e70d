"""Smoke test of the decorator benchmark: ``--quick`` runs, exits 0 and prints parseable BENCH lines.

Timings are not asserted (they depend on the machine); only that every benchmark reports numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_decorators.py"

CALLS = ("sync_call", "async_call")
STREAMS = ("stream_2000", "stream_200")
CALL_KEYS = ("plain_us", "floor_us", "llmotel_us", "ratio", "ratio_p25", "ratio_p75")
STREAM_KEYS = (*CALL_KEYS, "chunks", "per_chunk_us", "floor_per_chunk_us")


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


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    json_path = tmp_path_factory.mktemp("bench") / "bench.json"
    env = dict(os.environ)
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(json_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    return proc, json_path


def test_quick_run_exits_zero(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def test_call_benchmarks_report_numbers(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    lines = parse_bench_lines(quick_run[0].stdout)
    for name in CALLS + tuple(f"{n}_capture" for n in CALLS):
        assert name in lines, sorted(lines)
        for key in CALL_KEYS:
            number(lines[name][key])
    assert lines["sync_call"]["capture"] == "off"
    assert lines["sync_call_capture"]["capture"] == "on"


def test_stream_benchmarks_report_per_chunk_numbers(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    lines = parse_bench_lines(quick_run[0].stdout)
    for name in STREAMS + tuple(f"{n}_capture" for n in STREAMS):
        assert name in lines, sorted(lines)
        for key in STREAM_KEYS:
            number(lines[name][key])
    assert int(lines["stream_2000"]["chunks"]) == 2000
    assert int(lines["stream_200"]["chunks"]) == 200


def test_memory_benchmark_reports_deltas(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    lines = parse_bench_lines(quick_run[0].stdout)
    memory = lines["memory"]
    assert int(memory["calls"]) > 0
    number(memory["rss_delta_mb"])
    int(memory["objects_delta"])
    assert "memory_stream" in lines
    number(lines["memory_stream"]["rss_delta_mb"])


def test_human_table_and_json_are_written(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, json_path = quick_run
    assert "content capture off" in proc.stdout
    assert "content capture ON" in proc.stdout
    payload = json.loads(json_path.read_text())
    names = {r["name"] for r in payload["results"]}
    assert {"sync_call", "async_call", "stream_2000", "stream_200"} <= names
    assert payload["memory"]["calls"] > 0
