"""google-genai (``from google import genai``): ``models.generate_content`` and
``models.generate_content_stream``, sync (``Models``) and async (``AsyncModels``).

``GoogleGenAIInstrumentor().instrument(tracer_provider=..., meter_provider=..., logger_provider=...)``
patches the two resource classes of ``google.genai.models`` when that module is imported (llmotel
never imports it). One ``generate_content {model}`` CLIENT span per call, provider ``gcp.gen_ai``
for the Gemini Developer API or ``gcp.vertex_ai`` for a client in Vertex AI mode. Chats
(``client.chats.create(...).send_message`` / ``send_message_stream`` and the async ones) call these
same methods, so each chat turn is one span with the whole history as its input. A stream is the
SDK's own generator (async generator) inside a proxy that ends the span however the stream ends.
With automatic function calling, the span covers the whole loop and records the final response.
"""

from __future__ import annotations

from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor
from llmotel.integrations._sdk import call_patch, sync_and_async
from llmotel.integrations.google_genai._extract import (
    PROVIDER,
    GoogleGenAIExtractor,
    GoogleGenAIStreamExtractor,
)

EXTRACTOR = GoogleGenAIExtractor()
STREAM_EXTRACTOR = GoogleGenAIStreamExtractor()

_MODELS = "google.genai.models"

PATCHES: tuple[Patch, ...] = (
    *sync_and_async(_MODELS, "Models.generate_content", call_patch(sc.OP_GENERATE_CONTENT, PROVIDER, EXTRACTOR)),
    *sync_and_async(
        _MODELS, "Models.generate_content_stream", call_patch(sc.OP_GENERATE_CONTENT, PROVIDER, STREAM_EXTRACTOR)
    ),
)


class GoogleGenAIInstrumentor(PatchingInstrumentor):
    """Traces the google-genai SDK (entry point ``llmotel_google_genai``)."""

    library = "google.genai"
    distribution = "google-genai"
    min_version = "3.6.0"  # the oldest version tested (3.6.1 is)
    max_version = "4.0.0"
    patches = PATCHES
