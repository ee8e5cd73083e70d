"""Noise-free cost figures: instructions, cache misses and branch mispredictions per call, counted
by valgrind's cachegrind rather than timed.

Timings on a shared VM move with the host's load (the same run can be 1.7x slower an hour later);
counts do not. Each variant runs in a child process under ``valgrind --tool=cachegrind`` twice, with
0 and with N calls after the same warm-up; the difference divided by N is the per-call figure, so
interpreter start-up and imports cancel out. Run::

    python benchmarks/bench_counts.py                      # decorators: plain, floor, llmotel
    python benchmarks/bench_counts.py --openai             # + the openai SDK call: bare, floor, llmotel
    python benchmarks/bench_counts.py --openai --contenders llmotel,otel-v2   # in a venv that has them
    python benchmarks/bench_counts.py --openai-stream --contenders llmotel,otel-v2   # 200-chunk streams
    python benchmarks/bench_counts.py --quick              # smoke run

Needs ``valgrind`` on PATH (prints ``BENCH name=counts status=skipped`` otherwise). The variants are
the same code ``bench_decorators.py`` and ``bench_openai.py`` time. Columns: ``Ir`` instructions,
``I1``/``D1`` level-1 instruction/data cache misses (cachegrind's simulated caches of this CPU),
``Bm`` mispredicted branches, split into conditional (``Bcm``) and indirect (``Bim``) ones;
cachegrind's indirect-branch predictor is far simpler than a real CPU's, so ``Bim`` is the least
trustworthy column (CPython's interpreter dispatches every opcode by an indirect jump). Overhead =
variant minus the untraced call; ratio = llmotel's overhead / the floor's (decorators) or / the
contender's (openai).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = ("Ir", "I1", "D1", "Bm", "Bcm", "Bim")
CAPTURE_SWITCH = "LLMOTEL_COUNTS_CAPTURE"
"""Set to 1 by ``--capture``: the openai variants run with content capture on."""


def _child(kind: str, variant: str, calls: int) -> None:
    """Runs inside valgrind: warm up, then ``calls`` calls of ``variant``."""
    import gc

    sys.path.insert(0, str(HERE))
    if kind == "decorators":
        import bench_decorators as bd

        bd.setup_pipeline(False)
        bd.set_capture(False)
        chunks = bd.make_chunks(3)
        obj = {"plain": bd.FakeChat, "floor": bd.FloorChat, "llmotel": bd.TracedChat}[variant](chunks)
        bd.sync_call_batch(obj, 2000)
        gc.collect()
        gc.disable()
        bd.sync_call_batch(obj, calls)
        return
    import bench_openai as bo

    pipeline = bo.setup_pipeline(False)
    clients = bo.Clients()
    capture = os.environ.get(CAPTURE_SWITCH) == "1"
    floor = bo.Floor(pipeline.tracer_provider.get_tracer("floor"), capture)
    if variant not in ("bare", "floor"):
        contender = bo.CONTENDERS[variant]
        bo.set_capture_env(contender, capture)
        bo.instrument(contender, pipeline)
    if kind == "openai_stream":  # a 200-chunk stream read to its end
        client = clients.sync[200]

        def one() -> None:
            chunks = (
                floor.stream(client.chat.completions, bo.STREAM_KW)
                if variant == "floor"
                else client.chat.completions.create(**bo.STREAM_KW)
            )
            for _chunk in chunks:
                pass

        warm = 3
    else:
        client = clients.sync["call"]

        def one() -> None:
            if variant == "floor":
                floor.create(client.chat.completions, bo.KW)
            else:
                client.chat.completions.create(**bo.KW)

        warm = 300
    for _ in range(warm):
        one()
    gc.collect()
    gc.disable()
    for _ in range(calls):
        one()


_SUMMARY = {
    "Ir": re.compile(r"I\s+refs:\s+([\d,]+)"),
    "I1": re.compile(r"I1\s+misses:\s+([\d,]+)"),
    "D1": re.compile(r"D1\s+misses:\s+([\d,]+)"),
    "Bm": re.compile(r"Mispredicts:\s+([\d,]+)"),
    "Bcm": re.compile(r"Mispredicts:\s+[\d,]+\s+\(\s*([\d,]+) cond"),
    "Bim": re.compile(r"Mispredicts:\s+[\d,]+\s+\(\s*[\d,]+ cond \+\s+([\d,]+) ind"),
}


def _count(kind: str, variant: str, calls: int) -> dict[str, int]:
    # ``setarch -R``: no address-space randomization, so hashes of ids and allocation patterns (and
    # with them the counts) repeat from run to run; without it they vary by about +-10k per call
    setarch = ["setarch", "-R"] if shutil.which("setarch") else []
    cmd = [
        *setarch,
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=yes",
        "--branch-sim=yes",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        variant,
        str(calls),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind}/{variant}: valgrind exited {out.returncode}: {out.stderr[-800:]}")
    found = {}
    for event, pattern in _SUMMARY.items():
        match = pattern.search(out.stderr)
        if match is None:
            raise RuntimeError(f"{kind}/{variant}: no {event} in valgrind's summary")
        found[event] = int(match.group(1).replace(",", ""))
    return found


def per_call(kind: str, variant: str, calls: int) -> dict[str, float]:
    """Per-call counts: (run with ``calls`` calls) minus (run with 0 calls), over ``calls``."""
    base = _count(kind, variant, 0)
    full = _count(kind, variant, calls)
    return {event: (full[event] - base[event]) / calls for event in EVENTS}


def report(kind: str, variants: list[str], calls: int, reference: str, baseline: str, suffix: str = "") -> list[str]:
    results = {v: per_call(kind, v, calls) for v in variants}
    print(f"\n== {kind}{suffix}: per call, {calls} calls (counts minus a 0-call run) ==")
    print(
        f"{'variant':10s} "
        + " ".join(f"{e:>10s}" for e in EVENTS)
        + "   overhead: "
        + " ".join(f"{e:>9s}" for e in EVENTS)
    )
    for v, r in results.items():
        over = {e: r[e] - results[baseline][e] for e in EVENTS}
        print(
            f"{v:10s} "
            + " ".join(f"{r[e]:10.0f}" for e in EVENTS)
            + "             "
            + " ".join(f"{over[e]:9.0f}" for e in EVENTS)
        )
    lines = []
    if "llmotel" in results:
        for other in (o for o in variants if o not in ("llmotel", baseline)):
            ratios = {}
            for e in EVENTS:
                theirs = results[other][e] - results[baseline][e]
                ours = results["llmotel"][e] - results[baseline][e]
                ratios[e] = ours / theirs if theirs > 0 else float("nan")
            label = "floor" if other == reference else other
            print(f"llmotel overhead / {label} overhead: " + "  ".join(f"{e} {ratios[e]:.3f}" for e in EVENTS))
            fields = " ".join(f"{e.lower()}_ratio={ratios[e]:.4f}" for e in EVENTS)
            lines.append(f"BENCH name=counts.{kind}{suffix}.vs_{label} calls={calls} {fields}")
    for v, r in results.items():
        fields = " ".join(f"{e.lower()}={r[e]:.1f}" for e in EVENTS)
        lines.append(f"BENCH name=counts.{kind}{suffix}.{v} calls={calls} {fields}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="few calls (smoke run)")
    p.add_argument("--openai", action="store_true", help="also the openai SDK call (slower: ~1 min per variant)")
    p.add_argument("--openai-stream", action="store_true", help="also a 200-chunk openai stream (~3 min per variant)")
    p.add_argument("--contenders", default="llmotel", help="openai variants besides bare (comma-separated)")
    p.add_argument("--capture", action="store_true", help="openai variants with content capture on")
    p.add_argument(
        "--streams",
        type=int,
        default=20,
        help="streams per --openai-stream run (default 20; more streams, less run-to-run noise)",
    )
    p.add_argument("--child", nargs=3, metavar=("KIND", "VARIANT", "CALLS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind not found: no counts")
        print("BENCH name=counts status=skipped reason=no-valgrind")
        return 0
    lines = report("decorators", ["plain", "floor", "llmotel"], 50 if args.quick else 3000, "floor", "plain")
    variants = ["bare", "floor", *[c for c in args.contenders.split(",") if c]]
    suffix = ""
    if args.capture:
        os.environ[CAPTURE_SWITCH] = "1"
        suffix = "_capture"
    if args.openai:
        lines += report("openai", variants, 20 if args.quick else 1000, "floor", "bare", suffix)
    if args.openai_stream:
        lines += report("openai_stream", variants, 2 if args.quick else args.streams, "floor", "bare", suffix)
    print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
