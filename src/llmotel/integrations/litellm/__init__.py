"""litellm: ``litellm.completion`` and ``litellm.acompletion``, plain and ``stream=True``.

One CLIENT span per call, carrying the provider litellm routes to (``model="anthropic/claude-..."``
is ``gen_ai.provider.name="anthropic"``, ``gen_ai.request.model="claude-..."``; see ``_extract``).
The patches replace the functions on the ``litellm`` package, so ``litellm.completion(...)`` and a
``from litellm import completion`` made *after* ``instrument()`` are traced; a reference taken
before ``instrument()`` (``from litellm import completion`` at the top of a module imported
earlier) still points at the untraced function, as do ``litellm.main.completion`` and
``litellm.chat_completions.dispatch.completion`` (litellm's internal entry points: its public
``completion`` keeps its own reference to the first, so wrapping it too would trace a call twice,
and keep tracing after ``uninstrument()``).

When litellm calls a provider SDK llmotel also instruments (the openai SDK for ``openai/...``
models), the SDK call runs directly inside the litellm span and folds into it: still one span,
which then also gets the SDK's response headers. Streams come back as litellm's own
``CustomStreamWrapper`` inside a stream proxy (a sync one from ``completion``, an async one from
``acompletion``: the wrapper is both an iterator and an async iterator, so the async patch picks
the proxy itself). ``stream_options={"include_usage": True}`` gives the stream's span its usage.
"""

from __future__ import annotations

import sys
from typing import Any

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFn
from llmotel.integrations._sdk import call_spec
from llmotel.integrations.litellm._extract import FALLBACK_PROVIDER, LiteLLMExtractor, ProviderResolver
from llmotel.wrap.decorators import should_trace
from llmotel.wrap.streams import AsyncStreamProxy

_MODULE = "litellm"


def _extractor() -> LiteLLMExtractor:
    """An extractor asking the imported litellm for providers (the patch runs once it is imported)."""
    module = sys.modules.get(_MODULE)
    resolver: ProviderResolver | None = getattr(module, "get_llm_provider", None)
    return LiteLLMExtractor(resolver if callable(resolver) else None)


def _completion(options: dict[str, Any], original: Any) -> WrapperFn:
    spec = call_spec(options, sc.OP_CHAT, FALLBACK_PROVIDER, _extractor())
    return spec.call_wrapper


def _acompletion(options: dict[str, Any], original: Any) -> WrapperFn:
    """``acompletion``: ``CallSpec``'s async wrapper, except for streams, whose result (an object
    that is both an iterator and an async iterator) gets the async proxy."""
    spec = call_spec(options, sc.OP_CHAT, FALLBACK_PROVIDER, _extractor())
    plain = spec.async_wrapper

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not kwargs.get("stream") or not should_trace():
            return await plain(wrapped, instance, args, kwargs)
        llm_span = spec.begin(instance, args, kwargs)
        if llm_span is None:
            return await wrapped(*args, **kwargs)
        token = llm_span.attach()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            llm_span.detach(token)
            llm_span.fail(exc)
            raise
        llm_span.detach(token)
        if not hasattr(type(result), "__anext__"):  # not a stream after all
            llm_span.end(result)
            return result
        try:
            return AsyncStreamProxy(result, llm_span)
        except Exception as exc:
            internal_error("stream proxy", exc)
            llm_span.end(None)
            return result

    return wrapper


PATCHES: tuple[Patch, ...] = (
    Patch(_MODULE, "completion", _completion),
    Patch(_MODULE, "acompletion", _acompletion),
)


class LiteLLMInstrumentor(PatchingInstrumentor):
    """Traces litellm's ``completion`` / ``acompletion`` (entry point ``llmotel_litellm``)."""

    library = "litellm"
    distribution = "litellm"
    min_version = "1.110.0"
    max_version = "2.0.0"
    patches = PATCHES
