"""Replaying recorded provider exchanges (VCR-style YAML cassettes) to the real SDKs.

A cassette (``tests/cassettes/<provider>/<name>.yaml``) has the shape vcrpy and the providers' own
SDK test suites use::

    interactions:
    - request:  {method, uri, body: <the JSON text sent>, headers: {name: [value, ...]}}
      response: {status: {code, message}, headers: {name: [value, ...]}, body: {string: <JSON or SSE text>}}

``Replayer`` is a ``MockTransport`` handler (``httpx`` for openai, for anthropic the HTTP library the
installed SDK is built on: ``helpers.fake_anthropic.HTTP``): it serves the interactions in order and
fails the test when a request's method, path, model or JSON body differs from the recording, or when
a request comes after the last interaction. Nothing goes over the network. ``openai_client`` /
``anthropic_client`` build real SDK clients talking to it. Either SDK may be missing (the
compatibility matrix installs one per venv): ``SDKS`` maps a provider to its module or None.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml


def _optional(name: str) -> ModuleType | None:
    """``import name``, or None when that SDK is not installed (any other import error is raised)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


SDKS: dict[str, ModuleType | None] = {"openai": _optional("openai"), "anthropic": _optional("anthropic")}
"""A cassette's provider -> its SDK module (None: not installed here)."""

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
OPENAI_KEY = "sk-test-secret-key-123"  # fake secrets the conftest scanner looks for on every span
ANTHROPIC_KEY = "sk-ant-test-secret-456"
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding"})
"""Dropped when replaying: the recorded body is stored decoded, and the mock transport frames it."""


@dataclass(frozen=True)
class Interaction:
    """One recorded request and the response it got."""

    method: str
    uri: str
    request_body: Any  # the JSON the SDK sent (None: no body)
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # response headers, in recorded order
    body: str  # the response body text: JSON, or the raw SSE stream

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path

    @property
    def base_url(self) -> str:
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.netloc}"

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def is_sse(self) -> bool:
        return (self.header("content-type") or "").startswith("text/event-stream")

    def json(self) -> Any:
        return json.loads(self.body)

    def sse(self) -> list[tuple[str | None, str]]:
        """The stream's events as (``event:`` name or None, ``data:`` text), in order."""
        events: list[tuple[str | None, str]] = []
        for block in self.body.replace("\r\n", "\n").split("\n\n"):
            name, data = None, []
            for line in block.split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
            if data:
                events.append((name, "\n".join(data)))
        return events

    def sse_json(self) -> list[dict[str, Any]]:
        """The JSON payloads of the stream's events (OpenAI's ``[DONE]`` sentinel left out)."""
        return [json.loads(data) for _, data in self.sse() if data != "[DONE]"]


@dataclass(frozen=True)
class Cassette:
    name: str  # "<provider>/<file stem>"
    provider: str
    description: str
    interactions: tuple[Interaction, ...]


def load(path: Path) -> Cassette:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    interactions = []
    for item in raw["interactions"]:
        request, response = item["request"], item["response"]
        body = request.get("body")
        headers = tuple(
            (name, str(value)) for name, values in (response.get("headers") or {}).items() for value in values
        )
        interactions.append(
            Interaction(
                method=request["method"].upper(),
                uri=request["uri"],
                request_body=json.loads(body) if body else None,
                status=int(response["status"]["code"]),
                reason=response["status"].get("message") or "",
                headers=headers,
                body=response["body"]["string"],
            )
        )
    assert interactions, f"{path}: no interactions"
    return Cassette(
        f"{path.parent.name}/{path.stem}", path.parent.name, raw.get("description", ""), tuple(interactions)
    )


def all_cassettes() -> list[Path]:
    """Every cassette file, sorted: each one is a test case."""
    return sorted(CASSETTES.glob("*/*.yaml"))


class Replayer:
    """A ``MockTransport`` handler serving a cassette's interactions in order, checking each request."""

    def __init__(self, cassette: Cassette, http: Any) -> None:
        self.cassette = cassette
        self.http = http  # the httpx or httpx2 module: the SDK's own request/response classes
        self.served = 0
        self.requests: list[Any] = []
        self.mismatches: list[str] = []  # every failed request check, even if the SDK swallowed it

    def __call__(self, request: Any) -> Any:
        try:
            return self._serve(request)
        except AssertionError as exc:  # kept: the SDK may wrap what its transport raises
            self.mismatches.append(str(exc))
            raise

    def _serve(self, request: Any) -> Any:
        assert self.served < len(self.cassette.interactions), (
            f"{self.cassette.name}: request {self.served + 1} ({request.method} {request.url.path}) was not recorded"
        )
        recorded = self.cassette.interactions[self.served]
        self.served += 1
        self.requests.append(request)
        body = json.loads(request.content) if request.content else None
        where = f"{self.cassette.name} interaction {self.served}"
        assert request.method == recorded.method, f"{where}: method {request.method} != {recorded.method}"
        assert request.url.path == recorded.path, f"{where}: path {request.url.path} != {recorded.path}"
        if isinstance(recorded.request_body, dict):
            assert isinstance(body, dict) and body.get("model") == recorded.request_body.get("model"), (
                f"{where}: model {body and body.get('model')!r} != {recorded.request_body.get('model')!r}"
            )
        assert body == recorded.request_body, f"{where}: request body differs from the recording"
        headers = [(k, v) for k, v in recorded.headers if k.lower() not in _FRAMING_HEADERS]
        return self.http.Response(
            recorded.status, headers=headers, content=recorded.body.encode("utf-8"), request=request
        )

    def assert_all_served(self) -> None:
        """Every request matched its recording and every recorded interaction was requested."""
        assert self.mismatches == []
        assert self.served == len(self.cassette.interactions), (
            f"{self.cassette.name}: {len(self.cassette.interactions) - self.served} recorded interaction(s) not requested"
        )


def _sdk(provider: str) -> Any:
    sdk = SDKS[provider]
    assert sdk is not None, f"{provider} is not installed"
    return sdk


def _anthropic_http() -> ModuleType:
    from helpers.fake_anthropic import HTTP  # imports anthropic: only when it is installed

    return HTTP


def openai_client(replayer: Replayer, asynchronous: bool = False) -> Any:
    """A real ``openai.OpenAI`` (or ``AsyncOpenAI``) whose requests ``replayer`` answers (no retries)."""
    openai = _sdk("openai")
    base = replayer.cassette.interactions[0].base_url + "/v1"
    if asynchronous:
        return openai.AsyncOpenAI(
            api_key=OPENAI_KEY,
            base_url=base,
            max_retries=0,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(replayer)),
        )
    return openai.OpenAI(
        api_key=OPENAI_KEY,
        base_url=base,
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(replayer)),
    )


def anthropic_client(replayer: Replayer, asynchronous: bool = False) -> Any:
    """A real ``anthropic.Anthropic`` (or ``AsyncAnthropic``) whose requests ``replayer`` answers (no retries)."""
    anthropic, http = _sdk("anthropic"), _anthropic_http()
    base = replayer.cassette.interactions[0].base_url
    transport = http.MockTransport(replayer)
    if asynchronous:
        return anthropic.AsyncAnthropic(
            api_key=ANTHROPIC_KEY, base_url=base, max_retries=0, http_client=http.AsyncClient(transport=transport)
        )
    return anthropic.Anthropic(
        api_key=ANTHROPIC_KEY, base_url=base, max_retries=0, http_client=http.Client(transport=transport)
    )


def replayer_for(cassette: Cassette) -> Replayer:
    return Replayer(cassette, _anthropic_http() if cassette.provider == "anthropic" else httpx)
