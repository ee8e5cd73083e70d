"""cohere: the v2 client's ``chat``, ``chat_stream`` and ``embed``, sync and async.

``CohereInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` patches
``cohere.v2.client.V2Client`` / ``AsyncV2Client``, whose methods ``cohere.ClientV2`` /
``cohere.AsyncClientV2`` (and ``cohere.Client().v2``) run; llmotel never imports ``cohere`` itself:
the patches wait for it to be imported. ``chat_stream`` is a generator function (an async generator
function for the async client): calling it returns the SDK's generator inside a stream proxy, the
request is made on the first read, and the span ends with the generator however it stops
(exhausted, ``close()``, dropped, an HTTP error on the first read, the connection cut mid-way).

The SDK's ``Client.__init__`` stores bound ``chat`` / ``chat_stream`` methods on each new client
instance (its argument checks and experimental-feature warnings). So a client made while
instrumented keeps the patched methods after ``uninstrument()``: the wrappers then call straight
through (``_Switch``), untraced. A client made *before* ``instrument()`` keeps the original methods:
its ``chat`` / ``chat_stream`` are not traced (``embed`` is); instrument before making clients.
"""

from __future__ import annotations

from typing import Any

from llmotel import semconv as sc
from llmotel.extract import Extractor
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFactory, WrapperFn
from llmotel.integrations._sdk import call_spec
from llmotel.integrations.cohere._extract import CohereExtractor, CohereStreamExtractor

PROVIDER = "cohere"
EXTRACTOR = CohereExtractor()
STREAM_EXTRACTOR = CohereStreamExtractor()


class _Switch:
    """Whether the instrumentor is on: wrappers a client instance still holds after
    ``uninstrument()`` (see the module docstring) call through untraced while it is off."""

    on = False


def _patch(operation: str, extractor: Extractor, *, coroutine: bool) -> WrapperFactory:
    """The factory of a traced method: ``async_wrapper`` for a coroutine function; ``call_wrapper``
    otherwise, which also proxies the (async) generator a ``chat_stream`` call returns."""

    def factory(options: dict[str, Any], original: Any) -> WrapperFn:
        spec = call_spec(options, operation, PROVIDER, extractor)
        traced = spec.async_wrapper if coroutine else spec.call_wrapper

        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if _Switch.on:
                return traced(wrapped, instance, args, kwargs)  # (a coroutine for the async methods)
            return wrapped(*args, **kwargs)

        return wrapper

    return factory


_V2 = "cohere.v2.client"

PATCHES: tuple[Patch, ...] = (
    Patch(_V2, "V2Client.chat", _patch(sc.OP_CHAT, EXTRACTOR, coroutine=False)),
    Patch(_V2, "AsyncV2Client.chat", _patch(sc.OP_CHAT, EXTRACTOR, coroutine=True)),
    Patch(_V2, "V2Client.chat_stream", _patch(sc.OP_CHAT, STREAM_EXTRACTOR, coroutine=False)),
    Patch(_V2, "AsyncV2Client.chat_stream", _patch(sc.OP_CHAT, STREAM_EXTRACTOR, coroutine=False)),
    Patch(_V2, "V2Client.embed", _patch(sc.OP_EMBEDDINGS, EXTRACTOR, coroutine=False)),
    Patch(_V2, "AsyncV2Client.embed", _patch(sc.OP_EMBEDDINGS, EXTRACTOR, coroutine=True)),
)


class CohereInstrumentor(PatchingInstrumentor):
    """Traces the cohere SDK's v2 client (entry point ``llmotel_cohere``)."""

    library = "cohere"
    distribution = "cohere"
    min_version = "5.9.0"
    max_version = "8.0.0"
    patches = PATCHES

    def _instrument(self, **kwargs: Any) -> None:
        _Switch.on = True
        super()._instrument(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        _Switch.on = False
        super()._uninstrument(**kwargs)
