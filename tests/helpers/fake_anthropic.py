"""A fake api.anthropic.com for the real anthropic SDK: a ``MockTransport`` handler of the HTTP
library the installed SDK is built on (``HTTP``: httpx2 from anthropic 1.0, httpx before).

``FakeAnthropic`` answers ``/v1/messages`` with the JSON and SSE shapes the API sends, can fail with
an HTTP error (429, 500, 529 with the API's bodies and headers) and records every request.
``sync_client``/``async_client`` build SDK clients that talk to it. ``SDK_TRACES_ITSELF``: whether
the installed SDK makes its own OpenTelemetry span per call (``start_api_call_span``: 2.x and later 1.x releases).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import anthropic
import anthropic._base_client as base_client_module

from helpers.fake_api import FakeAPI, sdk_client


def sdk_http_module() -> ModuleType:
    """The HTTP library (httpx2 or httpx) ``anthropic._base_client`` imported: the one whose
    clients the installed SDK expects as ``http_client``."""
    for name in ("httpx2", "httpx"):
        module = getattr(base_client_module, name, None)
        if isinstance(module, ModuleType):
            return module
    raise AssertionError(f"anthropic {anthropic.__version__}: _base_client imports neither httpx2 nor httpx")


HTTP = sdk_http_module()
SDK_TRACES_ITSELF = hasattr(base_client_module, "start_api_call_span")

API_KEY = "sk-ant-test-secret-456"
HOST, PORT = "fake-anthropic.test", 9443
BASE_URL = f"http://{HOST}:{PORT}"
MODEL = "claude-sonnet-4-6"

# --- what the fake server sends ----------------------------------------------------------------

SUCCESS_HEADERS = {
    "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    "anthropic-organization-id": "org-test",
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:01Z",
    "anthropic-ratelimit-input-tokens-limit": "40000",
    "anthropic-ratelimit-input-tokens-remaining": "38288",
    "anthropic-ratelimit-output-tokens-limit": "8000",
    "anthropic-ratelimit-output-tokens-remaining": "7994",
    # never allowed onto a span (the secret scanner in conftest fails the test if they are)
    "authorization": "Bearer test-bearer-token-789",
    "set-cookie": "_cfuvid=hunter2-password; path=/",
}
ERROR_REPLIES = {
    429: (
        {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded"}},
        {
            "request-id": "req_429",
            "retry-after": "17",
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:17Z",
            "x-should-retry": "true",
        },
    ),
    500: (
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
        {"request-id": "req_500"},
    ),
    529: ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, {"request-id": "req_529"}),
}
USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 1500,
    "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 6,
    "service_tier": "standard",
}
MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Paris."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": USAGE,
}
TOOL_USE_MESSAGE = {
    **MESSAGE,
    "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
}
STREAM_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            **MESSAGE,
            "content": [],
            "stop_reason": None,
            "usage": {**USAGE, "input_tokens": 25, "cache_creation_input_tokens": 0, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 15},
    },
    {"type": "message_stop"},
]


def sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


class FakeAnthropic(FakeAPI):
    """An ``HTTP`` handler that answers like api.anthropic.com and records each request."""

    api_key = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.reply: dict[str, Any] = MESSAGE

    def record(self, request: Any) -> dict[str, Any]:
        # anthropic 2.x sends the key as "authorization: Bearer <key>", 0.x and 1.x as "x-api-key: <key>"
        if "x-api-key" in request.headers:
            self.auth_header, self.auth_scheme = "x-api-key", ""
        return super().record(request)

    def __call__(self, request: Any) -> Any:
        assert request.url.path == "/v1/messages"
        body = self.record(request)
        if self.fail_with is not None:
            error, headers = ERROR_REPLIES[self.fail_with]
            return HTTP.Response(self.fail_with, json=error, headers=headers)
        if body.get("stream"):
            headers = {**SUCCESS_HEADERS, "content-type": "text/event-stream"}
            return HTTP.Response(200, content=sse(STREAM_EVENTS), headers=headers)
        return HTTP.Response(200, json=self.reply, headers=SUCCESS_HEADERS)


def sync_client(server: FakeAnthropic) -> anthropic.Anthropic:
    """A real ``anthropic.Anthropic`` talking to ``server`` (no retries)."""
    return sdk_client(anthropic.Anthropic, HTTP.Client, HTTP.MockTransport, server, BASE_URL)


def async_client(server: FakeAnthropic) -> anthropic.AsyncAnthropic:
    """A real ``anthropic.AsyncAnthropic`` talking to ``server`` (no retries)."""
    return sdk_client(anthropic.AsyncAnthropic, HTTP.AsyncClient, HTTP.MockTransport, server, BASE_URL)
