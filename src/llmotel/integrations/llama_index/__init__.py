"""LlamaIndex: its instrumentation dispatcher's spans and events as GenAI spans.

::

    from llmotel.integrations import llama_index

    llama_index.attach()          # root dispatcher, global tracer/meter providers
    ...                           # query engines, agents, LLM calls are traced
    llama_index.detach()          # handlers removed from the dispatcher

or ``LlamaIndexInstrumentor().instrument(tracer_provider=...)`` / ``.uninstrument()`` (also
``llmotel.instrument()`` and ``opentelemetry-instrument``), which waits for ``llama_index.core``
to be imported if it is not yet. Neither ``import llmotel`` nor importing this module imports
LlamaIndex: ``attach()`` and the handler classes do.

Mapping
-------
Dispatcher spans (``new_span`` / ``prepare_to_exit_span`` / ``prepare_to_drop_span``):

- An LLM entry method of a ``BaseLLM`` (``chat``, ``achat``, ``stream_chat``, ``astream_chat``,
  ``complete``, ``acomplete``, ``stream_complete``, ``astream_complete``) whose span id receives an
  ``LLMChatStartEvent`` / ``LLMCompletionStartEvent`` *is* the LLM call: one CLIENT span
  ``chat {model}`` / ``text_completion {model}``, started at that start event (which LlamaIndex's
  ``llm_chat_callback`` fires before the model code runs) and never also a chain span. Such a
  method that gets no start event (no callback decorator) becomes a chain span instead.
- An LLM entry method nested in another one's call (dispatcher parent is the LLM span:
  ``CustomLLM.chat`` -> ``complete``, ``achat`` -> ``chat``; or ``CustomLLM.astream_chat``'s
  generator running ``stream_chat``) gets no span: its response facts (id, model, usage) are
  merged into the outer call's record, its chunks are not counted twice.
- ``BaseTool.__call__`` / ``call`` / ``acall`` -> ``execute_tool {tool name}`` (INTERNAL;
  ``gen_ai.tool.name``, ``gen_ai.tool.description``, ``gen_ai.tool.call.id`` when an agent step's
  ``ToolCall`` event names it; arguments and result only with content capture). A ``ToolOutput``
  with ``is_error`` or a raise -> ERROR with ``error.type``. ``__call__`` -> ``call`` is one span.
- A workflow agent's ``run`` -> ``invoke_agent {agent name}``.
- Every other dispatcher span -> ``invoke_workflow {Qualname}`` (``ChainRun``), e.g.
  ``invoke_workflow RetrieverQueryEngine.query``; LLM spans under it add to its usage totals.
- Parents follow the dispatcher's parent span id (the current OpenTelemetry context when the
  parent is unknown); a raise (span drop) -> status ERROR, ``error.type``, exception event.

Events (``BaseEventHandler.handle``), matched to spans by ``event.span_id``:

- ``LLMChatStartEvent`` / ``LLMCompletionStartEvent`` -> the LLM span: model from the call's
  ``model=`` kwarg, else ``model_dict`` ``model`` / ``model_name`` (LlamaIndex's ``"unknown"``
  placeholder is dropped), else the instance; temperature, max_tokens, top_p... from the call's
  kwargs, else the instance's fields; ``server.address``; ``llmotel.model.*`` configuration;
  ``messages`` / ``prompt`` as ``gen_ai.input.messages`` only with content capture.
- ``LLMChatInProgressEvent`` / ``LLMCompletionInProgressEvent`` -> stream chunks through the
  ``LLMSpan`` stream API: ``llmotel.stream.chunks``, ``gen_ai.response.time_to_first_chunk``,
  bounded ``llmotel.stream.chunk`` events, usage/finish reasons from ``raw``/``additional_kwargs``.
- ``LLMChatEndEvent`` / ``LLMCompletionEndEvent`` -> response id, model, finish reasons, usage
  (default extractor on ``event.response``: ``ChatResponse`` / ``CompletionResponse`` with
  ``raw``); ends a plain call's span, and a stream's span after its last chunk.
- ``ExceptionEvent`` on a stream -> ``GeneratorExit`` (early ``close()``/``aclose()``): stream
  stop reason ``closed``, not an error; ``CancelledError``: ``cancelled``; anything else: ERROR.
- ``AgentToolCallEvent`` -> a ``llmotel.llama_index.agent_tool_call`` event (tool name,
  description; arguments only with capture) on the span of its dispatcher span.
- ``SpanDropEvent`` is not used: ``prepare_to_drop_span`` brings the exception itself. Other
  events (retrieval, synthesis, embedding, predict...) add nothing: their spans say it.

Streams end when the stream ends, exactly once: at the end event after the last chunk, at the
exception event, when the generator is garbage collected unread or half-read
(``weakref.finalize``: stop reason ``garbage_collected``), or when evicted/detached (``abandoned``).

Context: a chain/tool span is made current in ``new_span`` and an LLM span at its start event, and
undone at exit/drop in the same ``contextvars.Context`` (see ``_context``: never a "Failed to
detach context"; from another Context the attached context is retired instead, so nothing stays
current in the caller). Spans created inside (provider instrumentation, user spans, ``trace_chat``
functions) are therefore children; a ``trace_chat`` function or an llmotel provider instrumentor
called directly inside the LLM span is the same call and records no second span. A method
declared to return a Future (it exits from the Future's callback) is not made current. A stream is
never current while the caller reads it.

State is bounded (``Bridge.max_entries``, ``Bridge.max_llm_spans``): the oldest entry is ended,
marked ``llmotel.llama_index.abandoned``; entries leave on exit/drop, LLM handles when their span
ends.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

import wrapt

from llmotel._safety import internal_error
from llmotel.integrations._instrumentor import PatchingInstrumentor
from llmotel.integrations.llama_index._extract import ABANDONED

if TYPE_CHECKING:
    from llama_index.core.instrumentation import Dispatcher  # type: ignore[attr-defined]
    from opentelemetry._logs import LoggerProvider
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from llmotel.extract import Extractor
    from llmotel.integrations.llama_index._bridge import Bridge
    from llmotel.integrations.llama_index._handlers import LlmotelEventHandler, LlmotelSpanHandler

__all__ = [
    "ABANDONED",
    "Bridge",
    "LlamaIndexInstrumentor",
    "LlmotelEventHandler",
    "LlmotelSpanHandler",
    "attach",
    "attached",
    "detach",
]


_HANDLERS = "llmotel.integrations.llama_index._handlers"


def attach(
    dispatcher: Dispatcher | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    logger_provider: LoggerProvider | None = None,
    *,
    extractor: Extractor | None = None,
) -> LlmotelSpanHandler:
    """Add llmotel's span and event handlers to ``dispatcher`` (default: LlamaIndex's root one).

    Idempotent: while attached, another call returns the span handler already in place (call
    ``detach()`` first to change the dispatcher, providers or extractor).
    """
    from llmotel.integrations.llama_index import _handlers

    return _handlers.install(dispatcher, (tracer_provider, meter_provider, logger_provider), extractor)


def detach() -> bool:
    """Remove llmotel's handlers from the dispatcher they were added to; True if they were there.

    Spans still open (calls in flight, streams not read to the end) are ended, marked
    ``llmotel.llama_index.abandoned``. Call it outside LlamaIndex calls.
    """
    handlers = sys.modules.get(_HANDLERS)
    return bool(handlers is not None and handlers.detach())


def attached() -> LlmotelSpanHandler | None:
    """The span handler in place, or ``None`` when not attached."""
    handlers = sys.modules.get(_HANDLERS)
    return handlers.attached() if handlers is not None else None


def __getattr__(name: str) -> Any:
    if name == "Bridge":
        from llmotel.integrations.llama_index._bridge import Bridge

        return Bridge
    if name in ("LlmotelSpanHandler", "LlmotelEventHandler"):
        from llmotel.integrations.llama_index import _handlers

        return getattr(_handlers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LlamaIndexInstrumentor(PatchingInstrumentor):
    """``instrument(tracer_provider=..., meter_provider=..., extractor=...)``: ``attach()`` on the
    root dispatcher, now if ``llama_index.core`` is imported, else when it is; ``uninstrument()``:
    ``detach()``. A missing or too-old llama-index-core is a quiet no-op."""

    library = "llama_index.core"
    distribution = "llama-index-core"
    min_version = "0.12.0"
    max_version = "0.15.0"
    _li_lock = threading.Lock()
    _li_generation = 0

    def _instrument(self, **kwargs: Any) -> None:
        if not self.library_available():
            return
        cls = LlamaIndexInstrumentor
        with cls._li_lock:
            cls._li_generation += 1
            generation = cls._li_generation
        options = {k: kwargs.get(k) for k in ("tracer_provider", "meter_provider", "logger_provider", "extractor")}

        def on_import(module: Any) -> None:
            # Hooks cannot be unregistered: one from an instrument() undone since is stale.
            if cls._li_generation != generation:
                return
            try:
                attach(**options)
            except Exception as exc:
                internal_error("llama_index instrument", exc)

        if self.library in sys.modules:
            on_import(sys.modules[self.library])
        else:
            wrapt.register_post_import_hook(on_import, self.library)

    def _uninstrument(self, **kwargs: Any) -> None:
        cls = LlamaIndexInstrumentor
        with cls._li_lock:
            cls._li_generation += 1
        detach()
