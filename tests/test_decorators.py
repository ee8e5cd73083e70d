"""Decorator behaviour: shapes, metadata, options, whole spans, parentage, suppression, dedup."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

import llmotel
from conftest import finished, metric_points
from llmotel import semconv as sc

COMPLETION = {
    "id": "chatcmpl-42",
    "model": "gpt-test-2026",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"},
    ],
    "usage": {
        "prompt_tokens": 11,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 1},
    },
}


class FakeLLM:
    """Shaped like an LLM client class: model and parameters on the instance."""

    def __init__(self) -> None:
        self.model = "gpt-test"
        self.temperature = 0.25
        self.max_tokens = 256
        self.api_key = "sk-test-secret-key-123"
        self.default_headers = {"Authorization": "Bearer test-bearer-token-789"}
        self.password = "hunter2-password"
        self.token = "test-bearer-token-789"
        self.base_url = "http://127.0.0.1:9999/v1"

    @llmotel.trace_chat(provider="openai")
    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
        """Chat docstring."""
        return COMPLETION

    @llmotel.trace_completion(provider="openai")
    def complete(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        return {"id": "cmpl-1", "model": "gpt-test", "choices": [{"index": 0, "text": "42", "finish_reason": "length"}]}

    @llmotel.trace_chat(provider="openai")
    async def achat(self, messages: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return COMPLETION

    @llmotel.trace_chat(provider="openai")
    def stream_chat(self, messages: list[dict[str, str]]) -> Iterator[str]:
        yield "a"
        yield "b"

    @llmotel.trace_chat(provider="openai")
    async def astream_gen(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        yield "a"

    @llmotel.trace_chat(provider="openai")
    async def astream_chat(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """LlamaIndex shape: a coroutine returning an async generator."""

        async def gen() -> AsyncIterator[str]:
            yield "x"
            yield "y"

        return gen()

    @llmotel.trace_chat(provider="openai")
    def returns_iterator(self) -> Iterator[str]:
        return iter(["p", "q", "r"])

    @llmotel.trace_chat(provider="openai", model="class-model")
    @classmethod
    def from_class(cls, prompt: str) -> str:
        return f"{cls.__name__}:{prompt}"

    @llmotel.trace_chat(provider="openai", model="static-model")
    @staticmethod
    def static(prompt: str) -> str:
        return prompt.upper()


EXPECTED_CHAT_ATTRIBUTES = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-test",
    sc.SERVER_ADDRESS: "127.0.0.1",
    sc.SERVER_PORT: 9999,
    sc.GEN_AI_REQUEST_TEMPERATURE: 0.7,
    sc.GEN_AI_REQUEST_MAX_TOKENS: 256,
    sc.GEN_AI_REQUEST_TOP_P: 0.9,
    sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
    sc.GEN_AI_REQUEST_SEED: 7,
    sc.GEN_AI_REQUEST_CHOICE_COUNT: 2,
    sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.5,
    sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.0,
    "llmotel.model.model": "gpt-test",
    "llmotel.model.temperature": 0.25,
    "llmotel.model.max_tokens": 256,
    "llmotel.model.base_url": "http://127.0.0.1:9999/v1",
    sc.GEN_AI_RESPONSE_ID: "chatcmpl-42",
    sc.GEN_AI_RESPONSE_MODEL: "gpt-test-2026",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 11,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 1,
}


def test_chat_method_makes_one_whole_span() -> None:
    llm = FakeLLM()
    result = llm.chat(
        [{"role": "user", "content": "hi"}],
        temperature=0.7,
        top_p=0.9,
        stop="END",
        seed=7,
        n=2,
        frequency_penalty=0.5,
        presence_penalty=0,
    )
    assert result is COMPLETION
    [span] = finished()
    assert span.name == "chat gpt-test"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == EXPECTED_CHAT_ATTRIBUTES
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "llmotel"


def test_sampling_relevant_attributes_are_given_at_span_start() -> None:
    seen: list[dict[str, Any]] = []

    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class Spy(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None):  # type: ignore[no-untyped-def]
            seen.append({"name": name, "kind": kind, **dict(attributes or {})})
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

        def get_description(self) -> str:
            return "spy"

    provider = TracerProvider(sampler=Spy())

    @llmotel.trace_chat(provider="anthropic", tracer_provider=provider)
    def call(messages: Any, model: str) -> str:
        return "ok"

    call([], model="claude-x")
    assert seen == [
        {
            "name": "chat claude-x",
            "kind": SpanKind.CLIENT,
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: "claude-x",
        }
    ]


def test_completion_operation_and_finish_reason() -> None:
    FakeLLM().complete("6*7?", max_tokens=5)
    [span] = finished()
    assert span.name == "text_completion gpt-test"
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 5
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert attrs[sc.LLMOTEL_USAGE_UNKNOWN] is True
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs


def test_metadata_and_shapes_are_preserved() -> None:
    assert FakeLLM.chat.__name__ == "chat"
    assert FakeLLM.chat.__qualname__ == "FakeLLM.chat"
    assert FakeLLM.chat.__doc__ == "Chat docstring."
    assert str(inspect.signature(FakeLLM.chat)) == str(
        inspect.signature(FakeLLM.chat.__wrapped__)  # type: ignore[attr-defined]
    )
    assert inspect.iscoroutinefunction(FakeLLM.achat)
    assert inspect.iscoroutinefunction(FakeLLM().achat)
    assert not inspect.iscoroutinefunction(FakeLLM.chat)
    assert inspect.isasyncgenfunction(FakeLLM.astream_gen)
    assert inspect.isgeneratorfunction(FakeLLM.stream_chat)
    assert inspect.iscoroutinefunction(FakeLLM.astream_chat)


def test_bare_and_parenthesised_forms_and_aliases() -> None:
    @llmotel.trace_chat
    def bare(messages: Any) -> str:
        return "a"

    @llmotel.trace_chat()
    def empty_parens(messages: Any) -> str:
        return "b"

    @llmotel.llm_chat_callback()
    def alias_chat(messages: Any) -> str:
        return "c"

    @llmotel.llm_completion_callback()
    def alias_completion(prompt: str) -> str:
        return "d"

    assert (bare([]), empty_parens([]), alias_chat([]), alias_completion("x")) == ("a", "b", "c", "d")
    names = [s.attributes[sc.GEN_AI_OPERATION_NAME] for s in finished()]  # type: ignore[index]
    assert names == ["chat", "chat", "chat", "text_completion"]
    assert llmotel.llm_chat_callback is llmotel.trace_chat


def test_classmethod_and_staticmethod() -> None:
    assert FakeLLM.from_class("p") == "FakeLLM:p"
    assert FakeLLM().from_class("q") == "FakeLLM:q"
    assert FakeLLM.static("s") == "S"
    assert FakeLLM().static("t") == "T"
    assert [s.name for s in finished()] == [
        "chat class-model",
        "chat class-model",
        "chat static-model",
        "chat static-model",
    ]


async def test_async_call() -> None:
    result = await FakeLLM().achat([{"role": "user", "content": "hi"}])
    assert result is COMPLETION
    [span] = finished()
    assert span.name == "chat gpt-test"
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 3  # type: ignore[index]


async def test_coroutine_returning_async_iterator_is_traced_to_the_end() -> None:
    stream = await FakeLLM().astream_chat([])
    assert finished() == []  # the span stays open while the stream is read
    assert [c async for c in stream] == ["x", "y"]
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.LLMOTEL_STREAM_CHUNKS] == 2
    assert attrs[sc.LLMOTEL_STREAM_COMPLETED] is True


def test_function_returning_iterator_is_traced_as_stream() -> None:
    assert list(FakeLLM().returns_iterator()) == ["p", "q", "r"]
    [span] = finished()
    assert span.attributes[sc.LLMOTEL_STREAM_CHUNKS] == 3  # type: ignore[index]


def test_options_model_callable_operation_name() -> None:
    class Deployment:
        deployment = "my-deploy"

        @llmotel.trace_chat(model=lambda self, messages, **kw: self.deployment, operation="generate_content")
        def chat(self, messages: Any, **kw: Any) -> str:
            return "ok"

    @llmotel.trace_chat(model=lambda messages, size: f"m-{size}", name="custom span")
    def fn(messages: Any, size: int) -> str:
        return "ok"

    Deployment().chat([])
    fn([], 3)
    first, second = finished()
    assert first.name == "generate_content my-deploy"
    assert first.attributes[sc.GEN_AI_OPERATION_NAME] == "generate_content"  # type: ignore[index]
    assert second.name == "custom span"
    assert second.attributes[sc.GEN_AI_REQUEST_MODEL] == "m-3"  # type: ignore[index]


def test_model_from_kwargs_and_metadata() -> None:
    class Meta:
        model_name = "meta-model"

    class LlamaLike:
        metadata = Meta()

        @llmotel.trace_chat
        def chat(self, messages: Any, **kw: Any) -> str:
            return "ok"

    @llmotel.trace_chat
    def fn(messages: Any, model: str = "") -> str:
        return "ok"

    LlamaLike().chat([])
    fn([], model="kw-model")
    assert [s.name for s in finished()] == ["chat meta-model", "chat kw-model"]


def test_custom_extractor_maps_user_types() -> None:
    class MyResponse:
        def __init__(self) -> None:
            self.answer = "yes"
            self.tokens = (5, 6)

    class MyExtractor(llmotel.Extractor):
        def request(self, call: llmotel.LLMCall, instance: Any, args: Any, kwargs: Any) -> None:
            call.request_model = kwargs["engine"]
            call.params[sc.GEN_AI_REQUEST_TEMPERATURE] = kwargs["heat"]

        def response(self, call: llmotel.LLMCall, result: Any, capture: bool) -> None:
            call.usage = llmotel.Usage(input_tokens=result.tokens[0], output_tokens=result.tokens[1])
            call.finish_reasons = ["done"]

    @llmotel.trace_chat(provider="inhouse", extractor=MyExtractor())
    def ask(question: str, *, engine: str, heat: float) -> MyResponse:
        return MyResponse()

    ask("?", engine="e-1", heat=1.5)
    [span] = finished()
    assert span.name == "chat e-1"
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 1.5
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("done",)


def test_parentage_under_user_span_and_children_of_llm_span(tracer: trace.Tracer) -> None:
    @llmotel.trace_chat(provider="openai", model="m")
    def call() -> str:
        with tracer.start_as_current_span("http POST"):
            return "ok"

    with tracer.start_as_current_span("chain"):
        call()
    http, llm, chain = finished()
    assert (http.name, llm.name, chain.name) == ("http POST", "chat m", "chain")
    assert llm.parent is not None and llm.parent.span_id == chain.context.span_id
    assert http.parent is not None and http.parent.span_id == llm.context.span_id
    assert len({s.context.trace_id for s in (http, llm, chain)}) == 1
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_suppressed_instrumentation_passes_through() -> None:
    with suppress_instrumentation():
        assert FakeLLM().chat([]) is COMPLETION
        assert list(FakeLLM().stream_chat([])) == ["a", "b"]
    assert finished() == []


def test_nested_decorated_calls_make_one_span(tracer: trace.Tracer) -> None:
    class Base:
        model = "base-model"

        @llmotel.trace_chat(provider="openai")
        def chat(self, messages: Any) -> str:
            return "base"

    class Child(Base):
        @llmotel.trace_chat(provider="openai")
        def chat(self, messages: Any) -> str:
            return "child+" + super().chat(messages)

    class Wrapper:
        def __init__(self) -> None:
            self.inner = Child()
            self.model = "wrapper-model"

        @llmotel.trace_chat(provider="openai")
        def chat(self, messages: Any) -> str:
            return self.inner.chat(messages)

    assert Child().chat([]) == "child+base"
    assert Wrapper().chat([]) == "child+base"
    assert [s.name for s in finished()] == ["chat base-model", "chat wrapper-model"]


def test_call_inside_a_tool_gets_its_own_span(tracer: trace.Tracer) -> None:
    @llmotel.trace_chat(provider="openai", model="inner")
    def inner() -> str:
        return "inner"

    @llmotel.trace_chat(provider="openai", model="outer")
    def outer() -> str:
        with tracer.start_as_current_span("execute_tool search"):
            return inner()

    outer()
    inner_span, tool, outer_span = finished()
    assert (inner_span.name, tool.name, outer_span.name) == ("chat inner", "execute_tool search", "chat outer")
    assert inner_span.parent is not None and inner_span.parent.span_id == tool.context.span_id


def test_unsampled_call_still_records_metrics_and_skips_content(capture_content: None) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    calls: list[str] = []

    class Spy(llmotel.Extractor):
        def input_content(self, call: Any, instance: Any, args: Any, kwargs: Any) -> None:
            calls.append("input")
            super().input_content(call, instance, args, kwargs)

    @llmotel.trace_chat(provider="openai", model="m", extractor=Spy(), tracer_provider=provider)
    def call(messages: Any) -> dict[str, Any]:
        return COMPLETION

    call([{"role": "user", "content": "secret prompt"}])
    assert exporter.get_finished_spans() == ()
    assert calls == []


def test_metrics_recorded_with_common_attributes() -> None:
    FakeLLM().chat([])
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.count == 1
    assert dict(duration.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-test",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-test-2026",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: 9999,
    }


def test_provider_guessed_from_class_module() -> None:
    cls = type("OpenAI", (), {"__module__": "llama_index.llms.openai.base", "model": "x"})
    cls.chat = llmotel.trace_chat(lambda self, messages: "ok")  # type: ignore[attr-defined]
    cls().chat([])  # type: ignore[attr-defined]
    [span] = finished()
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"  # type: ignore[index]


@pytest.mark.parametrize("threads", [8])
def test_thread_concurrency_keeps_parentage(tracer: trace.Tracer, threads: int) -> None:
    import threading

    @llmotel.trace_chat(provider="openai", model="m")
    def call(i: int) -> int:
        with tracer.start_as_current_span(f"http {i}"):
            return i

    barrier = threading.Barrier(threads)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(20):
            with tracer.start_as_current_span(f"root {i}-{j}"):
                call(i)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    spans = finished()
    assert len(spans) == threads * 20 * 3
    by_id = {s.context.span_id: s for s in spans}
    for span in spans:
        if span.name.startswith("http"):
            parent = by_id[span.parent.span_id]  # type: ignore[union-attr]
            assert parent.name == "chat m"
            root = by_id[parent.parent.span_id]  # type: ignore[union-attr]
            assert root.name.split()[1].split("-")[0] == span.name.split()[1]
            assert len({span.context.trace_id, parent.context.trace_id, root.context.trace_id}) == 1


async def test_task_concurrency_keeps_parentage(tracer: trace.Tracer) -> None:
    @llmotel.trace_chat(provider="openai", model="m")
    async def call(i: int) -> int:
        await asyncio.sleep(0)
        with tracer.start_as_current_span(f"http {i}"):
            await asyncio.sleep(0)
        return i

    async def task(i: int) -> int:
        with tracer.start_as_current_span(f"root {i}"):
            return await call(i)

    results = await asyncio.gather(*(task(i) for i in range(100)))
    assert results == list(range(100))
    spans = finished()
    assert len(spans) == 300
    by_id = {s.context.span_id: s for s in spans}
    for span in spans:
        if span.name.startswith("http"):
            llm = by_id[span.parent.span_id]  # type: ignore[union-attr]
            root = by_id[llm.parent.span_id]  # type: ignore[union-attr]
            assert llm.name == "chat m"
            assert root.name == "root " + span.name.split()[1]


def test_calls_leave_no_reference_cycles() -> None:
    """Services that run with the cyclic collector off (gc.disable/freeze) must not leak per call."""
    import gc

    from llmotel.telemetry.spans import LLMSpan

    @llmotel.trace_chat(provider="openai", model="m")
    def call() -> dict[str, Any]:
        return COMPLETION

    call()
    gc.collect()
    gc.disable()
    try:
        for _ in range(200):
            call()
        alive = [o for o in gc.get_objects() if isinstance(o, LLMSpan)]
    finally:
        gc.enable()
    assert alive == []
    assert len(finished()) == 201


def test_folded_nested_call_gives_its_response_facts_to_the_outer_span() -> None:
    class Inner:
        @llmotel.trace_chat(provider="openai", model="inner")
        def create(self) -> dict[str, Any]:
            return COMPLETION

    class Outer:
        model = "outer"

        def __init__(self) -> None:
            self.inner = Inner()

        @llmotel.trace_chat(provider="openai")
        def ask(self) -> str:
            return str(self.inner.create()["choices"][0]["message"]["content"])  # text only: no usage here

    assert Outer().ask() == "Hello!"
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert span.name == "chat outer"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert attrs[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-42"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.LLMOTEL_USAGE_UNKNOWN not in attrs


def test_mocks_and_files_are_not_streams_and_the_stream_option() -> None:
    from unittest import mock

    response = mock.MagicMock()

    @llmotel.trace_chat(provider="openai", model="m")
    def mocked() -> Any:
        return response

    @llmotel.trace_chat(provider="openai", model="m", stream=False)
    def not_a_stream() -> Any:
        return iter([1, 2, 3])

    assert mocked() is response
    it = not_a_stream()
    assert type(it).__name__ == "list_iterator"  # returned as it is, not proxied
    spans = finished()
    assert len(spans) == 2
    assert all(sc.LLMOTEL_STREAM_CHUNKS not in (s.attributes or {}) for s in spans)


def test_metrics_know_a_noop_meter_for_good_and_an_sdk_meter_at_once() -> None:
    # (a meter provider set after the first calls: tests/test_configure.py, calls before configure())
    from opentelemetry import metrics
    from opentelemetry.metrics import NoOpMeter

    from llmotel.telemetry.metrics import GenAIMetrics

    noop = GenAIMetrics(NoOpMeter("test"))
    assert not noop.active() and noop.off and noop.pending is None
    assert not noop.active()  # answered from ``off``, not probed again

    real = GenAIMetrics(metrics.get_meter("test"))  # the suite's SDK meter provider
    assert real.active() and real.ready
