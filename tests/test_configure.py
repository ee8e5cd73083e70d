"""``configure()``, the distro/configurator/exporter entry points and the OTLP traps, end to end.

``configure()`` installs process-global providers and this test process already has its own (see
conftest.py), so every ``configure()`` call runs in a fresh interpreter (a subprocess) that exports
to an in-test OTLP receiver; the receiver decodes what arrived. Only pure helpers, the entry-point
metadata and the distro's environment defaults are tested in-process.

The subprocess runs ``PRELUDE`` (three decorated "LLM" functions, ``workload()`` and ``report()``)
followed by the test's own lines, with a clean environment: no inherited ``OTEL_*``/``LLMOTEL_*``,
only what the test sets (plus ``LLMOTEL_STRICT=1`` so llmotel's own errors surface). Everything a
subprocess exported has been answered by the receiver before the subprocess exits, so after
``subprocess.run`` returns, "nothing arrived" is final.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from helpers import collector
from helpers.collector import Receiver, clean_env, otlp_env
from helpers.otlp_receiver import GrpcReceiver, HttpReceiver, Mode
from llmotel.export.setup import ConfigurationError, _http_signal_endpoint, export_timeout, otlp_protocol

PRELUDE = '''
import json, sys, time
from opentelemetry import metrics, trace
import llmotel
from llmotel.export.setup import configure

@llmotel.trace_chat(provider="acme")
def chat(messages, model, fail=False, **kwargs):
    if fail:
        raise TimeoutError("upstream timed out")
    return {
        "id": "resp-1",
        "model": model + "-2026",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
    }

@llmotel.trace_chat(provider="acme")
def stream_chat(messages, model, stream=True):
    for i in range(3):
        choice = {"index": 0, "delta": {"content": "x"}, "finish_reason": "stop" if i == 2 else None}
        yield {"id": "resp-2", "model": model + "-2026", "choices": [choice]}
    yield {"id": "resp-2", "model": model + "-2026", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}

def workload():
    """Three LLM spans: a chat, a streamed chat (3 chunks + a usage chunk), a chat that fails."""
    chat([{"role": "user", "content": "hello"}], model="acme-1", temperature=0.5)
    for _ in stream_chat([{"role": "user", "content": "stream"}], model="acme-1"):
        pass
    try:
        chat([{"role": "user", "content": "boom"}], model="acme-1", fail=True)
    except TimeoutError:
        pass

def processors(provider):
    return [type(p).__name__ for p in provider._active_span_processor._span_processors]

def report(**values):
    print("RESULT " + json.dumps(values), flush=True)
'''


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def run_app(body: str, env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``PRELUDE + body`` in a fresh interpreter with ``env`` (strict mode on)."""
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + body],
        env={**env, "LLMOTEL_STRICT": "1"},
        capture_output=True,
        text=True,
        timeout=collector.RUN_TIMEOUT,
    )
    if check:
        assert proc.returncode == 0, f"app failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def result_of(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"expected one RESULT line:\n{proc.stdout}\n{proc.stderr}"
    value: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT "))
    return value


def signals(receiver: Receiver) -> list[str]:
    return [r.signal for r in receiver.requests]


def metric_points_in(metrics: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for m in metrics if m["name"] == name for p in m["data_points"]]


def metric_points(receiver: Receiver, name: str) -> list[dict[str, Any]]:
    return metric_points_in(receiver.metrics(), name)


# --------------------------------------------------------------------------------------------------
# pure helpers (in-process)
# --------------------------------------------------------------------------------------------------

_PROTOCOL_VARS = (
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
)


@pytest.mark.parametrize(
    ("env", "signal", "override", "expected"),
    [
        ({}, "traces", None, "grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "traces", None, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": " http/protobuf "}, "metrics", None, "http/protobuf"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            "traces",
            None,
            "http/protobuf",
        ),
        # the per-signal variable of another signal does not count
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, "metrics", None, "grpc"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, "traces", "grpc", "grpc"),
    ],
)
def test_otlp_protocol_resolution(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], signal: str, override: str | None, expected: str
) -> None:
    for name in _PROTOCOL_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert otlp_protocol(signal, override) == expected


@pytest.mark.parametrize("value", ["http/json", "http", "grpc/protobuf"])
def test_otlp_protocol_rejects_what_the_sdk_does_not_support(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", value)
    with pytest.raises(ConfigurationError) as info:
        otlp_protocol()
    message = str(info.value)
    assert repr(value) in message and "'grpc'" in message and "'http/protobuf'" in message


@pytest.mark.parametrize(
    ("generic", "traces", "expected"),
    [
        (None, None, 10.0),
        ("2", None, 2.0),  # seconds, as the Python exporters read it (not the spec's milliseconds)
        ("2.5", None, 2.5),
        ("10000", None, 10000.0),  # taken at its (surprising) word: doctor warns about it
        ("30", "3", 3.0),  # the traces variable wins
        ("abc", None, 10.0),
        ("0", None, 10.0),
        ("-1", None, 10.0),
    ],
)
def test_export_timeout_is_in_seconds(
    monkeypatch: pytest.MonkeyPatch, generic: str | None, traces: str | None, expected: float
) -> None:
    for name, value in (("OTEL_EXPORTER_OTLP_TIMEOUT", generic), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", traces)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert export_timeout() == expected


@pytest.mark.parametrize(
    ("endpoint", "signal", "expected"),
    [
        ("http://collector:4318", "traces", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "traces", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "traces", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces/", "traces", "http://collector:4318/v1/traces/"),
        ("https://gw.example/otlp", "metrics", "https://gw.example/otlp/v1/metrics"),
    ],
)
def test_http_signal_endpoint_appends_the_path_only_when_missing(endpoint: str, signal: str, expected: str) -> None:
    assert _http_signal_endpoint(endpoint, signal) == expected


# --------------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------------


def test_entry_points_are_registered_and_load() -> None:
    from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator
    from opentelemetry.sdk.trace.export import SpanExporter

    from llmotel.export.console import ConsoleTraceExporter
    from llmotel.export.distro import LlmotelConfigurator, LlmotelDistro

    expected = {
        "opentelemetry_distro": ("llmotel.export.distro:LlmotelDistro", LlmotelDistro, BaseDistro),
        "opentelemetry_configurator": (
            "llmotel.export.distro:LlmotelConfigurator",
            LlmotelConfigurator,
            _OTelSDKConfigurator,
        ),
        "opentelemetry_traces_exporter": (
            "llmotel.export.console:ConsoleTraceExporter",
            ConsoleTraceExporter,
            SpanExporter,
        ),
    }
    for group, (value, cls, base) in expected.items():
        name = "llmotel_console" if group == "opentelemetry_traces_exporter" else "llmotel"
        found = list(entry_points(group=group, name=name))
        assert [ep.value for ep in found] == [value], group
        loaded = found[0].load()
        assert loaded is cls and issubclass(loaded, base), group
    scripts = list(entry_points(group="console_scripts", name="llmotel"))
    assert [ep.value for ep in scripts] == ["llmotel.cli:main"]


def test_configure_is_exported_at_the_package_root() -> None:
    import llmotel
    from llmotel.export.setup import configure

    assert llmotel.configure is configure
    assert "configure" in llmotel.__all__


def test_distro_sets_defaults_but_never_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmotel.export.distro import LlmotelDistro

    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.setenv(name, "x")  # recorded, so undo() removes what the distro sets
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    LlmotelDistro().configure()
    assert os.environ["OTEL_TRACES_EXPORTER"] == "otlp"
    assert os.environ["OTEL_METRICS_EXPORTER"] == "otlp"
    assert os.environ["OTEL_LOGS_EXPORTER"] == "otlp"  # the log events follow the traces to OTLP
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


@pytest.mark.parametrize(
    ("traces", "logs", "expected"),
    [
        ("otlp_proto_http", None, "otlp"),
        ("llmotel_console", None, None),  # no OTLP traces: no logs to an endpoint nobody set
        ("otlp", "console", "console"),
    ],
)
def test_distro_logs_default_follows_the_traces(
    monkeypatch: pytest.MonkeyPatch, traces: str, logs: str | None, expected: str | None
) -> None:
    from llmotel.export.distro import LlmotelDistro

    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", traces)
    if logs is not None:
        monkeypatch.setenv("OTEL_LOGS_EXPORTER", logs)
    LlmotelDistro().configure()
    assert os.environ.get("OTEL_LOGS_EXPORTER") == expected


AUTO_APP = (
    PRELUDE.replace("from llmotel.export.setup import configure\n", "")
    + """
import os
workload()
report(provider=type(trace.get_tracer_provider()).__name__, protocol=os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL"))
"""
)


def _opentelemetry_instrument(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = collector.installed_script("opentelemetry-instrument")  # opentelemetry-instrumentation is a dependency
    app = tmp_path / "app.py"
    app.write_text(AUTO_APP)
    env = {**env, "OTEL_PYTHON_DISTRO": "llmotel", "OTEL_PYTHON_CONFIGURATOR": "llmotel"}
    proc = subprocess.run(
        [script, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=collector.RUN_TIMEOUT
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


def test_opentelemetry_instrument_with_the_llmotel_distro_and_configurator(
    tmp_path: Path, grpc_receiver: GrpcReceiver
) -> None:
    # Only the endpoint is set: the distro supplies exporter and protocol defaults, the configurator
    # builds the providers, and the app's decorated calls arrive as spans and metrics.
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=grpc_receiver.endpoint, OTEL_SERVICE_NAME="auto-app")
    result = result_of(_opentelemetry_instrument(tmp_path, env))
    assert result == {"provider": "TracerProvider", "protocol": "grpc"}  # the distro's setdefault ran
    spans = grpc_receiver.wait_for_spans(3)
    assert sorted(s["name"] for s in spans) == ["chat acme-1"] * 3
    assert {s["resource"]["service.name"] for s in spans} == {"auto-app"}
    names = {m["name"] for m in grpc_receiver.wait_for_metrics(lambda ms: bool(ms))}
    assert "gen_ai.client.operation.duration" in names


EVENT_APP = """
from opentelemetry import _logs, trace

from llmotel.telemetry.log_events import emit_details

with trace.get_tracer("app").start_as_current_span("chat acme-1") as span:
    attributes = {"gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]}
    emit_details(_logs.get_logger("llmotel"), trace.set_span_in_context(span), attributes)
"""


def test_opentelemetry_instrument_sends_the_log_events_over_otlp(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    # The SDK configurator installs a LoggerProvider with an exporter per OTEL_LOGS_EXPORTER name,
    # which the distro defaults to otlp alongside the traces.
    script = collector.installed_script("opentelemetry-instrument")
    app = tmp_path / "events_app.py"
    app.write_text(EVENT_APP)
    env = otlp_env(http_receiver, OTEL_PYTHON_DISTRO="llmotel", OTEL_PYTHON_CONFIGURATOR="llmotel")
    del env["OTEL_EXPORTER_OTLP_PROTOCOL"]  # the distro's default (grpc) would not reach this receiver
    env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] = env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
    env["OTEL_METRICS_EXPORTER"] = "none"
    proc = subprocess.run(
        [script, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=collector.RUN_TIMEOUT
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    [record] = http_receiver.wait_for_logs(1)
    [span] = http_receiver.wait_for_spans(1)
    # OpenTelemetry before 1.35 names an event by its event.name attribute
    name = record.get("event_name") or record["attributes"].get("event.name")
    assert name == "gen_ai.client.inference.operation.details"
    assert (record["trace_id"], record["span_id"]) == (span["trace_id"], span["span_id"])
    assert record["attributes"]["gen_ai.input.messages"][0]["role"] == "user"


def test_opentelemetry_instrument_with_the_llmotel_console_exporter(tmp_path: Path) -> None:
    env = clean_env(OTEL_TRACES_EXPORTER="llmotel_console", OTEL_METRICS_EXPORTER="none", OTEL_SERVICE_NAME="auto")
    out = _opentelemetry_instrument(tmp_path, env).stdout
    assert out.count("trace ") == 3 and "auto" in out
    assert "chat acme-1" in out and "tok 7→3" in out and "ERROR TimeoutError: upstream timed out" in out


# --------------------------------------------------------------------------------------------------
# configure(): what arrives at a collector
# --------------------------------------------------------------------------------------------------


def test_spans_and_metrics_arrive_when_the_program_just_exits(receiver: Receiver) -> None:
    # No shutdown() and no flush: configure() flushes traces and metrics at interpreter exit.
    env = otlp_env(
        receiver,
        OTEL_SERVICE_NAME="shop-api",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test,service.version=1.2.3,service.name=ignored",
    )
    result = result_of(
        run_app(
            """
result = configure()
workload()
exporter = result.tracer_provider._active_span_processor._span_processors[0].span_exporter
report(protocol=result.protocol, traces=result.trace_exporters, metrics=result.metric_exporters,
       replaced=result.replaced, processors=processors(result.tracer_provider), exporter=type(exporter).__module__)
""",
            env,
        )
    )
    protocol = collector.protocol_of(receiver)
    kind = "grpc" if protocol == "grpc" else "http"
    assert result == {
        "protocol": protocol,
        "traces": ["otlp"],
        "metrics": ["otlp"],
        "replaced": True,
        "processors": ["BatchSpanProcessor"],
        "exporter": f"opentelemetry.exporter.otlp.proto.{kind}.trace_exporter",
    }
    spans = receiver.wait_for_spans(3)
    assert len(spans) == 3
    assert {s["name"] for s in spans} == {"chat acme-1"}
    assert {s["kind"] for s in spans} == {"CLIENT"}
    assert all(s["parent_span_id"] is None for s in spans)
    resource = spans[0]["resource"]
    assert resource["service.name"] == "shop-api"  # OTEL_SERVICE_NAME wins over the attribute
    assert resource["deployment.environment.name"] == "test"
    assert resource["service.version"] == "1.2.3"
    assert all(s["resource"] == resource for s in spans)
    plain, streamed, failed = sorted(spans, key=lambda s: s["start_time_unix_nano"])
    assert plain["attributes"]["gen_ai.request.temperature"] == 0.5
    assert plain["attributes"]["gen_ai.usage.input_tokens"] == 7
    assert streamed["attributes"]["llmotel.stream.chunks"] == 4
    assert failed["status"]["code"] == 2 and failed["attributes"]["error.type"] == "TimeoutError"
    check_genai_metrics(receiver, "shop-api")
    if isinstance(receiver, HttpReceiver):  # the base endpoint got /v1/<signal> appended
        assert {r.path for r in receiver.requests} == {"/v1/traces", "/v1/metrics"}


def check_genai_metrics(receiver: Receiver, service: str) -> None:
    """The four GenAI client histograms of ``workload()``, with their attributes."""
    metrics = receiver.wait_for_metrics(lambda ms: len({m["name"] for m in ms}) >= 4)
    by_name = {m["name"]: m for m in metrics}
    assert set(by_name) == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.operation.time_per_output_chunk",
    }
    assert by_name["gen_ai.client.operation.duration"]["unit"] == "s"
    assert by_name["gen_ai.client.token.usage"]["unit"] == "{token}"
    assert by_name["gen_ai.client.operation.time_to_first_chunk"]["unit"] == "s"
    assert {m["kind"] for m in metrics} == {"histogram"}
    assert {m["resource"]["service.name"] for m in metrics} == {service}

    ok = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "acme",
        "gen_ai.request.model": "acme-1",
        "gen_ai.response.model": "acme-1-2026",
    }
    duration = metric_points(receiver, "gen_ai.client.operation.duration")
    successes = [p for p in duration if "error.type" not in p["attributes"]]
    failures = [p for p in duration if "error.type" in p["attributes"]]
    assert len(successes) == 1 and ok.items() <= successes[0]["attributes"].items()
    assert successes[0]["count"] == 2  # the plain and the streamed call share attributes
    assert len(failures) == 1 and failures[0]["count"] == 1
    assert failures[0]["attributes"]["error.type"] == "TimeoutError"
    assert failures[0]["attributes"]["gen_ai.request.model"] == "acme-1"
    assert "gen_ai.response.model" not in failures[0]["attributes"]  # it never answered

    tokens = {p["attributes"]["gen_ai.token.type"]: p for p in metric_points(receiver, "gen_ai.client.token.usage")}
    assert set(tokens) == {"input", "output"}
    assert (tokens["input"]["count"], tokens["input"]["sum"]) == (2, 7 + 5)
    assert (tokens["output"]["count"], tokens["output"]["sum"]) == (2, 3 + 3)
    assert all(ok.items() <= p["attributes"].items() for p in tokens.values())

    for name in ("gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.operation.time_per_output_chunk"):
        points = metric_points(receiver, name)
        assert len(points) == 1 and points[0]["count"] == 1, name  # only the streamed call
        assert ok.items() <= points[0]["attributes"].items()


def test_metrics_off_with_llmotel_metrics_enabled_false(grpc_receiver: GrpcReceiver) -> None:
    env = otlp_env(grpc_receiver, LLMOTEL_METRICS_ENABLED="false")
    result = result_of(run_app("r = configure()\nworkload()\nreport(metrics=r.metric_exporters)\n", env))
    assert result == {"metrics": []}
    grpc_receiver.wait_for_spans(3)  # the traces still arrive
    assert set(signals(grpc_receiver)) == {"traces"}
    assert grpc_receiver.attempts == len(grpc_receiver.requests)  # no metrics request was even tried


def test_headers_and_compression_are_read_by_the_exporters_with_per_signal_variants(
    http_receiver: HttpReceiver,
) -> None:
    env = otlp_env(
        http_receiver,
        OTEL_EXPORTER_OTLP_HEADERS="x-api-key=generic-key,x-tenant=acme",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS="x-api-key=traces-key",
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        OTEL_EXPORTER_OTLP_METRICS_COMPRESSION="deflate",
    )
    run_app("configure()\nworkload()\n", env)
    http_receiver.wait_for_spans(3)
    http_receiver.wait_for_metrics(1)
    seen = {
        (r.signal, r.compression, r.headers.get("x-api-key"), r.headers.get("x-tenant")) for r in http_receiver.requests
    }
    # the per-signal variable replaces the generic one for its signal only
    assert seen == {("traces", "gzip", "traces-key", None), ("metrics", "deflate", "generic-key", "acme")}


def test_per_signal_endpoints_and_protocols(grpc_receiver: GrpcReceiver, http_receiver: HttpReceiver) -> None:
    # traces over HTTP to one receiver (per-signal endpoint used verbatim), metrics over gRPC to the
    # other; the generic endpoint points nowhere and must not be used for either.
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.closed_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http_receiver.traces_endpoint,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=grpc_receiver.endpoint,
    )
    result = result_of(run_app("r = configure()\nworkload()\nreport(protocol=r.protocol)\n", env))
    assert result == {"protocol": "http/protobuf"}
    assert len(http_receiver.wait_for_spans(3)) == 3
    grpc_receiver.wait_for_metrics(1)
    assert set(signals(http_receiver)) == {"traces"}
    assert {r.path for r in http_receiver.requests} == {"/v1/traces"}
    assert set(signals(grpc_receiver)) == {"metrics"}


def test_http_traces_endpoint_is_used_verbatim_so_a_base_url_gets_404(http_receiver: HttpReceiver) -> None:
    # The trap: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT gets no /v1/traces appended. The metrics, sent
    # to the generic base endpoint (with /v1/metrics appended), are the positive control.
    env = otlp_env(http_receiver, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http_receiver.endpoint)
    run_app("configure()\nworkload()\n", env)
    http_receiver.wait_for_metrics(1)
    assert http_receiver.spans() == []
    assert {r.path for r in http_receiver.requests} == {"/v1/metrics"}


@pytest.mark.parametrize("insecure", [None, "true"])
def test_grpc_endpoint_without_scheme_uses_tls_unless_insecure(
    grpc_receiver: GrpcReceiver, insecure: str | None
) -> None:
    extra = {"OTEL_EXPORTER_OTLP_INSECURE": insecure} if insecure else {}
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"127.0.0.1:{grpc_receiver.port}",  # no scheme
        OTEL_EXPORTER_OTLP_TIMEOUT="1",  # an integer: opentelemetry < 1.33 parses it with int()
        LLMOTEL_METRICS_ENABLED="false",
        **extra,
    )
    run_app("configure()\nworkload()\n", env)
    if insecure:
        assert len(grpc_receiver.wait_for_spans(3)) == 3
    else:  # a TLS handshake against a plaintext server: no request ever reaches the handler
        assert grpc_receiver.attempts == 0
        assert grpc_receiver.spans() == []


def test_sampler_always_off_drops_spans_but_not_metrics(grpc_receiver: GrpcReceiver) -> None:
    run_app("configure()\nworkload()\n", otlp_env(grpc_receiver, OTEL_TRACES_SAMPLER="always_off"))
    names = {m["name"] for m in grpc_receiver.wait_for_metrics(1)}
    assert "gen_ai.client.operation.duration" in names
    assert grpc_receiver.spans() == []
    assert set(signals(grpc_receiver)) == {"metrics"}


@pytest.mark.parametrize(
    ("sampler", "arg", "description"),
    [
        ("traceidratio", "0.25", "TraceIdRatioBased{0.25}"),
        ("parentbased_traceidratio", "0.5", "ParentBased{root:TraceIdRatioBased{0.5}"),
        (None, None, "ParentBased{root:AlwaysOnSampler"),
    ],
)
def test_sampler_and_its_argument_come_from_the_environment(
    sampler: str | None, arg: str | None, description: str
) -> None:
    env = clean_env(OTEL_TRACES_EXPORTER="none")
    if sampler:
        env["OTEL_TRACES_SAMPLER"] = sampler
    if arg:
        env["OTEL_TRACES_SAMPLER_ARG"] = arg
    result = result_of(run_app("r = configure()\nreport(sampler=r.tracer_provider.sampler.get_description())\n", env))
    assert result["sampler"].startswith(description)


@pytest.mark.parametrize(("value", "disabled"), [("true", True), ("TRUE", True), ("1", False)])
def test_otel_sdk_disabled_has_the_sdk_meaning(grpc_receiver: GrpcReceiver, value: str, disabled: bool) -> None:
    env = otlp_env(grpc_receiver, OTEL_SDK_DISABLED=value)
    result = result_of(
        run_app(
            "r = configure()\nworkload()\n"
            "report(replaced=r.replaced, traces=r.trace_exporters, provider=type(trace.get_tracer_provider()).__name__)\n",
            env,
        )
    )
    if disabled:
        assert result == {"replaced": False, "traces": [], "provider": "ProxyTracerProvider"}
        assert grpc_receiver.requests == [] and grpc_receiver.attempts == 0
    else:
        assert result == {"replaced": True, "traces": ["otlp"], "provider": "TracerProvider"}
        assert len(grpc_receiver.wait_for_spans(3)) == 3


def test_calling_configure_twice_is_harmless(grpc_receiver: GrpcReceiver) -> None:
    result = result_of(
        run_app(
            """
first = configure()
second = configure()
workload()
report(same=first is second, processors=processors(first.tracer_provider),
       global_is_first=trace.get_tracer_provider() is first.tracer_provider)
""",
            otlp_env(grpc_receiver),
        )
    )
    assert result == {"same": True, "processors": ["BatchSpanProcessor"], "global_is_first": True}
    grpc_receiver.wait_for_spans(3)
    assert len(grpc_receiver.spans()) == 3  # each span exported once


def test_calls_made_before_configure_do_not_stop_later_ones_from_arriving(grpc_receiver: GrpcReceiver) -> None:
    # Decorated calls before configure() resolve llmotel's tracer and instruments against the API's
    # proxies; configure() must still route everything after it to the new providers.
    run_app("workload()\nconfigure()\nworkload()\n", otlp_env(grpc_receiver))
    grpc_receiver.wait_for_spans(3)
    assert len(grpc_receiver.spans()) == 3  # the calls before configure() were not recorded
    metrics = grpc_receiver.wait_for_metrics(lambda ms: bool(metric_points_in(ms, "gen_ai.client.token.usage")))
    assert sum(p["count"] for p in metric_points_in(metrics, "gen_ai.client.operation.duration")) == 3


def test_keeps_the_application_provider_unless_forced(grpc_receiver: GrpcReceiver) -> None:
    result = result_of(
        run_app(
            """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

memory = InMemorySpanExporter()
app_provider = TracerProvider()
app_provider.add_span_processor(SimpleSpanProcessor(memory))
trace.set_tracer_provider(app_provider)

kept = configure()
workload()  # goes to the application's provider
kept_info = dict(replaced=kept.replaced, is_app=kept.tracer_provider is app_provider,
                 global_is_app=trace.get_tracer_provider() is app_provider, app_spans=len(memory.get_finished_spans()))
forced = configure(force=True)
workload()  # now goes to the new provider, i.e. the receiver
report(kept=kept_info, forced_replaced=forced.replaced, new_is_global=trace.get_tracer_provider() is forced.tracer_provider,
       app_spans_after=len(memory.get_finished_spans()))
""",
            otlp_env(grpc_receiver),
        )
    )
    assert result == {
        "kept": {"replaced": False, "is_app": True, "global_is_app": True, "app_spans": 3},
        "forced_replaced": True,
        "new_is_global": True,
        "app_spans_after": 3,
    }
    grpc_receiver.wait_for_spans(3)
    assert len(grpc_receiver.spans()) == 3  # only the calls made after configure(force=True)
    grpc_receiver.wait_for_metrics(1)


def test_keyword_arguments_override_the_environment(http_receiver: HttpReceiver) -> None:
    env = clean_env(
        OTEL_TRACES_EXPORTER="none",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.closed_port()}",
        OTEL_EXPORTER_OTLP_HEADERS="x-api-key=from-env",
        OTEL_SERVICE_NAME="from-env",
    )
    body = f"""
r = configure(traces_exporter="otlp", protocol="http/protobuf", endpoint={http_receiver.endpoint!r},
              headers={{"x-api-key": "from-kwargs"}}, service_name="from-kwargs")
workload()
report(protocol=r.protocol, traces=r.trace_exporters, metrics=r.metric_exporters)
"""
    assert result_of(run_app(body, env)) == {"protocol": "http/protobuf", "traces": ["otlp"], "metrics": ["otlp"]}
    spans = http_receiver.wait_for_spans(3)
    http_receiver.wait_for_metrics(1)
    assert {s["resource"]["service.name"] for s in spans} == {"from-kwargs"}
    assert {(r.path, r.headers.get("x-api-key")) for r in http_receiver.requests} == {
        ("/v1/traces", "from-kwargs"),
        ("/v1/metrics", "from-kwargs"),
    }


def test_llmotel_console_exporter_by_name_prints_trees() -> None:
    env = clean_env(OTEL_TRACES_EXPORTER="llmotel_console", OTEL_SERVICE_NAME="console-app")
    proc = run_app("r = configure()\nreport(traces=r.trace_exporters, metrics=r.metric_exporters)\nworkload()\n", env)
    assert result_of(proc) == {"traces": ["llmotel_console"], "metrics": []}  # no OTLP traces: no OTLP metrics
    out = proc.stdout
    assert out.count("trace ") == 3 and out.count("console-app") == 3
    assert "chat acme-1" in out and "tok 7→3" in out and "4 chunks" in out
    assert "ERROR TimeoutError: upstream timed out" in out
    assert "\x1b[" not in out  # a pipe is not a TTY


def test_unknown_exporter_name_is_a_configuration_error() -> None:
    proc = run_app(
        """
from llmotel.export.setup import ConfigurationError
try:
    configure()
except ConfigurationError as exc:
    report(error=str(exc))
""",
        clean_env(OTEL_TRACES_EXPORTER="nope"),
    )
    error = result_of(proc)["error"]
    assert "'nope'" in error and "llmotel_console" in error and "otlp" in error


# --------------------------------------------------------------------------------------------------
# bounded shutdown when the collector misbehaves
# --------------------------------------------------------------------------------------------------

TIMEOUT_S = 1


@pytest.mark.parametrize("mode", ["blackhole"])  # "unavailable": see test_cli's failing-collector tests
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_shutdown_is_bounded_by_the_export_timeout(transport: str, mode: Mode) -> None:
    with collector.make_receiver(transport, mode) as receiver:
        env = otlp_env(receiver, OTEL_EXPORTER_OTLP_TIMEOUT=str(TIMEOUT_S))
        started = time.monotonic()
        proc = run_app(
            """
result = configure()
workload()
t = time.monotonic()
flushed = result.shutdown()
report(flushed=flushed, elapsed=time.monotonic() - t)
""",
            env,
        )
        wall = time.monotonic() - started
        receiver.wait_for_attempts(1)  # it did try
        assert receiver.requests == []
    result = result_of(proc)
    assert "Traceback" not in proc.stderr
    assert result["elapsed"] < TIMEOUT_S + 1.5
    if mode == "blackhole":
        # nobody answers: shutdown gives up when the budget (the timeout, in seconds) runs out
        assert result["flushed"] is False
        assert result["elapsed"] >= TIMEOUT_S * 0.8
    assert wall < 2 * TIMEOUT_S + 5


def test_interpreter_exit_is_bounded_when_the_collector_never_answers() -> None:
    # HTTP: the exporter thread sits in a socket read that only its own timeout ends.
    with HttpReceiver("blackhole") as receiver:
        env = otlp_env(receiver, OTEL_EXPORTER_OTLP_TIMEOUT=str(TIMEOUT_S))
        started = time.monotonic()
        run_app("configure()\nworkload()\n", env)  # no shutdown(): the atexit hook flushes
        wall = time.monotonic() - started
        receiver.wait_for_attempts(1)
    assert wall < 2 * TIMEOUT_S + 5
