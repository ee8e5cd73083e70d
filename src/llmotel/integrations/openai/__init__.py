"""openai: chat completions, legacy completions, the Responses API and embeddings, sync and async.

``OpenAIInstrumentor().instrument(tracer_provider=..., meter_provider=..., inject_stream_usage=...)``
patches the resource classes (never imported by llmotel itself: the patches wait for ``openai``
to be imported). Streams come back as the SDK's own ``Stream``/``AsyncStream`` inside a proxy.
``inject_stream_usage=True`` (or ``LLMOTEL_OPENAI_STREAM_USAGE=true``) asks for usage on streams
that did not (``stream_options.include_usage``) and hides the extra usage-only chunk from the caller.
The ``.stream(...)`` helpers (chat completions, Responses) read a traced stream; closing the helper
(or leaving its ``with`` block) closes that stream too, so the span ends then.
"""

from __future__ import annotations

import os
from typing import Any

from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFn, record_response_headers
from llmotel.integrations.openai._extract import OpenAIExtractor, is_usage_only_chunk
from llmotel.records import LLMCall
from llmotel.wrap.decorators import CallSpec
from llmotel.wrap.streams import AsyncStreamProxy, SyncStreamProxy

EXTRACTOR = OpenAIExtractor()
STREAM_USAGE_ENV = "LLMOTEL_OPENAI_STREAM_USAGE"


def _inject_stream_usage(call: LLMCall, kwargs: dict[str, Any]) -> None:
    if kwargs.get("stream") is not True:
        return
    options = kwargs.get("stream_options")
    current = options if isinstance(options, dict) else {}
    if current.get("include_usage"):
        return  # the caller asked for the usage chunk: it is theirs to see
    kwargs["stream_options"] = {**current, "include_usage": True}
    call.hide_chunk = is_usage_only_chunk


def _call(operation: str, *, is_async: bool, stream_usage: bool = False) -> Any:
    def factory(options: dict[str, Any], original: Any) -> WrapperFn:
        inject = options.get("inject_stream_usage")
        if inject is None:
            inject = os.environ.get(STREAM_USAGE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        spec = CallSpec(
            operation,
            provider="openai",
            extractor=EXTRACTOR,
            tracer_provider=options.get("tracer_provider"),
            meter_provider=options.get("meter_provider"),
            prepare=_inject_stream_usage if (inject and stream_usage) else None,
        )
        return spec.async_wrapper if is_async else spec.call_wrapper

    return factory


def _close_helper_stream(options: dict[str, Any], original: Any) -> WrapperFn:
    """``close()`` of a ``.stream(...)`` helper closes only the HTTP response, not the raw stream it
    reads: close the traced raw stream too, so the span ends when the helper's ``with`` block
    exits rather than whenever the helper is garbage collected."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            raw = getattr(instance, "_raw_stream", None)
            if isinstance(raw, SyncStreamProxy):
                raw.close()

    return wrapper


def _aclose_helper_stream(options: dict[str, Any], original: Any) -> WrapperFn:
    """The async helpers' ``close()`` (a coroutine function): as ``_close_helper_stream``."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await wrapped(*args, **kwargs)
        finally:
            raw = getattr(instance, "_raw_stream", None)
            if isinstance(raw, AsyncStreamProxy):
                await raw.aclose()

    return wrapper


_CHAT = "openai.resources.chat.completions.completions"
_COMPLETIONS = "openai.resources.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"
_CLIENT = "openai._base_client"
_CHAT_HELPER = "openai.lib.streaming.chat._completions"
_RESPONSES_HELPER = "openai.lib.streaming.responses._responses"

PATCHES: tuple[Patch, ...] = (
    Patch(_CHAT, "Completions.create", _call(sc.OP_CHAT, is_async=False, stream_usage=True)),
    Patch(_CHAT, "AsyncCompletions.create", _call(sc.OP_CHAT, is_async=True, stream_usage=True)),
    Patch(_COMPLETIONS, "Completions.create", _call(sc.OP_TEXT_COMPLETION, is_async=False, stream_usage=True)),
    Patch(_COMPLETIONS, "AsyncCompletions.create", _call(sc.OP_TEXT_COMPLETION, is_async=True, stream_usage=True)),
    Patch(_RESPONSES, "Responses.create", _call(sc.OP_CHAT, is_async=False)),
    Patch(_RESPONSES, "AsyncResponses.create", _call(sc.OP_CHAT, is_async=True)),
    Patch(_EMBEDDINGS, "Embeddings.create", _call(sc.OP_EMBEDDINGS, is_async=False)),
    Patch(_EMBEDDINGS, "AsyncEmbeddings.create", _call(sc.OP_EMBEDDINGS, is_async=True)),
    Patch(_CLIENT, "SyncAPIClient._process_response", record_response_headers),
    Patch(_CLIENT, "AsyncAPIClient._process_response", record_response_headers),
    Patch(_CHAT_HELPER, "ChatCompletionStream.close", _close_helper_stream),
    Patch(_CHAT_HELPER, "AsyncChatCompletionStream.close", _aclose_helper_stream),
    Patch(_RESPONSES_HELPER, "ResponseStream.close", _close_helper_stream),
    Patch(_RESPONSES_HELPER, "AsyncResponseStream.close", _aclose_helper_stream),
)


class OpenAIInstrumentor(PatchingInstrumentor):
    """Traces the openai SDK (entry point ``llmotel_openai``)."""

    library = "openai"
    distribution = "openai"
    min_version = "1.40.0"
    patches = PATCHES
