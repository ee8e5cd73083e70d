"""GenAI log events: one ``gen_ai.client.inference.operation.details`` record per LLM call, in the
content modes that ask for it, correlated with the call's span, with structured content.

Every producer is covered (decorators, openai, anthropic, LangChain, LlamaIndex), plus the four
modes, the ``OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT`` override, unsampled spans, failures, and bad
input (a LoggerProvider that raises, content that is not JSON, huge messages, binary parts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from llama_index.core.llms import ChatMessage, MockLLM
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

import llmotel
from conftest import finished
from helpers import fake_anthropic, fake_openai
from helpers.events import assert_correlated, details, event_attrs, one_detail
from helpers.spans import attrs, instrumented
from llmotel import semconv as sc
from llmotel._safety import internal_error_counts
from llmotel.integrations import llama_index as li
from llmotel.integrations.anthropic import AnthropicInstrumentor
from llmotel.integrations.langchain import LlmotelCallbackHandler
from llmotel.integrations.openai import OpenAIInstrumentor
from llmotel.telemetry import _otel_compat

MODE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)
USER = [{"role": "user", "content": "What is 2+2?"}]
RESPONSE = {
    "id": "resp-1",
    "model": "m-2024",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 1},
}
INPUT = [{"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}]


@llmotel.trace_chat(provider="openai", model="m")
def chat(messages: Any, **kwargs: Any) -> dict[str, Any]:
    return RESPONSE


def span_content(span: Any) -> set[str]:
    """The content attributes on a span and its chunk events."""
    keys = {k for k in attrs(span) if k in CONTENT_KEYS}
    keys |= {k for e in span.events for k in (e.attributes or {}) if k.endswith(".content")}
    return keys


# --- modes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "on_span", "events", "on_event"),
    [
        (None, False, False, False),
        ("NO_CONTENT", False, False, False),
        ("false", False, False, False),
        ("SPAN_ONLY", True, False, False),
        ("true", True, False, False),
        ("event_only", False, True, True),  # case-insensitive
        ("EVENT_ONLY", False, True, True),
        ("SPAN_AND_EVENT", True, True, True),
        ("bogus", False, False, False),
    ],
)
def test_the_four_modes(env: Any, mode: str | None, on_span: bool, events: bool, on_event: bool) -> None:
    if mode is not None:
        env(**{MODE: mode})
    chat(USER, system="be terse")

    [span] = finished()
    assert (span_content(span) == set(CONTENT_KEYS)) is on_span
    assert span_content(span) in (set(), set(CONTENT_KEYS))
    assert len(details()) == (1 if events else 0)
    if events:
        record = one_detail()
        assert_correlated(record, span)
        a = event_attrs(record)
        assert {k for k in a if k in CONTENT_KEYS} == (set(CONTENT_KEYS) if on_event else set())


def test_event_carries_the_calls_genai_attributes_and_structured_content(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY"})
    chat(USER, system="be terse", temperature=0.2)

    [span] = finished()
    record = one_detail()
    assert _otel_compat.event_name(record) == "gen_ai.client.inference.operation.details"
    assert_correlated(record, span)
    assert event_attrs(record) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.id": "resp-1",
        "gen_ai.response.model": "m-2024",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 1,
        "gen_ai.system_instructions": [{"type": "text", "content": "be terse"}],
        "gen_ai.input.messages": INPUT,
        "gen_ai.output.messages": OUTPUT,
    }
    # structured values, not JSON strings
    assert not isinstance(record.attributes["gen_ai.input.messages"], str)


def test_emit_event_override(env: Any) -> None:
    env(**{MODE: "SPAN_ONLY", "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT": "true"})
    chat(USER)
    [span] = finished()
    assert span_content(span) == {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES}
    a = event_attrs(one_detail())  # an event, without content: the mode keeps content on spans
    assert a["gen_ai.response.id"] == "resp-1" and not any(k in a for k in CONTENT_KEYS)


def test_emit_event_false_turns_events_off(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY", "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT": "false"})
    chat(USER)
    [span] = finished()
    assert span_content(span) == set() and details() == []


def test_semconv_opt_in_changes_nothing_here(env: Any) -> None:
    env(**{MODE: "SPAN_AND_EVENT", "OTEL_SEMCONV_STABILITY_OPT_IN": "http,gen_ai_latest_experimental"})
    chat(USER)
    [span] = finished()
    assert span_content(span) == {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES}
    assert event_attrs(one_detail())[sc.GEN_AI_INPUT_MESSAGES] == INPUT


# --- failures, streams, sampling -----------------------------------------------------------------


class Boom(RuntimeError):
    pass


@llmotel.trace_chat(provider="openai", model="m")
def failing_chat(messages: Any) -> Any:
    raise Boom("provider down")


def test_failed_call_event_has_error_type(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY"})
    with pytest.raises(Boom):
        failing_chat(USER)
    [span] = finished()
    record = one_detail()
    assert_correlated(record, span)
    a = event_attrs(record)
    assert a["error.type"] == "test_log_events.Boom"
    assert a[sc.GEN_AI_INPUT_MESSAGES] == INPUT and sc.GEN_AI_OUTPUT_MESSAGES not in a


@llmotel.trace_chat(provider="openai", model="m")
def streaming_chat(messages: Any) -> Iterator[str]:
    yield "Hel"
    yield "lo"


def test_stream_emits_one_event_when_it_ends(env: Any) -> None:
    env(**{MODE: "SPAN_AND_EVENT"})
    stream = streaming_chat(USER)
    assert next(stream) == "Hel"
    assert details() == []  # not before the stream ends
    assert list(stream) == ["lo"]
    [span] = finished()
    record = one_detail()
    assert_correlated(record, span)
    assert event_attrs(record)[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": "Hello"}]


def test_stream_closed_early_still_emits_one_event(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY"})
    stream = streaming_chat(USER)
    next(stream)
    stream.close()
    stream.close()
    assert len(details()) == 1


def unsampled_chat() -> tuple[Any, InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return llmotel.trace_chat(provider="openai", model="m", tracer_provider=provider)(chat.__wrapped__), spans


def test_unsampled_calls_emit_no_event_by_default(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY"})
    fn, spans = unsampled_chat()
    assert fn(USER) == RESPONSE
    assert spans.get_finished_spans() == () and details() == []


def test_unsampled_calls_emit_events_when_asked(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY", "LLMOTEL_EVENTS_UNSAMPLED": "true"})
    fn, spans = unsampled_chat()
    fn(USER)
    record = one_detail()
    assert spans.get_finished_spans() == ()
    assert record.trace_id != 0 and record.span_id != 0  # the unsampled span's ids, for correlation
    a = event_attrs(record)
    assert (a["gen_ai.response.id"], a[sc.GEN_AI_INPUT_MESSAGES]) == ("resp-1", INPUT)


def test_explicit_logger_provider(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY"})
    records = _otel_compat.InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    fn = llmotel.trace_chat(provider="openai", model="m", logger_provider=provider)(chat.__wrapped__)
    fn(USER)
    [record] = records.get_finished_logs()
    assert _otel_compat.event_name(record.log_record) == sc.EVENT_INFERENCE_DETAILS and details() == []


# --- bad input -----------------------------------------------------------------------------------


class RaisingLoggerProvider(LoggerProvider):
    def get_logger(self, *args: Any, **kwargs: Any) -> Any:
        logger = super().get_logger(*args, **kwargs)

        def emit(*a: Any, **k: Any) -> None:
            raise OSError("logs pipeline broken")

        logger.emit = emit  # type: ignore[method-assign]
        return logger


def test_a_raising_logger_provider_never_reaches_the_app(env: Any, caplog: pytest.LogCaptureFixture) -> None:
    env(**{MODE: "EVENT_ONLY", "LLMOTEL_STRICT": "0"})
    fn = llmotel.trace_chat(provider="openai", model="m", logger_provider=RaisingLoggerProvider())(chat.__wrapped__)
    with caplog.at_level(logging.WARNING, logger="llmotel"):
        assert fn(USER) == RESPONSE
        assert fn(USER) == RESPONSE
    [span1, _span2] = finished()
    assert span1.status.status_code == StatusCode.UNSET
    assert internal_error_counts() == {"log event": 2}
    assert [r.getMessage() for r in caplog.records if "log event" in r.getMessage()] != []
    assert len([r for r in caplog.records if "log event" in r.getMessage()]) == 1  # warned once


class NotJson:
    def __repr__(self) -> str:
        return "<NotJson>"


def test_hostile_content_is_bounded_and_structured(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY", "LLMOTEL_CONTENT_MAX_LENGTH": "400"})
    messages = [
        {"role": "user", "content": "x" * 100_000},
        {"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": NotJson()}]},
        {"role": "user", "content": b"\x00\xffbinary"},
    ]
    assert chat(messages) == RESPONSE
    a = event_attrs(one_detail())
    serialized = json.dumps(a[sc.GEN_AI_INPUT_MESSAGES])
    assert len(serialized) <= 400 + 50  # bounded (json.dumps spaces vs the compact form)
    assert isinstance(a[sc.GEN_AI_INPUT_MESSAGES], list) and a[sc.GEN_AI_INPUT_MESSAGES]


# --- every producer ------------------------------------------------------------------------------


@pytest.fixture
def event_only(env: Any) -> None:
    env(**{MODE: "EVENT_ONLY"})


def test_openai_chat_and_stream(event_only: None) -> None:
    with instrumented(OpenAIInstrumentor()), fake_openai.sync_client(fake_openai.FakeOpenAI()) as client:
        client.chat.completions.create(model="gpt-4o", messages=USER)
        for _ in client.chat.completions.create(model="gpt-4o", messages=USER, stream=True):
            pass
    spans = [s for s in finished() if s.name == "chat gpt-4o"]
    records = [r.log_record for r in details()]
    assert len(spans) == len(records) == 2
    for span, record in zip(spans, records, strict=True):
        assert_correlated(record, span)
        a = event_attrs(record)
        assert a["gen_ai.provider.name"] == "openai" and a[sc.GEN_AI_INPUT_MESSAGES] == INPUT
        assert a[sc.GEN_AI_OUTPUT_MESSAGES][0]["role"] == "assistant"
        assert span_content(span) == set()


def test_anthropic_messages(event_only: None) -> None:
    with instrumented(AnthropicInstrumentor()), fake_anthropic.sync_client(fake_anthropic.FakeAnthropic()) as client:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=USER, system="be terse")
    [span] = [s for s in finished() if s.name.startswith("chat ")]
    record = one_detail()
    assert_correlated(record, span)
    a = event_attrs(record)
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "be terse"}]
    assert a[sc.GEN_AI_INPUT_MESSAGES] == INPUT and a[sc.GEN_AI_OUTPUT_MESSAGES]
    assert span_content(span) == set()


def test_langchain_chat_model(event_only: None) -> None:
    model = GenericFakeChatModel(messages=iter(["four"]))
    model.invoke("What is 2+2?", config={"callbacks": [LlmotelCallbackHandler()]})
    [span] = [s for s in finished() if s.name.startswith("chat")]
    record = one_detail()
    assert_correlated(record, span)
    a = event_attrs(record)
    assert a[sc.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]}]
    assert a[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"][0]["content"] == "four"
    assert span_content(span) == set()


def test_llama_index_llm(event_only: None) -> None:
    li.attach()
    try:
        MockLLM(max_tokens=3).chat([ChatMessage(role="user", content="What is 2+2?")])
    finally:
        li.detach()
    [span] = [s for s in finished() if s.name.startswith("chat")]
    record = one_detail()
    assert_correlated(record, span)
    a = event_attrs(record)
    assert a[sc.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]}]
    assert sc.GEN_AI_OUTPUT_MESSAGES in a
    assert span_content(span) == set()
