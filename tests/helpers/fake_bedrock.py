"""A fake Bedrock Runtime endpoint: a ThreadingHTTPServer on 127.0.0.1 (an ephemeral port) that the
real boto3 client talks to (botocore sends with urllib3, so no httpx transport can stand in).

It answers the four routes of the REST-JSON protocol (``POST /model/{modelId}/converse``,
``/converse-stream``, ``/invoke``, ``/invoke-with-response-stream``) with the bodies in
``tests/fixtures/bedrock/*.json``, and the two streaming routes in the AWS event stream binary
framing (``application/vnd.amazon.eventstream``), encoded here so botocore's own parser decodes it.
Each request is recorded (path, headers, JSON body) and must be SigV4-signed with ``ACCESS_KEY``.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config

from helpers.fake_api import fixture_loader

ACCESS_KEY = "AKIDTEST"
SECRET_KEY = "test-secret-key-never-in-spans"
SESSION_TOKEN = "test-session-token-never-in-spans"
REGION = "us-east-1"
HOST = "127.0.0.1"
REQUEST_ID = "9c3b8c39-5d0f-4e9a-9d47-3f8d2a1b6c70"

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
TITAN = "amazon.titan-text-express-v1"
NOVA = "amazon.nova-lite-v1:0"


fixture = fixture_loader("bedrock")


CONVERSE = fixture("converse")
CONVERSE_STREAM = fixture("converse_stream")
INVOKE = fixture("invoke")
INVOKE_STREAM = fixture("invoke_stream")
ERRORS = fixture("errors")


def family(model_id: str) -> str:
    for prefix, name in (("anthropic.", "anthropic"), ("meta.", "llama"), ("amazon.titan", "titan")):
        if model_id.startswith(prefix):
            return name
    return "nova"


# --- the AWS event stream framing --------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value  # 7: string


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message: prelude (total length, headers length, prelude CRC32), headers,
    payload, message CRC32 (of everything before it)."""
    header_bytes = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload).encode("utf-8"))


def exception(exception_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps(payload).encode("utf-8"))


def chunk_event(body: dict[str, Any]) -> bytes:
    """An ``InvokeModelWithResponseStream`` ``chunk`` event: the model's JSON, base64 in ``bytes``."""
    data = base64.b64encode(json.dumps(body).encode("utf-8")).decode("ascii")
    return event("chunk", {"bytes": data, "p": "abcdefghijklmnopqrstuvwxyzABCDEFG"})


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Seen:
    path: str
    model_id: str
    route: str
    body: Any
    headers: dict[str, str]


class FakeBedrock:
    """The endpoint's state: what to answer, what was asked. ``url`` once started."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.fail_with: int | None = None  # an HTTP error status to answer with
        self.reply: dict[str, Any] | None = None  # the Converse response to send
        self.events: list[bytes] | None = None  # the stream messages to send
        self.cut_after: int | None = None  # stream: close the connection after this many messages
        self.extra_headers: dict[str, str] = {}
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        server = _Server((HOST, 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self.url = f"http://{HOST}:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, args=(0.01,), name="fake-bedrock", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    # what to send, by route and model family

    def stream_messages(self, route: str, model_id: str) -> list[bytes]:
        if self.events is not None:
            return self.events
        if route == "converse-stream":
            return [event(name, payload) for name, payload in CONVERSE_STREAM["plain"]]
        return [chunk_event(body) for body in INVOKE_STREAM[family(model_id)]]

    def json_reply(self, route: str, model_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        if route == "converse":
            return (self.reply if self.reply is not None else CONVERSE["plain"]), {}
        kind = family(model_id)
        return (self.reply if self.reply is not None else INVOKE[kind]), INVOKE["headers"][kind]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client closed a stream early: what the tests do on purpose
        super().handle_error(request, client_address)


def _handler(fake: FakeBedrock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # each event stream message goes out when written

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = self.path.split("/")  # ["", "model", "{modelId}", "{route}"]
            model_id, route = unquote(parts[2]), parts[3]
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            fake.requests.append(Seen(self.path, model_id, route, body, dict(self.headers.items())))
            assert f"Credential={ACCESS_KEY}/" in self.headers.get("Authorization", "")
            if fake.fail_with is not None:
                self._error(fake.fail_with)
            elif route in ("converse-stream", "invoke-with-response-stream"):
                self._stream(fake.stream_messages(route, model_id), route)
            else:
                reply, headers = fake.json_reply(route, model_id)
                self._send(200, json.dumps(reply).encode("utf-8"), "application/json", headers)

        def _error(self, status: int) -> None:
            spec = ERRORS[str(status)]
            headers = {
                "x-amzn-ErrorType": f"{spec['type']}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                **spec["headers"],
            }
            self._send(status, json.dumps({"message": spec["message"]}).encode(), "application/json", headers)

        def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", REQUEST_ID)
            for name, value in {**headers, **fake.extra_headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, messages: list[bytes], route: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-amzn-RequestId", REQUEST_ID)
            if route == "invoke-with-response-stream":
                self.send_header("X-Amzn-Bedrock-Content-Type", "application/json")
            self.end_headers()
            for position, message in enumerate(messages):
                if fake.cut_after is not None and position == fake.cut_after:
                    self.wfile.write(b"%x\r\n" % len(message) + message[: len(message) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return  # the connection closes mid-message, without the final chunk
                self.wfile.write(b"%x\r\n%s\r\n" % (len(message), message))
            self.wfile.write(b"0\r\n\r\n")

    return Handler


@contextmanager
def running() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def client(fake: FakeBedrock) -> Any:
    """A real boto3 ``bedrock-runtime`` client for ``fake``: static test credentials, no retries."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10, connect_timeout=5),
    )
