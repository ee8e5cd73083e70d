"""The ``llmotel`` command: ``llmotel demo`` and ``llmotel doctor``.

Exit codes: 0 success; 1 the check or export failed (the message says why); 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TypeVar

from llmotel._version import __version__
from llmotel.cli._common import EXIT_FAILED as EXIT_FAILED
from llmotel.cli._common import EXIT_OK as EXIT_OK
from llmotel.cli._common import EXIT_USAGE

_Number = TypeVar("_Number", int, float)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``llmotel`` command."""
    parser = argparse.ArgumentParser(
        prog="llmotel",
        description="OpenTelemetry tracing for LLM calls: a built-in demo and a configuration check.",
        epilog="Configuration comes from the standard OTEL_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"llmotel {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a deterministic fake LLM workload and show or export its traces",
        description=(
            "Runs a built-in LLM workload with a fake model (no network, no API key): a chat call, a completion, "
            "a streamed reply, a chain that calls a tool and retries once after a rate-limit error, and a call that "
            "fails. With no exporter configured the traces are printed as trees; with OTEL_EXPORTER_OTLP_ENDPOINT "
            "or OTEL_TRACES_EXPORTER set they are exported there."
        ),
    )
    demo.add_argument("--repeat", type=_positive, default=1, metavar="N", help="run the workload N times (default 1)")
    demo.add_argument(
        "--stream-chunks",
        type=_positive,
        default=24,
        metavar="N",
        help=(
            "content chunks in the streamed reply (default 24); one more follows with the usage, as "
            "the OpenAI API sends with include_usage, so the span reports N+1 llmotel.stream.chunks"
        ),
    )
    demo.add_argument(
        "--latency-ms",
        type=_non_negative_float,
        default=5.0,
        metavar="MS",
        help="simulated model latency per call in milliseconds (default 5; chunks get a tenth)",
    )
    demo.add_argument("--quiet", action="store_true", help="print only the final summary line")

    doctor = commands.add_parser(
        "doctor",
        help="print the effective configuration and send one test span to the configured endpoint",
        description=(
            "Prints the effective configuration (exporter, protocol, endpoint, headers masked, sampler, content "
            "capture, instrumentations), then sends one test span and says whether it was accepted, refused or "
            "could not be delivered, and why."
        ),
    )
    doctor.add_argument(
        "--timeout", type=_positive_float, default=5.0, metavar="S", help="seconds to wait for the endpoint (default 5)"
    )
    doctor.add_argument("--no-send", action="store_true", help="only print the configuration")
    return parser


def _bounded(value: _Number, too_small: bool, message: str) -> _Number:
    """``value``, unless ``too_small``: then the usage error ``message`` (argparse names the option)."""
    if too_small:
        raise argparse.ArgumentTypeError(message)
    return value


# Option types: argparse names the function ("invalid _positive value") when the text is no number.
def _positive(text: str) -> int:
    value = int(text)
    return _bounded(value, value < 1, "must be at least 1")


def _positive_float(text: str) -> float:
    value = float(text)
    return _bounded(value, value <= 0, "must be greater than 0")


def _non_negative_float(text: str) -> float:
    value = float(text)
    return _bounded(value, value < 0, "must not be negative")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmotel`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from llmotel.cli.demo import run_demo

        return run_demo(args)
    if args.command == "doctor":
        from llmotel.cli.doctor import run_doctor

        return run_doctor(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE
