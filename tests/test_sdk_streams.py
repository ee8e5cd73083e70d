"""Decorated wrappers around the real openai SDK (fake server via httpx.MockTransport): the stream
proxy keeps the SDK stream's surface (isinstance, .response, with, close)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

import llmotel
from conftest import finished
from llmotel import semconv as sc


def sse(chunks: list[dict[str, Any]]) -> bytes:
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


def chunk(content: str | None, reason: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": reason}]
    body: dict[str, Any] = {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2026",
        "choices": choices,
    }
    if usage:
        body["usage"] = {**usage, "total_tokens": sum(usage.values())}
    return body


def handler(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer sk-test-secret-key-123"
    body = json.loads(request.content)
    if body.get("stream"):
        chunks = [
            chunk("Hel"),
            chunk("lo"),
            chunk(None, "stop"),
            chunk(None, usage={"prompt_tokens": 8, "completion_tokens": 2}),
        ]
        return httpx.Response(
            200, content=sse(chunks), headers={"content-type": "text/event-stream", "x-request-id": "req-1"}
        )
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2026",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
        },
    )


class Assistant:
    """A user's wrapper class around the openai client."""

    def __init__(self) -> None:
        self.client = openai.OpenAI(
            api_key="sk-test-secret-key-123",
            base_url="http://127.0.0.1:9/v1",
            http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        )
        self.model = "gpt-4o"

    @llmotel.trace_chat(provider="openai")
    def chat(self, messages: Any, **kwargs: Any) -> Any:
        return self.client.chat.completions.create(model=self.model, messages=messages, **kwargs)


@pytest.fixture
def assistant() -> Assistant:
    return Assistant()


def test_real_sdk_response(assistant: Assistant) -> None:
    completion = assistant.chat([{"role": "user", "content": "hi"}], temperature=0.1)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2026"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.1
    assert not any("client" in key for key in attrs)


def test_real_sdk_stream_keeps_its_surface(assistant: Assistant) -> None:
    stream = assistant.chat([{"role": "user", "content": "hi"}], stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.headers["x-request-id"] == "req-1"
    with stream as entered:
        assert entered is stream
        texts = [c.choices[0].delta.content for c in entered if c.choices]
    assert texts == ["Hel", "lo", None]
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.LLMOTEL_STREAM_CHUNKS] == 4
    assert attrs[sc.LLMOTEL_STREAM_STOP_REASON] == "exhausted"


def test_real_sdk_stream_closed_early(assistant: Assistant) -> None:
    stream = assistant.chat([], stream=True)
    next(iter(stream))
    stream.close()
    assert stream.response.is_closed
    [span] = finished()
    assert span.attributes[sc.LLMOTEL_STREAM_STOP_REASON] == "closed"  # type: ignore[index]
    assert span.attributes[sc.LLMOTEL_STREAM_COMPLETED] is False  # type: ignore[index]
