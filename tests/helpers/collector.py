"""For the tests that run llmotel in a subprocess against an in-test OTLP receiver.

A subprocess gets a clean environment (``clean_env``): no inherited ``OTEL_*``/``LLMOTEL_*`` or
colour switches, only what the test sets, usually the OTLP endpoint and protocol of a receiver
(``otlp_env``). The ``receiver``/``grpc_receiver``/``http_receiver`` fixtures are in conftest.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

from helpers.otlp_receiver import GrpcReceiver, HttpReceiver, Mode

Receiver = GrpcReceiver | HttpReceiver  # (OtlpReceiver is the common base class)

RUN_TIMEOUT = 60  # seconds; a hung subprocess fails the test instead of hanging the suite


def clean_env(**values: str) -> dict[str, str]:
    """``os.environ`` without ``OTEL_*``/``LLMOTEL_*`` and colour switches (PATH, HOME... kept), plus ``values``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "LLMOTEL_")) and k not in ("FORCE_COLOR", "NO_COLOR")
    }
    env.update(values)
    return env


def protocol_of(receiver: Receiver | str) -> str:
    """The OTEL_EXPORTER_OTLP_PROTOCOL of a receiver, or of a transport name ("grpc" / "http")."""
    grpc = isinstance(receiver, GrpcReceiver) if not isinstance(receiver, str) else receiver == "grpc"
    return "grpc" if grpc else "http/protobuf"


def otlp_env(receiver: Receiver, **values: str) -> dict[str, str]:
    """A clean environment pointing the OTLP exporters at ``receiver`` (base endpoint and its protocol)."""
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL=protocol_of(receiver), **values
    )


def make_receiver(transport: str, mode: Mode = "ok") -> Receiver:
    return GrpcReceiver(mode) if transport == "grpc" else HttpReceiver(mode)


def closed_port() -> int:
    """A local port nothing listens on (bound, read, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed_script(name: str) -> str:
    """A console script of this environment: next to the interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"console script {name!r} not found: is the package installed (pip install -e .)?"
    return found
