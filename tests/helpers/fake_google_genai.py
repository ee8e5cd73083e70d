"""A fake Gemini API for the real google-genai SDK: an httpx handler (``httpx.MockTransport``).

``FakeGemini`` answers ``POST /{version}/models/{model}:generateContent`` with a
``GenerateContentResponse`` JSON body and ``:streamGenerateContent?alt=sse`` with SSE
(``data: {...}`` events, one ``GenerateContentResponse`` each), in the shapes the REST reference
documents (camelCase fields). The bodies are the fixture files in ``tests/fixtures/google_genai/``.
It can fail with an HTTP error (the API's ``{"error": {"code", "message", "status"}}`` bodies),
stop a stream with an error event mid-way, and records every request.
``sync_client``/``async_client`` build SDK clients (no retries: the SDK's default) that talk to it.
"""

from __future__ import annotations

from typing import Any

import httpx
from google import genai
from google.genai import types

from helpers.fake_api import FakeAPI, fixture_loader, sse

API_KEY = "AIzaSy-test-secret-gemini-123"
HOST, PORT = "fake-gemini.test", 9443
BASE_URL = f"http://{HOST}:{PORT}"
VERTEX_HOST = "us-central1-aiplatform.googleapis.com"
MODEL = "gemini-2.5-flash"

fixture = fixture_loader("google_genai")


RESPONSE = fixture("generate_content")
FUNCTION_CALL_RESPONSE = fixture("function_call")
NO_USAGE_RESPONSE = fixture("no_usage")
STREAM = fixture("stream")
ERRORS = fixture("errors")

SUCCESS_HEADERS = {
    "content-type": "application/json; charset=UTF-8",
    "server-timing": "gfet4t7; dur=512",
    # never allowed onto a span (the secret scanner in conftest fails the test if they are)
    "set-cookie": "NID=hunter2-password; path=/",
}


class FakeGemini(FakeAPI):
    """An httpx handler that answers like generativelanguage.googleapis.com (or Vertex AI's
    ``publishers/google/models/...`` paths) and records each request."""

    api_key = API_KEY
    auth_header, auth_scheme = "x-goog-api-key", ""

    def __init__(self) -> None:
        super().__init__()
        self.reply: Any = RESPONSE
        self.stream: list[Any] = STREAM
        self.error_mid_stream = False  # send two chunks, then the API's error event
        self.error_headers: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.record(request)
        path = request.url.path
        assert request.method == "POST" and ":" in path, path
        if self.fail_with is not None:
            error = ERRORS[str(self.fail_with)]
            return httpx.Response(
                self.fail_with, json=error["body"], headers={**error["headers"], **self.error_headers}
            )
        if path.endswith(":streamGenerateContent"):
            assert request.url.params.get("alt") == "sse"
            events = self.stream
            if self.error_mid_stream:
                events = [*events[:2], ERRORS["503-mid-stream"]["body"]]
            headers = {**SUCCESS_HEADERS, "content-type": "text/event-stream"}
            return httpx.Response(200, content=sse(events, newline="\r\n"), headers=headers)
        assert path.endswith(":generateContent"), path
        return httpx.Response(200, json=self.reply, headers=SUCCESS_HEADERS)


def http_options(server: FakeGemini, base_url: str | None = BASE_URL) -> types.HttpOptions:
    transport = httpx.MockTransport(server)
    return types.HttpOptions(
        base_url=base_url,
        client_args={"transport": transport},
        async_client_args={"transport": transport},
    )


def sync_client(server: FakeGemini) -> genai.Client:
    """A Gemini Developer API client whose requests all go to ``server``."""
    return genai.Client(api_key=server.api_key, http_options=http_options(server))


def vertex_client(server: FakeGemini) -> genai.Client:
    """A Vertex AI client (express mode: an API key) on its regional endpoint, answered by ``server``."""
    return genai.Client(
        vertexai=True,
        api_key=server.api_key,
        http_options=http_options(server, f"https://{VERTEX_HOST}/"),
    )
