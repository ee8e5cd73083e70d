"""Running next to the official OpenTelemetry GenAI instrumentation: one LLM span per call, not two.

The official packages (``opentelemetry-instrumentation-genai-openai``, formerly ``-openai-v2``)
go through the OTel GenAI util (``opentelemetry-util-genai``), which keeps its inference in the
context under ``opentelemetry.genai.client.inference.context``. The outer instrumentation wins:
llmotel does not trace a call made under the util's inference, and puts the util's
``InferenceData`` in its own inference context, so the official instrumentation inside it records
nothing. With both patching ``chat.completions.create``, the one instrumented last wraps the other
and is the one whose span the user sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.resources.chat.completions import Completions
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as OfficialOpenAIInstrumentor
from opentelemetry.util.genai.handler import TelemetryHandler

import llmotel
from conftest import TRACER_PROVIDER, finished
from helpers import fake_openai
from helpers.spans import attrs, instrumented, is_child
from llmotel.integrations.openai import OpenAIInstrumentor

USER = [{"role": "user", "content": "hi"}]
LLMOTEL_SCOPE = "llmotel"


def scopes() -> list[tuple[str, str]]:
    return [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else "") for s in finished()]


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    with fake_openai.sync_client(fake_openai.FakeOpenAI()) as sdk:
        yield sdk


@pytest.fixture
def handler() -> TelemetryHandler:
    return TelemetryHandler(tracer_provider=TRACER_PROVIDER, instrumentation_scope_name="official-util")


@pytest.fixture
def llmotel_openai() -> Iterator[None]:
    with instrumented(OpenAIInstrumentor()):
        yield


def test_under_the_utils_inference_llmotel_records_nothing(
    llmotel_openai: None, client: openai.OpenAI, handler: TelemetryHandler
) -> None:
    with handler.inference("openai", request_model="gpt-4o"):
        assert client.chat.completions.create(model="gpt-4o", messages=USER).id
    assert scopes() == [("chat gpt-4o", "official-util")]


def test_under_llmotels_span_the_utils_inference_records_nothing(handler: TelemetryHandler) -> None:
    @llmotel.trace_chat(provider="openai", model="gpt-4o")
    def chat() -> dict[str, Any]:
        with handler.inference("openai", request_model="gpt-4o") as inner:
            inner.response_id = "inner"
        return {"id": "r", "model": "gpt-4o", "choices": []}

    chat()
    assert scopes() == [("chat gpt-4o", LLMOTEL_SCOPE)]


def test_llmotel_calls_still_fold_and_nest_as_before_with_the_util_loaded(tracer: Any) -> None:
    @llmotel.trace_chat(provider="openai", model="inner")
    def inner() -> dict[str, Any]:
        return {"id": "inner-id", "model": "inner", "choices": []}

    @llmotel.trace_chat(provider="openai", model="outer")
    def outer(step: bool) -> Any:
        if step:
            with tracer.start_as_current_span("user step"):
                return inner()
        return inner()

    outer(False)
    [folded] = finished()
    assert (folded.name, attrs(folded)["gen_ai.response.id"]) == ("chat outer", "inner-id")
    outer(True)
    nested, step, outer_span = finished()[1:]
    assert (nested.name, step.name, outer_span.name) == ("chat inner", "user step", "chat outer")
    assert is_child(nested, step) and is_child(step, outer_span)


@pytest.mark.parametrize("last", ["official", "llmotel"])
def test_both_instrumentations_on_the_same_call_make_one_span(last: str, client: openai.OpenAI) -> None:
    original = vars(Completions)["create"]
    official, ours = OfficialOpenAIInstrumentor(), OpenAIInstrumentor()
    first, second = (ours, official) if last == "official" else (official, ours)
    first.instrument(tracer_provider=TRACER_PROVIDER)
    second.instrument(tracer_provider=TRACER_PROVIDER)
    try:
        client.chat.completions.create(model="gpt-4o", messages=USER)
        for _ in client.chat.completions.create(model="gpt-4o", messages=USER, stream=True):
            pass
    finally:
        second.uninstrument()
        first.uninstrument()
    assert vars(Completions)["create"] is original  # both undone, in either order
    spans = finished()
    assert [s.name for s in spans] == ["chat gpt-4o", "chat gpt-4o"]
    expected = LLMOTEL_SCOPE if last == "llmotel" else "opentelemetry.instrumentation.genai.openai"
    assert {s.instrumentation_scope.name for s in spans if s.instrumentation_scope} == {expected}
