"""``llmotel doctor``: the effective configuration, then one test span sent to the endpoint.

It resolves settings the way the SDK exporters do (without changing them), prints them with
header values masked, probes the endpoint's TCP port, exports one span with a short timeout and
says plainly what happened: accepted, refused (the endpoint answered no) or not delivered.

It also says where message content goes (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``),
whether the GenAI details log events are emitted, and where the logs pipeline sends them (or why
it is off), as ``llmotel.configure()`` would set it up.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from importlib.metadata import entry_points
from importlib.util import find_spec
from urllib.parse import unquote, urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmotel import config
from llmotel import semconv as sc
from llmotel.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from llmotel.config import settings
from llmotel.export.setup import (
    GRPC,
    LOGS,
    TRACES,
    ConfigurationError,
    is_otlp,
    otlp_protocol_for,
    otlp_span_exporter,
    sdk_disabled,
)
from llmotel.integrations.registry import LIBRARIES

_DEFAULT_GRPC = "http://localhost:4317"
_DEFAULT_HTTP = "http://localhost:4318"


def otlp_endpoint(protocol: str, signal: str = "traces") -> str:
    """The endpoint the SDK exporter of ``signal`` will use for ``protocol``, resolved like the exporter."""
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    generic = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if protocol == GRPC:
        return specific or generic or _DEFAULT_GRPC
    if specific:
        return specific  # used verbatim: must include /v1/<signal>
    return (generic or _DEFAULT_HTTP).rstrip("/") + f"/v1/{signal}"


def traces_endpoint(protocol: str) -> str:
    """The traces endpoint the SDK exporter will use for ``protocol``, resolved like the exporter."""
    return otlp_endpoint(protocol, "traces")


def _grpc_tls(endpoint: str) -> str:
    insecure = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_INSECURE") or os.environ.get("OTEL_EXPORTER_OTLP_INSECURE") or ""
    )
    scheme = urlsplit(endpoint).scheme if "://" in endpoint else ""
    if scheme == "https":
        return "TLS (https://)"
    if insecure.strip().lower() == "true":
        return "plaintext (OTEL_EXPORTER_OTLP_INSECURE=true)"
    if scheme == "http":
        return "plaintext (http://)"
    return "TLS: the endpoint has no scheme, so the gRPC exporter uses TLS; write http://host:port for plaintext"


def masked_headers(signal: str = "traces") -> list[str]:
    """Configured OTLP header names (for ``signal``) with their values masked."""
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS")
    raw = specific or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS") or ""
    out = []
    for item in raw.split(","):
        if "=" not in item:
            continue
        name, value = item.split("=", 1)
        value = unquote(value.strip())
        shown = "****" if len(value) <= 8 else f"{value[:2]}…{value[-2:]} ({len(value)} chars)"
        out.append(f"{unquote(name.strip())}={shown}")
    return out


def _instrumentations() -> list[str]:
    disabled = {n.strip() for n in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",") if n.strip()}
    lines = []
    for ep in sorted(entry_points(group="opentelemetry_instrumentor"), key=lambda e: e.name):
        if not ep.value.startswith("llmotel"):
            continue
        state = "disabled" if ep.name in disabled or "*" in disabled else "enabled"
        library = LIBRARIES.get(ep.name)
        if library is None:  # llmotel_configured
            targets = os.environ.get("LLMOTEL_INSTRUMENT", "").strip()
            lines.append(f"{ep.name}: LLMOTEL_INSTRUMENT={targets or '(unset)'}, {state}")
            continue
        installed = find_spec(library.split(".")[0]) is not None
        lines.append(f"{ep.name}: {library} {'installed' if installed else 'not installed'}, {state}")
    return lines or ["(no llmotel instrumentation is registered)"]


# content mode -> where the prompts and completions go
_CONTENT_PLACES = {
    config.NO_CONTENT: "nowhere (prompts and completions are not recorded)",
    config.SPAN_ONLY: "to spans",
    config.EVENT_ONLY: "to events (the details log events)",
    config.SPAN_AND_EVENT: "to both spans and events (the details log events)",
}


def content_capture() -> tuple[bool, str]:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` as llmotel reads it: whether the
    details log events are emitted, and the row saying where content goes."""
    s = settings()
    raw = os.environ.get(config.CAPTURE_CONTENT_ENV, "").strip()
    if config.content_mode(raw) is None:
        modes = ", ".join(config.CONTENT_MODES)
        return s.emit_events, f"{raw!r} is not one of {modes}: content goes nowhere"
    mode = s.content_mode
    if not raw:
        shown = f"{mode} (default)"
    else:
        shown = mode if raw.upper() == mode else f"{mode} ({config.CAPTURE_CONTENT_ENV}={raw})"
    return s.emit_events, f"{shown}: content goes {_CONTENT_PLACES[mode]}"


def logs_pipeline(trace_exporters: list[str]) -> list[tuple[str, str]]:
    """The rows describing the logs pipeline ``configure()`` sets up: exporters, protocol and
    endpoint, or ``off`` and why. Raises ``ConfigurationError`` for an unsupported protocol."""
    named = LOGS.named(None)
    names = LOGS.names(None, "otlp" if any(is_otlp(n) for n in trace_exporters) else "none")
    if not names and not named and "llmotel_console" in trace_exporters:
        return [("logs exporter", "llmotel_console (the events are printed under their span)")]
    if not names:
        if named:
            why = "OTEL_LOGS_EXPORTER=none"
        else:
            traces = ", ".join(trace_exporters) or "none"
            why = f"no OTLP endpoint: the traces go to {traces}, and OTEL_LOGS_EXPORTER is unset"
        return [("logs exporter", f"off ({why})")]
    rows = [("logs exporter", ", ".join(names))]
    otlp = next((n for n in names if is_otlp(n)), None)
    if otlp is not None:
        protocol = otlp_protocol_for(otlp, "logs")
        rows += [("logs protocol", protocol), ("logs endpoint", otlp_endpoint(protocol, "logs"))]
        if os.environ.get("OTEL_EXPORTER_OTLP_LOGS_HEADERS"):
            rows.append(("logs headers", ", ".join(masked_headers("logs")) or "(none)"))
    return rows


def _print_configuration(protocol: str | None, exporters: list[str], logs: list[tuple[str, str]]) -> None:
    s = settings()
    resource = Resource.create()
    timeout = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    rows = [
        ("service.name", str(resource.attributes.get("service.name"))),
        ("traces exporter", ", ".join(exporters) or "none"),
    ]
    if protocol is not None:
        endpoint = traces_endpoint(protocol)
        rows += [("protocol", protocol), ("endpoint", endpoint)]
        if protocol == GRPC:
            rows.append(("transport", _grpc_tls(endpoint)))
        headers = masked_headers()
        rows.append(("headers", ", ".join(headers) if headers else "(none)"))
        timeout_note = f"{timeout} s" if timeout else "10 s (default)"
        if timeout and _float(timeout) >= 1000:
            timeout_note += "  <- seconds in Python: 10000 means almost 3 hours"
        rows.append(("timeout", timeout_note))
        rows.append(("compression", os.environ.get("OTEL_EXPORTER_OTLP_COMPRESSION", "none")))
    sampler = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on (default)")
    arg = os.environ.get("OTEL_TRACES_SAMPLER_ARG")
    events, content = content_capture()
    logs_off = logs[0][1].startswith("off")
    if not events:
        event_row = f"not emitted (emitted with EVENT_ONLY / SPAN_AND_EVENT, or {config.EMIT_EVENT_ENV}=true)"
    elif logs_off:
        event_row = "emitted, but the logs pipeline is off: they go nowhere"
    else:
        event_row = "emitted, one per LLM call (gen_ai.client.inference.operation.details)"
    rows += [
        ("sampler", f"{sampler} {arg}" if arg else sampler),
        ("content capture", content),
        ("log events", event_row),
        *logs,
        ("metrics", "on" if s.metrics_enabled else "off (LLMOTEL_METRICS_ENABLED=false)"),
        ("chunk events per stream", str(s.stream_chunk_events)),
    ]
    if sdk_disabled():
        rows.append(("SDK", "DISABLED (OTEL_SDK_DISABLED=true): nothing is recorded"))
    width = max(len(k) for k, _ in rows)
    print("llmotel doctor: effective configuration")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    print("  instrumentations:")
    for line in _instrumentations():
        print(f"    {line}")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _probe(endpoint: str, protocol: str, timeout: float) -> str | None:
    """A reason the endpoint cannot be reached at TCP level, or ``None`` when it accepts connections."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 4317 if protocol == GRPC else 4318)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"cannot resolve host {host!r}: check the endpoint's host name"
    except ConnectionRefusedError:
        return f"connection refused by {host}:{port}: nothing is listening there (is the collector running?)"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g}s (wrong host, firewall, or black-holed port)"
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _explain(messages: list[str], protocol: str) -> str:
    text = " | ".join(messages)
    hints = [
        ("404", "HTTP 404: wrong path; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used verbatim and must end in /v1/traces"),
        ("UNAUTHENTICATED", "the endpoint wants credentials: check OTEL_EXPORTER_OTLP_HEADERS"),
        ("401", "HTTP 401: the endpoint wants credentials: check OTEL_EXPORTER_OTLP_HEADERS"),
        ("403", "HTTP 403: the credentials were refused: check OTEL_EXPORTER_OTLP_HEADERS"),
        ("SSL", "TLS handshake failed: use http:// for a plaintext collector, or set OTEL_EXPORTER_OTLP_CERTIFICATE"),
        ("UNAVAILABLE", "the endpoint is unavailable (collector down, overloaded, or TLS/plaintext mismatch)"),
        ("DEADLINE_EXCEEDED", "the endpoint did not answer before the timeout"),
        ("503", "HTTP 503: the collector is unavailable or overloaded"),
        ("Timeout", "the endpoint did not answer before the timeout"),
    ]
    for needle, hint in hints:
        if needle in text:
            return f"{hint}\n    exporter said: {text[:400]}"
    return text[:400] or "the exporter reported a failure without details"


def run_doctor(args: argparse.Namespace) -> int:
    """Run ``llmotel doctor``; returns the exit code."""
    config.reload_settings()  # this environment, not settings read before it was changed
    exporters = TRACES.names(None, "otlp")
    otlp = next((n for n in exporters if is_otlp(n)), None)
    try:
        protocol = None if otlp is None else otlp_protocol_for(otlp, "traces")
        logs = logs_pipeline(exporters)
    except ConfigurationError as exc:
        print(f"llmotel doctor: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_configuration(protocol, exporters, logs)
    if args.no_send:
        return EXIT_OK
    if protocol is None:
        print("\nNo OTLP exporter is configured: traces go to " + (", ".join(exporters) or "nowhere") + ".")
        return EXIT_OK
    endpoint = traces_endpoint(protocol)
    print(f"\nSending one test span to {endpoint} ({protocol}) ...")
    reason = _probe(endpoint, protocol, args.timeout)
    if reason is not None:
        print(f"NOT DELIVERED: {reason}")
        return EXIT_FAILED
    capture = _Capture()
    logger = logging.getLogger("opentelemetry.exporter")
    logger.addHandler(capture)
    saved = logger.propagate
    logger.propagate = False
    try:
        exporter = otlp_span_exporter(protocol, timeout=args.timeout)
        provider = TracerProvider(resource=Resource.create(), shutdown_on_exit=False)
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        with provider.get_tracer("llmotel.doctor").start_as_current_span(
            "llmotel doctor test span", attributes={sc.GEN_AI_OPERATION_NAME: "chat", "llmotel.doctor": True}
        ):
            pass
        result = exporter.export(list(memory.get_finished_spans()))
        exporter.shutdown()
        provider.shutdown()
    except Exception as exc:  # a broken configuration (bad certificate path...) is reported, not raised
        print(f"NOT DELIVERED: the exporter could not be set up: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        logger.removeHandler(capture)
        logger.propagate = saved
    if result is SpanExportResult.SUCCESS:
        print("ACCEPTED: the endpoint took the test span (look for 'llmotel doctor test span' in your backend).")
        return EXIT_OK
    print(f"REFUSED: the endpoint answered but did not accept the span: {_explain(capture.messages, protocol)}")
    return EXIT_FAILED
