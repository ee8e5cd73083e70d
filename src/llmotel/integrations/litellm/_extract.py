"""LiteLLM-specific extraction (no OpenTelemetry, no ``import litellm``).

``litellm.completion(model="anthropic/claude-...")`` names the provider in the model string (or in
``custom_llm_provider=``, or implies it: ``"gpt-4o"`` is openai). The extractor asks litellm's own
``get_llm_provider`` (handed in by the patch, from the already imported module) which provider
serves the call, records it under its GenAI name (``azure`` -> ``azure.ai.openai``, ``bedrock`` ->
``aws.bedrock`` ...) and the requested model without the provider prefix. The response is an
OpenAI-shaped ``ModelResponse`` whatever the provider; its usage is litellm's ``Usage``, whose
``prompt_tokens`` already include cached tokens (Anthropic's cache reads and writes too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmotel.config import settings
from llmotel.extract import Extractor
from llmotel.extract._access import MAX_IDENTIFIER, count, get
from llmotel.extract._headers import header_attributes
from llmotel.extract.request import server_of
from llmotel.records import LLMCall, StreamState, Usage

ProviderResolver = Callable[..., Any]
"""``litellm.get_llm_provider(model, custom_llm_provider, api_base)`` -> ``(model, provider, key, api_base)``."""

FALLBACK_PROVIDER = "litellm"
"""``gen_ai.provider.name`` when litellm cannot say which provider serves a model."""

GENAI_PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "text-completion-codestral": "mistral_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
}
"""litellm's provider names -> ``gen_ai.provider.name``; any other litellm name is kept as it is."""

DEFAULT_SERVERS: Mapping[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
"""The endpoint a provider is called at when neither the call nor litellm names another."""

HEADER_PREFIX = "llm_provider-"
"""litellm keeps the provider's response headers in ``_hidden_params["additional_headers"]`` under this prefix."""

_Resolved = tuple[str, str, str | None]
_resolved: dict[tuple[str, str | None, str | None], _Resolved] = {}
_RESOLVED_LIMIT = 512


def _split_prefix(model: str, custom_provider: str | None) -> tuple[str, str]:
    """``(model, provider)`` without litellm's help: ``"anthropic/claude-x"`` -> ``("claude-x", "anthropic")``."""
    if custom_provider:
        prefix = f"{custom_provider}/"
        return (model[len(prefix) :] if model.startswith(prefix) else model), custom_provider
    head, sep, rest = model.partition("/")
    if sep and head in GENAI_PROVIDERS:
        return rest, head
    return model, FALLBACK_PROVIDER


def resolve(
    resolver: ProviderResolver | None, model: str, custom_provider: str | None, api_base: str | None
) -> _Resolved:
    """``(request model, GenAI provider name, litellm's api_base)`` of a call, decided once per
    (model, provider, api_base) (bounded cache): litellm's lookup costs some 15 µs."""
    key = (model, custom_provider, api_base)
    known = _resolved.get(key)
    if known is not None:
        return known
    bare, provider = _split_prefix(model, custom_provider)
    base: str | None = None
    if resolver is not None:
        try:
            _, found, _, found_base = resolver(model, custom_llm_provider=custom_provider, api_base=api_base)
            if isinstance(found, str) and found:
                provider = found
                prefix = f"{found}/"
                bare = model[len(prefix) :] if model.startswith(prefix) else model
            if isinstance(found_base, str) and found_base:
                base = found_base
        except Exception:  # an unknown provider: litellm will say so to the caller
            pass
    result = (bare or model, GENAI_PROVIDERS.get(provider, provider), base or DEFAULT_SERVERS.get(provider))
    if len(_resolved) < _RESOLVED_LIMIT:
        _resolved[key] = result
    return result


def litellm_usage(usage: Any) -> Usage | None:
    """litellm's ``Usage``: ``prompt_tokens`` includes cached tokens for every provider; cache reads
    are ``prompt_tokens_details.cached_tokens`` (or ``cache_read_input_tokens``), cache writes
    ``cache_creation_input_tokens``. An all-zero usage is litellm's placeholder for a response
    that reported none: ``None``, so the span says usage unknown instead of zero tokens."""
    if usage is None:
        return None
    prompt = count(get(usage, "prompt_tokens"))
    completion = count(get(usage, "completion_tokens"))
    if prompt is None and completion is None:
        return None
    if not prompt and not completion and not count(get(usage, "total_tokens")):
        return None
    result = Usage(prompt, completion)
    details = get(usage, "prompt_tokens_details")
    cached = count(get(details, "cached_tokens")) if details is not None else None
    result.cache_read_input_tokens = cached if cached is not None else count(get(usage, "cache_read_input_tokens"))
    creation = count(get(usage, "cache_creation_input_tokens"))
    if creation is None and details is not None:
        creation = count(get(details, "cache_creation_tokens"))
    result.cache_creation_input_tokens = creation
    output_details = get(usage, "completion_tokens_details")
    if output_details is not None:
        result.reasoning_output_tokens = count(get(output_details, "reasoning_tokens"))
    return result


def provider_headers(hidden: Any) -> dict[str, Any]:
    """Allow-listed facts (request id, processing time, rate limits) from the provider's response
    headers litellm kept on the response (``_hidden_params["additional_headers"]``)."""
    headers = get(hidden, "additional_headers") if isinstance(hidden, Mapping) else None
    if not isinstance(headers, Mapping):
        return {}
    plain = {
        name[len(HEADER_PREFIX) :]: value
        for name, value in headers.items()
        if isinstance(name, str) and name.startswith(HEADER_PREFIX)
    }
    return header_attributes(plain, settings().ratelimit_attributes)


class LiteLLMExtractor(Extractor):
    """The default OpenAI-shaped mapping plus litellm's provider routing, usage and headers."""

    reads_model_config = False  # patched module functions: there is no instance

    def __init__(self, resolver: ProviderResolver | None = None) -> None:
        self.resolver = resolver

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        model = kwargs.get("model", args[0] if args else None)
        if isinstance(model, str) and 0 < len(model) <= MAX_IDENTIFIER:
            custom = kwargs.get("custom_llm_provider")
            api_base = kwargs.get("api_base") or kwargs.get("base_url")
            bare, provider, default_base = resolve(
                self.resolver,
                model,
                custom if isinstance(custom, str) else None,
                api_base if isinstance(api_base, str) else None,
            )
            call.request_model = bare
            call.provider = provider
            base = api_base if isinstance(api_base, str) and api_base else default_base
            if base:
                call.server_address, call.server_port = server_of({"base_url": base})
        super().request(call, None, args, kwargs)

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        messages = kwargs.get("messages", args[1] if len(args) > 1 else None)
        super().input_content(call, None, (), {"messages": messages} if messages is not None else {})

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if get(result, "choices") is None:  # not a ModelResponse (a coroutine, a dict from a cache hook...)
            if isinstance(result, Mapping):
                super().response(call, result, capture)
            return
        super().response(call, result, capture)
        call.usage = litellm_usage(get(result, "usage"))
        hidden = getattr(result, "_hidden_params", None)
        facts = provider_headers(hidden)
        if facts:
            call.extra = {**(call.extra or {}), **facts}

    def error(self, call: LLMCall, exc: BaseException) -> None:
        super().error(call, exc)
        # litellm's own HTTP handler (anthropic and most providers) keeps the provider's response
        # headers here; its exception's ``response`` is then a stand-in without them
        headers = getattr(exc, "litellm_response_headers", None)
        if headers is not None:
            facts = header_attributes(headers)  # a failure's rate limits are always recorded, as for the SDKs
            if facts:
                call.extra = {**facts, **(call.extra or {})}

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        first = state.reader_type is None  # the default reader is chosen on a stream's first chunk
        super().chunk(call, state, chunk, capture)
        if first:  # litellm's facts of the whole response ride on every chunk: read them once
            hidden = getattr(chunk, "_hidden_params", None)
            if isinstance(hidden, Mapping):
                model = hidden.get("provider_response_model")  # chunks carry the requested model
                if isinstance(model, str) and 0 < len(model) <= MAX_IDENTIFIER:
                    call.response_model = model
                facts = provider_headers(hidden)
                if facts:
                    call.extra = {**(call.extra or {}), **facts}
        usage = get(chunk, "usage")
        if usage is not None:  # the last chunk with ``stream_options={"include_usage": True}``
            found = litellm_usage(usage)
            if found is not None:
                call.usage = found
            elif call.usage is not None and not call.usage.input_tokens and not call.usage.output_tokens:
                call.usage = None  # the default reader took litellm's all-zero placeholder for a report
