"""What telemetry needs of an extractor: the ``CallExtractor`` protocol.

``llmotel.extract.Extractor`` is the implementation: it maps provider objects onto the
``LLMCall`` record; telemetry never reads a provider object itself and never imports extraction
code (the dependency runs one way: producers -> extract -> records -> telemetry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from llmotel.records import LLMCall, StreamState

__all__ = ["CallExtractor"]


class CallExtractor(Protocol):
    """The extractor methods telemetry calls while a call is in flight (see the module docstring).

    ``default_response`` / ``default_chunk``: the default readers are in use, so telemetry calls
    ``read_response`` and the per-type chunk reader directly (no method frame per call or chunk).
    ``no_config`` / ``model_config``: the instance configuration (``llmotel.model.*``)."""

    default_response: bool
    default_chunk: bool
    reads_model_config: bool
    no_config: Mapping[type, bool]
    read_response: Callable[[LLMCall, Any, bool], None]
    model_config: Callable[[Any, int], dict[str, Any] | None]
    text_reader: Callable[[Any], str | None]
    """``chunk_text`` without a method frame (read for sampled chunks)."""

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None: ...
    def response(self, call: LLMCall, result: Any, capture: bool) -> None: ...
    def error(self, call: LLMCall, exc: BaseException) -> None: ...
    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None: ...
    def chunk_text(self, chunk: Any) -> str | None: ...
    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None: ...
