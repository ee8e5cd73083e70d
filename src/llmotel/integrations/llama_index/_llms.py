"""The LLM calls in flight behind the LlamaIndex bridge: one ``_LLM`` handle per call, keyed by
its dispatcher span id (and its aliases' ids) in a bounded map, each ended exactly once.

A stream's span outlives its dispatcher span: the dispatcher exits when the generator is returned,
the span ends at the end event after the last chunk, at the exception event (``GeneratorExit`` of
an early ``close()``/``aclose()``, or an error), or when the generator is garbage collected
(``weakref.finalize``), whichever comes first.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.extract import Extractor
from llmotel.extract._access import as_str
from llmotel.extract.request import UNKNOWN_PROVIDER, infer_provider
from llmotel.integrations.llama_index._extract import ABANDONED
from llmotel.records import LLMCall
from llmotel.telemetry.context import Context
from llmotel.telemetry.spans import LLMSpan, Telemetry

__all__ = ["STREAM_METHODS", "LLMCalls"]

STREAM_METHODS = frozenset({"stream_chat", "astream_chat", "stream_complete", "astream_complete"})


class _LLM:
    """One LLM span in flight, keyed by its dispatcher span id (and by its aliases' ids)."""

    __slots__ = (
        "aliases",
        "async_stream",
        "context",
        "done",
        "finalizer",
        "instance",
        "key",
        "method",
        "parent_id",
        "span",
        "streaming",
    )

    def __init__(
        self, key: str, span: LLMSpan, context: Context, instance: Any, method: str, parent_id: str | None
    ) -> None:
        self.key = key
        self.span = span
        self.context = context
        self.instance = instance
        self.method = method
        self.parent_id = parent_id
        self.aliases: list[str] = []
        self.streaming = False
        self.async_stream = False
        self.done = False
        self.finalizer: weakref.finalize[Any, Any] | None = None


class LLMCalls:
    """The LLM-call half of ``Bridge`` (a mixin: the state is the bridge's, under its lock)."""

    telemetry: Telemetry
    extractor: Extractor
    max_llm_spans: int
    _lock: threading.Lock
    _llms: OrderedDict[str, _LLM]
    _waiting: list[_LLM]

    def _claim_waiting(self, instance: Any, method: str, parent_id: str | None) -> _LLM | None:
        if method not in ("stream_chat", "stream_complete"):
            return None
        with self._lock:
            for handle in self._waiting:
                if handle.instance is instance and handle.parent_id == parent_id and handle.method == "a" + method:
                    self._waiting.remove(handle)
                    return handle
        return None

    def _unwait(self, handle: _LLM) -> None:
        with self._lock:
            if handle in self._waiting:
                self._waiting.remove(handle)

    def _start_llm(
        self,
        sid: str,
        event: Any,
        operation: str,
        instance: Any,
        parent: Context | None,
        method: str,
        parent_id: str | None,
    ) -> _LLM:
        call = LLMCall(operation, infer_provider(instance) if instance is not None else UNKNOWN_PROVIDER)
        model_dict = event.model_dict if isinstance(event.model_dict, Mapping) else {}
        kwargs: dict[str, Any] = dict(event.additional_kwargs) if isinstance(event.additional_kwargs, Mapping) else {}
        for value in (kwargs.get("model"), model_dict.get("model"), model_dict.get("model_name")):
            model = as_str(value)
            if model and model != "unknown":
                call.request_model = model
                break
        if method in STREAM_METHODS:
            call.stream = True
        if operation == sc.OP_CHAT:
            kwargs["messages"] = event.messages
        else:
            kwargs["prompt"] = event.prompt
        self.extractor.request(call, instance, (), kwargs)
        if call.request_model == "unknown":  # LLMMetadata's placeholder, not a model
            call.request_model = None
        llm = self.telemetry.start(call, self.extractor, (instance, (), kwargs), parent)
        context = llm.context_in(parent)
        handle = _LLM(sid, llm, context, instance, method, parent_id)
        self._store_llm(sid, handle)
        return handle

    # --- ending LLM spans (each exactly once) --------------------------------------------------

    def _stream_returned(self, handle: _LLM, stream: Any) -> None:
        """The call returned a stream (or its first chunk arrived): the span now ends with it."""
        handle.span.start_stream()
        handle.streaming = True
        if stream is None:
            return
        try:
            finalizer = weakref.finalize(stream, self._collected, handle)
        except TypeError:  # not weak-referenceable: ends with its events, eviction or detach()
            pass
        else:
            finalizer.atexit = False
            handle.finalizer = finalizer
        if isinstance(stream, AsyncIterator) and handle.method.startswith("astream"):
            handle.async_stream = True
            with self._lock:
                self._waiting.append(handle)

    def _collected(self, handle: _LLM) -> None:
        try:
            self._finish_stream(handle, "garbage_collected", None)
        except Exception as exc:  # a finalizer must not raise
            internal_error("llama_index stream finalizer", exc)

    def _claim(self, handle: _LLM) -> bool:
        """Take the right to end ``handle`` (True exactly once) and forget it."""
        with self._lock:
            if handle.done:
                return False
            handle.done = True
            for key in (handle.key, *handle.aliases):
                if self._llms.get(key) is handle:
                    del self._llms[key]
            if handle in self._waiting:
                self._waiting.remove(handle)
        finalizer = handle.finalizer
        if finalizer is not None:
            handle.finalizer = None
            finalizer.detach()
        return True

    def _end(self, handle: _LLM, response: Any) -> None:
        if self._claim(handle):
            handle.span.end(response)

    def _fail(self, handle: _LLM, exc: BaseException) -> None:
        if self._claim(handle):
            handle.span.fail(exc)

    def _finish_stream(self, handle: _LLM, reason: str, exc: BaseException | None) -> None:
        if self._claim(handle):
            handle.span.finish_stream(reason, exc)

    def _abandon_llm(self, handle: _LLM) -> None:
        if self._claim(handle):
            handle.span.abandon(ABANDONED)

    def _store_llm(self, key: str, handle: _LLM) -> None:
        evicted: list[_LLM] = []
        with self._lock:
            self._llms[key] = handle
            while len(self._llms) > self.max_llm_spans:
                _, old = self._llms.popitem(last=False)
                if old.key == key and old is handle:  # never the one just added
                    self._llms[key] = handle
                    break
                if old not in evicted:
                    evicted.append(old)
        for old in evicted:
            self._abandon_llm(old)
