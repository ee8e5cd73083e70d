"""``llmotel.instrument()``: every supported library that is installed, in one call, and its inverse."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from typing import Any

from llmotel.integrations._instrumentor import PatchingInstrumentor

_log = logging.getLogger("llmotel")

INSTRUMENTORS: dict[str, str] = {
    "llmotel_openai": "llmotel.integrations.openai:OpenAIInstrumentor",
    "llmotel_anthropic": "llmotel.integrations.anthropic:AnthropicInstrumentor",
    "llmotel_langchain": "llmotel.integrations.langchain:LangChainInstrumentor",
    "llmotel_llama_index": "llmotel.integrations.llama_index:LlamaIndexInstrumentor",
    "llmotel_mistral": "llmotel.integrations.mistral:MistralInstrumentor",
    "llmotel_cohere": "llmotel.integrations.cohere:CohereInstrumentor",
    "llmotel_ollama": "llmotel.integrations.ollama:OllamaInstrumentor",
    "llmotel_google_genai": "llmotel.integrations.google_genai:GoogleGenAIInstrumentor",
    "llmotel_litellm": "llmotel.integrations.litellm:LiteLLMInstrumentor",
    "llmotel_bedrock": "llmotel.integrations.bedrock:BedrockInstrumentor",
    "llmotel_configured": "llmotel.integrations.configured:ConfiguredInstrumentor",
}
"""Entry-point name -> instrumentor class (the same table as pyproject's entry points)."""

LIBRARIES: dict[str, str] = {
    "llmotel_openai": "openai",
    "llmotel_anthropic": "anthropic",
    "llmotel_langchain": "langchain_core",
    "llmotel_llama_index": "llama_index.core",
    "llmotel_mistral": "mistralai",
    "llmotel_cohere": "cohere",
    "llmotel_ollama": "ollama",
    "llmotel_google_genai": "google.genai",
    "llmotel_litellm": "litellm",
    "llmotel_bedrock": "botocore",
}
"""Entry-point name -> the import name of the library it instruments."""


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _instrumentors() -> Iterator[tuple[str, Any]]:
    """(entry-point name, a new instrumentor) for each one whose module imports."""
    for name, path in INSTRUMENTORS.items():
        try:
            instrumentor = _load(path)()
        except ImportError:
            continue
        yield name, instrumentor


def instrument(**options: Any) -> list[str]:
    """Instrument every supported library that is installed (and the ``LLMOTEL_INSTRUMENT`` classes).

    Options go to each instrumentor (``tracer_provider``, ``meter_provider``,
    ``inject_stream_usage``...). Returns the entry-point names now instrumented; libraries that are
    not installed are skipped quietly. ``uninstrument()`` undoes it.
    """
    done = []
    for name, instrumentor in _instrumentors():
        if isinstance(instrumentor, PatchingInstrumentor) and not instrumentor.library_available():
            continue
        if name == "llmotel_configured" and not options.get("targets"):
            import os

            if not os.environ.get("LLMOTEL_INSTRUMENT", "").strip():
                continue
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(skip_dep_check=True, **options)
        done.append(name)
    return done


def uninstrument() -> list[str]:
    """Undo ``instrument()``: every llmotel instrumentor that is instrumented is uninstrumented."""
    undone = []
    for name, instrumentor in _instrumentors():
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
            undone.append(name)
    return undone
