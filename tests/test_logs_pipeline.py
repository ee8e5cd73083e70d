"""The logs pipeline ``configure()`` sets up for llmotel's GenAI log events, end to end.

Like test_configure.py, every ``configure()`` runs in a fresh interpreter (the global providers can
be set once per process) that exports to an in-test OTLP receiver, with a clean environment. The
subprocess emits the details event the way llmotel's telemetry does: through the Logs API's global
logger, in a span's context, with structured (list/dict) attributes. Everything it exported has
been answered before it exits, so after it returns, "nothing arrived" is final.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from helpers import collector
from helpers.collector import Receiver, clean_env, otlp_env
from helpers.otlp_receiver import GrpcReceiver, HttpReceiver
from llmotel.semconv import EVENT_INFERENCE_DETAILS

MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}]

PRELUDE = f'''
import json, time
from opentelemetry import trace
from opentelemetry._logs import LogRecord, get_logger
from llmotel.export.setup import configure

MESSAGES = {MESSAGES!r}
OUTPUT = {OUTPUT!r}
early_logger = get_logger("llmotel")  # acquired before configure(): a proxy, as llmotel's may be

def call(logger=None, name="chat acme-1"):
    """One "LLM call": a span and, inside it, the details event in the span's context."""
    with trace.get_tracer("app").start_as_current_span(name) as span:
        (logger or get_logger("llmotel")).emit(LogRecord(
            event_name={EVENT_INFERENCE_DETAILS!r},
            attributes={{"gen_ai.operation.name": "chat", "gen_ai.input.messages": MESSAGES,
                         "gen_ai.output.messages": OUTPUT}},
            context=trace.set_span_in_context(span),
        ))
    ctx = span.get_span_context()
    return {{"trace_id": f"{{ctx.trace_id:032x}}", "span_id": f"{{ctx.span_id:016x}}"}}

def report(**values):
    print("RESULT " + json.dumps(values), flush=True)
'''


def run(body: str, env: dict[str, str]) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run ``PRELUDE + body`` in a fresh interpreter (strict mode on unless ``env`` says otherwise);
    return its RESULT and the process."""
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + body],
        env={"LLMOTEL_STRICT": "1", **env},
        capture_output=True,
        text=True,
        timeout=collector.RUN_TIMEOUT,
    )
    assert proc.returncode == 0, f"app failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"expected one RESULT line:\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT "))
    return result, proc


def signals(receiver: Receiver) -> list[str]:
    return [r.signal for r in receiver.requests]


CONFIGURE_AND_CALL = """
r = configure(force=True)
ids = call()
early = call(early_logger, name="early logger")
flushed = r.shutdown()
from opentelemetry import _logs
report(ids=ids, early=early, flushed=flushed, logs=r.log_exporters, provider=type(r.logger_provider).__name__,
       global_provider=type(_logs.get_logger_provider()).__name__)
"""


@pytest.mark.parametrize("logs_protocol", ["generic", "per-signal"])
def test_the_details_event_arrives_with_its_span_ids_and_structured_attributes(
    receiver: Receiver, logs_protocol: str
) -> None:
    env = otlp_env(receiver, OTEL_SERVICE_NAME="events-app")
    if logs_protocol == "per-signal":  # the generic protocol says the other one: the logs' own wins
        protocol = env["OTEL_EXPORTER_OTLP_PROTOCOL"]
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc" if protocol != "grpc" else "http/protobuf"
        env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] = env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = protocol
        env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] = protocol
    result, _ = run(CONFIGURE_AND_CALL, env)
    assert result["flushed"] is True
    assert result["logs"] == ["otlp"]
    assert result["provider"] == result["global_provider"] == "LoggerProvider"  # set globally

    spans = {s["span_id"]: s for s in receiver.wait_for_spans(2)}
    records = receiver.wait_for_logs(2)
    assert len(records) == 2
    for record, ids in zip(records, (result["ids"], result["early"]), strict=True):
        assert record["event_name"] == EVENT_INFERENCE_DETAILS
        assert (record["trace_id"], record["span_id"]) == (ids["trace_id"], ids["span_id"])
        span = spans[ids["span_id"]]
        assert span["trace_id"] == record["trace_id"]  # correlated with the exported span
        assert record["attributes"]["gen_ai.input.messages"] == MESSAGES  # a list of dicts, not a string
        assert record["attributes"]["gen_ai.output.messages"] == OUTPUT
        assert record["attributes"]["gen_ai.operation.name"] == "chat"
        assert record["scope"] == "llmotel"
        assert record["resource"] == span["resource"]  # the same Resource as the traces
        assert record["resource"]["service.name"] == "events-app"
    if isinstance(receiver, HttpReceiver):
        assert {r.path for r in receiver.requests if r.signal == "logs"} == {"/v1/logs"}


def test_logs_exporter_none_sends_no_logs_request_and_traces_still_flow(grpc_receiver: GrpcReceiver) -> None:
    result, _ = run(CONFIGURE_AND_CALL, otlp_env(grpc_receiver, OTEL_LOGS_EXPORTER="none"))
    assert (result["logs"], result["provider"], result["global_provider"]) == ([], "NoneType", "ProxyLoggerProvider")
    assert len(grpc_receiver.wait_for_spans(2)) == 2
    assert "logs" not in signals(grpc_receiver)
    assert grpc_receiver.attempts == len(grpc_receiver.requests)  # no logs request was even tried


def test_logs_endpoint_protocol_and_headers_per_signal(
    grpc_receiver: GrpcReceiver, http_receiver: HttpReceiver
) -> None:
    # Traces and metrics over gRPC to one receiver; logs over HTTP to the other, to their own URL
    # (used verbatim) with their own headers.
    env = otlp_env(
        grpc_receiver,
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http_receiver.logs_endpoint,
        OTEL_EXPORTER_OTLP_HEADERS="x-api-key=generic",
        OTEL_EXPORTER_OTLP_LOGS_HEADERS="x-api-key=logs-key",
    )
    result, _ = run(CONFIGURE_AND_CALL, env)
    assert result["logs"] == ["otlp"]
    assert len(http_receiver.wait_for_logs(2)) == 2
    assert {(r.signal, r.path, r.headers.get("x-api-key")) for r in http_receiver.requests} == {
        ("logs", "/v1/logs", "logs-key")
    }
    grpc_receiver.wait_for_spans(2)
    assert "logs" not in signals(grpc_receiver)


def test_keyword_arguments_choose_the_logs_exporter_and_endpoint(http_receiver: HttpReceiver) -> None:
    env = clean_env(
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.closed_port()}",
    )
    body = f"""
r = configure(logs_exporter="otlp_proto_http", endpoint={http_receiver.endpoint!r}, headers={{"x-k": "kw"}})
ids = call()
report(flushed=r.shutdown(), logs=r.log_exporters, traces=r.trace_exporters)
"""
    result, _ = run(body, env)
    assert result == {"flushed": True, "logs": ["otlp_proto_http"], "traces": []}
    [record] = http_receiver.wait_for_logs(1)
    assert record["event_name"] == EVENT_INFERENCE_DETAILS
    assert {(r.path, r.headers.get("x-k")) for r in http_receiver.requests} == {("/v1/logs", "kw")}


def test_logs_are_off_by_default_when_the_traces_do_not_go_to_otlp() -> None:
    result, _ = run(CONFIGURE_AND_CALL, clean_env(OTEL_TRACES_EXPORTER="none"))
    assert (result["logs"], result["provider"], result["global_provider"]) == ([], "NoneType", "ProxyLoggerProvider")


@pytest.mark.parametrize("logs_variable", [None, "none"])
def test_the_console_path_prints_the_event_under_its_span(logs_variable: str | None) -> None:
    # What `llmotel demo` does without an endpoint: configure(span_exporter=ConsoleTraceExporter()).
    env = clean_env(OTEL_SERVICE_NAME="console-app")
    if logs_variable is not None:
        env["OTEL_LOGS_EXPORTER"] = logs_variable
    body = """
from llmotel.export.console import ConsoleTraceExporter
r = configure(span_exporter=ConsoleTraceExporter(), metrics_exporter="none")
report(logs=r.log_exporters)
call()
r.shutdown()
"""
    result, proc = run(body, env)
    lines = proc.stdout.splitlines()[1:]
    if logs_variable == "none":
        assert result["logs"] == []
        assert "event" not in proc.stdout
        return
    assert result["logs"] == ["llmotel_console"]
    assert lines[0].startswith("trace ") and lines[0].endswith("  console-app")
    assert lines[1].startswith("chat acme-1  ")
    assert lines[2:] == [
        f"   event {EVENT_INFERENCE_DETAILS}",
        "     in      user: hi",
        "     out     assistant: hello  [stop]",
    ]


def test_an_application_logger_provider_is_kept_unless_forced(grpc_receiver: GrpcReceiver) -> None:
    body = """
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

memory = InMemoryLogRecordExporter()
app_provider = LoggerProvider()
app_provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
_logs.set_logger_provider(app_provider)

kept = configure()
call()
kept_info = dict(is_app=kept.logger_provider is app_provider, logs=kept.log_exporters,
                 global_is_app=_logs.get_logger_provider() is app_provider, app_records=len(memory.get_finished_logs()))
kept.shutdown()
forced = configure(force=True)
call(name="after force")
report(kept=kept_info, forced_logs=forced.log_exporters, new_is_global=_logs.get_logger_provider() is forced.logger_provider,
       app_records_after=len(memory.get_finished_logs()), flushed=forced.shutdown())
"""
    result, _ = run(body, otlp_env(grpc_receiver))
    assert result == {
        "kept": {"is_app": True, "logs": [], "global_is_app": True, "app_records": 1},
        "forced_logs": ["otlp"],
        "new_is_global": True,
        "app_records_after": 1,
        "flushed": True,
    }
    [record] = grpc_receiver.wait_for_logs(1)  # only the call made after configure(force=True)
    after = next(s for s in grpc_receiver.wait_for_spans(2) if s["name"] == "after force")
    assert record["span_id"] == after["span_id"]


LLM_APP = """
import llmotel

@llmotel.trace_chat(provider="acme")
def chat(messages, model):
    return {"id": "r1", "model": model, "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}

chat([{"role": "user", "content": "before configure"}], model="acme-1")  # llmotel resolves its logger now
if FORCE:
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
r = configure(force=FORCE)
chat([{"role": "user", "content": "hi"}], model="acme-1")
report(flushed=r.shutdown(), logs=r.log_exporters)
"""


@pytest.mark.parametrize("force", [False, True])
def test_llmotel_decorated_calls_send_their_details_event(http_receiver: HttpReceiver, force: bool) -> None:
    # The emitter's logger, resolved before configure() (or against the providers configure(force=True)
    # replaces), must reach the pipeline configure() set up.
    env = otlp_env(http_receiver, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    result, _ = run(f"FORCE = {force}\n" + LLM_APP, env)
    assert result == {"flushed": True, "logs": ["otlp"]}
    [span] = http_receiver.wait_for_spans(1)
    [record] = http_receiver.wait_for_logs(1)
    assert record["event_name"] == EVENT_INFERENCE_DETAILS
    assert (record["trace_id"], record["span_id"]) == (span["trace_id"], span["span_id"])
    assert record["attributes"]["gen_ai.input.messages"] == MESSAGES
    assert record["attributes"]["gen_ai.request.model"] == "acme-1"
    assert "gen_ai.input.messages" not in span["attributes"]  # EVENT_ONLY: content on the event alone


def test_an_unknown_logs_exporter_name_is_a_configuration_error() -> None:
    body = """
from llmotel.export.setup import ConfigurationError
try:
    configure()
except ConfigurationError as exc:
    report(error=str(exc))
"""
    result, _ = run(body, clean_env(OTEL_LOGS_EXPORTER="nope"))
    assert "'nope'" in result["error"] and "console" in result["error"] and "otlp" in result["error"]


def test_a_logs_exporter_that_fails_to_build_is_logged_once_and_the_app_goes_on(grpc_receiver: GrpcReceiver) -> None:
    # The SDK exporter raises in its constructor for an invalid compression value.
    env = otlp_env(grpc_receiver, OTEL_EXPORTER_OTLP_LOGS_COMPRESSION="bogus", LLMOTEL_STRICT="0")
    result, proc = run(CONFIGURE_AND_CALL, env)
    assert result["logs"] == [] and result["flushed"] is True
    assert len(grpc_receiver.wait_for_spans(2)) == 2  # the traces still flow
    assert "logs" not in signals(grpc_receiver)
    assert proc.stderr.count("llmotel: internal error in configure: the logs exporter 'otlp'") == 1
    assert "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION" in proc.stderr


def test_otel_sdk_disabled_sets_up_no_logs(grpc_receiver: GrpcReceiver) -> None:
    result, _ = run(CONFIGURE_AND_CALL, otlp_env(grpc_receiver, OTEL_SDK_DISABLED="true"))
    assert (result["logs"], result["provider"]) == ([], "NoneType")
    assert grpc_receiver.attempts == 0


# --------------------------------------------------------------------------------------------------
# bounded shutdown when the collector is down
# --------------------------------------------------------------------------------------------------

BUDGET_S = 1
EXPORT_TIMEOUT_S = 30  # what each exporter would keep retrying for, were shutdown() not bounded

BOUNDED_SHUTDOWN = f"""
r = configure()
call()
t = time.monotonic()
flushed = r.shutdown({BUDGET_S})
report(flushed=flushed, elapsed=time.monotonic() - t, logs=r.log_exporters, traces=r.trace_exporters)
"""


@pytest.mark.parametrize("signals_down", ["logs only", "all three"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_shutdown_stays_bounded_when_the_collector_is_down(protocol: str, signals_down: str) -> None:
    # Nothing listens: the exporters retry until their (long) timeout, which shutdown() must not wait for.
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.closed_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_TIMEOUT=str(EXPORT_TIMEOUT_S),
    )
    if signals_down == "logs only":
        env.update(OTEL_TRACES_EXPORTER="none", LLMOTEL_METRICS_ENABLED="false", OTEL_LOGS_EXPORTER="otlp")
    result, proc = run(BOUNDED_SHUTDOWN, env)
    assert result["logs"] == ["otlp"]
    assert result["traces"] == ([] if signals_down == "logs only" else ["otlp"])
    assert result["flushed"] is False  # the logs could not be delivered: the budget ran out
    assert result["elapsed"] < BUDGET_S + 1.5  # the same bound whatever number of signals wait
    assert "Traceback" not in proc.stderr
