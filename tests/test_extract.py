"""Extraction from real provider objects: OpenAI, Anthropic, LlamaIndex and LangChain.

Every response, chunk and message here is built with the provider SDK's own classes (or, for the
OpenAI Responses API, validated from the documented dict form with ``model_validate``), never with a
hand-written mock of an SDK class. Most tests call ``llmotel.extract`` directly and inspect the
``LLMCall`` record; the last section goes end to end through ``llmotel.trace_chat`` and checks the
exported span's whole attribute dict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import (
    InputJSONDelta,
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
    TextDelta,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from llama_index.core.base.llms.types import ImageBlock
from llama_index.core.base.llms.types import TextBlock as LlamaTextBlock
from llama_index.core.llms import ChatMessage, ChatResponse, CompletionResponse, MessageRole, MockLLM
from openai.types import Completion, CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageToolCall
from openai.types.responses import Response, ResponseCompletedEvent, ResponseTextDeltaEvent
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

import llmotel
from conftest import finished
from llmotel import semconv as sc
from llmotel.extract import DEFAULT_EXTRACTOR, Extractor, chunks, content, request, response
from llmotel.records import LLMCall, StreamState, Usage

# --- builders --------------------------------------------------------------------------------------


def new_call(operation: str = "chat", provider: str = "openai") -> LLMCall:
    return LLMCall(operation, provider)


def chat_completion(
    *,
    choices: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    model: str = "gpt-4o-mini-2024-07-18",
    id_: str = "chatcmpl-abc123",
) -> ChatCompletion:
    if choices is None:
        choices = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ]
    return ChatCompletion.model_validate(
        {
            "id": id_,
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": choices,
            "usage": usage,
            "system_fingerprint": "fp_44709d6fcb",
        }
    )


OPENAI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0},
}


def chunk(
    choices: list[dict[str, Any]],
    *,
    usage: dict[str, Any] | None = None,
    model: str = "gpt-4o-mini-2024-07-18",
    id_: str = "chatcmpl-stream1",
) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": id_,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
    )


def delta_choice(index: int = 0, finish_reason: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


def openai_stream() -> list[ChatCompletionChunk]:
    """What ``client.chat.completions.create(stream=True, stream_options={"include_usage": True})`` yields."""
    return [
        chunk([delta_choice(role="assistant", content="")]),
        chunk([delta_choice(content="Hello")]),
        chunk([delta_choice(content=", world")]),
        chunk([delta_choice(content="!")]),
        chunk([delta_choice(finish_reason="stop")]),
        chunk([], usage={"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}),
    ]


def anthropic_usage(**fields: Any) -> dict[str, Any]:
    return {"input_tokens": 0, "output_tokens": 0, **fields}


def anthropic_message(
    content_blocks: list[Any], *, stop_reason: str | None = "end_turn", usage: dict[str, Any] | None = None
) -> Message:
    return Message.model_validate(
        {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": content_blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage or anthropic_usage(input_tokens=10, output_tokens=20),
        }
    )


def read(result: Any, *, capture: bool = False, call: LLMCall | None = None) -> LLMCall:
    call = call or new_call()
    response.read_response(call, result, capture)
    return call


def stream(items: list[Any], *, capture: bool = True, call: LLMCall | None = None) -> tuple[LLMCall, StreamState]:
    call = call or new_call()
    state = StreamState()
    for item in items:
        llmotel.Extractor().chunk(call, state, item, capture)
    if capture:
        chunks.stream_output(call, state)
    return call, state


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


# --- usage ---------------------------------------------------------------------------------------


def test_usage_from_openai_usage_object_reads_cached_and_reasoning_tokens() -> None:
    usage = CompletionUsage.model_validate(OPENAI_USAGE)
    assert response.usage_from(usage) == Usage(
        input_tokens=1200, output_tokens=300, cache_read_input_tokens=1024, reasoning_output_tokens=128
    )


def test_usage_from_openai_usage_without_details() -> None:
    usage = CompletionUsage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    assert response.usage_from(usage) == Usage(input_tokens=7, output_tokens=3)


def test_usage_from_anthropic_input_includes_cache_read_and_creation() -> None:
    usage = anthropic.types.Usage(
        input_tokens=25, output_tokens=80, cache_read_input_tokens=1000, cache_creation_input_tokens=300
    )
    assert response.usage_from(usage) == Usage(
        input_tokens=25 + 1000 + 300,
        output_tokens=80,
        cache_read_input_tokens=1000,
        cache_creation_input_tokens=300,
    )


def test_usage_from_anthropic_without_cache_fields_keeps_input_as_reported() -> None:
    usage = anthropic.types.Usage(input_tokens=25, output_tokens=80)
    assert response.usage_from(usage) == Usage(input_tokens=25, output_tokens=80)


def test_usage_from_anthropic_zero_cache_counts_are_recorded() -> None:
    usage = anthropic.types.Usage(
        input_tokens=25, output_tokens=80, cache_read_input_tokens=0, cache_creation_input_tokens=0
    )
    assert response.usage_from(usage) == Usage(
        input_tokens=25, output_tokens=80, cache_read_input_tokens=0, cache_creation_input_tokens=0
    )


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, None),
        ({}, None),
        ({"total_tokens": 10}, None),
        ({"prompt_tokens": 5, "completion_tokens": 2}, Usage(input_tokens=5, output_tokens=2)),
        ({"prompt_tokens": 5.0, "completion_tokens": 2}, Usage(input_tokens=5, output_tokens=2)),
        ({"prompt_tokens": -1, "completion_tokens": 2}, Usage(output_tokens=2)),
        ({"prompt_tokens": True, "completion_tokens": 2}, Usage(output_tokens=2)),
        ({"prompt_tokens": "5", "completion_tokens": 2}, Usage(output_tokens=2)),
        ({"prompt_tokens": 2**63, "completion_tokens": 2}, Usage(output_tokens=2)),
        ({"prompt_tokens": 2.5, "completion_tokens": float("nan")}, None),
        ({"input_tokens": 9, "output_tokens": 1}, Usage(input_tokens=9, output_tokens=1)),
        ({"input_tokens": 9, "cache_read_input_tokens": 1}, Usage(input_tokens=10, cache_read_input_tokens=1)),
    ],
)
def test_usage_from_dicts_keeps_only_valid_counts(usage: Any, expected: Usage | None) -> None:
    assert response.usage_from(usage) == expected


def test_usage_from_anthropic_sum_stays_within_int64() -> None:
    """Each count fits an int64 attribute, but input = uncached + cache read + cache creation must too.

    Otherwise the OTLP exporter cannot encode ``gen_ai.usage.input_tokens`` and drops the batch.
    """
    big = 2**62
    usage = response.usage_from(
        {"input_tokens": big, "output_tokens": 1, "cache_read_input_tokens": big, "cache_creation_input_tokens": big}
    )
    assert usage is not None
    assert usage.input_tokens is None or usage.input_tokens <= 2**63 - 1


def test_responses_api_usage() -> None:
    usage = response.usage_from(
        openai.types.responses.ResponseUsage.model_validate(
            {
                "input_tokens": 300,
                "input_tokens_details": {"cached_tokens": 256, "cache_write_tokens": 0},
                "output_tokens": 90,
                "output_tokens_details": {"reasoning_tokens": 64},
                "total_tokens": 390,
            }
        )
    )
    assert usage == Usage(input_tokens=300, output_tokens=90, cache_read_input_tokens=256, reasoning_output_tokens=64)


# --- responses -----------------------------------------------------------------------------------


def test_openai_chat_completion_facts() -> None:
    call = read(chat_completion(usage=OPENAI_USAGE))
    assert call.response_id == "chatcmpl-abc123"
    assert call.response_model == "gpt-4o-mini-2024-07-18"
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(
        input_tokens=1200, output_tokens=300, cache_read_input_tokens=1024, reasoning_output_tokens=128
    )
    assert call.output_messages is None  # no capture: no content read


def test_openai_chat_completion_without_usage() -> None:
    call = read(chat_completion(usage=None))
    assert call.usage is None
    assert call.finish_reasons == ["stop"]


def test_openai_finish_reasons_one_per_choice_in_order_and_output_messages() -> None:
    completion = chat_completion(
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A"},
                "finish_reason": "stop",
                "logprobs": None,
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": "B is long"},
                "finish_reason": "length",
                "logprobs": None,
            },
            {
                "index": 2,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            },
            {
                "index": 3,
                "message": {"role": "assistant", "content": None, "refusal": "no"},
                "finish_reason": "content_filter",
                "logprobs": None,
            },
        ],
        usage=OPENAI_USAGE,
    )
    call = read(completion, capture=True)
    assert call.finish_reasons == ["stop", "length", "tool_calls", "content_filter"]
    assert call.output_messages == [
        {"role": "assistant", "parts": [text("A")], "finish_reason": "stop"},
        {"role": "assistant", "parts": [text("B is long")], "finish_reason": "length"},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_abc",
                    "name": "get_weather",
                    "arguments": {"city": "Paris", "unit": "c"},
                }
            ],
            "finish_reason": "tool_call",
        },
        {"role": "assistant", "parts": [], "finish_reason": "content_filter"},
    ]


def test_openai_legacy_completion() -> None:
    completion = Completion.model_validate(
        {
            "id": "cmpl-9",
            "object": "text_completion",
            "created": 1_700_000_000,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [
                {"index": 0, "text": "one", "finish_reason": "stop", "logprobs": None},
                {"index": 1, "text": "two", "finish_reason": "length", "logprobs": None},
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    )
    call = read(completion, capture=True, call=new_call("text_completion"))
    assert (call.response_id, call.response_model) == ("cmpl-9", "gpt-3.5-turbo-instruct")
    assert call.finish_reasons == ["stop", "length"]
    assert call.usage == Usage(input_tokens=5, output_tokens=7)
    assert call.output_messages == [
        {"role": "assistant", "parts": [text("one")], "finish_reason": "stop"},
        {"role": "assistant", "parts": [text("two")], "finish_reason": "length"},
    ]


def responses_api_response(status: str = "completed", **extra: Any) -> Response:
    return Response.model_validate(
        {
            "id": "resp_67ccd2bed1ec8190",
            "object": "response",
            "created_at": 1_741_476_542,
            "model": "gpt-4.1-2025-04-14",
            "status": status,
            "output": [
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [],
                },
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_9",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris"}',
                    "status": "completed",
                },
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 300,
                "input_tokens_details": {"cached_tokens": 256, "cache_write_tokens": 0},
                "output_tokens": 90,
                "output_tokens_details": {"reasoning_tokens": 64},
                "total_tokens": 390,
            },
            **extra,
        }
    )


def test_openai_responses_api_response() -> None:
    call = read(responses_api_response(), capture=True)
    assert call.response_id == "resp_67ccd2bed1ec8190"
    assert call.response_model == "gpt-4.1-2025-04-14"
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(
        input_tokens=300, output_tokens=90, cache_read_input_tokens=256, reasoning_output_tokens=64
    )
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [
                text("It is sunny."),
                {"type": "tool_call", "id": "call_9", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "stop",
        }
    ]


def test_openai_responses_api_incomplete_status_is_the_finish_reason() -> None:
    call = read(responses_api_response("incomplete", incomplete_details={"reason": "max_output_tokens"}))
    assert call.finish_reasons == ["incomplete"]


def test_anthropic_message_facts_and_output() -> None:
    message = anthropic_message(
        [
            {"type": "text", "text": "Let me check the weather."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"location": "Paris"}},
        ],
        stop_reason="tool_use",
        usage=anthropic_usage(
            input_tokens=12, output_tokens=55, cache_read_input_tokens=2048, cache_creation_input_tokens=512
        ),
    )
    call = read(message, capture=True, call=new_call(provider="anthropic"))
    assert call.response_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert call.response_model == "claude-sonnet-4-5-20250929"
    assert call.finish_reasons == ["tool_use"]
    assert call.usage == Usage(
        input_tokens=12 + 2048 + 512,
        output_tokens=55,
        cache_read_input_tokens=2048,
        cache_creation_input_tokens=512,
    )
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [
                text("Let me check the weather."),
                {"type": "tool_call", "id": "toolu_01A", "name": "get_weather", "arguments": {"location": "Paris"}},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_anthropic_message_thinking_block_is_a_reasoning_part() -> None:
    message = anthropic_message(
        [
            {"type": "thinking", "thinking": "The user wants a greeting.", "signature": "sig"},
            {"type": "text", "text": "Hi!"},
        ],
        stop_reason="max_tokens",
    )
    call = read(message, capture=True)
    assert call.finish_reasons == ["max_tokens"]
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "The user wants a greeting."}, text("Hi!")],
            "finish_reason": "length",
        }
    ]


def test_read_response_plain_string_and_none() -> None:
    assert read("Just text", capture=True).output_messages == [
        {"role": "assistant", "parts": [text("Just text")], "finish_reason": "stop"}
    ]
    call = read(None, capture=True)
    assert call.output_messages is None
    assert call.usage is None


def test_read_response_does_not_overwrite_known_id_and_model() -> None:
    call = new_call()
    call.response_id, call.response_model = "known-id", "known-model"
    read(chat_completion(), call=call)
    assert (call.response_id, call.response_model) == ("known-id", "known-model")


# --- LlamaIndex responses -------------------------------------------------------------------------


def test_llama_index_chat_response_with_openai_raw() -> None:
    raw = chat_completion(usage=OPENAI_USAGE)
    result = ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content="Hello! How can I help?"),
        raw=raw,
        additional_kwargs={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    )
    call = read(result, capture=True)
    assert call.response_id == "chatcmpl-abc123"
    assert call.response_model == "gpt-4o-mini-2024-07-18"
    assert call.finish_reasons == ["stop"]
    # usage from raw wins over the duplicate in additional_kwargs
    assert call.usage == Usage(
        input_tokens=1200, output_tokens=300, cache_read_input_tokens=1024, reasoning_output_tokens=128
    )
    assert call.output_messages == [
        {"role": "assistant", "parts": [text("Hello! How can I help?")], "finish_reason": "stop"}
    ]


def test_llama_index_chat_response_with_dict_raw() -> None:
    raw = chat_completion(
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Cut"},
                "finish_reason": "length",
                "logprobs": None,
            }
        ],
        usage=OPENAI_USAGE,
    ).model_dump()
    result = ChatResponse(message=ChatMessage(role="assistant", content="Cut"), raw=raw)
    call = read(result, capture=True)
    assert (call.response_id, call.response_model) == ("chatcmpl-abc123", "gpt-4o-mini-2024-07-18")
    assert call.finish_reasons == ["length"]
    assert call.usage == Usage(
        input_tokens=1200, output_tokens=300, cache_read_input_tokens=1024, reasoning_output_tokens=128
    )
    assert call.output_messages == [{"role": "assistant", "parts": [text("Cut")], "finish_reason": "length"}]


def test_llama_index_usage_from_additional_kwargs() -> None:
    result = ChatResponse(
        message=ChatMessage(role="assistant", content="ok"),
        raw={"id": "r-1", "model": "llama3.1:8b"},
        additional_kwargs={"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
    )
    call = read(result)
    assert (call.response_id, call.response_model) == ("r-1", "llama3.1:8b")
    assert call.usage == Usage(input_tokens=30, output_tokens=5)


def test_llama_index_chat_response_output_keeps_tool_calls() -> None:
    tool_call = ChatCompletionMessageToolCall.model_validate(
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
    )
    result = ChatResponse(
        message=ChatMessage(role="assistant", content=None, additional_kwargs={"tool_calls": [tool_call]}),
        raw=chat_completion(
            choices=[
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "tool_calls": [tool_call.model_dump()]},
                    "finish_reason": "tool_calls",
                    "logprobs": None,
                }
            ]
        ),
    )
    call = read(result, capture=True)
    assert call.finish_reasons == ["tool_calls"]
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "add", "arguments": {"a": 1, "b": 2}}],
            "finish_reason": "tool_call",
        }
    ]


def test_llama_index_completion_response_with_openai_raw() -> None:
    raw = Completion.model_validate(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1_700_000_000,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": "Paris", "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
        }
    )
    call = read(CompletionResponse(text="Paris", raw=raw), capture=True, call=new_call("text_completion"))
    assert (call.response_id, call.finish_reasons) == ("cmpl-1", ["stop"])
    assert call.usage == Usage(input_tokens=4, output_tokens=1)
    assert call.output_messages == [{"role": "assistant", "parts": [text("Paris")], "finish_reason": "stop"}]


def test_llama_index_chat_response_without_raw() -> None:
    """Custom LlamaIndex LLMs (and MockLLM) return responses without ``raw``: output and usage still count."""
    result = ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content="Hi there"),
        additional_kwargs={"prompt_tokens": 8, "completion_tokens": 2},
    )
    call = read(result, capture=True)
    assert (call.output_messages, call.usage) == (
        [{"role": "assistant", "parts": [text("Hi there")], "finish_reason": "stop"}],
        Usage(input_tokens=8, output_tokens=2),
    )


def test_llama_index_completion_response_without_raw_reads_additional_kwargs_usage() -> None:
    result = CompletionResponse(text="Hi", additional_kwargs={"prompt_tokens": 8, "completion_tokens": 2})
    call = read(result, capture=True, call=new_call("text_completion"))
    assert call.output_messages == [{"role": "assistant", "parts": [text("Hi")], "finish_reason": "stop"}]
    assert call.usage == Usage(input_tokens=8, output_tokens=2)


# --- stream chunks -------------------------------------------------------------------------------


def test_openai_stream_accumulates_id_model_finish_usage_and_text() -> None:
    call, state = stream(openai_stream())
    assert call.response_id == "chatcmpl-stream1"
    assert call.response_model == "gpt-4o-mini-2024-07-18"
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(input_tokens=12, output_tokens=4)
    assert state.texts == {0: ["Hello", ", world", "!"]}
    assert call.output_messages == [{"role": "assistant", "parts": [text("Hello, world!")], "finish_reason": "stop"}]


def test_openai_stream_without_capture_keeps_no_text() -> None:
    call, state = stream(openai_stream(), capture=False)
    assert state.texts == {}
    assert state.tool_calls == {}
    assert call.output_messages is None
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(input_tokens=12, output_tokens=4)


def test_openai_stream_usage_with_details_on_final_chunk() -> None:
    items = [*openai_stream()[:-1], chunk([], usage=OPENAI_USAGE)]
    call, _ = stream(items, capture=False)
    assert call.usage == Usage(
        input_tokens=1200, output_tokens=300, cache_read_input_tokens=1024, reasoning_output_tokens=128
    )


def test_openai_stream_dict_chunks_match_object_chunks() -> None:
    objects, _ = stream(openai_stream())
    dicts, _ = stream([c.model_dump() for c in openai_stream()])
    assert dicts.output_messages == objects.output_messages
    assert (dicts.response_id, dicts.response_model, dicts.finish_reasons, dicts.usage) == (
        objects.response_id,
        objects.response_model,
        objects.finish_reasons,
        objects.usage,
    )


def test_openai_stream_two_choices_interleaved() -> None:
    items = [
        chunk([delta_choice(0, role="assistant", content=""), delta_choice(1, role="assistant", content="")]),
        chunk([delta_choice(1, content="Bon")]),
        chunk([delta_choice(0, content="Hel")]),
        chunk([delta_choice(0, content="lo")]),
        chunk([delta_choice(1, content="jour")]),
        chunk([delta_choice(1, finish_reason="length")]),
        chunk([delta_choice(0, finish_reason="stop")]),
        chunk([], usage={"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}),
    ]
    call, _ = stream(items)
    assert call.finish_reasons == ["stop", "length"]
    assert call.usage == Usage(input_tokens=3, output_tokens=9)
    assert call.output_messages == [
        {"role": "assistant", "parts": [text("Hello")], "finish_reason": "stop"},
        {"role": "assistant", "parts": [text("Bonjour")], "finish_reason": "length"},
    ]


def tool_fragment(
    index: int, *, id_: str | None = None, name: str | None = None, arguments: str = ""
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id_ is not None:
        fragment["id"] = id_
        fragment["type"] = "function"
        fragment["function"]["name"] = name
    return fragment


def test_openai_stream_tool_call_fragments_become_whole_tool_calls() -> None:
    items = [
        chunk([delta_choice(role="assistant", content=None)]),
        chunk([delta_choice(tool_calls=[tool_fragment(0, id_="call_A", name="get_weather")])]),
        chunk([delta_choice(tool_calls=[tool_fragment(0, arguments='{"ci')])]),
        chunk([delta_choice(tool_calls=[tool_fragment(0, arguments='ty": "Par')])]),
        chunk([delta_choice(tool_calls=[tool_fragment(1, id_="call_B", name="get_time")])]),
        chunk([delta_choice(tool_calls=[tool_fragment(0, arguments='is"}')])]),
        chunk([delta_choice(tool_calls=[tool_fragment(1, arguments='{"tz": "CET"}')])]),
        chunk([delta_choice(finish_reason="tool_calls")]),
    ]
    call, state = stream(items)
    assert state.tool_calls == {
        0: {
            0: {"id": "call_A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            1: {"id": "call_B", "name": "get_time", "arguments": '{"tz": "CET"}'},
        }
    }
    assert call.finish_reasons == ["tool_calls"]
    assert call.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_A", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"type": "tool_call", "id": "call_B", "name": "get_time", "arguments": {"tz": "CET"}},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_openai_legacy_completion_stream_text() -> None:
    items = [
        # streamed completions carry finish_reason=None until the last chunk, which the strict
        # validator rejects; the SDK builds stream chunks with its lenient ``construct``, as here
        Completion.construct(
            **{
                "id": "cmpl-s",
                "object": "text_completion",
                "created": 1,
                "model": "gpt-3.5-turbo-instruct",
                "choices": [{"index": 0, "text": piece, "finish_reason": reason, "logprobs": None}],
            }
        )
        for piece, reason in (("Once", None), (" upon", None), ("", "length"))
    ]
    call, _ = stream(items)
    assert call.response_id == "cmpl-s"
    assert call.output_messages == [{"role": "assistant", "parts": [text("Once upon")], "finish_reason": "length"}]


def anthropic_events() -> list[Any]:
    """The raw events ``client.messages.create(stream=True)`` yields for a cached prompt."""
    start_message = anthropic_message(
        [],
        stop_reason=None,
        usage=anthropic_usage(
            input_tokens=7, output_tokens=1, cache_read_input_tokens=4000, cache_creation_input_tokens=300
        ),
    )
    return [
        RawMessageStartEvent(type="message_start", message=start_message),
        RawContentBlockStartEvent(type="content_block_start", index=0, content_block=TextBlock(type="text", text="")),
        RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=TextDelta(type="text_delta", text="Bon")),
        RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta=TextDelta(type="text_delta", text="jour")),
        RawContentBlockStopEvent(type="content_block_stop", index=0),
        RawMessageDeltaEvent.model_validate(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 42},
            }
        ),
        RawMessageStopEvent(type="message_stop"),
    ]


def test_anthropic_stream_events_totals() -> None:
    call, state = stream(anthropic_events(), call=new_call(provider="anthropic"))
    assert call.response_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert call.response_model == "claude-sonnet-4-5-20250929"
    assert call.finish_reasons == ["end_turn"]
    assert call.usage == Usage(
        input_tokens=7 + 4000 + 300,
        output_tokens=42,
        cache_read_input_tokens=4000,
        cache_creation_input_tokens=300,
    )
    assert state.texts == {0: ["Bon", "jour"]}
    assert call.output_messages == [{"role": "assistant", "parts": [text("Bonjour")], "finish_reason": "stop"}]


def test_anthropic_stream_events_as_dicts() -> None:
    call, _ = stream([e.model_dump() for e in anthropic_events()])
    assert call.finish_reasons == ["end_turn"]
    assert call.usage == Usage(
        input_tokens=4307, output_tokens=42, cache_read_input_tokens=4000, cache_creation_input_tokens=300
    )
    assert call.output_messages == [{"role": "assistant", "parts": [text("Bonjour")], "finish_reason": "stop"}]


def test_responses_api_stream_events() -> None:
    final = responses_api_response()
    events = [
        ResponseTextDeltaEvent.model_validate(
            {
                "type": "response.output_text.delta",
                "item_id": "msg_1",
                "output_index": 1,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
                "sequence_number": n,
            }
        )
        for n, piece in enumerate(("It is ", "sunny."))
    ]
    events.append(ResponseCompletedEvent(type="response.completed", response=final, sequence_number=9))
    call, _ = stream(events)
    assert (call.response_id, call.response_model) == ("resp_67ccd2bed1ec8190", "gpt-4.1-2025-04-14")
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(
        input_tokens=300, output_tokens=90, cache_read_input_tokens=256, reasoning_output_tokens=64
    )
    assert call.output_messages == [{"role": "assistant", "parts": [text("It is sunny.")], "finish_reason": "stop"}]


def test_llama_index_stream_deltas_with_openai_raw_chunks() -> None:
    """What LlamaIndex's OpenAI ``stream_chat`` yields: accumulated message, delta, the raw chunk."""
    raw_chunks = openai_stream()
    so_far = ""
    items = []
    for raw in raw_chunks:
        piece = chunks.chunk_text(raw) or ""
        so_far += piece
        items.append(ChatResponse(message=ChatMessage(role="assistant", content=so_far), delta=piece, raw=raw))
    call, state = stream(items)
    assert call.response_id == "chatcmpl-stream1"
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(input_tokens=12, output_tokens=4)
    assert "".join(state.texts[0]) == "Hello, world!"
    assert call.output_messages == [{"role": "assistant", "parts": [text("Hello, world!")], "finish_reason": "stop"}]


def test_llama_index_stream_usage_from_additional_kwargs() -> None:
    items = [
        CompletionResponse(text="Hi", delta="Hi"),
        CompletionResponse(text="Hi!", delta="!", additional_kwargs={"prompt_tokens": 3, "completion_tokens": 2}),
    ]
    call, _ = stream(items, call=new_call("text_completion"))
    assert call.usage == Usage(input_tokens=3, output_tokens=2)
    assert call.output_messages is not None
    assert [(m["role"], m["parts"]) for m in call.output_messages] == [("assistant", [text("Hi!")])]


def test_llama_index_stream_whose_first_item_has_no_delta_is_still_read() -> None:
    """The reader is picked per chunk *type*, so it must not be decided by one item's values.

    (A ChatResponse subclass keeps this test from changing the reader cached for ChatResponse.)
    """

    class StreamItem(ChatResponse):
        pass

    items = [
        StreamItem(message=ChatMessage(role="assistant", content="")),
        StreamItem(message=ChatMessage(role="assistant", content="Hi"), delta="Hi"),
        StreamItem(message=ChatMessage(role="assistant", content="Hi!"), delta="!"),
    ]
    _, state = stream(items)
    assert state.texts == {0: ["Hi", "!"]}


def test_stream_choice_index_is_bounded() -> None:
    """A malformed chunk's choice index must not make llmotel allocate one slot per index value."""
    call, _ = stream([{"choices": [{"index": 1_000_000, "finish_reason": "stop"}]}], capture=False)
    assert call.finish_reasons is not None
    assert len(call.finish_reasons) < 1000


def test_stream_negative_choice_index_is_not_an_error() -> None:
    call, _ = stream([{"choices": [{"index": -1, "finish_reason": "stop", "delta": {"content": "x"}}]}], capture=False)
    assert call.finish_reasons in (None, ["stop"])


def test_stream_unknown_chunks_are_ignored() -> None:
    call, state = stream([object(), 42, b"bytes", ["a"]])
    assert state.texts == {}
    assert call.usage is None
    assert call.output_messages == []


def test_plain_string_chunks_are_text() -> None:
    call, _ = stream(["Hel", "lo", ""])
    assert call.output_messages is not None
    assert [(m["role"], m["parts"]) for m in call.output_messages] == [("assistant", [text("Hello")])]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("raw text", "raw text"),
        (chunk([delta_choice(role="assistant", content="")]), ""),
        (chunk([delta_choice(content="Hello")]), "Hello"),
        (chunk([delta_choice(finish_reason="stop")]), None),
        (chunk([], usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}), None),
        ({"choices": [{"index": 0, "delta": {"content": "dict"}}]}, "dict"),
        ({"choices": [{"index": 0, "text": "legacy"}]}, "legacy"),
        (
            RawContentBlockDeltaEvent(
                type="content_block_delta", index=0, delta=TextDelta(type="text_delta", text="anthropic")
            ),
            "anthropic",
        ),
        (
            RawContentBlockDeltaEvent(
                type="content_block_delta", index=1, delta=InputJSONDelta(type="input_json_delta", partial_json='{"a"')
            ),
            '{"a"',
        ),
        (RawMessageStopEvent(type="message_stop"), None),
        (ChatResponse(message=ChatMessage(role="assistant", content="x"), delta="llama"), "llama"),
        (object(), None),
    ],
)
def test_chunk_text(item: Any, expected: str | None) -> None:
    assert chunks.chunk_text(item) == expected
    assert DEFAULT_EXTRACTOR.chunk_text(item) == expected


def test_stream_output_marks_unfinished_choices() -> None:
    call, state = new_call(), StreamState()
    state.texts = {0: ["a"], 2: ["c"]}
    state.tool_calls = {1: {0: {"id": "t", "name": "f", "arguments": "not json"}}}
    call.finish_reasons = ["stop"]
    chunks.stream_output(call, state)
    assert call.output_messages == [
        {"role": "assistant", "parts": [text("a")], "finish_reason": "stop"},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t", "name": "f", "arguments": "not json"}],
            "finish_reason": "error",
        },
        {"role": "assistant", "parts": [text("c")], "finish_reason": "error"},
    ]


# --- input content -------------------------------------------------------------------------------


def test_openai_messages_to_parts() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "name": "alice",
            "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "cats", "n": 2}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": "{not json"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"result": "a cat"}'},
    ]
    assert content.input_messages(messages) == [
        {"role": "system", "parts": [text("You are terse.")]},
        {
            "role": "user",
            "name": "alice",
            "parts": [
                text("What is in these images?"),
                {"type": "uri", "modality": "image", "uri": "data:<omitted>"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
                {"type": "blob", "modality": "audio", "content": "<omitted>"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": "cats", "n": 2}},
                {"type": "tool_call", "id": "call_2", "name": "broken", "arguments": "{not json"},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": '{"result": "a cat"}'}]},
    ]
    assert "iVBORw0KGgo" not in json.dumps(content.input_messages(messages))
    assert "UklGRg" not in json.dumps(content.input_messages(messages))


def test_langchain_messages_to_parts() -> None:
    messages = [
        SystemMessage("Be helpful."),
        HumanMessage("Weather in Paris?"),
        AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_42"}]),
        ToolMessage(content="18C and sunny", tool_call_id="call_42"),
        AIMessage(content="It is 18C and sunny."),
    ]
    assert content.input_messages(messages) == [
        {"role": "system", "parts": [text("Be helpful.")]},
        {"role": "user", "parts": [text("Weather in Paris?")]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_42", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_42", "response": "18C and sunny"}]},
        {"role": "assistant", "parts": [text("It is 18C and sunny.")]},
    ]


def test_langchain_human_message_with_image_blocks() -> None:
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
        ]
    )
    assert content.input_messages([message]) == [
        {
            "role": "user",
            "parts": [text("Describe"), {"type": "uri", "modality": "image", "uri": "data:<omitted>"}],
        }
    ]


def test_anthropic_messages_to_parts() -> None:
    previous = anthropic_message(
        [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}},
        ],
        stop_reason="tool_use",
    )
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "text", "text": "Weather where this photo was taken?"},
            ],
        },
        {"role": "assistant", "content": previous.content},  # the SDK's own blocks, as users pass them back
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 degrees"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "rain later"}],
                },
            ],
        },
    ]
    assert content.input_messages(messages) == [
        {
            "role": "user",
            "parts": [
                {"type": "blob", "modality": "image", "content": "<omitted>"},
                text("Weather where this photo was taken?"),
            ],
        },
        {
            "role": "assistant",
            "parts": [
                text("Checking."),
                {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "arguments": {"location": "Paris"}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"type": "tool_call_response", "id": "toolu_1", "response": "15 degrees"},
                {"type": "tool_call_response", "id": "toolu_2", "response": [{"type": "text", "text": "rain later"}]},
            ],
        },
    ]
    assert "iVBORw0KGgo" not in json.dumps(content.input_messages(messages))


def test_anthropic_system_blocks_are_system_instructions() -> None:
    assert content.system_instructions("Be brief.") == [text("Be brief.")]
    assert content.system_instructions(
        [{"type": "text", "text": "Rule 1", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Rule 2"}]
    ) == [text("Rule 1"), text("Rule 2")]
    assert content.system_instructions("") is None
    assert content.system_instructions(None) is None


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (MessageRole.SYSTEM, "system"),
        (MessageRole.USER, "user"),
        (MessageRole.ASSISTANT, "assistant"),
        (MessageRole.CHATBOT, "assistant"),
        (MessageRole.MODEL, "assistant"),
        (MessageRole.DEVELOPER, "developer"),
    ],
)
def test_llama_index_message_roles(role: MessageRole, expected: str) -> None:
    [message] = content.input_messages([ChatMessage(role=role, content="hi")])
    assert message == {"role": expected, "parts": [text("hi")]}
    assert type(message["role"]) is str


def test_llama_index_assistant_tool_calls_in_additional_kwargs() -> None:
    tool_call = ChatCompletionMessageToolCall.model_validate(
        {"id": "call_7", "type": "function", "function": {"name": "search", "arguments": '{"query": "otel"}'}}
    )
    message = ChatMessage(role=MessageRole.ASSISTANT, content=None, additional_kwargs={"tool_calls": [tool_call]})
    assert content.input_messages([message]) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_7", "name": "search", "arguments": {"query": "otel"}}],
        }
    ]


def test_llama_index_tool_message_keeps_its_tool_call_id() -> None:
    """LlamaIndex keeps a tool result's id in ``additional_kwargs["tool_call_id"]`` (as its agents do)."""
    message = ChatMessage(
        role=MessageRole.TOOL, content="42", additional_kwargs={"tool_call_id": "call_7", "name": "search"}
    )
    assert content.input_messages([message]) == [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_7", "response": "42"}]}
    ]


def test_llama_index_image_only_message_is_a_blob() -> None:
    message = ChatMessage(role=MessageRole.USER, blocks=[ImageBlock(url="https://example.com/x.png")])
    assert content.input_messages([message]) == [
        {"role": "user", "parts": [{"type": "blob", "modality": "image", "content": "<omitted>"}]}
    ]


def test_llama_index_text_and_image_blocks_keep_both_parts() -> None:
    message = ChatMessage(
        role=MessageRole.USER,
        blocks=[LlamaTextBlock(text="What is this?"), ImageBlock(url="https://example.com/x.png")],
    )
    assert content.input_messages([message]) == [
        {
            "role": "user",
            "parts": [text("What is this?"), {"type": "blob", "modality": "image", "content": "<omitted>"}],
        }
    ]


def test_input_messages_single_prompt_and_none() -> None:
    assert content.input_messages("Tell me a joke") == [{"role": "user", "parts": [text("Tell me a joke")]}]
    assert content.input_messages({"role": "user", "content": "hi"}) == [{"role": "user", "parts": [text("hi")]}]
    assert content.input_messages(None) == []


def test_extractor_input_content_chat_kwargs() -> None:
    call = new_call()
    DEFAULT_EXTRACTOR.input_content(
        call, None, (), {"messages": [{"role": "user", "content": "hi"}], "system": "Be brief."}
    )
    assert call.input_messages == [{"role": "user", "parts": [text("hi")]}]
    assert call.system_instructions == [text("Be brief.")]


def test_extractor_input_content_responses_api_input_and_instructions() -> None:
    call = new_call()
    DEFAULT_EXTRACTOR.input_content(call, None, (), {"input": "Write a haiku", "instructions": "Talk like a pirate."})
    assert call.input_messages == [{"role": "user", "parts": [text("Write a haiku")]}]
    assert call.system_instructions == [text("Talk like a pirate.")]


def test_extractor_input_content_positional_and_text_completion() -> None:
    call = new_call()
    DEFAULT_EXTRACTOR.input_content(call, None, ([HumanMessage("positional")],), {})
    assert call.input_messages == [{"role": "user", "parts": [text("positional")]}]
    completion = new_call("text_completion")
    DEFAULT_EXTRACTOR.input_content(completion, None, ("Complete this",), {})
    assert completion.input_messages == [{"role": "user", "parts": [text("Complete this")]}]
    many = new_call("text_completion")
    DEFAULT_EXTRACTOR.input_content(many, None, (), {"prompt": ["a", "b"]})
    assert many.input_messages == [{"role": "user", "parts": [text("a")]}, {"role": "user", "parts": [text("b")]}]


# --- request -------------------------------------------------------------------------------------


def test_request_params_from_kwargs() -> None:
    params = request.request_params(
        {
            "temperature": 0.7,
            "max_completion_tokens": 256,
            "top_p": 0.9,
            "top_k": 40,
            "stop": "\n\n",
            "seed": 1234,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "n": 3,
            "messages": [],
        },
        {},
    )
    assert params == {
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.7,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 256,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 40.0,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["\n\n"],
        sc.GEN_AI_REQUEST_SEED: 1234,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.5,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: -0.5,
        sc.GEN_AI_REQUEST_CHOICE_COUNT: 3,
    }


def test_request_params_kwargs_win_over_instance_fields() -> None:
    fields = {"temperature": 0.1, "max_tokens": 100, "stop_sequences": ["END", 7, "STOP"], "n": 1}
    params = request.request_params({"temperature": 0.9}, fields)
    assert params == {
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.9,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ["END", "STOP"],
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": True},
        {"temperature": "0.5"},
        {"temperature": float("inf")},
        {"temperature": 10**400},
        {"max_tokens": 2**63},
        {"max_tokens": 1.5},
        {"seed": False},
        {"stop": [1, 2]},
        {"n": 1},
        {"temperature": None},
    ],
)
def test_request_params_drop_invalid_values(kwargs: dict[str, Any]) -> None:
    assert request.request_params(kwargs, {}) == {}


def test_request_model_lookup_order() -> None:
    class Plain:
        def __init__(self, **fields: Any) -> None:
            self.__dict__.update(fields)

    inst = Plain(model="from-field", model_name="from-model-name")
    assert request.request_model({"model": "from-kwarg"}, inst, request.fields_of(inst)) == "from-kwarg"
    assert request.request_model({}, inst, request.fields_of(inst)) == "from-field"
    inst = Plain(model_name="from-model-name")
    assert request.request_model({}, inst, request.fields_of(inst)) == "from-model-name"
    assert request.request_model({"model": 5}, None, {}) is None


def test_request_model_from_class_property_and_llama_index_metadata() -> None:
    class WithProperty:
        @property
        def model(self) -> str:
            return "prop-model"

    inst = WithProperty()
    assert request.request_model({}, inst, request.fields_of(inst)) == "prop-model"
    mock = MockLLM()
    assert request.request_model({}, mock, request.fields_of(mock)) == mock.metadata.model_name


def _instance_from(module: str, qualname: str) -> Any:
    cls = type(qualname.rsplit(".", 1)[-1], (), {})
    cls.__module__ = module
    cls.__qualname__ = qualname
    return cls()


@pytest.mark.parametrize(
    ("module", "qualname", "expected"),
    [
        ("llama_index.llms.openai.base", "OpenAI", "openai"),
        ("llama_index.llms.azure_openai.base", "AzureOpenAI", "azure.ai.openai"),
        ("langchain_openai.chat_models.azure", "AzureChatOpenAI", "azure.ai.openai"),
        ("llama_index.llms.anthropic.base", "Anthropic", "anthropic"),
        ("langchain_aws.chat_models.bedrock_converse", "ChatBedrockConverse", "aws.bedrock"),
        ("llama_index.llms.mistralai.base", "MistralAI", "mistral_ai"),
        ("llama_index.llms.groq.base", "Groq", "groq"),
        ("llama_index.llms.ollama.base", "Ollama", "ollama"),
        ("langchain_google_vertexai.chat_models", "ChatVertexAI", "gcp.vertex_ai"),
        ("llama_index.llms.gemini.base", "Gemini", "gcp.gemini"),
        ("myapp.models", "MyModel", "unknown"),
    ],
)
def test_infer_provider_from_module_and_class(module: str, qualname: str, expected: str) -> None:
    instance = _instance_from(module, qualname)
    assert request.infer_provider(instance) == expected
    assert request.infer_provider(type(instance)) == expected  # classmethods pass the class
    assert request.infer_provider(instance) == expected  # cached answer is the same


@pytest.mark.parametrize(
    ("module", "qualname", "expected"),
    [
        ("anthropic.lib.bedrock._client", "AnthropicBedrock", "aws.bedrock"),
        ("anthropic.lib.vertex._client", "AnthropicVertex", "gcp.vertex_ai"),
        ("langchain_google_vertexai.model_garden", "ChatAnthropicVertex", "gcp.vertex_ai"),
    ],
)
def test_infer_provider_platform_wins_over_model_vendor(module: str, qualname: str, expected: str) -> None:
    """Anthropic models served by Bedrock or Vertex AI are those platforms' calls (as Azure OpenAI is Azure's)."""
    assert request.infer_provider(_instance_from(module, qualname)) == expected


def test_infer_provider_none() -> None:
    assert request.infer_provider(None) == "unknown"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"base_url": "https://api.openai.com/v1"}, ("api.openai.com", 443)),
        ({"base_url": httpx.URL("http://localhost:11434/v1")}, ("localhost", 11434)),
        ({"api_base": "http://vllm.internal/v1"}, ("vllm.internal", 80)),
        ({"endpoint": "localhost:8000"}, ("localhost", 8000)),
        ({"azure_endpoint": "https://my-res.openai.azure.com/"}, ("my-res.openai.azure.com", 443)),
        ({"base_url": "https://user:secret@proxy.example.com:8443/v1"}, ("proxy.example.com", 8443)),
        ({"base_url": "http://[::1]:9000"}, ("::1", 9000)),
        ({"base_url": "http://host:99999999"}, (None, None)),
        ({"base_url": None, "api_base": "https://second.example"}, ("second.example", 443)),
        ({"base_url": 12345}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_server_of(fields: dict[str, Any], expected: tuple[str | None, int | None]) -> None:
    assert request.server_of(fields) == expected


class ModelSettings(BaseModel):
    """A pydantic model configuration object shaped like a LlamaIndex/LangChain LLM class."""

    model: str = "gpt-4o"
    temperature: float = 0.3
    max_tokens: int = 512
    top_k: int = 40
    streaming: bool = False
    api_key: str = "sk-proj-abcdef"
    openai_api_key: str = "sk-other"
    access_token: str = "access-9f8e7d"
    Authorization: str = "Bearer abc"
    client_secret: str = "client-5a4b3c"
    password: str = "hunter2"
    apiKey: str = "camel-1q2w3e"  # named like a JS client option
    api_base: str = "https://user:pass@gateway.example.com/v1"
    endpoint: str = "https://gateway.example.com/v1"
    organization: str = "sk-org-looks-like-a-key"
    region_token_budget: int = 5
    system_prompt: str = "You are a pirate."
    messages_to_prompt: str = "template"
    description: str = "x" * 1000
    huge: int = 2**70
    ratio: float = 0.5
    tags: list[str] = ["a"]
    headers: dict[str, str] = {"Authorization": "Bearer abc"}


def test_model_config_filters_secrets_and_content_keeps_config() -> None:
    config = request.model_config(ModelSettings(), 100)
    assert config is not None
    prefix = sc.LLMOTEL_MODEL_PREFIX
    assert config == {
        prefix + "model": "gpt-4o",
        prefix + "temperature": 0.3,
        prefix + "max_tokens": 512,
        prefix + "top_k": 40,
        prefix + "streaming": False,
        prefix + "endpoint": "https://gateway.example.com/v1",
        prefix + "description": "x" * 256 + "…",
        prefix + "ratio": 0.5,
    }
    dumped = json.dumps(config)
    for secret in ("sk-", "Bearer", "access-9f8e7d", "client-5a4b3c", "hunter2", "camel-1q2w3e", "pass@", "pirate"):
        assert secret not in dumped


def test_model_config_is_bounded() -> None:
    config = request.model_config(ModelSettings(), 3)
    assert config is not None
    assert len(config) == 3
    assert request.model_config(ModelSettings(), 0) is None
    assert request.model_config(ModelSettings, 10) is None  # a class, not an instance
    assert request.model_config(None, 10) is None


def test_model_config_of_real_openai_client_has_no_secrets() -> None:
    client = openai.OpenAI(api_key="sk-test-1234567890", base_url="http://localhost:8080/v1", max_retries=3)
    try:
        config = request.model_config(client, 100) or {}
    finally:
        client.close()
    assert config.get(sc.LLMOTEL_MODEL_PREFIX + "max_retries") == 3
    assert "sk-test" not in json.dumps(config)
    assert not any(request.is_secret_name(k[len(sc.LLMOTEL_MODEL_PREFIX) :]) for k in config)


def test_model_config_of_object_without_dict_uses_model_dump() -> None:
    class Slotted:
        __slots__ = ()

        def model_dump(self) -> dict[str, Any]:
            return {"model": "m", "api_key": "sk-x", "temperature": 0.1}

    assert request.model_config(Slotted(), 10) == {
        sc.LLMOTEL_MODEL_PREFIX + "model": "m",
        sc.LLMOTEL_MODEL_PREFIX + "temperature": 0.1,
    }


@pytest.mark.parametrize(
    "name",
    ["api_key", "apiKey", "APIKey", "openai_api_key", "access_token", "Authorization", "client_secret", "password"],
)
def test_secret_names(name: str) -> None:
    assert request.is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "top_k", "model", "temperature", "max_output_tokens", "base_url"])
def test_non_secret_names(name: str) -> None:
    assert not request.is_secret_name(name)


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("sk-proj-abc", True),
        ("Bearer xyz", True),
        ("Basic dXNlcjpwYXNz", True),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", True),
        ("https://user:pass@host/v1", True),
        ("https://host:8443/v1", False),
        ("gpt-4o", False),
        ("skeleton", False),
    ],
)
def test_secret_values(value: str, secret: bool) -> None:
    assert request.is_secret_value(value) is secret


def test_extractor_request_fills_the_record() -> None:
    class Client:
        def __init__(self) -> None:
            self.base_url = "https://api.anthropic.com"
            self.max_tokens = 1024

    call = LLMCall("chat", "anthropic")
    Extractor().request(call, Client(), (), {"model": "claude-3-5-haiku-latest", "stream": True, "top_k": 5})
    assert call.request_model == "claude-3-5-haiku-latest"
    assert call.stream is True
    assert (call.server_address, call.server_port) == ("api.anthropic.com", 443)
    assert call.params == {sc.GEN_AI_REQUEST_MAX_TOKENS: 1024, sc.GEN_AI_REQUEST_TOP_K: 5.0}


# --- end to end through trace_chat ---------------------------------------------------------------


class OpenAIChat:
    """A user class whose method calls OpenAI (the SDK result is returned as the call would)."""

    def __init__(self, result: Any) -> None:
        self.model = "gpt-4o-mini"
        self.base_url = "https://api.openai.com/v1"
        self.temperature = 0.2
        self.api_key = "sk-test-secret-key-123"  # conftest's secret scanner fails the test if it is exported
        self._result = result

    @llmotel.trace_chat(provider="openai")
    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        return self._result

    @llmotel.trace_chat(provider="openai")
    def stream(self, messages: list[dict[str, Any]], **kwargs: Any) -> Iterator[ChatCompletionChunk]:
        yield from self._result


REQUEST_ATTRIBUTES = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.SERVER_ADDRESS: "api.openai.com",
    sc.SERVER_PORT: 443,
    sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
    sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
    "llmotel.model.model": "gpt-4o-mini",
    "llmotel.model.base_url": "https://api.openai.com/v1",
    "llmotel.model.temperature": 0.2,
}


def test_trace_chat_method_returning_chat_completion() -> None:
    completion = chat_completion(usage=OPENAI_USAGE)
    client = OpenAIChat(completion)
    result = client.chat([{"role": "user", "content": "Hi"}], max_tokens=64)
    assert result is completion
    [span] = finished()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        **REQUEST_ATTRIBUTES,
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-abc123",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1200,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 128,
    }


@pytest.mark.usefixtures("capture_content")
def test_trace_chat_method_records_content_when_capture_is_on() -> None:
    client = OpenAIChat(chat_completion())
    client.chat([{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"}], max_tokens=64)
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert json.loads(attrs.pop(sc.GEN_AI_INPUT_MESSAGES)) == [
        {"role": "system", "parts": [text("Be nice.")]},
        {"role": "user", "parts": [text("Hi")]},
    ]
    assert json.loads(attrs.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {"role": "assistant", "parts": [text("Hello! How can I help?")], "finish_reason": "stop"}
    ]
    assert attrs == {
        **REQUEST_ATTRIBUTES,
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-abc123",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.LLMOTEL_USAGE_UNKNOWN: True,
    }


def test_trace_chat_generator_yielding_openai_chunks(env: Any) -> None:
    # content capture on, and room for one chunk event per chunk
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true", LLMOTEL_STREAM_CHUNK_EVENTS="16")
    items = openai_stream()
    client = OpenAIChat(items)
    received = list(client.stream([{"role": "user", "content": "Hi"}], max_tokens=64))
    assert len(received) == len(items)
    assert all(got is sent for got, sent in zip(received, items, strict=True))
    [span] = finished()
    attrs = dict(span.attributes or {})
    ttfc = attrs.pop(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert isinstance(ttfc, float)
    assert ttfc >= 0
    assert json.loads(attrs.pop(sc.GEN_AI_INPUT_MESSAGES)) == [{"role": "user", "parts": [text("Hi")]}]
    assert json.loads(attrs.pop(sc.GEN_AI_OUTPUT_MESSAGES)) == [
        {"role": "assistant", "parts": [text("Hello, world!")], "finish_reason": "stop"}
    ]
    assert attrs == {
        **REQUEST_ATTRIBUTES,
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-stream1",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 4,
        sc.LLMOTEL_STREAM_CHUNKS: 6,
        sc.LLMOTEL_STREAM_COMPLETED: True,
        sc.LLMOTEL_STREAM_STOP_REASON: "exhausted",
        sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED: 0,
    }
    events = [dict(e.attributes or {}) for e in span.events]
    assert [e[sc.EVENT_CHUNK_INDEX] for e in events] == [0, 1, 2, 3, 4, 5]
    assert [e.get(sc.EVENT_CHUNK_CONTENT) for e in events] == [None, "Hello", ", world", "!", None, None]
    assert events[-1][sc.EVENT_CHUNK_FINISH_REASON] == "stop"


def test_trace_chat_anthropic_message_end_to_end() -> None:
    message = anthropic_message(
        [{"type": "text", "text": "Bonjour"}],
        usage=anthropic_usage(input_tokens=3, output_tokens=2, cache_read_input_tokens=10),
    )

    @llmotel.trace_chat(provider="anthropic")
    def create(**kwargs: Any) -> Message:
        return message

    assert create(model="claude-sonnet-4-5", max_tokens=100, messages=[]) is message
    [span] = finished()
    assert dict(span.attributes or {}) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
        sc.GEN_AI_RESPONSE_ID: "msg_01XFDUDYJgAACzvnptvVoYEL",
        sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5-20250929",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 13,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 2,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 10,
    }


def test_llama_index_usage_on_the_message_additional_kwargs() -> None:
    """``CustomLLM.chat`` wraps ``complete()`` and leaves the usage on ``message.additional_kwargs``."""
    call = LLMCall("chat", "x")
    message = ChatMessage(
        role="assistant", content="hi", additional_kwargs={"prompt_tokens": 3, "completion_tokens": 2}
    )
    response.read_response(call, ChatResponse(message=message), False)
    assert call.usage == Usage(input_tokens=3, output_tokens=2)


def test_model_config_leaves_out_secrets_personal_data_and_content() -> None:
    class Assistant:
        def __init__(self) -> None:
            self.model = "gpt-4o-mini"
            self.model_name = "gpt-4o-mini"
            self.temperature = 0.2
            self.persona = "You are Acme's support agent. Customer: Jane Roe"
            self.user_email = "jane.roe@example.com"
            self.contact = "jane.roe@example.com"
            self.passphrase = "correct-horse-battery-staple"
            self.github_pat = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
            self.aws_id = "AKIAIOSFODNN7EXAMPLE"
            self.slack = "xoxb-123-456"
            self.greeting = "Hello there, how are you?"

    assert request.model_config(Assistant(), 24) == {
        "llmotel.model.model": "gpt-4o-mini",
        "llmotel.model.model_name": "gpt-4o-mini",
        "llmotel.model.temperature": 0.2,
    }


def test_model_config_keeps_numbers_and_flags_whose_name_is_content_like() -> None:
    """``context_window=4096`` (LlamaIndex ``LLMMetadata``) is configuration; a text field with a
    content-like name is content; personal-data names are left out whatever the value."""

    class Metadata:
        def __init__(self) -> None:
            self.context_window = 4096
            self.max_history_messages = 5
            self.system_role_enabled = True
            self.context = "the retrieved document text"
            self.system_prompt = "terse"
            self.user_id = 12345
            self.customer_tier = 2

    assert request.model_config(Metadata(), 24) == {
        "llmotel.model.context_window": 4096,
        "llmotel.model.max_history_messages": 5,
        "llmotel.model.system_role_enabled": True,
    }


# --- the response fast path agrees with the general path ---------------------------------------------

_identifiers = st.one_of(st.none(), st.text(max_size=8), st.text(min_size=1020, max_size=1030), st.integers())
_counts = st.one_of(st.none(), st.integers(-5, 2**64), st.floats(allow_nan=True), st.text(max_size=3))
_choice = st.fixed_dictionaries(
    {"index": st.integers(0, 3), "finish_reason": st.one_of(_identifiers, st.sampled_from(["stop", "length", ""]))}
)
_usage = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries(
        {"prompt_tokens": _counts, "completion_tokens": _counts},
        optional={
            "prompt_tokens_details": st.one_of(st.none(), st.fixed_dictionaries({"cached_tokens": _counts})),
            "completion_tokens_details": st.one_of(st.none(), st.fixed_dictionaries({"reasoning_tokens": _counts})),
        },
    ),
)
_openai_dicts = st.fixed_dictionaries(
    {"choices": st.lists(st.one_of(_choice, st.none(), st.integers()), max_size=3)},
    optional={"id": _identifiers, "model": _identifiers, "usage": _usage},
)


@settings(max_examples=300, deadline=None)
@given(_openai_dicts, st.booleans())
def test_response_fast_path_records_what_the_general_path_records(raw: dict[str, Any], known_usage: bool) -> None:
    """The inline OpenAI fast path (no capture) must fill the record exactly as the general path
    would, for well-formed and malformed responses alike, starting from an empty record or from a
    record that already knows usage (a folded call)."""
    fast, general = LLMCall("chat", "openai"), LLMCall("chat", "openai")
    if known_usage:
        fast.usage, general.usage = Usage(1, 2), Usage(1, 2)
    response.read_response(fast, raw, False)
    response._read_general(general, raw, False)
    assert fast == general


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("req_abc", "req_abc"),
        ("  req_abc \t", "req_abc"),
        ("", None),
        ("   ", None),
        (None, None),
        ("r" * 300, "r" * 128),
    ],
)
def test_the_sdks_own_request_id_is_recorded_trimmed_by_both_paths(given: Any, recorded: str | None) -> None:
    """The Stainless SDKs put the request id on the parsed response (``add_request_id``): the fast
    path and the general path record it alike, trimmed and bounded, never over one already known."""
    from openai._models import add_request_id

    raw = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    completion = ChatCompletion.model_validate(raw)
    add_request_id(completion, given)
    fast, general, known = LLMCall("chat", "openai"), LLMCall("chat", "openai"), LLMCall("chat", "openai")
    known.extra = {"llmotel.response.request_id": "from-headers"}
    response.read_response(fast, completion, False)
    response._read_general(general, completion, False)
    response.read_response(known, completion, False)
    assert (fast.extra or {}).get("llmotel.response.request_id") == recorded
    assert fast == general
    assert known.extra == {"llmotel.response.request_id": "from-headers"}
    message = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [{"type": "text", "text": "a"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }
    )
    add_request_id(message, given)  # the assignment anthropic's SDK makes on its parsed responses
    from_anthropic = LLMCall("chat", "anthropic")
    response.read_response(from_anthropic, message, False)
    assert (from_anthropic.extra or {}).get("llmotel.response.request_id") == recorded


def test_response_fast_path_reads_sdk_objects_like_dicts() -> None:
    """The SDK's pydantic ChatCompletion is read through its fields, with the same result as the dict."""
    raw = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a"}},
            {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "b"}},
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 7,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    }
    from_object, from_dict = LLMCall("chat", "openai"), LLMCall("chat", "openai")
    response.read_response(from_object, ChatCompletion.model_validate(raw), False)
    response.read_response(from_dict, raw, False)
    assert from_object == from_dict
    assert from_object.finish_reasons == ["stop", "length"]
    assert from_object.usage == Usage(5, 7, cache_read_input_tokens=2)


def test_extractor_option_must_be_an_extractor() -> None:
    with pytest.raises(TypeError, match="Extractor"):
        llmotel.trace_chat(extractor=object())(lambda: None)  # type: ignore[arg-type]


_chunk_choice = st.fixed_dictionaries(
    {"index": st.one_of(st.integers(-1, 200), st.none()), "finish_reason": st.one_of(st.none(), _identifiers)},
    optional={
        "delta": st.one_of(st.none(), st.fixed_dictionaries({"content": st.one_of(st.none(), st.text(max_size=4))}))
    },
)
_openai_chunks = st.fixed_dictionaries(
    {"choices": st.one_of(st.lists(_chunk_choice, max_size=3), st.none())},
    optional={"id": _identifiers, "model": _identifiers, "usage": _usage},
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_openai_chunks, min_size=1, max_size=4), st.booleans())
def test_chunk_fast_path_records_what_the_general_path_records(stream: list[dict[str, Any]], capture: bool) -> None:
    """Chunks read through their field mapping (the fast path, which skips choices without a
    finish reason) fill the record and the stream state exactly as attribute-by-attribute reads."""
    fast, general = LLMCall("chat", "openai"), LLMCall("chat", "openai")
    fast_state, general_state = StreamState(), StreamState()
    for chunk in stream:
        chunks._openai_chunk(fast, fast_state, chunk, capture)
        chunks._openai_chunk_object(general, general_state, chunk, capture)
        # chunk events' text: the dict fast path finds what the general (Mapping) path finds
        assert chunks.chunk_text(chunk) == chunks.chunk_text(MappingProxyType(chunk))
    assert fast == general
    assert fast_state.texts == general_state.texts


@settings(max_examples=300, deadline=None)
@given(st.lists(_openai_chunks, min_size=1, max_size=4), st.booleans())
def test_sdk_chunk_objects_are_read_like_the_general_path(stream: list[dict[str, Any]], capture: bool) -> None:
    """The openai SDK's chunk objects get the attribute-access reader (``_openai_model_chunk``):
    it must fill the record as the general reader does reading the same objects attribute by
    attribute, and find each chunk's text as the general ``chunk_text`` finds it in the same
    chunk as a dict. (The general reader is given the objects, not the dicts they were built
    from: the SDK's ``construct`` coerces some values, a ``"0"`` token count to ``0``.)"""
    from openai.types.chat import ChatCompletionChunk

    objects = [ChatCompletionChunk.construct(**raw) for raw in stream]
    assert chunks.reader_for(objects[0]) is chunks._openai_model_chunk
    fast, general = LLMCall("chat", "openai"), LLMCall("chat", "openai")
    fast_state, general_state = StreamState(), StreamState()
    for obj, raw in zip(objects, stream, strict=True):
        chunks._openai_model_chunk(fast, fast_state, obj, capture)
        chunks._openai_chunk_object(general, general_state, obj, capture)
        assert chunks.chunk_text(obj) == chunks.chunk_text(raw)
    assert fast == general
    assert fast_state.texts == general_state.texts


def test_sdk_chunk_reader_falls_back_on_chunks_without_their_fields() -> None:
    """A chunk object built without its declared fields (``model_construct`` with none) is read by
    the general reader, and a stream of them still records the finish reason and usage."""
    from openai.types.chat import ChatCompletionChunk

    call, state = LLMCall("chat", "openai"), StreamState()
    first = ChatCompletionChunk.construct(id="c1", model="m", choices=[], object="chat.completion.chunk")
    assert chunks.reader_for(first) is chunks._openai_model_chunk
    chunks._openai_model_chunk(call, state, first, False)
    bare = ChatCompletionChunk.model_construct()  # no fields at all: attribute reads fail
    object.__setattr__(bare, "__dict__", {})
    chunks._openai_model_chunk(call, state, bare, False)
    last = ChatCompletionChunk.construct(
        choices=[{"index": 0, "finish_reason": "stop", "delta": {}}],
        usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    )
    chunks._openai_model_chunk(call, state, last, False)
    assert (call.response_id, call.response_model) == ("c1", "m")
    assert call.finish_reasons == ["stop"]
    assert call.usage == Usage(3, 4)


# --- response headers: httpx headers read as bytes agree with the mapping path ------------------------

_HEADER_NAMES = [
    "x-request-id",
    "request-id",
    "openai-processing-ms",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-input-tokens-remaining",
    "retry-after",
    "x-custom-ratelimit-remaining-requests",
    "authorization",
    "set-cookie",
    "content-type",
]
_header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=24),
    st.integers(0, 10**20).map(str),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_HEADER_NAMES), _header_values), max_size=2 * len(_HEADER_NAMES)),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["httpx", "httpx2"]),
)
def test_httpx_headers_read_as_bytes_record_what_the_mapping_path_records(
    raw: list[tuple[str, str]], upper: bool, ratelimits: bool, module: str
) -> None:
    """``header_attributes`` reads httpx / httpx2 headers through their byte triples (no decoding of
    the headers it does not keep); the result must be what reading them as a mapping gives, repeated
    headers included (the first usable one wins)."""
    import httpx2

    from llmotel.extract.callbacks import header_attributes

    http = httpx if module == "httpx" else httpx2
    headers = http.Headers([((name.upper() if upper else name), value) for name, value in raw])
    facts = header_attributes(headers, ratelimits)
    assert facts == header_attributes(ListMapping(headers.multi_items()), ratelimits)
    assert not any("cookie" in key or "authorization" in key for key in facts)
    if not ratelimits:
        assert set(facts) <= {"llmotel.response.request_id", "llmotel.response.processing_ms"}


class ListMapping:
    """A mapping-like list of pairs: repeated names kept, in order."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs


@pytest.mark.parametrize("module", ["httpx", "httpx2"])
def test_request_ids_are_text_and_empty_ones_are_skipped(module: str) -> None:
    import httpx2

    from llmotel.extract.callbacks import header_attributes

    http = httpx if module == "httpx" else httpx2
    headers = http.Headers([("x-request-id", " "), ("request-id", "00123"), ("openai-processing-ms", "12.5")])
    assert header_attributes(headers, False) == {"llmotel.response.request_id": "00123"}
    assert header_attributes({"x-request-id": "", "openai-processing-ms": " 42 "}, False) == {
        "llmotel.response.processing_ms": 42
    }


def test_server_of_url_reads_a_url_object_once() -> None:
    url = httpx.URL("https://api.example.test:8443/v1/")
    assert request.server_of_url(url) == ("api.example.test", 8443)
    assert request.server_of_url(url) == ("api.example.test", 8443)  # from the cache, by identity
    assert request.server_of_url(httpx.URL("http://127.0.0.1/v1")) == ("127.0.0.1", 80)
    assert request.server_of_url("https://api.openai.com/v1") == ("api.openai.com", 443)


def test_sdk_extractors_read_no_model_configuration() -> None:
    from llmotel.integrations.anthropic import EXTRACTOR as ANTHROPIC
    from llmotel.integrations.openai import EXTRACTOR as OPENAI

    assert DEFAULT_EXTRACTOR.reads_model_config
    assert not OPENAI.reads_model_config and not ANTHROPIC.reads_model_config


def test_extractor_subclasses_know_which_defaults_they_keep() -> None:
    class OwnResponse(Extractor):
        def __init__(self, label: str) -> None:  # no super().__init__(): the flags still hold
            self.label = label

        def response(self, call: LLMCall, result: Any, capture: bool) -> None:
            call.response_id = self.label

    own = OwnResponse("x")
    assert (own.default_response, own.default_chunk) == (False, True)
    assert (DEFAULT_EXTRACTOR.default_response, DEFAULT_EXTRACTOR.default_chunk) == (True, True)


class _ExtraResponse(BaseModel, extra="allow"):  # type: ignore[call-arg]
    choices: list[Any]


class _PropertyModelResponse(BaseModel):
    choices: list[dict[str, Any]]

    @property
    def model(self) -> str:
        return "prop-model"


def test_pydantic_extras_and_properties_are_read_like_the_general_path() -> None:
    """Fields that live in a model's extras or come from a property are not in its ``__dict__``:
    the fast paths must hand such models to the general path (review finding)."""
    extra = _ExtraResponse(choices=[{"finish_reason": "stop"}], usage={"prompt_tokens": 3, "completion_tokens": 4})
    call = LLMCall("chat", "openai")
    response.read_response(call, extra, False)
    assert (call.finish_reasons, call.usage) == (["stop"], Usage(3, 4))

    chunk = _ExtraResponse(
        choices=[{"index": 0, "finish_reason": "length"}], usage={"prompt_tokens": 1, "completion_tokens": 2}
    )
    call, state = LLMCall("chat", "openai"), StreamState()
    chunks._openai_chunk(call, state, chunk, False)
    assert (call.finish_reasons, call.usage) == (["length"], Usage(1, 2))

    call = LLMCall("chat", "openai")
    response.read_response(call, _PropertyModelResponse(choices=[{"finish_reason": "stop"}]), False)
    assert call.response_model == "prop-model"


def test_extractor_defaults_survive_unusual_construction_and_instance_overrides() -> None:
    class Bypass(Extractor):
        def __new__(cls) -> Bypass:
            return object.__new__(cls)

    bypass = Bypass()
    assert (bypass.default_response, bypass.default_chunk) == (True, True)  # from the class

    patched = Extractor()

    def response_override(call: LLMCall, result: Any, capture: bool) -> None:
        call.response_id = "patched"

    patched.response = response_override  # type: ignore[method-assign]
    assert patched.default_response is False

    @llmotel.trace_chat(provider="openai", model="m", extractor=patched)
    def chat() -> dict[str, Any]:
        return {"id": "original", "choices": []}

    chat()
    assert finished()[-1].attributes[sc.GEN_AI_RESPONSE_ID] == "patched"  # type: ignore[index]

    @llmotel.trace_chat(provider="openai", model="m", extractor=bypass)
    def stream() -> Iterator[str]:
        yield "a"

    assert list(stream()) == ["a"]
    assert finished()[-1].attributes[sc.LLMOTEL_STREAM_CHUNKS] == 1  # type: ignore[index]


def test_raw_header_values_are_decoded_like_httpx() -> None:
    from llmotel.extract.callbacks import header_attributes

    headers = httpx.Headers([(b"x-request-id", "réq-1".encode())])
    assert header_attributes(headers) == header_attributes(dict(headers.items()))
    assert header_attributes(headers) == {"llmotel.response.request_id": "réq-1"}
