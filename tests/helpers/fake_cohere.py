"""A fake api.cohere.com (v2) for the real cohere SDK: an httpx handler (``httpx.MockTransport``).

``FakeCohere`` answers ``POST /v2/chat`` (JSON, or SSE with ``stream: true``: ``event: <type>`` plus
``data: <json>`` per event, as the v2 API sends and the SDK's ``EventSource`` decodes) and
``POST /v2/embed``, with bodies from ``tests/fixtures/cohere/`` written from Cohere's API reference.
It can fail with an HTTP error (``fail_with``) or cut a stream's connection mid-way
(``cut_stream_after``), and records every request. ``sync_client``/``async_client`` build SDK
clients that talk to it (no retries).
"""

from __future__ import annotations

from typing import Any

import cohere
import httpx

from helpers.fake_api import FakeAPI, cut_stream_type, fixture_loader
from helpers.fake_api import sse as sse_body

API_KEY = "sk-test-secret-key-123"  # one of conftest's FAKE_SECRETS: it must never reach a span
HOST, PORT = "fake-cohere.test", 8443
BASE_URL = f"http://{HOST}:{PORT}"
fixture = fixture_loader("cohere")


CHAT = fixture("chat")
CHAT_TOOL_CALL = fixture("chat_tool_call")
CHAT_NO_USAGE = fixture("chat_no_usage")
STREAM_EVENTS = fixture("chat_stream")
STREAM_TOOL_CALL_EVENTS = fixture("chat_stream_tool_call")
EMBED = fixture("embed")
ERROR_BODIES = {int(status): body for status, body in fixture("errors").items()}

TRACE_ID = "4e4b4a1c8f0c5a2e9d6b3f7a1c2e4d6f"
SUCCESS_HEADERS = {
    "x-debug-trace-id": TRACE_ID,
    "x-endpoint-monthly-call-limit": "1000",
    "num_chars": "30",
    "num_tokens": "17",
    # never allowed onto a span (the secret scanner in conftest fails the test if they are)
    "authorization": "Bearer test-bearer-token-789",
    "set-cookie": "__cf_bm=hunter2-password; path=/; HttpOnly",
}
ERROR_HEADERS = {  # no secret-like header: ``ApiError.__str__`` (the exception event's message) prints them all
    400: {"x-debug-trace-id": "trace-400"},
    429: {
        "x-debug-trace-id": "trace-429",
        "retry-after": "12",
        "x-trial-endpoint-call-limit": "20",
        "x-trial-endpoint-call-remaining": "0",
    },
    500: {"x-debug-trace-id": "trace-500"},
}


def sse(events: list[dict[str, Any]]) -> bytes:
    """The v2 chat stream's framing: a named SSE event per JSON event."""
    return sse_body(events, named=True)


CutStream = cut_stream_type(httpx)
"""A response body that sends ``body`` and then loses the connection (``httpx.ReadError``)."""


class FakeCohere(FakeAPI):
    """An httpx handler that answers like api.cohere.com's v2 API and records each request."""

    api_key = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.chat_reply: dict[str, Any] = CHAT
        self.stream_events: list[dict[str, Any]] = STREAM_EVENTS
        self.cut_stream_after: int | None = None  # events sent before the connection is lost

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = self.record(request)
        if self.fail_with is not None:
            return httpx.Response(
                self.fail_with, json=ERROR_BODIES[self.fail_with], headers=ERROR_HEADERS[self.fail_with]
            )
        if request.url.path == "/v2/chat":
            if body.get("stream"):
                events = self.stream_events
                headers = {**SUCCESS_HEADERS, "content-type": "text/event-stream"}
                if self.cut_stream_after is not None:
                    return httpx.Response(200, stream=CutStream(sse(events[: self.cut_stream_after])), headers=headers)
                return httpx.Response(200, content=sse(events), headers=headers)
            return httpx.Response(200, json=self.chat_reply, headers=SUCCESS_HEADERS)
        if request.url.path == "/v2/embed":
            return httpx.Response(200, json=EMBED, headers=SUCCESS_HEADERS)
        raise AssertionError(f"unexpected request {request.method} {request.url}")


def sync_client(server: FakeCohere) -> cohere.ClientV2:
    """A real ``cohere.ClientV2`` talking to ``server`` (no retries)."""
    http = httpx.Client(transport=httpx.MockTransport(server))
    return cohere.ClientV2(api_key=server.api_key, base_url=BASE_URL, httpx_client=http, max_retries=0)


def async_client(server: FakeCohere) -> cohere.AsyncClientV2:
    """A real ``cohere.AsyncClientV2`` talking to ``server`` (no retries)."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return cohere.AsyncClientV2(api_key=server.api_key, base_url=BASE_URL, httpx_client=http, max_retries=0)
