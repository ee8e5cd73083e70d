"""What the fake provider APIs (``fake_openai``, ``fake_anthropic``, ``fake_google_genai``,
``fake_cohere``, ``fake_mistral``, ``fake_ollama``, ``fake_bedrock``, ``fake_litellm``) share.

A fake API is an httpx(2) handler for ``MockTransport``: the real SDK client sends real requests
through it, it records each one (``requests``) and answers with the provider's JSON or SSE bodies
(the local-server fakes, Bedrock's and LiteLLM's, share only the fixture loader and the encoders).

- ``fixture_loader(provider)``: reads the JSON fixture files of ``tests/fixtures/<provider>/``.
- ``sse_event``/``sse``: Server-Sent Events framing (``data:`` lines, optional ``event:`` names,
  optional ``data: [DONE]`` terminator).
- ``cut_stream_type(httpx_module)``: a response body that sends some bytes, then loses the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_loader(provider: str) -> Callable[[str], Any]:
    """``fixture(name)``: the parsed JSON of ``tests/fixtures/<provider>/<name>`` (``.json`` added when
    ``name`` has no suffix)."""
    directory = FIXTURES / provider

    def fixture(name: str) -> Any:
        path = directory / name
        if not path.suffix:
            path = path.with_suffix(".json")
        return json.loads(path.read_text(encoding="utf-8"))

    return fixture


SSE_DONE = b"data: [DONE]\n\n"
"""The OpenAI-style stream terminator."""


def sse_event(event: Any, *, named: bool = False, newline: str = "\n") -> bytes:
    """One SSE event: ``event: <its type>`` when ``named``, then ``data: <its JSON>`` and a blank line."""
    name = f"event: {event['type']}{newline}" if named else ""
    return f"{name}data: {json.dumps(event)}{newline}{newline}".encode()


def sse(events: list[Any], *, named: bool = False, done: bool = False, newline: str = "\n") -> bytes:
    """``events`` as one SSE body (each a ``sse_event``), ending in ``data: [DONE]`` when ``done``."""
    return b"".join(sse_event(e, named=named, newline=newline) for e in events) + (SSE_DONE if done else b"")


def cut_stream_type(http: ModuleType) -> type:
    """A response body class for ``http`` (httpx or httpx2): ``CutStream(body)`` sends ``body`` and then
    loses the connection (``http.ReadError``), sync or async."""

    class CutStream(http.SyncByteStream, http.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, body: bytes) -> None:
            self.body = body

        def __iter__(self) -> Iterator[bytes]:
            yield self.body
            raise http.ReadError("connection reset by peer")

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield self.body
            raise http.ReadError("connection reset by peer")

    return CutStream


@dataclass
class Seen:
    """One request the fake API received."""

    path: str
    body: dict[str, Any]
    headers: Any  # httpx.Headers or httpx2.Headers


class FakeAPI:
    """Records every request and checks it carries the API key; ``fail_with`` an HTTP error status."""

    api_key: str
    auth_header = "authorization"  # the request header that must carry the key ...
    auth_scheme = "Bearer "  # ... after this prefix

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.fail_with: int | None = None  # an HTTP error status to answer with

    def record(self, request: Any) -> dict[str, Any]:
        """Record ``request`` and return its JSON body ({} when it has none)."""
        body = json.loads(request.content) if request.content else {}
        self.requests.append(Seen(request.url.path, body, request.headers))
        assert request.headers[self.auth_header] == f"{self.auth_scheme}{self.api_key}"
        return body


def sdk_client(sdk_class: Any, http_client_class: Any, mock_transport: Any, server: FakeAPI, base_url: str) -> Any:
    """An SDK client of ``sdk_class`` whose HTTP client sends every request to ``server`` (no retries)."""
    http = http_client_class(transport=mock_transport(server))
    return sdk_class(api_key=server.api_key, base_url=base_url, http_client=http, max_retries=0)
