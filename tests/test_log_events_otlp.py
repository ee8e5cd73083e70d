"""GenAI details events end to end, over real OTLP (gRPC and HTTP receivers on 127.0.0.1): for
``llmotel demo`` and for one call of each integration (decorator, openai, anthropic, LangChain,
LlamaIndex), one details event per LLM call, correlated with its span, in ``EVENT_ONLY`` and
``SPAN_AND_EVENT``; none in the other modes; none with ``OTEL_LOGS_EXPORTER=none``.

Each run is a fresh interpreter (``configure()`` sets the global providers once per process) that
has flushed everything before it exits, so after it returns, "nothing arrived" is final.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import collector
from helpers.collector import Receiver, otlp_env
from llmotel import semconv as sc

TESTS = Path(__file__).resolve().parent
MODE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CONTENT_KEYS = {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES}
EVENT_MODES = ("EVENT_ONLY", "SPAN_AND_EVENT")
MODES = ("NO_CONTENT", "SPAN_ONLY", *EVENT_MODES)

APP = """
import llmotel
from llmotel.export.setup import configure
configured = configure()
from helpers import fake_anthropic, fake_openai
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from llama_index.core.llms import ChatMessage, MockLLM
from llmotel.integrations import llama_index as li
from llmotel.integrations.anthropic import AnthropicInstrumentor
from llmotel.integrations.langchain import LlmotelCallbackHandler
from llmotel.integrations.openai import OpenAIInstrumentor

USER = [{"role": "user", "content": "What is 2+2?"}]

@llmotel.trace_chat(provider="acme", model="decorated")
def decorated(messages):
    return {"id": "dec-1", "model": "decorated", "choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}]}

decorated(USER)
OpenAIInstrumentor().instrument()
AnthropicInstrumentor().instrument()
with fake_openai.sync_client(fake_openai.FakeOpenAI()) as client:
    client.chat.completions.create(model="gpt-4o", messages=USER)
with fake_anthropic.sync_client(fake_anthropic.FakeAnthropic()) as client:
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=USER)
GenericFakeChatModel(messages=iter(["four"])).invoke("What is 2+2?", config={"callbacks": [LlmotelCallbackHandler()]})
li.attach()
MockLLM(max_tokens=3).chat([ChatMessage(role="user", content="What is 2+2?")])
li.detach()

import os
if os.environ["EXTRA_PROVIDERS"] == "1":
    from helpers import fake_cohere, fake_google_genai, fake_mistral, fake_ollama
    from llmotel.integrations.cohere import CohereInstrumentor
    from llmotel.integrations.google_genai import GoogleGenAIInstrumentor
    from llmotel.integrations.mistral import MistralInstrumentor
    from llmotel.integrations.ollama import OllamaInstrumentor
    for instrumentor in (GoogleGenAIInstrumentor, MistralInstrumentor, CohereInstrumentor, OllamaInstrumentor):
        instrumentor().instrument()
    gemini = fake_google_genai.sync_client(fake_google_genai.FakeGemini())  # (kept: a dropped client closes)
    gemini.models.generate_content(model="gemini-2.5-flash", contents="What is 2+2?")
    mistral = fake_mistral.client(fake_mistral.FakeMistral())
    mistral.chat.complete(model="mistral-small-latest", messages=USER)
    cohere_client = fake_cohere.sync_client(fake_cohere.FakeCohere())
    cohere_client.chat(model="command-a-03-2025", messages=USER)
    ollama_client = fake_ollama.sync_client(fake_ollama.FakeOllama())
    ollama_client.chat(model="llama3.2", messages=USER)
assert configured.shutdown(), "not everything was delivered"
"""


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package (google) is absent
        return False


EXTRA_PROVIDERS = all(_installed(name) for name in ("google.genai", "mistralai", "cohere", "ollama"))
"""Whether these SDKs are installed: always with the test extra; not in the matrix's OpenTelemetry
rows (mistralai needs a newer OpenTelemetry than their oldest), where the other producers run."""
PROVIDERS = sorted(
    ["acme", "anthropic", "genericfakechatmodel", "openai", "unknown"]
    + (["gcp.gen_ai", "mistral_ai", "cohere", "ollama"] if EXTRA_PROVIDERS else [])
)
"""The providers of the LLM spans ``APP`` makes, one call per producer (LlamaIndex's MockLLM: unknown)."""
CALLS = len(PROVIDERS)


def run_app(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", APP],
        env={
            **env,
            "LLMOTEL_STRICT": "1",
            "PYTHONPATH": str(TESTS),
            "ANTHROPIC_OPEN_TELEMETRY": "0",
            "EXTRA_PROVIDERS": "1" if EXTRA_PROVIDERS else "0",
        },
        capture_output=True,
        text=True,
        timeout=collector.RUN_TIMEOUT,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr


def llm_spans(receiver: Receiver) -> list[dict[str, Any]]:
    return [
        s
        for s in receiver.spans()
        if s["kind"] == "CLIENT" and s["attributes"].get("gen_ai.operation.name") in ("chat", "generate_content")
    ]


def details(receiver: Receiver) -> list[dict[str, Any]]:
    """The details records the receiver got (named by the event.name attribute before OTel 1.35)."""
    return [
        r
        for r in receiver.logs()
        if (r["event_name"] or r["attributes"].get("event.name")) == sc.EVENT_INFERENCE_DETAILS
    ]


def assert_one_correlated_event_per_call(spans: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    by_span = {(s["trace_id"], s["span_id"]): s for s in spans}
    assert len(events) == len(spans)
    assert sorted((e["trace_id"], e["span_id"]) for e in events) == sorted(by_span)
    for event in events:
        span = by_span[(event["trace_id"], event["span_id"])]
        assert event["attributes"]["gen_ai.provider.name"] == span["attributes"]["gen_ai.provider.name"]
        assert event["scope"] == "llmotel"


@pytest.mark.parametrize("mode", MODES)
def test_every_integration_in_every_mode(receiver: Receiver, mode: str) -> None:
    run_app(otlp_env(receiver, **{MODE: mode}))
    spans = llm_spans(receiver)
    assert sorted(s["attributes"]["gen_ai.provider.name"] for s in spans) == PROVIDERS
    events = details(receiver)
    span_content = [set(s["attributes"]) >= CONTENT_KEYS for s in spans]
    assert span_content == [mode in ("SPAN_ONLY", "SPAN_AND_EVENT")] * CALLS
    if mode not in EVENT_MODES:
        assert events == [] and "logs" not in {r.signal for r in receiver.requests}
        return
    assert_one_correlated_event_per_call(spans, events)
    for event in events:  # structured content, decoded from OTLP AnyValue lists and maps
        messages = event["attributes"][sc.GEN_AI_INPUT_MESSAGES]
        assert isinstance(messages, list) and messages[0]["role"] == "user"
        assert isinstance(messages[0]["parts"], list)
        assert event["attributes"][sc.GEN_AI_OUTPUT_MESSAGES][0]["role"] == "assistant"


def test_logs_exporter_none_sends_no_event(receiver: Receiver) -> None:
    run_app(otlp_env(receiver, **{MODE: "SPAN_AND_EVENT", "OTEL_LOGS_EXPORTER": "none"}))
    assert len(llm_spans(receiver)) == CALLS
    assert "logs" not in {r.signal for r in receiver.requests}


@pytest.mark.parametrize("mode", ["EVENT_ONLY", "SPAN_AND_EVENT", "SPAN_ONLY", None])
def test_demo(receiver: Receiver, mode: str | None) -> None:
    env = otlp_env(receiver, **({MODE: mode} if mode else {}))
    proc = subprocess.run(
        [sys.executable, "-m", "llmotel", "demo", "--latency-ms", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=collector.RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    spans = [s for s in receiver.spans() if s["kind"] == "CLIENT"]
    assert len(spans) == 7  # the demo's LLM calls
    events = details(receiver)
    if mode in EVENT_MODES:
        assert_one_correlated_event_per_call(spans, events)
        assert all(sc.GEN_AI_INPUT_MESSAGES in e["attributes"] for e in events)
    else:
        assert events == []
