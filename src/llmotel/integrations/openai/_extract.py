"""OpenAI-specific extraction (no OpenTelemetry, no ``import openai``): server from the client's
base URL, raw-response wrappers, embeddings, usage-only stream chunks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel.config import SettingsHolder, settings
from llmotel.extract import Extractor
from llmotel.extract._access import get, remember
from llmotel.extract._headers import header_attributes
from llmotel.extract.request import server_of_url
from llmotel.extract.response import read_response, read_sdk_request_id
from llmotel.records import LLMCall

RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"

KNOWN_HOSTS: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("api.anthropic.com", "anthropic"),
    ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"),
)
"""OpenAI-compatible hosts the ``openai`` SDK is pointed at -> ``gen_ai.provider.name`` (a name
starting with ``.`` matches subdomains). Any other host stays ``openai``, with ``server.address``."""
_AZURE_CLIENTS = frozenset({"AzureOpenAI", "AsyncAzureOpenAI"})
_host_providers: dict[tuple[str | None, bool], str | None] = {}
_host_providers_for: list[Any] = [None]
"""Decided once per (host, Azure client) for the settings in force (their host table)."""


def _matches(host: str, pattern: str) -> bool:
    return host.endswith(pattern) or host == pattern[1:] if pattern.startswith(".") else host == pattern


def provider_for(host: str | None, azure_client: bool) -> str | None:
    """The provider an OpenAI-compatible host stands for (``None``: openai's own, or unknown)."""
    s = SettingsHolder.current or settings()
    if _host_providers_for[0] is not s:
        _host_providers.clear()
        _host_providers_for[0] = s
    key = (host, azure_client)
    if key in _host_providers:
        return _host_providers[key]
    provider = None
    if host:
        name = host.lower()
        provider = next((p for pattern, p in (*s.provider_hosts, *KNOWN_HOSTS) if _matches(name, pattern)), None)
    if provider is None and azure_client:
        provider = "azure.ai.openai"
    return remember(_host_providers, key, provider, 256)


_raw_wrappers: dict[type, bool] = {}


def is_usage_only_chunk(chunk: Any) -> bool:
    """The extra final chunk ``stream_options.include_usage`` adds: usage and no choices."""
    return get(chunk, "usage") is not None and not get(chunk, "choices")


def _raw_mode(kwargs: Mapping[str, Any]) -> str | None:
    headers = kwargs.get("extra_headers")
    if isinstance(headers, Mapping):
        value = headers.get(RAW_RESPONSE_HEADER)
        return str(value) if value is not None else None
    return None


def _base64_dimensions(vector: Any) -> int | None:
    """The dimension count of an embedding the caller asked to get as base64 (float32 values):
    its decoded length / 4, found from the string's length without decoding it."""
    if not isinstance(vector, str) or not vector:
        return None
    padding = len(vector) - len(vector.rstrip("="))
    size = len(vector) * 3 // 4 - padding
    return size // 4 if size > 0 and size % 4 == 0 else None


class OpenAIExtractor(Extractor):
    """The default duck-typed mapping plus what only the openai SDK has."""

    reads_model_config = False  # the instance is an SDK resource: no model configuration on it

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        # the instance is an SDK resource (its fields are the client and bound request methods):
        # the request facts are the arguments, the server is the client's base URL
        super().request(call, None, args, kwargs)
        client = getattr(instance, "_client", None)
        base_url = getattr(client, "base_url", None)
        if base_url is not None:
            call.server_address, call.server_port = server_of_url(base_url)
            provider = provider_for(call.server_address, type(client).__name__ in _AZURE_CLIENTS)
            if provider is not None:
                call.provider = provider
        conversation = kwargs.get("conversation")  # the Responses API: "conv_..." or {"id": "conv_..."}
        if conversation is not None:
            cid = conversation if isinstance(conversation, str) else get(conversation, "id")
            if isinstance(cid, str) and cid:
                call.conversation_id = cid
        # with_streaming_response: the body is the caller's to read
        if kwargs.get("extra_headers") is not None and _raw_mode(kwargs) == "stream":
            call.extra = {**(call.extra or {}), "llmotel.openai.raw_response": "streaming"}

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        cls = type(result)
        raw_wrapper = _raw_wrappers.get(cls)
        if raw_wrapper is None:  # decided once per class: probing a pydantic model for a missing name is slow
            wraps = callable(getattr(cls, "parse", None)) and isinstance(getattr(cls, "headers", None), property)
            raw_wrapper = remember(_raw_wrappers, cls, wraps, 256)
        parse = getattr(result, "parse", None) if raw_wrapper else None
        http = getattr(result, "http_response", None) if raw_wrapper else None
        if parse is not None and http is not None and callable(parse):  # with_raw_response wrappers
            s = settings()
            facts = header_attributes(
                getattr(http, "headers", None), s.ratelimit_attributes, request_id_only=not s.response_headers
            )
            call.extra = {**(call.extra or {}), **facts}
            if (call.extra or {}).get("llmotel.openai.raw_response") == "streaming" or call.stream:
                return  # reading the body here would consume what the caller is about to read
            result = parse()
        data = get(result, "data") if call.operation == "embeddings" else None
        if isinstance(data, list):
            read_sdk_request_id(call, result)
            usage = get(result, "usage")
            prompt = get(usage, "prompt_tokens") if usage is not None else None
            if type(prompt) is int and prompt >= 0:
                from llmotel.records import Usage

                call.usage = Usage(input_tokens=prompt)
            call.response_model = call.response_model or get(result, "model")
            if data:
                vector = get(data[0], "embedding")
                dimensions = len(vector) if isinstance(vector, list) else _base64_dimensions(vector)
                if dimensions is not None:
                    call.extra = {**(call.extra or {}), "gen_ai.embeddings.dimension.count": dimensions}
            return
        read_response(call, result, capture)  # the default reader, without ``Extractor.response``'s frame
