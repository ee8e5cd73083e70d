"""A fake api.openai.com for the real openai SDK: an httpx handler (``httpx.MockTransport``).

``FakeOpenAI`` answers with the JSON and SSE shapes the API sends (chat completions, legacy
completions, the Responses API, embeddings), can fail with an HTTP error, a transport timeout or an
error event mid-stream, and records every request so tests see what went over the wire.
``sync_client``/``async_client`` build SDK clients that talk to it.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import openai

from helpers.fake_api import FakeAPI, sdk_client

API_KEY = "sk-test-secret-key-123"
HOST, PORT = "fake-openai.test", 8443
BASE_URL = f"http://{HOST}:{PORT}/v1"

# --- what the fake server sends ----------------------------------------------------------------

SUCCESS_HEADERS = {
    "x-request-id": "req_7f3a9c",
    "openai-processing-ms": "344",
    "openai-organization": "org-test",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-tokens": "29999990",
    "x-ratelimit-reset-tokens": "0s",
    # never allowed onto a span (the secret scanner in conftest fails the test if they are)
    "authorization": "Bearer test-bearer-token-789",
    "set-cookie": "__cf_bm=hunter2-password; path=/; HttpOnly",
}
RATE_LIMIT_HEADERS = {
    "x-request-id": "req_429",
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-tokens": "1s",
    "retry-after": "2",
    "authorization": "Bearer test-bearer-token-789",
}
ERROR_BODIES = {
    429: {
        "error": {
            "message": "Rate limit reached for gpt-4o on requests per min (RPM): Limit 500, Used 500.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    500: {"error": {"message": "The server had an error processing your request.", "type": "server_error"}},
}

CHAT_USAGE = {
    "prompt_tokens": 1117,
    "completion_tokens": 46,
    "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 12,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
CHAT_COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": CHAT_USAGE,
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}
TOOL_CALL_COMPLETION = {
    **CHAT_COMPLETION,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
}
STREAM_USAGE = {
    "prompt_tokens": 19,
    "completion_tokens": 3,
    "total_tokens": 22,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
CHUNK_BASE = {
    "id": "chatcmpl-S1",
    "object": "chat.completion.chunk",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_fc9f1d7035",
}
CHUNK_DELTAS: list[tuple[dict[str, Any], str | None]] = [
    ({"role": "assistant", "content": "", "refusal": None}, None),
    ({"content": "Hello"}, None),
    ({"content": " there"}, None),
    ({}, "stop"),
]
LEGACY_COMPLETION = {
    "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
    "object": "text_completion",
    "created": 1589478378,
    "model": "gpt-3.5-turbo-instruct",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}
RESPONSE = {
    "id": "resp_67ccd2bed1ec8190",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "error": None,
    "incomplete_details": None,
    "instructions": "Be brief.",
    "max_output_tokens": 100,
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "message",
            "id": "msg_67ccd2bf17f0819081ff",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Once upon a time.", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 0.7,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 10},
        "total_tokens": 123,
    },
    "user": None,
    "metadata": {},
}
EMBEDDING = [0.0023064255, -0.009327292, 0.015797347, -0.0077780345]


def sse(events: list[dict[str, Any]], *, named: bool = False, done: bool = True) -> bytes:
    text = "".join((f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


def chat_chunks(include_usage: bool) -> list[dict[str, Any]]:
    chunks = [
        {
            **CHUNK_BASE,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}],
            **({"usage": None} if include_usage else {}),
        }
        for delta, reason in CHUNK_DELTAS
    ]
    if include_usage:  # what the API adds for stream_options.include_usage: no choices, only usage
        chunks.append({**CHUNK_BASE, "choices": [], "usage": STREAM_USAGE})
    return chunks


def legacy_chunks(include_usage: bool) -> list[dict[str, Any]]:
    base = {k: v for k, v in LEGACY_COMPLETION.items() if k not in ("choices", "usage")}
    chunks = [
        {**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}]}
        for text, reason in (("This", None), (" is", None), (" a test", "length"))
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": LEGACY_COMPLETION["usage"]})
    return chunks


def response_events() -> list[dict[str, Any]]:
    in_progress = {**RESPONSE, "status": "in_progress", "output": [], "usage": None}
    message = RESPONSE["output"][0]
    item = {"item_id": message["id"], "output_index": 0, "content_index": 0}
    empty_part = {"type": "output_text", "text": "", "annotations": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0, "item": {**message, "content": []}},
        {"type": "response.content_part.added", **item, "part": empty_part},
        {"type": "response.output_text.delta", **item, "delta": "Once upon", "logprobs": []},
        {"type": "response.output_text.delta", **item, "delta": " a time.", "logprobs": []},
        {"type": "response.output_text.done", **item, "text": "Once upon a time.", "logprobs": []},
        {"type": "response.content_part.done", **item, "part": message["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": RESPONSE},
    ]
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


class FakeOpenAI(FakeAPI):
    """An httpx handler that answers like api.openai.com and records each request."""

    api_key = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.chat_reply: dict[str, Any] = CHAT_COMPLETION
        self.timeout_error: httpx.ReadTimeout | None = None  # raised by the transport when set
        self.error_mid_stream = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = self.record(request)
        if self.timeout_error is not None:
            raise self.timeout_error
        if self.fail_with is not None:
            headers = RATE_LIMIT_HEADERS if self.fail_with == 429 else {"x-request-id": "req_500"}
            return httpx.Response(self.fail_with, json=ERROR_BODIES[self.fail_with], headers=headers)
        path = request.url.path.removeprefix("/v1")
        usage_asked = bool((body.get("stream_options") or {}).get("include_usage"))
        if path == "/chat/completions":
            if body.get("stream"):
                chunks = chat_chunks(usage_asked)
                if self.error_mid_stream:
                    return self.stream(sse(chunks[:2], done=False) + b'data: {"error": {"message": "overloaded"}}\n\n')
                return self.stream(sse(chunks))
            return httpx.Response(200, json=self.chat_reply, headers=SUCCESS_HEADERS)
        if path == "/completions":
            if body.get("stream"):
                return self.stream(sse(legacy_chunks(usage_asked)))
            return httpx.Response(200, json=LEGACY_COMPLETION, headers=SUCCESS_HEADERS)
        if path == "/responses":
            if body.get("stream"):
                return self.stream(sse(response_events(), named=True, done=False))
            return httpx.Response(200, json=RESPONSE, headers=SUCCESS_HEADERS)
        if path == "/embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            packed = struct.pack(f"<{len(EMBEDDING)}f", *EMBEDDING)
            vector: Any = base64.b64encode(packed).decode() if body.get("encoding_format") == "base64" else EMBEDDING
            data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(len(inputs))]
            reply = {
                "object": "list",
                "data": data,
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            }
            return httpx.Response(200, json=reply, headers=SUCCESS_HEADERS)
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    @staticmethod
    def stream(content: bytes) -> httpx.Response:
        return httpx.Response(200, content=content, headers={**SUCCESS_HEADERS, "content-type": "text/event-stream"})


def sync_client(server: FakeOpenAI) -> openai.OpenAI:
    """A real ``openai.OpenAI`` talking to ``server`` (no retries)."""
    return sdk_client(openai.OpenAI, httpx.Client, httpx.MockTransport, server, BASE_URL)


def async_client(server: FakeOpenAI) -> openai.AsyncOpenAI:
    """A real ``openai.AsyncOpenAI`` talking to ``server`` (no retries)."""
    return sdk_client(openai.AsyncOpenAI, httpx.AsyncClient, httpx.MockTransport, server, BASE_URL)
