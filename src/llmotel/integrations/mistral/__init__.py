"""mistralai: ``chat.complete`` / ``chat.stream`` and ``embeddings.create``, sync and async.

``MistralInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` patches the
``Chat`` and ``Embeddings`` resources of ``mistralai.client`` (never imported by llmotel itself:
the patches wait for the SDK to be imported). ``chat.stream`` / ``stream_async`` return the SDK's
own ``EventStream`` / ``EventStreamAsync`` inside a stream proxy (``with`` / ``async with``,
iteration and ``close()`` keep working; the span ends on every exit path).

The SDK can trace itself when the user opts in (``MISTRAL_SDK_TELEMETRY``). llmotel then takes its
place for the calls it traces: while an llmotel span is the current span, the SDK's tracing hook
starts no span of its own, so each call has one span. Calls llmotel does not trace (for example
with instrumentation suppressed) keep the SDK's span.
"""

from __future__ import annotations

from typing import Any

from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFn
from llmotel.integrations._sdk import call_spec
from llmotel.integrations.mistral._extract import MistralExtractor, MistralStreamExtractor
from llmotel.telemetry.spans import inside_inference

PROVIDER = "mistral_ai"
EXTRACTOR = MistralExtractor()
STREAM_EXTRACTOR = MistralStreamExtractor()


def _call(operation: str, extractor: MistralExtractor, is_async: bool) -> Any:
    def factory(options: dict[str, Any], original: Any) -> WrapperFn:
        spec = call_spec(options, operation, PROVIDER, extractor)
        return spec.async_wrapper if is_async else spec.call_wrapper

    return factory


def _no_sdk_span_under_llmotel(options: dict[str, Any], original: Any) -> WrapperFn:
    """The SDK's tracing hook starts no span while an llmotel span is the current span (it gets
    the request back unchanged and no span, as when its tracing is off)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if inside_inference() and "request" in kwargs:
            return kwargs["request"], None
        return wrapped(*args, **kwargs)

    return wrapper


_CHAT = "mistralai.client.chat"
_EMBEDDINGS = "mistralai.client.embeddings"
_TRACING_HOOK = "mistralai.client._hooks.tracing"

PATCHES: tuple[Patch, ...] = (
    Patch(_CHAT, "Chat.complete", _call(sc.OP_CHAT, EXTRACTOR, is_async=False)),
    Patch(_CHAT, "Chat.complete_async", _call(sc.OP_CHAT, EXTRACTOR, is_async=True)),
    Patch(_CHAT, "Chat.stream", _call(sc.OP_CHAT, STREAM_EXTRACTOR, is_async=False)),
    Patch(_CHAT, "Chat.stream_async", _call(sc.OP_CHAT, STREAM_EXTRACTOR, is_async=True)),
    Patch(_EMBEDDINGS, "Embeddings.create", _call(sc.OP_EMBEDDINGS, EXTRACTOR, is_async=False)),
    Patch(_EMBEDDINGS, "Embeddings.create_async", _call(sc.OP_EMBEDDINGS, EXTRACTOR, is_async=True)),
    Patch(_TRACING_HOOK, "get_traced_request_and_span", _no_sdk_span_under_llmotel),
)


class MistralInstrumentor(PatchingInstrumentor):
    """Traces the mistralai SDK (entry point ``llmotel_mistral``)."""

    library = "mistralai"
    distribution = "mistralai"
    min_version = "3.7.0"
    max_version = "4.0.0"
    patches = PATCHES
