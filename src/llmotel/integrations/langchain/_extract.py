"""LangChain objects in, ``LLMCall`` facts out. No OpenTelemetry here, and no LangChain import:
everything is read by duck typing, so this module also works with older langchain-core versions.

Shapes understood:

- request: ``invocation_params`` (``model`` / ``model_name`` / ``temperature`` / ``max_tokens`` /
  ``stop`` ...) and the run's ``metadata`` (``ls_provider``, ``ls_model_name``, ``ls_temperature``,
  ``ls_max_tokens``, ``ls_stop``), the prompt messages (``BaseMessage``) or prompt strings;
- response: ``LLMResult`` (``generations``, ``llm_output["token_usage"|"usage"|"model_name"]``),
  ``ChatGeneration.message`` (``AIMessage``: ``usage_metadata``, ``response_metadata``, ``id``,
  ``tool_calls``) and ``Generation.generation_info["finish_reason"]``;
- stream chunks: ``GenerationChunk`` / ``ChatGenerationChunk`` / token strings / content blocks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from llmotel.extract import Extractor, content
from llmotel.extract import request as request_extract
from llmotel.extract._access import as_str, count, get
from llmotel.extract.response import add_usage, usage_from
from llmotel.records import LLMCall, StreamState, Usage

__all__ = [
    "LangChainExtractor",
    "ModelParams",
    "conversation_id",
    "is_agent",
    "is_plumbing",
    "model_of",
    "provider_of",
    "retry_attempt",
    "run_name",
    "text_of",
]

# LangChain ``ls_provider`` values -> GenAI ``gen_ai.provider.name``.
_LS_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "google_anthropic_vertex": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "ibm": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
    "ollama": "ollama",
}

# Needles looked for in the serialized class path (``serialized["id"]``) when there is no ls_provider.
_CLASS_PROVIDERS = (
    ("azure", "azure.ai.openai"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("bedrock", "aws.bedrock"),
    ("vertex", "gcp.vertex_ai"),
    ("google_genai", "gcp.gen_ai"),
    ("mistral", "mistral_ai"),
    ("cohere", "cohere"),
    ("groq", "groq"),
    ("deepseek", "deepseek"),
    ("xai", "x_ai"),
    ("ollama", "ollama"),
)

_LC_ID_PREFIXES = ("lc_run-", "run-", "lc_")
"""Message ids LangChain made up itself (its run id), not a provider's response id."""

_META_PARAMS = (("ls_temperature", "temperature"), ("ls_max_tokens", "max_tokens"), ("ls_stop", "stop"))


def provider_of(serialized: Any, metadata: Any) -> str:
    """``gen_ai.provider.name``: the run's ``ls_provider``, else the model's class path, else unknown."""
    ls_provider = as_str(get(metadata, "ls_provider")) if metadata is not None else None
    if ls_provider:
        key = ls_provider.strip().lower()
        return _LS_PROVIDERS.get(key, key)
    path = get(serialized, "id") if serialized is not None else None
    if isinstance(path, (list, tuple)):
        where = ".".join(str(p) for p in path).lower()
        for needle, name in _CLASS_PROVIDERS:
            if needle in where:
                return name
    return request_extract.UNKNOWN_PROVIDER


def model_of(params: Mapping[str, Any], metadata: Any) -> str | None:
    """The requested model: invocation params ``model`` / ``model_name`` / ..., else ``ls_model_name``."""
    for name in ("model", "model_name", "model_id", "deployment_name", "azure_deployment"):
        text = as_str(params.get(name))
        if text:
            return text
    return as_str(get(metadata, "ls_model_name")) if metadata is not None else None


def _usage_metadata(obj: Any) -> Usage | None:
    """LangChain's normalized ``UsageMetadata`` (``input_tokens`` already includes cached tokens)."""
    if obj is None:
        return None
    usage = Usage(input_tokens=count(get(obj, "input_tokens")), output_tokens=count(get(obj, "output_tokens")))
    inp = get(obj, "input_token_details")
    if inp is not None:
        usage.cache_read_input_tokens = count(get(inp, "cache_read"))
        usage.cache_creation_input_tokens = count(get(inp, "cache_creation"))
    out = get(obj, "output_token_details")
    if out is not None:
        usage.reasoning_output_tokens = count(get(out, "reasoning"))
    return None if usage.is_empty() else usage


def _response_id(message: Any, response_metadata: Any) -> str | None:
    rid = as_str(get(response_metadata, "id")) if response_metadata is not None else None
    if rid:
        return rid
    rid = as_str(get(message, "id"))
    if rid and not rid.startswith(_LC_ID_PREFIXES):
        return rid
    return None


def _finish_reason(generation: Any, response_metadata: Any) -> str | None:
    info = get(generation, "generation_info")
    for source in (info, response_metadata):
        if source is None:
            continue
        for key in ("finish_reason", "stop_reason", "done_reason"):
            reason = as_str(get(source, key))
            if reason:
                return reason
    return None


def text_of(value: Any) -> str | None:
    """The text of a token, a content-block list, a ``GenerationChunk`` or a ``ChatGenerationChunk``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        parts = []
        for item in value:
            text = item if isinstance(item, str) else get(item, "text")
            if isinstance(text, str):
                parts.append(text)
        return "".join(parts)
    text = get(value, "text")
    return text if isinstance(text, str) else None


class ModelParams:
    """A run's invocation params seen as the model instance's fields, so the usual
    ``llmotel.model.*`` configuration attributes (secret-like names and values left out) apply."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.__dict__.update((k, v) for k, v in params.items() if isinstance(k, str))


class LangChainExtractor(Extractor):
    """Maps LangChain callback arguments onto an ``LLMCall``.

    ``Telemetry.start`` is called with ``args=(messages_or_prompt,)`` and
    ``kwargs={"invocation_params": ..., "metadata": ...}``; ``end`` receives the run's ``LLMResult``.
    """

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        raw = kwargs.get("invocation_params")
        params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        metadata = kwargs.get("metadata")
        if call.request_model is None:
            call.request_model = model_of(params, metadata)
        found = request_extract.request_params(params, {})
        if isinstance(metadata, Mapping):  # ls_* facts LangChain derived from the model's fields
            fallback = {name: metadata.get(key) for key, name in _META_PARAMS if metadata.get(key) is not None}
            for key, value in request_extract.request_params(fallback, {}).items():
                found.setdefault(key, value)
        call.params.update(found)
        if params.get("stream") is True or params.get("streaming") is True:
            call.stream = True
        call.server_address, call.server_port = request_extract.server_of(params)

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        if args and args[0] is not None:
            call.input_messages = content.input_messages(args[0])

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if result is None:
            return
        generations = get(result, "generations")
        candidates: list[Any] = []
        if isinstance(generations, (list, tuple)):
            for group in generations:
                if isinstance(group, (list, tuple)):
                    candidates.extend(group)
        reasons: list[str | None] = []
        outputs: list[dict[str, Any]] = []
        usage: Usage | None = None
        for generation in candidates:
            message = get(generation, "message")
            metadata = get(message, "response_metadata") if message is not None else None
            if message is not None:
                if call.response_id is None:
                    call.response_id = _response_id(message, metadata)
                if call.response_model is None and metadata is not None:
                    call.response_model = as_str(get(metadata, "model_name")) or as_str(get(metadata, "model"))
                if usage is None:  # the same usage is often repeated on every candidate: take it once
                    usage = _usage_metadata(get(message, "usage_metadata"))
            reason = _finish_reason(generation, metadata)
            reasons.append(reason)
            if capture:
                if message is not None:
                    out = content.message(message)
                    out["role"] = "assistant"
                    out["finish_reason"] = content.normalize_finish_reason(reason or "stop")
                    outputs.append(out)
                else:
                    outputs.append(content.output_message(get(generation, "text"), reason or "stop"))
        llm_output = get(result, "llm_output")
        if isinstance(llm_output, Mapping):
            if call.response_model is None:
                call.response_model = as_str(llm_output.get("model_name")) or as_str(llm_output.get("model"))
            if call.response_id is None:
                call.response_id = as_str(llm_output.get("id"))
            if usage is None:
                usage = usage_from(llm_output.get("token_usage") or llm_output.get("usage") or None)
        add_usage(call, usage)
        if any(reasons):
            call.finish_reasons = [r or "error" for r in reasons]
        if capture and outputs:
            call.output_messages = outputs

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        if capture:
            text = text_of(chunk)
            if text:
                bucket = state.texts.get(0)
                if bucket is None:
                    bucket = state.texts[0] = []
                bucket.append(text)

    def chunk_text(self, chunk: Any) -> str | None:
        return text_of(chunk)

    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None:
        # The final LLMResult (read in ``response``) already carries the merged message; the
        # accumulated text is only the fallback for a stream that ended without one.
        if capture and call.output_messages is None and state.texts:
            reasons = call.finish_reasons or []
            reason = next((r for r in reasons if r), None)
            call.output_messages = [content.output_message("".join(state.texts.get(0, ())), reason or "stop")]


# --- run facts (callback arguments) ----------------------------------------------------------

_RETRY_TAG = re.compile(r"^retry:attempt:(\d+)$")
_PLUMBING = frozenset(
    {
        "RunnableSequence",
        "RunnableParallel",
        "RunnableMap",
        "RunnablePassthrough",
        "RunnableAssign",
        "RunnablePick",
        "RunnableBranch",
        "RunnableEach",
        "RunnableBinding",
        "RunnableRetry",
        "RunnableWithFallbacks",
        "RunnableLambda",
        "ChannelWrite",
        "ChannelRead",
        "Branch",
        "__start__",
        "__end__",
        "_write",
    }
)


def retry_attempt(tags: Sequence[str] | None) -> int | None:
    """The attempt number LangChain's ``with_retry`` tags a retried attempt with (2, 3, ...)."""
    for tag in tags or ():
        match = _RETRY_TAG.match(tag) if isinstance(tag, str) else None
        if match:
            return int(match.group(1))
    return None


def run_name(serialized: Any, kwargs: Mapping[str, Any], default: str) -> str:
    """The run's name: ``name=``, else the serialized name, else the class path's last part."""
    name = as_str(kwargs.get("name"))
    if name:
        return name
    if isinstance(serialized, Mapping):
        name = as_str(serialized.get("name"))
        if name:
            return name
        path = serialized.get("id")
        if isinstance(path, (list, tuple)) and path and isinstance(path[-1], str):
            return path[-1]
    return default


def conversation_id(metadata: Any) -> str | None:
    """``gen_ai.conversation.id`` from the run's metadata: ``conversation_id``, LangGraph's
    ``thread_id`` (from ``configurable``), or ``session_id``, the first one set."""
    if not isinstance(metadata, Mapping):
        return None
    for key in ("conversation_id", "thread_id", "session_id"):
        value = metadata.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
    return None


def is_agent(name: str, tags: Sequence[str] | None) -> bool:
    """A chain run is an agent when its name or a tag says so."""
    return "agent" in name.lower() or any(isinstance(t, str) and "agent" in t.lower() for t in tags or ())


def is_plumbing(name: str, tags: Sequence[str] | None, run_type: Any) -> bool:
    """LangChain's own plumbing runs (left out with ``chain_spans="named"``)."""
    if run_type in ("prompt", "parser"):
        return True
    if tags and "langsmith:hidden" in tags:
        return True
    return name.split("<", 1)[0] in _PLUMBING
