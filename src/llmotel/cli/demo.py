"""``llmotel demo``: a deterministic LLM workload through the public decorators, with a fake model.

No network and no API key: the fake model answers from fixed data after a simulated latency.
One run makes: a chat call, a text completion, a streamed reply, a chain that calls a tool and
retries once after a rate-limit error, and a call that fails.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from llmotel import semconv as sc
from llmotel.callbacks import Callbacks, TracingHandler, trace_chain
from llmotel.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from llmotel.export.console import ConsoleTraceExporter
from llmotel.export.setup import ConfigurationError, configure, sdk_disabled, shutdown_timeout
from llmotel.telemetry.chains import add_event
from llmotel.wrap.decorators import trace_chat, trace_completion

PROVIDER = "llmotel.fake"


class FakeRateLimitError(Exception):
    """What a provider raises on HTTP 429."""

    status_code = 429


class FakeServiceUnavailableError(Exception):
    """What a provider raises on HTTP 503."""

    status_code = 503


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class FakeChatModel:
    """A deterministic stand-in for an LLM client (OpenAI-shaped responses)."""

    def __init__(self, model: str, latency_s: float, stream_chunks: int) -> None:
        self.model = model
        self.temperature = 0.2
        self.max_tokens = 256
        self.api_key = "sk-demo-never-recorded"  # secret-like fields never reach the trace
        self.base_url = "http://fake-llm.invalid:8080/v1"
        self._latency = latency_s
        self._chunks = stream_chunks
        self._failures: list[Exception] = []
        self._counter = 0

    def fail_next(self, error: Exception) -> None:
        """Make the next call raise ``error`` (rate limits, outages)."""
        self._failures.append(error)

    def _next_id(self) -> str:
        self._counter += 1
        return f"chatcmpl-demo-{self._counter:04d}"

    def _wait(self) -> None:
        if self._latency:
            time.sleep(self._latency)
        if self._failures:
            raise self._failures.pop(0)

    @trace_chat(provider=PROVIDER)
    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        self._wait()
        last = str(messages[-1].get("content", "")) if messages else ""
        tools = kwargs.get("tools")
        if tools and messages[-1].get("role") == "user":
            tool_call = {
                "id": "call_weather_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
            reason = "tool_calls"
        else:
            answer = (
                "Paris." if "capital" in last else f"It is {last}." if messages[-1].get("role") == "tool" else "OK."
            )
            message = {"role": "assistant", "content": answer}
            reason = "stop"
        return {
            "id": self._next_id(),
            "model": f"{self.model}-2026-01-01",
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": _usage(12 + 4 * len(messages), 6),
        }

    @trace_completion(provider=PROVIDER)
    def complete(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        self._wait()
        return {
            "id": self._next_id(),
            "model": f"{self.model}-2026-01-01",
            "choices": [{"index": 0, "text": " there was a trace.", "finish_reason": "length"}],
            "usage": _usage(4, 5),
        }

    @trace_chat(provider=PROVIDER)
    def stream_chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
        self._wait()
        response_id = self._next_id()
        words = ["Tracing", " makes", " every", " call", " visible", "."]
        for i in range(self._chunks):
            if self._latency:
                time.sleep(self._latency / 10)
            last = i == self._chunks - 1
            yield {
                "id": response_id,
                "model": f"{self.model}-2026-01-01",
                "choices": [
                    {"index": 0, "delta": {"content": words[i % len(words)]}, "finish_reason": "stop" if last else None}
                ],
            }
        yield {"id": response_id, "model": f"{self.model}-2026-01-01", "choices": [], "usage": _usage(9, self._chunks)}


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def get_weather(city: str) -> str:
    """The demo's tool."""
    return f"18°C and sunny in {city}"


def weather_chain(llm: FakeChatModel, tracer: trace.Tracer, max_retries: int = 2) -> str:
    """A small tool-calling chain: model → tool → model, retrying after a rate-limit error.

    It reports its lifecycle through llmotel's chain callbacks; the tracing handler turns them into
    span events and the ``execute_tool`` span under the chain span.
    """
    handlers = Callbacks(TracingHandler())
    chain = {"name": "weather-agent"}  # stands for the application's chain object
    with trace_chain("weather-agent", chain=chain) as run:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "What's the weather in Paris?"}]
        first = llm.chat(messages, tools=[WEATHER_TOOL])
        reply = first["choices"][0]["message"]
        call = reply["tool_calls"][0]
        handlers.fire("on_tool_call_identified", chain, call, get_weather)
        messages.append(reply)
        handlers.fire("on_tool_execution_started", chain, call, get_weather)
        result = get_weather("Paris")
        handlers.fire("on_tool_execution_completed", chain, call, result)
        tool_message = {"role": "tool", "tool_call_id": call["id"], "content": result}
        handlers.fire("on_tool_response_created", chain, tool_message)
        messages.append(tool_message)
        llm.fail_next(FakeRateLimitError("429 Too Many Requests: rate limit reached, retry after 0.01s"))
        for attempt in range(max_retries + 1):
            try:
                final = llm.chat(messages)
                break
            except FakeRateLimitError as exc:
                add_event(
                    run.span,
                    "llmotel.retry",
                    {"llmotel.retry.attempt": attempt + 1, sc.ERROR_TYPE: type(exc).__qualname__},
                )
                time.sleep(llm._latency)
        else:  # pragma: no cover - the demo retries once and succeeds
            handlers.fire("on_retries_exceeded", chain)
            raise RuntimeError("retries exceeded")
        answer = final["choices"][0]["message"]
        handlers.fire("on_message_processed", chain, answer)
        return str(answer["content"])


def run_workload(llm: FakeChatModel, tracer: trace.Tracer) -> int:
    """One run of the demo workload; returns the number of LLM calls made."""
    llm.chat([{"role": "user", "content": "What is the capital of France?"}], temperature=0.0, seed=7)
    llm.complete("Once upon a time", max_tokens=5)
    "".join(
        c["choices"][0]["delta"]["content"]
        for c in llm.stream_chat([{"role": "user", "content": "Why trace LLM calls?"}], stream=True)
        if c["choices"]
    )
    weather_chain(llm, tracer)
    llm.fail_next(FakeServiceUnavailableError("503 Service Unavailable: the model is overloaded"))
    with contextlib.suppress(FakeServiceUnavailableError):  # recorded as an ERROR span; the program goes on
        llm.chat([{"role": "user", "content": "Are you there?"}])
    return 7


class _SpanCounter(SpanProcessor):
    def __init__(self) -> None:
        self.count = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.count += 1


class _ExportProblems(logging.Handler):
    """Collects the SDK exporters' log records so the demo can summarise them in one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []
        self.warnings = 0
        self.settled = True
        """False when the exporters were still busy at the end (they may log later)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())
        else:
            self.warnings += 1


_EXPORT_LOGGERS = ("opentelemetry.exporter", "opentelemetry.sdk", "opentelemetry.sdk._shared_internal")


def _wants_export() -> bool:
    return bool(
        os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def run_demo(args: argparse.Namespace) -> int:
    """Run ``llmotel demo``; returns the exit code."""
    problems = _ExportProblems()
    saved = []
    for name in _EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.addHandler(problems)
        logger.propagate = False
    try:
        return _run(args, problems)
    finally:
        # Exporters still waiting on an unresponsive endpoint log their failure later, during
        # interpreter exit; leave them captured then, so the summary line stays the last word.
        if problems.settled:
            for logger, propagate in saved:
                logger.removeHandler(problems)
                logger.propagate = propagate


def _run(args: argparse.Namespace, problems: _ExportProblems) -> int:
    export = _wants_export()
    if "service.name=" not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        os.environ.setdefault("OTEL_SERVICE_NAME", "llmotel-demo")
    try:
        if export:
            configured = configure()
        elif args.quiet:  # nothing configured and only the summary line wanted: record, show nothing
            configured = configure(traces_exporter="none", metrics_exporter="none")
        else:  # nothing configured: show the traces right here (configure() pairs the console
            # exporter's log exporter, so the log events are printed under their spans too)
            configured = configure(span_exporter=ConsoleTraceExporter(), metrics_exporter="none")
    except ConfigurationError as exc:
        print(f"llmotel demo: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    counter = _SpanCounter()
    add = getattr(configured.tracer_provider, "add_span_processor", None)
    if add is not None:
        add(counter)
    tracer = trace.get_tracer("llmotel.demo")
    llm = FakeChatModel("llmotel-fake-1", args.latency_ms / 1000, args.stream_chunks)
    started = time.perf_counter()
    calls = 0
    show_progress = args.repeat > 1 and not args.quiet
    for run in range(args.repeat):
        calls += run_workload(llm, tracer)
        if show_progress and (sys.stderr.isatty() or (run + 1) % max(1, args.repeat // 10) == 0):
            end = "\r" if sys.stderr.isatty() and run + 1 < args.repeat else "\n"
            print(f"llmotel demo: run {run + 1}/{args.repeat}, {calls} LLM calls", end=end, file=sys.stderr)
    elapsed = time.perf_counter() - started
    # Flush: prints the trees (console) or sends the last batch (OTLP), within the shutdown budget.
    flushed = configured.shutdown()
    if sdk_disabled():
        target = "nowhere (OTEL_SDK_DISABLED=true)"
    elif export:
        target = _describe_target(configured.trace_exporters, configured.protocol)
    else:
        target = "console (--quiet: trees not shown)" if args.quiet else "console"
    summary = (
        f"llmotel demo: {args.repeat} run(s), {calls} LLM calls, {counter.count} spans in {elapsed:.2f}s; "
        f"traces -> {target}"
    )
    print(summary)
    problems.settled = flushed
    if not flushed and not problems.errors:  # the exporters are still waiting (a black-holed endpoint)
        problems.errors.append(
            f"no answer within the shutdown budget ({shutdown_timeout():g}s, LLMOTEL_SHUTDOWN_TIMEOUT, in seconds)"
        )
    if problems.errors:
        print(
            f"llmotel demo: telemetry could not be exported (traces -> {target}): {problems.errors[-1]}\n"
            "  Run 'llmotel doctor' to check the endpoint and configuration.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _describe_target(exporters: list[str], protocol: str | None) -> str:
    if not exporters:
        return "nowhere (OTEL_TRACES_EXPORTER=none)"
    parts = []
    for name in exporters:
        if name.startswith("otlp"):
            from llmotel.cli.doctor import traces_endpoint

            parts.append(f"otlp/{protocol} {traces_endpoint(protocol or 'grpc')}")
        else:
            parts.append(name)
    return ", ".join(parts)
