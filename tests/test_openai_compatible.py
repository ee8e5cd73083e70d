"""OpenAI-compatible endpoints through the ``openai`` SDK: ``gen_ai.provider.name`` from the client's
base URL (Azure OpenAI, Groq, DeepSeek, Mistral, xAI, Perplexity...), unknown hosts stay ``openai``
with ``server.address``, and ``LLMOTEL_PROVIDER_HOSTS`` overrides the table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from conftest import finished
from helpers.spans import attrs, instrumented
from llmotel import semconv as sc
from llmotel.integrations.openai import OpenAIInstrumentor

USER = [{"role": "user", "content": "hi"}]
CHAT_COMPLETION = {
    "id": "chatcmpl-c1",
    "object": "chat.completion",
    "created": 1733500000,
    "model": "some-model-2026",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[None]:
    with instrumented(OpenAIInstrumentor()):
        yield


def compatible_host(request: httpx.Request) -> httpx.Response:
    """Any OpenAI-compatible host: a chat completion for any ``.../chat/completions`` path (Azure's and
    Gemini's paths, ``api-key`` auth included)."""
    assert request.url.path.endswith("/chat/completions"), request.url
    return httpx.Response(200, json=CHAT_COMPLETION)


def call(base_url: str, client_class: Any = openai.OpenAI, **client_args: Any) -> dict[str, Any]:
    http = httpx.Client(transport=httpx.MockTransport(compatible_host))
    client = client_class(
        api_key="sk-test-secret-key-123", http_client=http, max_retries=0, **client_args, base_url=base_url
    )
    client.chat.completions.create(model="some-model", messages=USER)
    [span] = finished()
    return attrs(span)


@pytest.mark.parametrize(
    ("base_url", "provider", "address", "port"),
    [
        ("https://api.openai.com/v1", "openai", "api.openai.com", 443),
        ("https://myres.openai.azure.com/openai/v1", "azure.ai.openai", "myres.openai.azure.com", 443),
        ("https://api.groq.com/openai/v1", "groq", "api.groq.com", 443),
        ("https://api.deepseek.com", "deepseek", "api.deepseek.com", 443),
        ("https://api.mistral.ai/v1", "mistral_ai", "api.mistral.ai", 443),
        ("https://api.x.ai/v1", "x_ai", "api.x.ai", 443),
        ("https://api.perplexity.ai", "perplexity", "api.perplexity.ai", 443),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "gcp.gemini",
            "generativelanguage.googleapis.com",
            443,
        ),
        ("http://vllm.internal:8000/v1", "openai", "vllm.internal", 8000),  # unknown: openai, with the server
        ("https://API.GROQ.COM/openai/v1", "groq", "api.groq.com", 443),  # hosts are case-insensitive
    ],
)
def test_provider_from_the_base_url(base_url: str, provider: str, address: str, port: int) -> None:
    a = call(base_url)
    assert (a[sc.GEN_AI_PROVIDER_NAME], a[sc.SERVER_ADDRESS], a[sc.SERVER_PORT]) == (provider, address, port)
    assert a[sc.GEN_AI_REQUEST_MODEL] == "some-model"


def test_the_azure_client_is_azure_whatever_its_host() -> None:
    a = call("https://gateway.example.com/openai", openai.AzureOpenAI, api_version="2024-10-21")
    assert a[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("vllm.internal", "vllm"),
        ("llm.corp.example", "acme"),
        ("corp.example", "acme"),
        ("api.groq.com", "my_groq"),  # the configuration wins over the built-in table
        ("other.example", "openai"),
    ],
)
def test_configuration_overrides_the_table(env: Any, host: str, provider: str) -> None:
    env(LLMOTEL_PROVIDER_HOSTS="vllm.internal=vllm, .corp.example=acme ,api.groq.com=my_groq")
    assert call(f"https://{host}/v1")[sc.GEN_AI_PROVIDER_NAME] == provider


def test_a_malformed_override_is_ignored_with_a_warning(env: Any, caplog: pytest.LogCaptureFixture) -> None:
    env(LLMOTEL_PROVIDER_HOSTS="just-a-host,vllm.internal=vllm")
    assert call("http://vllm.internal:8000/v1")[sc.GEN_AI_PROVIDER_NAME] == "vllm"
    assert any("just-a-host" in r.getMessage() for r in caplog.records)
