"""Helpers shared by the benchmark scripts (not a benchmark itself): machine description, memory
and CPU-time probes, statistics and the ``BENCH key=value`` summary lines.

Only the standard library and what llmotel already depends on; imported by the scripts in this
directory (running ``python benchmarks/bench_x.py`` puts this directory on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from typing import Any

PACKAGES = (
    "llmotel",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-instrumentation",
    "openai",
    "httpx",
    "httpx2",
    "pydantic",
    "wrapt",
    "grpcio",
    "protobuf",
)


# --- the machine -----------------------------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_info(packages: Iterable[str] = PACKAGES) -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "nproc": usable,
        "cpu": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "loadavg": load,
        "packages": {p: version(p) for p in packages},
    }


def print_machine(info: dict[str, Any] | None = None) -> dict[str, Any]:
    info = info or machine_info()
    print(f"machine: nproc={info['nproc']} cpu={info['cpu']!r} {info['os']}; load average {info['loadavg']}")
    print(f"python:  {info['python']}")
    installed = [f"{k} {v}" for k, v in info["packages"].items() if v != "-"]
    print("packages: " + ", ".join(installed))
    return info


# --- memory and CPU time ---------------------------------------------------------------------------


def rss_bytes() -> int:
    """Current resident set size from ``/proc/self/statm``, else the peak from ``getrusage``."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def task_cpu_ns(tid: int) -> int | None:
    """CPU time (user + system) of one thread of this process from ``/proc/self/task/<tid>/stat``,
    in ns; resolution one clock tick (usually 10 ms). ``None`` when the thread is gone."""
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "; utime, stime are fields 14, 15
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _TICK


def all_tasks_cpu_ns() -> dict[int, int]:
    """``{tid: cpu_ns}`` for every thread of this process (Python and native, e.g. gRPC's)."""
    out: dict[int, int] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for name in tids:
        value = task_cpu_ns(int(name))
        if value is not None:
            out[int(name)] = value
    return out


def pthread_cpu_ns(ident: int | None) -> int | None:
    """Exact CPU time of a live Python thread (``threading.Thread.ident``), read from any thread."""
    if ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return None
    try:
        return time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
    except (OSError, ProcessLookupError):
        return None


# --- statistics ------------------------------------------------------------------------------------


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if not values:
        nan = float("nan")
        return nan, nan, nan
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def bootstrap(
    statistic: Callable[[list[int]], float], n: int, resamples: int = 400, seed: int = 1
) -> tuple[float, float]:
    """90 % percentile-bootstrap interval of ``statistic(indices)`` over ``n`` rounds (resampled
    with replacement: every variant of a round stays paired)."""
    if n < 2:
        value = statistic(list(range(n)))
        return value, value
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        v = statistic(idx)
        if v == v:  # not nan
            values.append(v)
    return percentile(values, 5), percentile(values, 95)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- output ----------------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    """A ``BENCH`` value: floats with up to 4 decimals, no spaces anywhere."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "nan"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.0f}"
    return str(value).replace(" ", "_") or "-"


def bench_line(name: str, **fields: Any) -> str:
    """``BENCH name=... key=value ...``: one line, whitespace-separated, values without spaces."""
    return " ".join([f"BENCH name={fmt(name)}", *(f"{k}={fmt(v)}" for k, v in fields.items())])


def parse_bench_line(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[1:])
