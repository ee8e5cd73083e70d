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
from collections.abc import Callable
from typing import Any

from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFactory, WrapperFn
from llmotel.integrations._sdk import (
    Prepare,
    call_patch,
    response_header_patches,
    stream_request_id_patches,
    sync_and_async,
)
from llmotel.integrations.openai._extract import OpenAIExtractor, is_usage_only_chunk
from llmotel.records import LLMCall
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


def _stream_usage(options: dict[str, Any]) -> Prepare | None:
    """The ``prepare`` hook of the methods that stream with usage: ``_inject_stream_usage`` when
    ``inject_stream_usage`` (or its environment variable) is on."""
    inject = options.get("inject_stream_usage")
    if inject is None:
        inject = os.environ.get(STREAM_USAGE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return _inject_stream_usage if inject else None


def _call(operation: str, *, stream_usage: bool = False) -> Callable[[bool], WrapperFactory]:
    return call_patch(operation, "openai", EXTRACTOR, _stream_usage if stream_usage else None)


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
_STREAMING = "openai._streaming"
_CHAT_HELPER = "openai.lib.streaming.chat._completions"
_RESPONSES_HELPER = "openai.lib.streaming.responses._responses"


def _close_helper(is_async: bool) -> WrapperFactory:
    return _aclose_helper_stream if is_async else _close_helper_stream


PATCHES: tuple[Patch, ...] = (
    *sync_and_async(_CHAT, "Completions.create", _call(sc.OP_CHAT, stream_usage=True)),
    *sync_and_async(_COMPLETIONS, "Completions.create", _call(sc.OP_TEXT_COMPLETION, stream_usage=True)),
    *sync_and_async(_RESPONSES, "Responses.create", _call(sc.OP_CHAT)),
    *sync_and_async(_EMBEDDINGS, "Embeddings.create", _call(sc.OP_EMBEDDINGS)),
    *response_header_patches(_CLIENT),
    *stream_request_id_patches(_STREAMING),
    *sync_and_async(_CHAT_HELPER, "ChatCompletionStream.close", _close_helper),
    *sync_and_async(_RESPONSES_HELPER, "ResponseStream.close", _close_helper),
)


class OpenAIInstrumentor(PatchingInstrumentor):
    """Traces the openai SDK (entry point ``llmotel_openai``)."""

    library = "openai"
    distribution = "openai"
    min_version = "1.66.0"  # chat.completions.completions (1.63) and responses (1.66) are what is patched
    max_version = "4.0.0"
    patches = PATCHES
