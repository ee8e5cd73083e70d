"""ollama: ``chat``, ``generate`` and ``embed`` of ``ollama.Client`` / ``AsyncClient``, and the
module-level ``ollama.chat(...)`` & co.

``OllamaInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` patches the client
classes in ``ollama._client`` (never imported by llmotel itself: the patches wait for ``ollama`` to
be imported). ``stream=True`` returns the SDK's generator (async generator for ``AsyncClient``) of
``ChatResponse`` / ``GenerateResponse`` parts inside a stream proxy; the request is sent when the
first part is read, so an HTTP error of a stream ends its span at that read.

The module-level functions are bound methods of a default ``Client`` made when ``ollama`` is
imported (``chat = _client.chat``): they hold the original functions, so the class patches never
reach them, and they are patched as module attributes too (``uninstrument()`` puts the original
bound methods back). Names imported from ``ollama`` before ``instrument()`` (``from ollama import
chat``) keep the untraced method.
"""

from __future__ import annotations

from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor
from llmotel.integrations._sdk import call_patch, sync_and_async
from llmotel.integrations.ollama._extract import OllamaExtractor

PROVIDER = "ollama"
EXTRACTOR = OllamaExtractor()

_CLIENT = "ollama._client"
_MODULE = "ollama"

_CHAT = call_patch(sc.OP_CHAT, PROVIDER, EXTRACTOR)
_GENERATE = call_patch(sc.OP_TEXT_COMPLETION, PROVIDER, EXTRACTOR)
_EMBED = call_patch(sc.OP_EMBEDDINGS, PROVIDER, EXTRACTOR)

PATCHES: tuple[Patch, ...] = (
    *sync_and_async(_CLIENT, "Client.chat", _CHAT),
    *sync_and_async(_CLIENT, "Client.generate", _GENERATE),
    *sync_and_async(_CLIENT, "Client.embed", _EMBED),
    # the default client's bound methods, as ``ollama`` binds them at import
    Patch(_MODULE, "chat", _CHAT(False)),
    Patch(_MODULE, "generate", _GENERATE(False)),
    Patch(_MODULE, "embed", _EMBED(False)),
)


class OllamaInstrumentor(PatchingInstrumentor):
    """Traces the ollama SDK (entry point ``llmotel_ollama``)."""

    library = "ollama"
    distribution = "ollama"
    min_version = "0.4.0"  # typed responses (ChatResponse...), ResponseError.status_code, httpx clients
    max_version = "1.0.0"
    patches = PATCHES
