"""The examples in examples/ run and show what the README says they show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMOTEL_"))}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True, timeout=120, env=env
    )


def test_quickstart_prints_its_spans() -> None:
    result = run("quickstart.py")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "chat fake-gpt  (CLIENT" in result.stdout
    assert "gen_ai.usage.input_tokens = 9" in result.stdout
    assert "llmotel.stream.chunks = 4" in result.stdout
    assert "sk-not-recorded" not in result.stdout


def test_tool_chain_example_traces_the_callbacks() -> None:
    result = run("tool_chain.py")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "answer: The sum is 5." in out
    assert "invoke_workflow calculator" in out
    assert "[tool] execute_tool add" in out
    assert "llmotel.tool.call_identified" in out
    assert "ERROR __main__.RateLimited" in out
    assert "llmotel.chain.error_message_created" in out
