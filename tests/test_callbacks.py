"""Chain callbacks: dispatch isolation, routing to LLM/chain spans, tool spans, usage totals,
allow-listed headers, retries exceeded, ordering across threads and tasks, bounded state."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import llmotel
from conftest import finished
from llmotel import callbacks
from llmotel import semconv as sc
from llmotel.telemetry import chains


@pytest.fixture(autouse=True)
def _reset() -> None:
    callbacks.reset_handler_errors()


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def events(span: ReadableSpan) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, dict(e.attributes or {})) for e in span.events]


class Chain:
    """A user's chain object (what callbacks receive as first argument)."""

    def __init__(self, name: str) -> None:
        self.name = name


@llmotel.trace_chat(provider="openai", model="gpt-test")
def llm_call(chain: Chain, handlers: callbacks.Callbacks, messages: list[Any]) -> dict[str, Any]:
    handlers.fire(
        "on_llm_response_headers",
        chain,
        {
            "x-request-id": "req-123",
            "openai-processing-ms": "42",
            "x-ratelimit-remaining-requests": "99",
            "x-ratelimit-limit-tokens": "1000",
            "x-ratelimit-reset-tokens": "6m0s",
            "authorization": "Bearer test-bearer-token-789",
            "set-cookie": "session=hunter2-password",
            "x-api-key": "sk-test-secret-key-123",
        },
    )
    handlers.fire("on_llm_new_delta", chain, [{"content": "Let me "}, {"content": "check"}])
    handlers.fire("on_tool_call_identified", chain, {"id": "call_1", "name": "get_weather"}, get_weather)
    handlers.fire("on_llm_token_usage", chain, {"input": 10, "output": 4})
    handlers.fire(
        "on_llm_new_message", chain, {"role": "assistant", "content": "Let me check", "tool_calls": [{"id": "call_1"}]}
    )
    return {
        "id": "r1",
        "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"content": None}}],
    }


def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


def run_chain(handlers: callbacks.Callbacks, chain: Chain) -> None:
    with llmotel.trace_chain("weather-agent", chain=chain):
        llm_call(chain, handlers, [{"role": "user", "content": "weather?"}])
        call = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
        handlers.fire("on_tool_execution_started", chain, call, get_weather)
        handlers.fire("on_tool_execution_completed", chain, call, get_weather("Paris"))
        handlers.fire("on_tool_response_created", chain, {"role": "tool", "content": "sunny in Paris"})
        handlers.fire("on_llm_token_usage", chain, {"prompt_tokens": 20, "completion_tokens": 6})
        handlers.fire("on_message_processed", chain, {"role": "assistant", "content": "It is sunny."})


def test_whole_chain_trace() -> None:
    chain = Chain("c")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    run_chain(handlers, chain)
    spans = by_name(finished())
    assert set(spans) == {"invoke_workflow weather-agent", "chat gpt-test", "execute_tool get_weather"}
    root, llm, tool = spans["invoke_workflow weather-agent"], spans["chat gpt-test"], spans["execute_tool get_weather"]
    assert root.parent is None
    assert root.kind is SpanKind.INTERNAL
    assert llm.parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert tool.parent.span_id == root.context.span_id  # type: ignore[union-attr]

    assert events(llm) == [
        (
            "llmotel.llm.response_headers",
            {
                "llmotel.response.request_id": "req-123",
                "llmotel.response.processing_ms": 42,
                "llmotel.ratelimit.requests.remaining": 99,
                "llmotel.ratelimit.tokens.limit": 1000,
                "llmotel.ratelimit.tokens.reset": "6m0s",
            },
        ),
        ("llmotel.llm.new_delta", {"llmotel.delta.index": 0, "llmotel.delta.count": 2, "llmotel.delta.size": 12}),
        ("llmotel.tool.call_identified", {"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_1"}),
        ("llmotel.llm.token_usage", {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4}),
        (
            "llmotel.llm.new_message",
            {"llmotel.message.content_size": 12, "llmotel.message.role": "assistant", "llmotel.message.tool_calls": 1},
        ),
    ]
    llm_attrs = dict(llm.attributes or {})
    assert llm_attrs["llmotel.response.request_id"] == "req-123"
    assert llm_attrs["llmotel.ratelimit.requests.remaining"] == 99
    assert llm_attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert llm_attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert sc.LLMOTEL_USAGE_UNKNOWN not in llm_attrs

    assert dict(tool.attributes or {}) == {
        sc.GEN_AI_OPERATION_NAME: "execute_tool",
        sc.GEN_AI_TOOL_NAME: "get_weather",
        sc.GEN_AI_TOOL_TYPE: "function",
        sc.GEN_AI_TOOL_CALL_ID: "call_1",
        sc.GEN_AI_TOOL_DESCRIPTION: "Weather for a city.",
        "llmotel.tool.completed": True,
    }
    assert tool.status.status_code is StatusCode.OK
    assert tool.kind is SpanKind.INTERNAL

    assert events(root) == [
        ("llmotel.chain.tool_response_created", {"llmotel.message.content_size": 14, "llmotel.message.role": "tool"}),
        ("llmotel.llm.token_usage", {"gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 6}),
        ("llmotel.chain.message_processed", {"llmotel.message.content_size": 12, "llmotel.message.role": "assistant"}),
    ]
    root_attrs = dict(root.attributes or {})
    assert root_attrs[sc.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert root_attrs[sc.GEN_AI_WORKFLOW_NAME] == "weather-agent"
    assert root_attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 30  # running totals: LLM span's 10 + chain-level 20
    assert root_attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 10
    assert root.status.status_code is StatusCode.UNSET


def test_content_only_with_capture(capture_content: None) -> None:
    chain = Chain("c")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    run_chain(handlers, chain)
    spans = by_name(finished())
    tool = dict(spans["execute_tool get_weather"].attributes or {})
    assert tool[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"city":"Paris"}'
    assert tool[sc.GEN_AI_TOOL_CALL_RESULT] == '"sunny in Paris"'
    llm_events = dict(events(spans["chat gpt-test"]))
    assert llm_events["llmotel.llm.new_delta"]["llmotel.delta.content"] == "Let me check"
    assert '"Let me check"' in llm_events["llmotel.llm.new_message"]["llmotel.message.content"]


def test_a_raising_handler_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(chain: Any, *args: Any) -> None:
        raise RuntimeError("handler bug")

    first = {"on_message_processed": broken, "on_retries_exceeded": broken}
    second = {"on_message_processed": lambda chain, msg: seen.append(msg["content"])}
    handlers = callbacks.Callbacks(first, second, callbacks.TracingHandler())
    chain = Chain("c")
    with caplog.at_level(logging.WARNING, logger="llmotel"), llmotel.trace_chain("x", chain=chain):
        for i in range(3):
            handlers.fire("on_message_processed", chain, {"role": "assistant", "content": f"m{i}"})
    assert seen == ["m0", "m1", "m2"]
    assert callbacks.handler_error_counts() == {"handler map.on_message_processed": 3}
    assert len([r for r in caplog.records if "handler map.on_message_processed" in r.getMessage()]) == 1
    [root] = finished()
    assert len(root.events) == 3  # the tracing handler still recorded every callback


def test_tool_failure_and_pairing_by_name_and_never_started() -> None:
    chain = Chain("c")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    with llmotel.trace_chain("agent", agent=True, provider="openai", chain=chain):
        handlers.fire("on_tool_call_identified", chain, {"id": "call_x", "name": "never_run"}, None)
        handlers.fire("on_tool_execution_started", chain, {"name": "search"}, None)
        handlers.fire("on_tool_execution_failed", chain, {"name": "search"}, ValueError("no results"))
        handlers.fire("on_tool_execution_started", chain, {"id": "call_2", "name": "calc"}, None)
        handlers.fire("on_tool_execution_failed", chain, {"id": "call_2", "name": "calc"}, "division by zero")
        handlers.fire("on_tool_execution_started", chain, {"id": "call_3", "name": "slow"}, None)  # never completes
    spans = by_name(finished())
    search, calc, slow = spans["execute_tool search"], spans["execute_tool calc"], spans["execute_tool slow"]
    assert search.status.status_code is StatusCode.ERROR
    assert search.attributes[sc.ERROR_TYPE] == "ValueError"  # type: ignore[index]
    assert [e.name for e in search.events] == ["exception"]
    assert calc.status.status_code is StatusCode.ERROR
    assert calc.status.description == "_OTHER"  # a returned error's text is content: capture is off
    assert calc.attributes[sc.ERROR_TYPE] == "_OTHER"  # type: ignore[index]
    assert slow.attributes["llmotel.tool.completed"] is False  # type: ignore[index]
    assert slow.status.status_code is StatusCode.UNSET
    root = spans["invoke_agent agent"]
    assert root.attributes[sc.GEN_AI_AGENT_NAME] == "agent"  # type: ignore[index]
    assert root.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"  # type: ignore[index]
    assert root.attributes["llmotel.chain.tools_never_started"] == 1  # type: ignore[index]
    assert [e.name for e in root.events] == ["llmotel.tool.call_identified"]
    assert root.end_time >= slow.end_time  # type: ignore[operator]


def test_retries_exceeded_fails_the_chain() -> None:
    chain = Chain("c")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    with llmotel.trace_chain("retrying", chain=chain):
        handlers.fire("on_error_message_created", chain, {"role": "assistant", "content": "Sorry"})
        handlers.fire("on_retries_exceeded", chain)
    [root] = finished()
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes[sc.ERROR_TYPE] == "retries_exceeded"  # type: ignore[index]
    assert [e.name for e in root.events] == ["llmotel.chain.error_message_created", "llmotel.chain.retries_exceeded"]


def test_exception_in_chain_block_ends_span_with_error() -> None:
    with pytest.raises(KeyError), llmotel.trace_chain("boom"):
        raise KeyError("x")
    [root] = finished()
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes[sc.ERROR_TYPE] == "KeyError"  # type: ignore[index]


def test_callbacks_from_other_threads_find_the_chain_by_object() -> None:
    chain = Chain("threaded")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    n_threads, per_thread = 4, 25
    with llmotel.trace_chain("threaded", chain=chain):
        barrier = threading.Barrier(n_threads)

        def work(t: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                handlers.fire("on_message_processed", chain, {"role": f"t{t}-{i}", "content": ""})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    [root] = finished()
    stamps = [e.timestamp for e in root.events]
    assert len(stamps) == n_threads * per_thread
    assert stamps == sorted(stamps)  # list order and timestamps agree
    per_thread_seq: dict[str, list[int]] = {}
    for e in root.events:
        thread, seq = str(e.attributes["llmotel.message.role"]).split("-")  # type: ignore[index]
        per_thread_seq.setdefault(thread, []).append(int(seq))
    assert per_thread_seq == {f"t{t}": list(range(per_thread)) for t in range(n_threads)}


async def test_callbacks_from_tasks_keep_order_and_parentage() -> None:
    chain = Chain("async")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())

    @llmotel.trace_chat(provider="openai", model="m")
    async def call(i: int) -> str:
        await asyncio.sleep(0)
        handlers.fire("on_llm_token_usage", chain, {"input": 1, "output": 2})
        return "ok"

    async with llmotel.trace_chain("async-chain", chain=chain):
        await asyncio.gather(*(call(i) for i in range(50)))
    spans = finished()
    root = next(s for s in spans if s.name == "invoke_workflow async-chain")
    llms = [s for s in spans if s.name == "chat m"]
    assert len(llms) == 50
    assert all(s.parent.span_id == root.context.span_id for s in llms)  # type: ignore[union-attr]
    assert all([e.name for e in s.events] == ["llmotel.llm.token_usage"] for s in llms)
    assert root.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 50  # type: ignore[index]
    assert root.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 100  # type: ignore[index]


def test_delta_events_are_bounded() -> None:
    chain = Chain("d")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    with llmotel.trace_chain("deltas", chain=chain):
        for _ in range(2000):
            handlers.fire("on_llm_new_delta", chain, ["x"])
    [root] = finished()
    indexes = [e.attributes["llmotel.delta.index"] for e in root.events]  # type: ignore[index]
    assert indexes[:4] == [0, 1, 2, 3]
    assert len(indexes) <= 16
    assert root.dropped_events == 0


def test_tool_state_is_bounded_and_released() -> None:
    chain = Chain("many")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    with llmotel.trace_chain("many-tools", chain=chain) as run:
        for i in range(chains.MAX_OPEN_TOOLS + 10):
            handlers.fire("on_tool_execution_started", chain, {"id": f"c{i}", "name": "t"}, None)
        assert len(run.tools._open) == chains.MAX_OPEN_TOOLS
    assert len(run.tools._open) == 0
    assert id(chain) not in chains._runs_by_chain
    tool_spans = [s for s in finished() if s.name == "execute_tool t"]
    assert len(tool_spans) == chains.MAX_OPEN_TOOLS + 10  # every one ended exactly once


def test_unknown_callback_is_recorded_and_handlers_without_it_are_skipped() -> None:
    chain = Chain("u")
    with llmotel.trace_chain("u", chain=chain):
        callbacks.fire([{}, callbacks.TracingHandler()], "on_tool_interrupted", chain, {"id": "1"})
    [root] = finished()
    assert events(root) == [("llmotel.callback.tool_interrupted", {"llmotel.callback.args": 1})]


def test_callbacks_without_chain_span_use_current_span(tracer: Any) -> None:
    handler = callbacks.TracingHandler()
    with tracer.start_as_current_span("app"):
        callbacks.fire(handler, "on_llm_token_usage", None, {"input_tokens": 3, "output_tokens": 1})
        callbacks.fire(handler, "on_tool_execution_started", None, {"id": "z", "name": "lookup"}, None)
        callbacks.fire(handler, "on_tool_execution_completed", None, {"id": "z", "name": "lookup"}, "found")
    spans = by_name(finished())
    assert spans["app"].attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3  # type: ignore[index]
    assert spans["execute_tool lookup"].parent.span_id == spans["app"].context.span_id  # type: ignore[union-attr]


def test_trace_chain_as_decorator() -> None:
    @llmotel.trace_chain("decorated")
    def run(x: int) -> int:
        return x * 2

    @llmotel.trace_chain("decorated-async", agent=True)
    async def arun(x: int) -> int:
        return x * 3

    assert run(2) == 4
    assert asyncio.run(arun(2)) == 6
    assert [s.name for s in finished()] == ["invoke_workflow decorated", "invoke_agent decorated-async"]


def test_callback_names_are_the_documented_set() -> None:
    handler = callbacks.TracingHandler()
    for name in callbacks.CALLBACK_NAMES:
        assert callable(getattr(handler, name))
        assert name in type(handler).__dict__, name  # a real method, not the generic fallback


def test_returned_tool_error_text_only_with_capture(capture_content: None) -> None:
    chain = Chain("c")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())
    with llmotel.trace_chain("agent", chain=chain):
        handlers.fire("on_tool_execution_started", chain, {"id": "call_2", "name": "calc"}, None)
        handlers.fire("on_tool_execution_failed", chain, {"id": "call_2", "name": "calc"}, "division by zero")
    calc = by_name(finished())["execute_tool calc"]
    assert calc.status.description == "division by zero"


def test_trace_chain_on_generators_spans_the_whole_iteration() -> None:
    @llmotel.trace_chat(provider="openai", model="m")
    def llm() -> str:
        return "x"

    @llmotel.trace_chain("agent-loop")
    def steps(n: int) -> Any:
        for i in range(n):
            llm()
            yield i

    @llmotel.trace_chain("async-agent-loop")
    async def asteps(n: int) -> Any:
        for i in range(n):
            llm()
            yield i

    async def consume_async() -> list[int]:
        return [i async for i in asteps(2)]

    assert list(steps(3)) == [0, 1, 2]
    partial = steps(5)
    assert next(partial) == 0
    partial.close()  # an early stop ends the chain span, not as an error
    assert asyncio.run(consume_async()) == [0, 1]
    spans = finished()
    chains_ = [s for s in spans if s.name.startswith("invoke_workflow")]
    assert [s.name for s in chains_] == [
        "invoke_workflow agent-loop",
        "invoke_workflow agent-loop",
        "invoke_workflow async-agent-loop",
    ]
    assert all(s.status.status_code is StatusCode.UNSET for s in chains_)
    llms = [s for s in spans if s.name == "chat m"]
    assert len(llms) == 3 + 1 + 2
    chain_ids = {s.context.span_id for s in chains_}
    assert all(s.parent is not None and s.parent.span_id in chain_ids for s in llms)
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_callbacks_with_no_span_to_go_on_are_counted_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """A chain started without ``chain=``: its callbacks fired from a thread that does not carry
    the context have no span to land on. They are counted, and a warning says so once."""
    chain = Chain("unrouted")
    handlers = callbacks.Callbacks(callbacks.TracingHandler())

    def from_a_plain_thread() -> None:
        handlers.fire("on_llm_new_delta", chain, [{"content": "x"}])
        handlers.fire("on_retries_exceeded", chain)
        handlers.fire("on_llm_new_delta", chain, [{"content": "y"}])

    with caplog.at_level(logging.WARNING, logger="llmotel"), llmotel.trace_chain("no chain= given"):
        thread = threading.Thread(target=from_a_plain_thread)
        thread.start()
        thread.join()
    assert callbacks.unrouted_counts() == {"llm.new_delta": 2, "chain.retries_exceeded": 1}
    assert len([r for r in caplog.records if "had no span to go on" in r.getMessage()]) == 1
    [span] = finished()
    assert span.events == ()  # nothing reached the chain span (the callbacks could not know it)
