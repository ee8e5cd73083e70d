#!/usr/bin/env python3
"""SDK compatibility matrix: each row's SDK version in its own venv, running only that SDK's tests.

Rows, suites and shared test tools live in .ci/matrix.toml. For each selected row this script
creates a venv under /tmp/llmotel-matrix/<row> (outside the checkout), installs llmotel from the
checkout (`pip install -e .`) with the row's pins and the test tools in ONE pip call (so the
resolver has to honour llmotel's own requirements against the pins), then runs the row's test files
with `-p no:cacheprovider -q` from the checkout root. It prints one line per row:

    PASS  openai-1-latest   openai=1.109.1 opentelemetry-sdk=1.45.2 httpx=0.29.0   install 41.2s  tests 7.0s

and exits 0 only if every selected row passed, 1 if any row failed, 2 on a usage error. A row
fails when pip fails, when pytest exits non-zero (5: no test collected), or when its summary shows
no passed test (every test skipped or deselected). The full pip and pytest output of a row is in
/tmp/llmotel-matrix/logs/<row>.log; a failing row's pytest summary lines are printed under its
result line.

A row may add pytest arguments of its own (`pytest_args = ["-W", "ignore::..."]` in matrix.toml),
for example to ignore a warning an old SDK release raises from its own code; they come after the
pyproject.toml configuration, so such a filter takes precedence over its `error`.

Usage:
    python .ci/matrix.py                       # every row, 2 at a time
    python .ci/matrix.py --rows openai-1-oldest,otel-latest
    python .ci/matrix.py --list                # the rows and what they pin
    python .ci/matrix.py --check-index         # newest release on the index per pinned package
    python .ci/matrix.py --fresh               # recreate venvs instead of reusing matching ones

A venv is reused when its recorded install request (pins, tools, python) is the same as the
row's; --fresh always recreates it. Needs Python >= 3.11 (tomllib) to run the script itself.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
MATRIX_FILE = Path(__file__).resolve().with_name("matrix.toml")
BASE_DIR = Path("/tmp/llmotel-matrix")
PIP_TIMEOUT_S = 1200
TEST_TIMEOUT_S = 900

_print_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    suite: str
    pins: tuple[str, ...]
    tests: tuple[str, ...]
    pytest_args: tuple[str, ...] = ()


@dataclasses.dataclass
class Result:
    row: Row
    ok: bool
    stage: str  # "install", "tests" or "done"
    versions: dict[str, str]
    install_s: float
    tests_s: float
    summary: str
    details: list[str]


def load_matrix(path: Path = MATRIX_FILE) -> tuple[list[Row], list[str], list[str]]:
    data = tomllib.loads(path.read_text())
    suites = data["suites"]
    rows: list[Row] = []
    seen: set[str] = set()
    for raw in data["rows"]:
        name = raw["name"]
        if name in seen or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise SystemExit(f"matrix.toml: bad or duplicate row name {name!r}")
        seen.add(name)
        if raw["suite"] not in suites:
            raise SystemExit(f"matrix.toml: row {name}: unknown suite {raw['suite']!r}")
        tests = tuple(suites[raw["suite"]])
        for test in tests:
            if not (REPO / test).is_file():
                raise SystemExit(f"matrix.toml: suite {raw['suite']}: no file {test}")
        pytest_args = raw.get("pytest_args", [])
        if not (isinstance(pytest_args, list) and all(isinstance(a, str) for a in pytest_args)):
            raise SystemExit(f"matrix.toml: row {name}: pytest_args must be a list of strings")
        unknown = set(raw) - {"name", "suite", "pins", "pytest_args"}
        if unknown:
            raise SystemExit(f"matrix.toml: row {name}: unknown key(s) {', '.join(sorted(unknown))}")
        rows.append(Row(name, raw["suite"], tuple(raw["pins"]), tests, tuple(pytest_args)))
    return rows, list(data["tools"]), list(data.get("report", []))


def dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip()


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def emit(text: str) -> None:
    with _print_lock:
        print(text, flush=True)


def run_logged(cmd: list[str], log, timeout: float, cwd: Path | None = None) -> tuple[int, str]:
    """Runs cmd, appends its output to the log, returns (exit code, output)."""
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
        log.write(out + f"\n[timed out after {timeout:.0f}s]\n")
        return 124, out + f"\n[timed out after {timeout:.0f}s]"
    log.write(proc.stdout)
    log.flush()
    return proc.returncode, proc.stdout


def installed_versions(python: Path, names: list[str], log) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'missing'\n"
        "print(json.dumps(out))\n"
    )
    rc, out = run_logged([str(python), "-c", code, *names], log, 60)
    if rc != 0:
        return dict.fromkeys(names, "?")
    return json.loads(out.strip().splitlines()[-1])


def pytest_details(output: str) -> tuple[str, list[str]]:
    """The closing summary line and the FAILED/ERROR lines of a pytest run."""
    lines = output.splitlines()
    summary = next(
        (line.strip() for line in reversed(lines) if re.search(r"\b(passed|failed|error|errors|skipped)\b", line)),
        lines[-1].strip() if lines else "(no output)",
    )
    details = [line for line in lines if line.startswith(("FAILED ", "ERROR ", "SKIPPED ", "XFAIL ", "XPASS "))]
    if not details and "passed" not in summary:
        # Collection crashed before any test ran: show the last lines of the traceback.
        details = [line for line in lines if line.strip()][-8:]
    return summary, details


def passed_count(summary: str) -> int:
    """The number of passed tests in a pytest summary line ("3 failed, 47 passed in 1.48s" -> 47)."""
    match = re.search(r"\b(\d+) passed\b", summary)
    return int(match.group(1)) if match else 0


def tests_verdict(rc: int, summary: str) -> tuple[bool, str | None]:
    """Whether a row's pytest run passed, and why not: a non-zero exit (5: nothing collected) or a
    summary without a single passed test (everything skipped) fails the row."""
    if rc == 5:
        return False, "pytest exit 5: no tests collected"
    if rc != 0:
        return False, None
    if passed_count(summary) == 0:
        return False, "no test passed (all skipped or deselected)"
    return True, None


def run_row(row: Row, tools: list[str], report: list[str], base: Path, fresh: bool) -> Result:
    venv = base / row.name
    python = venv / "bin" / "python"
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    request = {"python": sys.version.split()[0], "pins": list(row.pins), "tools": tools}
    marker = venv / "matrix-request.json"
    pinned = {canon(dist_name(p)) for p in row.pins}
    shown = [dist_name(p) for p in row.pins] + [n for n in report if canon(n) not in pinned]
    with open(logs / f"{row.name}.log", "w") as log:
        t0 = time.monotonic()
        reuse = not fresh and python.exists() and marker.exists() and json.loads(marker.read_text()) == request
        if reuse:
            log.write(f"reusing {venv} (same install request)\n")
            # The checkout may have changed since: refresh the editable install only, no deps.
            rc, out = run_logged(
                [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)], log, PIP_TIMEOUT_S
            )
        else:
            shutil.rmtree(venv, ignore_errors=True)
            rc, out = run_logged([sys.executable, "-m", "venv", str(venv)], log, 300)
            if rc == 0:
                rc, out = run_logged(
                    [str(python), "-m", "pip", "install", "-q", "-e", str(REPO), *row.pins, *tools],
                    log,
                    PIP_TIMEOUT_S,
                )
        install_s = time.monotonic() - t0
        if rc != 0:
            errors = [line for line in out.splitlines() if line.strip()][-6:]
            return Result(row, False, "install", {}, install_s, 0.0, "pip install failed", errors)
        if not reuse:
            marker.write_text(json.dumps(request))
        versions = installed_versions(python, shown, log)
        rc_check, out_check = run_logged([str(python), "-m", "pip", "check"], log, 120)
        t1 = time.monotonic()
        rc, out = run_logged(
            [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", *row.pytest_args, *row.tests],
            log,
            TEST_TIMEOUT_S,
            cwd=REPO,
        )
        tests_s = time.monotonic() - t1
        summary, details = pytest_details(out)
        ok, reason = tests_verdict(rc, summary)
        if reason is not None:
            details = [reason, *details]
        if rc_check != 0:
            details = [f"pip check: {line}" for line in out_check.splitlines() if line.strip()] + details
        return Result(row, ok, "done" if ok else "tests", versions, install_s, tests_s, summary, details)


def format_result(result: Result, width: int) -> str:
    status = "PASS" if result.ok else "FAIL"
    versions = " ".join(f"{k}={v}" for k, v in result.versions.items()) or "-"
    line = (
        f"{status}  {result.row.name:<{width}}  {versions}  "
        f"install {result.install_s:.1f}s  tests {result.tests_s:.1f}s  [{result.summary}]"
    )
    if not result.ok or any(d.startswith("pip check") for d in result.details):
        line += "".join(f"\n      {d}" for d in result.details[:40])
        if len(result.details) > 40:
            line += f"\n      ... {len(result.details) - 40} more in {BASE_DIR / 'logs' / (result.row.name + '.log')}"
    return line


def check_index(rows: list[Row]) -> int:
    """Prints, per pinned package, the matrix's pins and the newest release on the index per major line."""
    names = sorted({dist_name(p) for row in rows for p in row.pins}, key=canon)
    for name in names:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            timeout=300,
        )
        match = re.search(r"Available versions: (.*)", proc.stdout)
        pinned = sorted({p.split("==", 1)[1] for row in rows for p in row.pins if dist_name(p) == name and "==" in p})
        if not match:
            print(f"{name}: no final release listed by `pip index versions` (pinned: {', '.join(pinned)})")
            continue
        newest: dict[str, str] = {}
        for version in match.group(1).split(", "):  # newest first
            newest.setdefault(version.split(".")[0], version)
        lines = ", ".join(f"{major}.x -> {v}" for major, v in newest.items())
        print(f"{name}: pinned {', '.join(pinned)}; newest per major: {lines}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", help="comma-separated row names (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
    parser.add_argument("--jobs", type=int, default=2, help="rows run at the same time (default 2)")
    parser.add_argument("--fresh", action="store_true", help="recreate every selected venv")
    parser.add_argument("--base-dir", type=Path, default=BASE_DIR, help=f"venvs and logs (default {BASE_DIR})")
    parser.add_argument("--matrix", type=Path, default=MATRIX_FILE, help="rows file (default .ci/matrix.toml)")
    parser.add_argument("--check-index", action="store_true", help="newest releases on the index vs. the pins")
    args = parser.parse_args(argv)

    rows, tools, report = load_matrix(args.matrix)
    if args.rows:
        wanted = [name.strip() for name in args.rows.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in {row.name for row in rows}]
        if unknown:
            print(f"unknown row(s): {', '.join(unknown)}; --list shows the rows", file=sys.stderr)
            return 2
        rows = [row for row in rows if row.name in wanted]
    width = max(len(row.name) for row in rows)
    if args.list:
        for row in rows:
            extra = f"  (pytest {' '.join(row.pytest_args)})" if row.pytest_args else ""
            print(f"{row.name:<{width}}  {' '.join(row.pins)}  ->  {' '.join(row.tests)}{extra}")
        return 0
    if args.check_index:
        return check_index(rows)

    started = time.monotonic()
    emit(f"matrix: {len(rows)} row(s), {args.jobs} at a time, venvs in {args.base_dir}")
    results: dict[str, Result] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_row, row, tools, report, args.base_dir, args.fresh): row for row in rows}
        for future in concurrent.futures.as_completed(futures):
            row = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a bug here must still give the row a line and fail the run
                result = Result(row, False, "install", {}, 0.0, 0.0, f"matrix.py error: {exc!r}", [])
            results[row.name] = result
            done = len(results)
            status = "PASS" if result.ok else "FAIL"
            print(f"  [{done}/{len(rows)}] {status} {row.name}", file=sys.stderr, flush=True)
    for row in rows:  # one line per row, in matrix order
        emit(format_result(results[row.name], width))
    failed = [row.name for row in rows if not results[row.name].ok]
    total = time.monotonic() - started
    emit(
        f"matrix: {len(rows) - len(failed)} passed, {len(failed)} failed rows in {total:.0f}s"
        + (f" (failed: {', '.join(failed)})" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
