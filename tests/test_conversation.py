"""``llmotel.conversation(id)``: ``gen_ai.conversation.id`` on every GenAI span and event inside,
across async tasks and threads started with the context; read from LangChain metadata and the
OpenAI Responses ``conversation``; never invented."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

import llmotel
from conftest import finished
from helpers import fake_openai
from helpers.events import event_attrs, one_detail
from helpers.spans import attrs, instrumented
from llmotel import semconv as sc
from llmotel.callbacks import trace_chain
from llmotel.integrations.langchain import LlmotelCallbackHandler
from llmotel.integrations.openai import OpenAIInstrumentor

CONV = sc.GEN_AI_CONVERSATION_ID
RESPONSE = {"id": "r", "model": "m", "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}


@llmotel.trace_chat(provider="openai", model="m")
def chat(messages: Any) -> dict[str, Any]:
    return RESPONSE


@llmotel.trace_chat(provider="openai", model="m")
async def achat(messages: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    return RESPONSE


def conversations() -> list[str | None]:
    return [attrs(s).get(CONV) for s in finished()]


def test_never_invented() -> None:
    chat([])
    assert conversations() == [None]


def test_context_manager_sets_it_on_spans_and_events(env: Any) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    with llmotel.conversation("conv-1") as cid:
        assert cid == "conv-1"
        chat([])
    assert conversations() == ["conv-1"]
    assert event_attrs(one_detail())[CONV] == "conv-1"
    chat([])  # after the block: none again
    assert conversations() == ["conv-1", None]


def test_nested_inner_wins_and_outer_is_restored() -> None:
    with llmotel.conversation("outer"):
        with llmotel.conversation("inner"):
            chat([])
        chat([])
    assert conversations() == ["inner", "outer"]


def test_decorator_on_sync_async_and_generator_functions() -> None:
    @llmotel.conversation("c-sync")
    def turn() -> None:
        chat([])

    @llmotel.conversation("c-async")
    async def aturn() -> None:
        await achat([])

    @llmotel.conversation("c-gen")
    def gen_turn() -> Iterator[int]:
        chat([])
        yield 1
        chat([])
        yield 2

    @llmotel.conversation("c-agen")
    async def agen_turn() -> AsyncIterator[int]:
        await achat([])
        yield 1

    turn()
    asyncio.run(aturn())
    for _ in gen_turn():
        chat([])  # the consumer runs outside the generator's conversation

    async def consume() -> None:
        async for _ in agen_turn():
            pass

    asyncio.run(consume())
    assert conversations() == ["c-sync", "c-async", "c-gen", None, "c-gen", None, "c-agen"]


def test_generator_close_and_throw_reach_the_generator() -> None:
    closed: list[str] = []

    @llmotel.conversation("c")
    def gen() -> Iterator[int]:
        try:
            yield 1
            yield 2
        except ValueError:
            yield 99
        finally:
            closed.append("closed")

    g = gen()
    assert next(g) == 1
    assert g.throw(ValueError("x")) == 99
    g.close()
    assert closed == ["closed"]


def test_follows_async_tasks_and_threads_started_with_the_context() -> None:
    async def main() -> None:
        with llmotel.conversation("conv-async"):
            await asyncio.gather(asyncio.create_task(achat([])), asyncio.create_task(achat([])))

    asyncio.run(main())
    with llmotel.conversation("conv-thread"):
        ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(chat, []))
        thread.start()
        thread.join()
    assert conversations() == ["conv-async", "conv-async", "conv-thread"]


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return "found"


def test_chain_and_tool_spans_inside_carry_it() -> None:
    with llmotel.conversation("conv-chain"):
        with trace_chain("agent-run"):
            chat([])
            lookup.invoke("x", config={"callbacks": [LlmotelCallbackHandler()]})
    by_name = {s.name: attrs(s).get(CONV) for s in finished()}
    assert by_name == {
        "chat m": "conv-chain",
        "execute_tool lookup": "conv-chain",
        "invoke_workflow agent-run": "conv-chain",
    }


@pytest.mark.parametrize("bad", ["", None, 42])
def test_bad_ids_are_refused_at_the_call_site(bad: Any) -> None:
    with pytest.raises(ValueError):
        llmotel.conversation(bad)


def test_langchain_thread_id_reaches_the_model_span_and_the_event(env: Any) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    model = GenericFakeChatModel(messages=iter(["hi"]))
    chain = RunnableLambda(lambda x: x) | model
    chain.invoke("hello", config={"callbacks": [LlmotelCallbackHandler()], "metadata": {"thread_id": "thread-7"}})
    spans = finished()
    genai = [s for s in spans if attrs(s).get("gen_ai.operation.name")]
    assert {attrs(s)["gen_ai.operation.name"] for s in genai} == {"chat", "invoke_workflow"}
    assert [attrs(s).get(CONV) for s in genai] == ["thread-7"] * len(genai)
    assert event_attrs(one_detail())[CONV] == "thread-7"


def test_langchain_without_metadata_inherits_the_applications_conversation() -> None:
    model = GenericFakeChatModel(messages=iter(["hi"]))
    with llmotel.conversation("app-conv"):
        model.invoke("hello", config={"callbacks": [LlmotelCallbackHandler()]})
    [span] = finished()
    assert attrs(span)[CONV] == "app-conv"


@pytest.mark.parametrize("conversation", ["conv_abc", {"id": "conv_abc"}])
def test_openai_responses_conversation_param(conversation: Any) -> None:
    with instrumented(OpenAIInstrumentor()), fake_openai.sync_client(fake_openai.FakeOpenAI()) as client:
        client.responses.create(model="gpt-4o", input="hi", conversation=conversation)
    [span] = finished()
    assert attrs(span)[CONV] == "conv_abc"
