"""Extraction: provider objects in, neutral ``LLMCall`` records out. Knows nothing of OpenTelemetry.

``Extractor`` holds the default duck-typed mapping; subclass it and override any method to map your
own request, response or chunk types, then pass an instance as ``extractor=`` to the decorators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import chunks, content, request, response
from llmotel.extract._access import MAX_IDENTIFIER
from llmotel.records import LLMCall, StreamState

__all__ = ["Extractor"]

_read_response = response.read_response
_model_config = request.model_config
_no_config = request.no_config
_chunk_text = chunks.chunk_text


class Extractor:
    """Default mapping from a call's arguments, result and stream chunks to an ``LLMCall``.

    Every method receives the record to fill. Methods that read content (``input_content``,
    ``stream_end`` and the ``capture=True`` paths) are only called when content capture is on and
    the span is recording, so an override may be as expensive as it needs to be there.
    """

    default_response: bool = True
    """True while ``response`` is the default one: telemetry then calls ``read_response`` directly."""
    default_chunk: bool = True
    """True while ``chunk`` is the default one: telemetry then calls the cached chunk reader directly."""
    reads_model_config: bool = True
    """Record the decorated instance's scalar configuration as ``llmotel.model.*`` (see
    ``llmotel.extract.request.model_config``); integrations whose instance is an SDK resource
    turn it off."""

    # The default readers, as plain functions telemetry calls directly (no method frame on the
    # per-call path); copied onto each instance by ``__new__``.
    read_response: Callable[[LLMCall, Any, bool], None] = staticmethod(_read_response)
    """The default response reader (used while ``default_response``)."""
    model_config: Callable[[Any, int], dict[str, Any] | None] = staticmethod(_model_config)
    """The instance configuration reader (used while ``reads_model_config``)."""
    no_config: Mapping[type, bool] = _no_config
    """Types known to carry no configuration (checked before ``model_config`` on every call)."""
    text_reader: Callable[[Any], str | None] = staticmethod(_chunk_text)
    """``chunk_text`` as telemetry calls it for sampled chunks: the default reader itself while
    ``chunk_text`` is the default one, else the bound override."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.default_response = cls.response is Extractor.response
        cls.default_chunk = cls.chunk is Extractor.chunk

    def __new__(cls, *args: Any, **kwargs: Any) -> Extractor:
        self = super().__new__(cls)
        # copied onto the instance: the per-call read is then a specialized one (the class
        # attributes above still answer for an instance made without this ``__new__``)
        self.default_response = cls.default_response
        self.default_chunk = cls.default_chunk
        self.reads_model_config = cls.reads_model_config
        self.read_response = cls.read_response
        self.model_config = cls.model_config
        self.no_config = cls.no_config
        self.text_reader = cls.text_reader if cls.chunk_text is Extractor.chunk_text else self.chunk_text
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "response":  # a method set on the instance replaces the default one
            super().__setattr__("default_response", False)
        elif name == "chunk":
            super().__setattr__("default_chunk", False)
        elif name == "chunk_text":
            super().__setattr__("text_reader", value)

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Fill the request facts (model, parameters, server) before the call is made."""
        # hot path: the two common cases without a call (a ``__slots__`` SDK resource, no instance)
        if instance is None or type(instance) in request.no_fields:
            fields = request.EMPTY
        else:
            fields = request.fields_of(instance)
        if call.request_model is None:
            model = kwargs.get("model")
            call.request_model = (
                model
                if type(model) is str and 0 < len(model) <= MAX_IDENTIFIER
                else request.request_model(kwargs, instance, fields)
            )
        request.request_params(kwargs, fields, call.params)
        if kwargs.get("stream") is True:
            call.stream = True
        if fields:
            call.server_address, call.server_port = request.server_of(fields)

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Fill ``input_messages`` / ``system_instructions`` (content capture only)."""
        if call.operation == sc.OP_TEXT_COMPLETION:
            prompt = kwargs.get("prompt", args[0] if args else None)
            if prompt is not None:
                call.input_messages = content.input_messages(
                    prompt if isinstance(prompt, str) else list(prompt) if isinstance(prompt, list) else prompt
                )
        else:
            messages = kwargs.get("messages")
            if messages is None:
                messages = kwargs.get("input")
            if messages is None and args:
                messages = args[0]
            if messages is not None:
                call.input_messages = content.input_messages(messages)
        system = kwargs.get("system")
        if system is None:
            system = kwargs.get("instructions")
        if system is not None:
            call.system_instructions = content.system_instructions(system)

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        """Fill the response facts from the value the call returned."""
        response.read_response(call, result, capture)

    def error(self, call: LLMCall, exc: BaseException) -> None:
        """Fill ``call.extra`` with facts about a failed call: the HTTP status and allow-listed
        response headers (request id, rate limits) when the exception carries a response."""
        response.read_error(call, exc)

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        """Accumulate one stream chunk (called for every chunk: keep it cheap)."""
        if type(chunk) is state.reader_type:
            state.reader(call, state, chunk, capture)
            return
        reader = chunks.reader_for(chunk)
        state.reader_type = type(chunk)
        state.reader = reader
        reader(call, state, chunk, capture)

    def chunk_text(self, chunk: Any) -> str | None:
        """The text one chunk carries, for its chunk event (called for sampled chunks only)."""
        return chunks.chunk_text(chunk)

    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None:
        """Finish the record when the stream ends (builds output messages under capture)."""
        if capture:
            chunks.stream_output(call, state)


DEFAULT_EXTRACTOR = Extractor()
