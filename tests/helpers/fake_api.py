"""What the fake provider APIs (``fake_openai``, ``fake_anthropic``) share.

A fake API is an httpx(2) handler for ``MockTransport``: the real SDK client sends real requests
through it, it records each one (``requests``) and answers with the provider's JSON or SSE bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Seen:
    """One request the fake API received."""

    path: str
    body: dict[str, Any]
    headers: Any  # httpx.Headers or httpx2.Headers


class FakeAPI:
    """Records every request and checks it carries the API key; ``fail_with`` an HTTP error status."""

    api_key: str

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.fail_with: int | None = None  # an HTTP error status to answer with

    def record(self, request: Any) -> dict[str, Any]:
        """Record ``request`` and return its JSON body ({} when it has none)."""
        body = json.loads(request.content) if request.content else {}
        self.requests.append(Seen(request.url.path, body, request.headers))
        assert request.headers["authorization"] == f"Bearer {self.api_key}"
        return body


def sdk_client(sdk_class: Any, http_client_class: Any, mock_transport: Any, server: FakeAPI, base_url: str) -> Any:
    """An SDK client of ``sdk_class`` whose HTTP client sends every request to ``server`` (no retries)."""
    http = http_client_class(transport=mock_transport(server))
    return sdk_class(api_key=server.api_key, base_url=base_url, http_client=http, max_retries=0)
