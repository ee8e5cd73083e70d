"""A fake OpenAI-compatible and Anthropic-compatible API on 127.0.0.1 for the real litellm.

litellm builds its own HTTP clients (the openai SDK's for ``openai/...`` models, its own httpx
client for ``anthropic/...``), so the fake is a real local ``ThreadingHTTPServer`` on an ephemeral
port rather than an ``httpx.MockTransport``. It answers ``POST /v1/chat/completions`` (the OpenAI
chat completions API: JSON, or SSE ``data:`` lines ending in ``[DONE]``) and ``POST /v1/messages``
(the Anthropic Messages API: JSON, or named SSE events), with bodies read from
``tests/fixtures/litellm/``. It can fail with an HTTP error (the APIs' own error bodies, rate-limit
headers on 429), answer without usage, or cut a stream mid-way (the chunked body is left
unterminated and the connection closed, as when the network drops). Every request is recorded.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.fake_api import SSE_DONE, fixture_loader, sse_event

OPENAI_KEY = "sk-test-litellm-openai-123"
ANTHROPIC_KEY = "sk-ant-test-litellm-456"


fixture = fixture_loader("litellm")


CHAT_COMPLETION: dict[str, Any] = fixture("openai_chat_completion.json")
CHAT_CHUNKS: list[dict[str, Any]] = fixture("openai_chat_chunks.json")
USAGE_CHUNK: dict[str, Any] = fixture("openai_stream_usage_chunk.json")
OPENAI_ERRORS: dict[str, Any] = fixture("openai_errors.json")
ANTHROPIC_MESSAGE: dict[str, Any] = fixture("anthropic_message.json")
ANTHROPIC_EVENTS: list[dict[str, Any]] = fixture("anthropic_stream_events.json")

SUCCESS_HEADERS = {
    "x-request-id": "req_7f3a9c",
    "openai-processing-ms": "344",
    # never allowed onto a span (the secret scanner in conftest fails the test if they are)
    "set-cookie": "__cf_bm=hunter2-password; path=/; HttpOnly",
}
ERROR_HEADERS: dict[int, dict[str, str]] = {
    400: {"x-request-id": "req_400"},
    429: {
        "x-request-id": "req_429",
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "120ms",
        "retry-after": "2",
    },
    500: {"x-request-id": "req_500"},
}
ANTHROPIC_ERROR_HEADERS: dict[int, dict[str, str]] = {
    400: {"request-id": "req_400"},
    429: {
        "request-id": "req_429",
        "retry-after": "17",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:17Z",
        "x-should-retry": "true",
    },
    500: {"request-id": "req_500"},
}
ANTHROPIC_HEADERS = {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", "anthropic-organization-id": "org-test"}


class FakeLLMServer:
    """The fake server; ``with FakeLLMServer() as server:`` runs it, ``server.base_url`` is its URL.

    Knobs (set before the call): ``fail_with`` (an HTTP status), ``no_usage`` (responses and
    streams carry no usage), ``cut_after`` (a stream stops after that many events, its body never
    terminated).
    """

    def __init__(self) -> None:
        self.fail_with: int | None = None
        self.no_usage = False
        self.cut_after: int | None = None
        self.requests: list[dict[str, Any]] = []
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # --- what it answers ---------------------------------------------------------------------

    def reply(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """``(status, headers, payload)``: a dict is sent as JSON, a list of bytes as SSE."""
        self.requests.append({"path": path, "headers": headers, "body": body})
        anthropic = path.endswith("/messages")
        if anthropic and headers.get("x-api-key") != ANTHROPIC_KEY:
            return 401, {}, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
        if not anthropic and headers.get("authorization") != f"Bearer {OPENAI_KEY}":
            return 401, {}, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
        if self.fail_with is not None:
            status = self.fail_with
            if anthropic:
                kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "api_error")
                error = {"type": "error", "error": {"type": kind, "message": f"{kind}: from the fake"}}
                return status, ANTHROPIC_ERROR_HEADERS[status], error
            return status, ERROR_HEADERS[status], OPENAI_ERRORS[str(status)]
        if anthropic:
            return 200, ANTHROPIC_HEADERS, self._anthropic(body)
        if path.endswith("/chat/completions"):
            return 200, SUCCESS_HEADERS, self._openai(body)
        return 404, {}, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}}

    def _openai(self, body: dict[str, Any]) -> Any:
        if not body.get("stream"):
            if self.no_usage:
                return {k: v for k, v in CHAT_COMPLETION.items() if k != "usage"}
            return CHAT_COMPLETION
        chunks = list(CHAT_CHUNKS)
        if (body.get("stream_options") or {}).get("include_usage") and not self.no_usage:
            chunks = [{**c, "usage": None} for c in chunks] + [USAGE_CHUNK]
        return [sse_event(c) for c in chunks] + [SSE_DONE]

    def _anthropic(self, body: dict[str, Any]) -> Any:
        if not body.get("stream"):
            return ANTHROPIC_MESSAGE
        return [sse_event(e, named=True) for e in ANTHROPIC_EVENTS]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-reply (a stream closed early) is not an error of the fake."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply_headers, payload = fake.reply(self.path, headers, body)
            if isinstance(payload, list):
                self._stream(status, reply_headers, payload)
                return
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, status: int, reply_headers: dict[str, str], events: list[bytes]) -> None:
            self.send_response(status)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.end_headers()
            cut = fake.cut_after
            for n, event in enumerate(events):
                if cut is not None and n >= cut:  # the network drops: no terminating chunk
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
