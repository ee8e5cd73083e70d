"""A fake api.mistral.ai for the real mistralai SDK: an httpx2 handler (``httpx2.MockTransport``).

``FakeMistral`` answers ``POST /v1/chat/completions`` (JSON, or SSE when the body says
``"stream": true``) and ``POST /v1/embeddings`` with the bodies in ``tests/fixtures/mistral/``
(written from the API reference), can fail with an HTTP error status or break a stream mid-way
(a transport error after two events), and records every request. ``client`` builds a ``Mistral``
whose sync and async HTTP clients both talk to it, with retries off.
"""

from __future__ import annotations

from typing import Any

import httpx2
from mistralai.client import Mistral
from mistralai.client.utils import RetryConfig

from helpers.fake_api import FakeAPI, cut_stream_type, fixture_loader
from helpers.fake_api import sse as sse_body

API_KEY = "sk-test-secret-key-123"
HOST, PORT = "fake-mistral.test", 8443
SERVER_URL = f"http://{HOST}:{PORT}"
fixture = fixture_loader("mistral")


CHAT_COMPLETION = fixture("chat_completion.json")
TOOL_CALL_COMPLETION = fixture("chat_tool_calls.json")
THINKING_COMPLETION = fixture("chat_thinking.json")
NO_USAGE_COMPLETION = fixture("chat_no_usage.json")
STREAM_CHUNKS: list[dict[str, Any]] = fixture("stream_chunks.json")
EMBEDDINGS = fixture("embeddings.json")
ERROR_BODIES: dict[int, Any] = {int(status): body for status, body in fixture("errors.json").items()}

SUCCESS_HEADERS = {
    "mistral-correlation-id": "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "x-envoy-upstream-service-time": "344",
    "ratelimitbysize-limit": "500000",
    "ratelimitbysize-remaining": "499883",
    "ratelimitbysize-reset": "37",
    # never allowed onto a span (the secret scanner in conftest fails the test if they are)
    "set-cookie": "__cf_bm=hunter2-password; path=/; HttpOnly",
}
RATE_LIMIT_HEADERS = {
    "retry-after": "2",
    "ratelimitbysize-limit": "500000",
    "ratelimitbysize-remaining": "0",
    "ratelimitbysize-reset": "37",
    "x-ratelimitbysize-limit-minute": "500000",
    "x-ratelimitbysize-remaining-minute": "0",
    "authorization": "Bearer test-bearer-token-789",
}


def sse(chunks: list[dict[str, Any]], *, done: bool = True) -> bytes:
    """Chat completion chunks as the API streams them: ``data:`` events, then ``data: [DONE]``."""
    return sse_body(chunks, done=done)


_Broken = cut_stream_type(httpx2)
"""A response body that sends its bytes and then fails as a dropped connection does."""


class FakeMistral(FakeAPI):
    """An httpx2 handler that answers like api.mistral.ai and records each request."""

    api_key = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.chat_reply: dict[str, Any] = CHAT_COMPLETION
        self.chunks: list[dict[str, Any]] = STREAM_CHUNKS
        self.break_mid_stream = False

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = self.record(request)
        if self.fail_with is not None:
            headers = RATE_LIMIT_HEADERS if self.fail_with == 429 else {}
            return httpx2.Response(self.fail_with, json=ERROR_BODIES[self.fail_with], headers=headers)
        if request.method == "POST" and request.url.path == "/v1/chat/completions":
            if body.get("stream"):
                headers = {**SUCCESS_HEADERS, "content-type": "text/event-stream"}
                if self.break_mid_stream:
                    return httpx2.Response(200, stream=_Broken(sse(self.chunks[:2], done=False)), headers=headers)
                return httpx2.Response(200, content=sse(self.chunks), headers=headers)
            return httpx2.Response(200, json=self.chat_reply, headers=SUCCESS_HEADERS)
        if request.method == "POST" and request.url.path == "/v1/embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            reply = {**EMBEDDINGS, "data": EMBEDDINGS["data"][: len(inputs)]}
            return httpx2.Response(200, json=reply, headers=SUCCESS_HEADERS)
        raise AssertionError(f"unexpected request {request.method} {request.url}")


def client(server: FakeMistral, server_url: str | None = SERVER_URL) -> Mistral:
    """A real ``Mistral`` whose sync and async HTTP clients send every request to ``server``."""
    transport = httpx2.MockTransport(server)
    return Mistral(
        api_key=server.api_key,
        server_url=server_url,
        client=httpx2.Client(transport=transport),
        async_client=httpx2.AsyncClient(transport=transport),
        retry_config=RetryConfig("none", None, False),  # type: ignore[arg-type]
    )
