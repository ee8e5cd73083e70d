"""Cohere v2 extraction (no OpenTelemetry, no ``import cohere``): ``ClientV2.chat`` /
``chat_stream`` / ``embed`` arguments, ``V2ChatResponse``, the typed stream events and
``EmbedByTypeResponse``, read by duck typing.

Cohere names its sampling parameters ``p`` and ``k`` (``top_p`` / ``top_k``), reports usage as
billed units (recorded, as the conventions ask) and raw tokens (the fallback), spells finish
reasons in capitals (``COMPLETE`` -> ``stop``) and raises ``ApiError`` with ``status_code`` and a
plain ``headers`` dict (no ``response``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import Extractor, content
from llmotel.extract._access import MAX_IDENTIFIER, as_int, as_str, count, get, str_list
from llmotel.extract._headers import header_attributes
from llmotel.extract.request import request_params, server_of_url
from llmotel.extract.response import HTTP_STATUS_CODE
from llmotel.records import LLMCall, StreamState, Usage

FINISH_REASONS = {
    "COMPLETE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
}
"""Cohere finish reasons -> ``gen_ai.response.finish_reasons`` (any other is lowercased)."""

_PARAM_NAMES = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "p": "top_p",
    "k": "top_k",
    "stop_sequences": "stop_sequences",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "response_format": "response_format",
}
"""Cohere chat argument -> the name the shared parameter table knows it by."""

EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"
ENCODING_FORMATS = "gen_ai.request.encoding_formats"
DEBUG_TRACE_ID = "x-debug-trace-id"
"""Cohere's per-request id header (recorded as ``llmotel.response.request_id`` on errors)."""
REQUEST_ID = "llmotel.response.request_id"
_VECTOR_TYPES = ("float_", "float", "int8", "uint8")
"""Embedding types whose vectors hold one value per dimension (``binary``/``ubinary`` pack eight);
the SDK's model names the float vectors ``float_``, the JSON ``float``."""

TEXT, THINKING, TOOL_PLAN = 0, 1, 2
"""``StreamState.texts`` keys: a Cohere v2 stream is one message, its text, thinking and tool plan."""


def finish_reason(value: Any) -> str | None:
    """A Cohere finish reason, mapped (``COMPLETE`` -> ``stop``...) or lowercased."""
    text = as_str(value)
    if not text:
        return None
    return FINISH_REASONS.get(text) or text.lower()


def usage_of(usage: Any) -> Usage | None:
    """Billed input/output tokens (else the raw token counts) and cached input tokens.

    ``cached_tokens`` counts prompt tokens that hit the inference cache; it is recorded only when
    it fits within the input count recorded (the conventions' input count includes cached tokens:
    a cache count above it belongs to another count, and is not reported as part of this one)."""
    if usage is None:
        return None
    billed = get(usage, "billed_units")
    tokens = get(usage, "tokens")
    result = Usage()
    for source in (billed, tokens):
        if source is None:
            continue
        if result.input_tokens is None:
            result.input_tokens = count(get(source, "input_tokens"))
        if result.output_tokens is None:
            result.output_tokens = count(get(source, "output_tokens"))
    cached = count(get(usage, "cached_tokens"))
    if cached is not None and result.input_tokens is not None and cached <= result.input_tokens:
        result.cache_read_input_tokens = cached
    return None if result.is_empty() else result


def _server(instance: Any) -> tuple[str | None, int | None]:
    """From ``ClientV2._client_wrapper`` (or ``Client().v2._raw_client._client_wrapper``)."""
    wrapper = getattr(instance, "_client_wrapper", None)
    if wrapper is None:
        wrapper = getattr(getattr(instance, "_raw_client", None), "_client_wrapper", None)
    get_base_url = getattr(wrapper, "get_base_url", None)
    if not callable(get_base_url):
        return None, None
    url = get_base_url()
    return server_of_url(url) if isinstance(url, str) else (None, None)


def _tool_call(tool: Any) -> dict[str, Any]:
    """A ``ToolCallV2`` in the OpenAI shape ``content`` reads (``function.name/arguments``)."""
    function = get(tool, "function")
    return {
        "id": as_str(get(tool, "id")),
        "function": {"name": get(function, "name"), "arguments": get(function, "arguments")},
    }


def _reasoning(text: Any) -> list[dict[str, Any]]:
    return [{"type": "reasoning", "content": text}] if isinstance(text, str) and text else []


def output_message(message: Any, reason: str | None) -> dict[str, Any]:
    """An ``AssistantMessageResponse`` in the GenAI parts schema (the tool plan as reasoning)."""
    tools = get(message, "tool_calls")
    calls = [_tool_call(t) for t in tools] if isinstance(tools, (list, tuple)) else None
    out = content.output_message(get(message, "content"), reason, calls)
    out["parts"][:0] = _reasoning(get(message, "tool_plan"))
    return out


class CohereExtractor(Extractor):
    """``ClientV2.chat`` / ``AsyncClientV2.chat`` and the embeddings of ``embed``."""

    reads_model_config = False  # the instance is the SDK client: no model configuration on it
    streams = False

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        model = as_str(kwargs.get("model"))
        if model:
            call.request_model = model
        if call.operation == sc.OP_EMBEDDINGS:
            dimensions = as_int(kwargs.get("output_dimension"))
            if dimensions is not None:
                call.params[EMBEDDING_DIMENSIONS] = dimensions
            formats = str_list(kwargs.get("embedding_types"))
            if formats:
                call.params[ENCODING_FORMATS] = formats
        else:
            named = {_PARAM_NAMES[k]: v for k, v in kwargs.items() if k in _PARAM_NAMES}
            if named:
                request_params(named, {}, call.params)
        if self.streams:
            call.stream = True
        call.server_address, call.server_port = _server(instance)

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        if call.operation == sc.OP_EMBEDDINGS:
            return  # texts / images to embed are not chat messages
        messages = kwargs.get("messages")
        if messages is not None:
            call.input_messages = content.input_messages(messages)

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if result is None:
            return
        call.response_id = as_str(get(result, "id"))
        if call.operation == sc.OP_EMBEDDINGS:
            self._embeddings(call, result)
            return
        reason = finish_reason(get(result, "finish_reason"))
        if reason:
            call.finish_reasons = [reason]
        usage = usage_of(get(result, "usage"))
        if usage is not None:
            call.usage = usage
        if capture:
            message = get(result, "message")
            if message is not None:
                call.output_messages = [output_message(message, reason)]

    def _embeddings(self, call: LLMCall, result: Any) -> None:
        meta = get(result, "meta")
        if meta is not None:
            for source in (get(meta, "billed_units"), get(meta, "tokens")):
                tokens = count(get(source, "input_tokens")) if source is not None else None
                if tokens is not None:
                    call.usage = Usage(input_tokens=tokens)
                    break
        if EMBEDDING_DIMENSIONS in call.params:
            return
        embeddings = get(result, "embeddings")
        for kind in _VECTOR_TYPES:
            vectors = get(embeddings, kind) if embeddings is not None else None
            if isinstance(vectors, list) and vectors and isinstance(vectors[0], list):
                call.extra = {**(call.extra or {}), EMBEDDING_DIMENSIONS: len(vectors[0])}
                return

    def error(self, call: LLMCall, exc: BaseException) -> None:
        """``ApiError``: ``status_code`` and its ``headers`` dict (allow-listed, plus the
        ``x-debug-trace-id`` request id); httpx errors (``exc.response``) as the default does."""
        status = getattr(exc, "status_code", None)
        headers = getattr(exc, "headers", None)
        if not isinstance(headers, Mapping):
            super().error(call, exc)
            return
        extra: dict[str, Any] = header_attributes(headers)
        if type(status) is int and 100 <= status <= 599:
            extra[HTTP_STATUS_CODE] = status
        trace_id = headers.get(DEBUG_TRACE_ID)
        if REQUEST_ID not in extra and isinstance(trace_id, str) and trace_id:
            extra[REQUEST_ID] = trace_id[:MAX_IDENTIFIER]
        if extra:
            call.extra = {**(call.extra or {}), **extra}

    # --- streams (``chat_stream``: typed events) -------------------------------------------------

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        kind = get(chunk, "type")
        reader = _EVENT_READERS.get(kind) if type(kind) is str else None
        if reader is not None and (capture or kind in _FACT_EVENTS):
            reader(call, state, chunk)

    def chunk_text(self, chunk: Any) -> str | None:
        kind = get(chunk, "type")
        if kind == "content-delta":
            value = get(_delta_message(chunk, "content"), "text")
        elif kind == "tool-plan-delta":
            value = _delta_message(chunk, "tool_plan")
        elif kind == "tool-call-delta":
            value = get(get(_delta_message(chunk, "tool_calls"), "function"), "arguments")
        else:
            return None
        return value if isinstance(value, str) else None

    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None:
        if not capture:
            return
        reason = call.finish_reasons[0] if call.finish_reasons else None
        text = "".join(state.texts.get(TEXT, ())) or None
        tools = [
            {"id": t["id"], "function": {"name": t["name"], "arguments": t["arguments"]}}
            for _, t in sorted(state.tool_calls.get(0, {}).items())
        ]
        message = content.output_message(text, reason, tools or None)
        thinking = "".join(state.texts.get(THINKING, ()))
        if thinking:
            message["parts"].insert(0, {"type": "reasoning", "content": thinking})
        message["parts"][:0] = _reasoning("".join(state.texts.get(TOOL_PLAN, ())))
        call.output_messages = [message]


class CohereStreamExtractor(CohereExtractor):
    """``chat_stream``: always a stream, though no ``stream=True`` is among its arguments."""

    streams = True


def _delta_message(event: Any, name: str) -> Any:
    delta = get(event, "delta")
    message = get(delta, "message") if delta is not None else None
    return get(message, name) if message is not None else None


def _add(state: StreamState, key: int, text: Any) -> None:
    if isinstance(text, str) and text:
        state.texts.setdefault(key, []).append(text)


def _message_start(call: LLMCall, state: StreamState, event: Any) -> None:
    if call.response_id is None:
        call.response_id = as_str(get(event, "id"))


def _message_end(call: LLMCall, state: StreamState, event: Any) -> None:
    delta = get(event, "delta")
    if delta is None:
        return
    reason = finish_reason(get(delta, "finish_reason"))
    if reason:
        call.finish_reasons = [reason]
    usage = usage_of(get(delta, "usage"))
    if usage is not None:
        call.usage = usage


def _content_delta(call: LLMCall, state: StreamState, event: Any) -> None:
    part = _delta_message(event, "content")
    if part is not None:
        _add(state, TEXT, get(part, "text"))
        _add(state, THINKING, get(part, "thinking"))


def _tool_plan_delta(call: LLMCall, state: StreamState, event: Any) -> None:
    _add(state, TOOL_PLAN, _delta_message(event, "tool_plan"))


_MAX_TOOL_CALLS = 128


def _tool_entry(state: StreamState, event: Any) -> dict[str, Any] | None:
    index = as_int(get(event, "index")) or 0
    tools = state.tool_calls.setdefault(0, {})
    if index not in tools and (len(tools) >= _MAX_TOOL_CALLS or index < 0):
        return None
    return tools.setdefault(index, {"id": None, "name": "", "arguments": ""})


def _tool_call_start(call: LLMCall, state: StreamState, event: Any) -> None:
    entry = _tool_entry(state, event)
    tool = _delta_message(event, "tool_calls")
    if entry is None or tool is None:
        return
    entry["id"] = as_str(get(tool, "id"))
    function = get(tool, "function")
    name = as_str(get(function, "name"))
    if name:
        entry["name"] = name
    arguments = get(function, "arguments")
    if isinstance(arguments, str):
        entry["arguments"] += arguments


def _tool_call_delta(call: LLMCall, state: StreamState, event: Any) -> None:
    entry = _tool_entry(state, event)
    arguments = get(get(_delta_message(event, "tool_calls"), "function"), "arguments")
    if entry is not None and isinstance(arguments, str):
        entry["arguments"] += arguments


_EVENT_READERS = {
    "message-start": _message_start,
    "message-end": _message_end,
    "content-delta": _content_delta,
    "tool-plan-delta": _tool_plan_delta,
    "tool-call-start": _tool_call_start,
    "tool-call-delta": _tool_call_delta,
}
_FACT_EVENTS = frozenset({"message-start", "message-end"})
"""The events read without content capture (id, finish reason, usage); the others carry content."""
