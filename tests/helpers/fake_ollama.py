"""A fake Ollama server for the real ollama SDK: an httpx handler (``httpx.MockTransport``).

``FakeOllama`` answers ``/api/chat``, ``/api/generate`` and ``/api/embed`` with the JSON and NDJSON
bodies the Ollama API sends (kept under ``tests/fixtures/ollama/``, written from the API reference,
docs/api.md of ollama/ollama), can fail with an HTTP error (``{"error": ...}`` bodies, ``retry-after``
on 429), send an ``{"error": ...}`` line mid-stream or cut the connection mid-stream, and records
every request. ``sync_client``/``async_client`` build SDK clients that talk to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import ollama

from helpers.fake_api import FIXTURES as ALL_FIXTURES
from helpers.fake_api import FakeAPI, fixture_loader

FIXTURES = ALL_FIXTURES / "ollama"
API_KEY = "test-bearer-token-789"  # Ollama's cloud takes a bearer key; never allowed onto a span
HOST, PORT = "fake-ollama.test", 11434
BASE_URL = f"http://{HOST}:{PORT}"


fixture = fixture_loader("ollama")


def ndjson_lines(name: str) -> list[bytes]:
    """An NDJSON fixture as its lines (each with its newline), as they go over the wire."""
    return [line + b"\n" for line in (FIXTURES / name).read_bytes().splitlines() if line.strip()]


CHAT = fixture("chat.json")
CHAT_TOOL_CALLS = fixture("chat_tool_calls.json")
CHAT_LOAD = fixture("chat_load.json")  # an empty chat: the model loaded, no usage
GENERATE = fixture("generate.json")
EMBED = fixture("embed.json")
ERRORS = fixture("errors.json")
CHAT_STREAM = ndjson_lines("chat_stream.ndjson")
GENERATE_STREAM = ndjson_lines("generate_stream.ndjson")
STREAM_ERROR_LINE = ndjson_lines("stream_error_line.ndjson")

REPLIES = {"/api/chat": CHAT, "/api/generate": GENERATE, "/api/embed": EMBED}
STREAMS = {"/api/chat": CHAT_STREAM, "/api/generate": GENERATE_STREAM}


class NDJSONStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent one line per chunk; ``cut_after`` lines, the connection drops."""

    def __init__(self, lines: list[bytes], server: FakeOllama, cut_after: int | None = None) -> None:
        self.lines = lines
        self.server = server
        self.cut_after = cut_after

    def _chunks(self) -> Iterator[bytes]:
        for sent, line in enumerate(self.lines):
            if sent == self.cut_after:
                raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            yield line

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks():
            yield chunk

    def close(self) -> None:
        self.server.closed += 1

    async def aclose(self) -> None:
        self.server.closed += 1


class FakeOllama(FakeAPI):
    """An httpx handler that answers like an Ollama server and records each request."""

    api_key = API_KEY

    def __init__(self) -> None:
        super().__init__()
        self.replies: dict[str, Any] = dict(REPLIES)
        self.streams: dict[str, list[bytes]] = dict(STREAMS)
        self.cut_after: int | None = None  # drop the connection after this many stream lines
        self.closed = 0  # stream bodies closed (the SDK closes its response when its generator ends)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        assert path in self.replies, path
        body = self.record(request)
        if self.fail_with is not None:
            error = ERRORS[str(self.fail_with)]
            return httpx.Response(self.fail_with, json=error["body"], headers=error["headers"])
        if body.get("stream"):
            stream = NDJSONStream(self.streams[path], self, self.cut_after)
            return httpx.Response(200, stream=stream, headers={"content-type": "application/x-ndjson"})
        return httpx.Response(200, json=self.replies[path])


def sync_client(server: FakeOllama, host: str | None = BASE_URL) -> ollama.Client:
    """A real ``ollama.Client`` talking to ``server`` (``host=None``: the SDK's default host)."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return ollama.Client(host=host, transport=httpx.MockTransport(server), headers=headers)


def async_client(server: FakeOllama) -> ollama.AsyncClient:
    """A real ``ollama.AsyncClient`` talking to ``server``."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return ollama.AsyncClient(host=BASE_URL, transport=httpx.MockTransport(server), headers=headers)
