"""Mistral-specific extraction (no OpenTelemetry, no ``import mistralai``).

What the mistralai SDK does differently from the default mapping:

- the server comes from the SDK configuration (``server_url``, else the named server), or from a
  call's own ``server_url=``; the seed is ``random_seed``;
- ``UsageInfo`` defaults every count to 0, so a count is read only when the response carried it
  (pydantic's ``model_fields_set``); cached input tokens are ``prompt_tokens_details.cached_tokens``;
- unset optional fields are the SDK's ``UNSET`` sentinel (a falsy model), never ``None``;
- contents may be a string or a list of chunks (``text``, ``thinking`` with inner chunks...);
- a stream yields ``CompletionEvent`` objects whose ``data`` is the OpenAI-like chunk;
- errors (``SDKError``, ``HTTPValidationError``) carry ``status_code`` and ``headers`` directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import Extractor, content
from llmotel.extract._access import MAX_IDENTIFIER, as_int, as_str, count, get
from llmotel.extract._headers import header_attributes
from llmotel.extract.chunks import set_finish
from llmotel.extract.request import server_of_url
from llmotel.records import LLMCall, StreamState, Usage

HTTP_STATUS_CODE = "http.response.status_code"
EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"
MAX_CHOICES = 128
"""Choice indexes beyond this are not tracked in a stream (a bound on per-stream state)."""


def unset(value: Any) -> bool:
    """The SDK's ``UNSET`` sentinel (``mistralai.client.types.Unset``), told apart without importing it."""
    return (
        value is not None and not isinstance(value, (str, int, float, list, dict)) and type(value).__name__ == "Unset"
    )


def field(obj: Any, name: str) -> Any:
    """``get(obj, name)``, with the SDK's ``UNSET`` read as ``None``."""
    value = get(obj, name)
    return None if unset(value) else value


def plain(value: Any) -> Any:
    """An SDK model as the JSON the API exchanges (the SDK's serializers drop ``UNSET`` fields);
    dicts, lists and scalars as they are. Capture only."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if not unset(v)}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not unset(value):
        try:
            return dump(by_alias=True)
        except Exception:
            return value
    return None if unset(value) else value


def _text_of_chunks(chunks: Any) -> str:
    if isinstance(chunks, str):
        return chunks
    if isinstance(chunks, (list, tuple)):
        return "".join(t for t in (get(c, "text") for c in chunks) if isinstance(t, str))
    return ""


def content_parts(value: Any) -> list[dict[str, Any]]:
    """Message content as GenAI parts: a ``thinking`` chunk's inner chunks become one reasoning part."""
    value = plain(value)
    if isinstance(value, list):
        parts: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, Mapping) and item.get("type") == "thinking":
                parts.append({"type": "reasoning", "content": _text_of_chunks(item.get("thinking"))})
            else:
                parts.extend(content.content_parts(item))
        return parts
    return content.content_parts(value)


def _message(msg: Any) -> dict[str, Any]:
    data = plain(msg)
    if not isinstance(data, Mapping):
        return content.message(data)
    out = content.message({k: v for k, v in data.items() if k != "content"})
    parts = content_parts(data.get("content"))
    if out["role"] == "tool":
        response = data.get("content")
        out["parts"] = [{"type": "tool_call_response", "id": as_str(data.get("tool_call_id")), "response": response}]
    else:
        out["parts"] = parts + out["parts"]
    return out


def usage_of(obj: Any) -> Usage | None:
    """Usage from a ``UsageInfo`` (only the counts the response carried) or a dict."""
    if obj is None or unset(obj):
        return None
    given = getattr(obj, "model_fields_set", None)
    if isinstance(given, (set, frozenset)):
        prompt = obj.prompt_tokens if "prompt_tokens" in given else None
        completion = obj.completion_tokens if "completion_tokens" in given else None
    else:
        prompt, completion = get(obj, "prompt_tokens"), get(obj, "completion_tokens")
    usage = Usage(count(prompt), count(completion))
    details = get(obj, "prompt_tokens_details")
    if isinstance(details, Mapping) or (details is not None and not unset(details)):
        usage.cache_read_input_tokens = count(get(details, "cached_tokens"))
    details = get(obj, "completion_tokens_details")
    if isinstance(details, Mapping) or (details is not None and not unset(details)):
        usage.reasoning_output_tokens = count(get(details, "reasoning_tokens"))
    return None if usage.is_empty() else usage


def _reason(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value if len(value) <= MAX_IDENTIFIER else value[:MAX_IDENTIFIER]
    return None


class MistralExtractor(Extractor):
    """``chat.complete`` / ``complete_async`` and ``embeddings.create`` / ``create_async``."""

    reads_model_config = False  # the instance is an SDK resource: no model configuration on it

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        super().request(call, instance, args, kwargs)
        seed = as_int(kwargs.get("random_seed"))
        if seed is not None:
            call.params[sc.GEN_AI_REQUEST_SEED] = seed
        if call.operation == sc.OP_EMBEDDINGS:
            dimensions = as_int(kwargs.get("output_dimension"))
            if dimensions is not None and dimensions > 0:
                call.extra = {**(call.extra or {}), EMBEDDING_DIMENSIONS: dimensions}
        url = kwargs.get("server_url")
        if not isinstance(url, str) or not url:
            url = self._sdk_url(getattr(instance, "sdk_configuration", None))
        if url:
            call.server_address, call.server_port = server_of_url(url)

    @staticmethod
    def _sdk_url(config: Any) -> str | None:
        if config is None:
            return None
        url = getattr(config, "server_url", None)
        if isinstance(url, str) and url:
            return url
        try:  # the named server ("global", "eu", "us"), as the SDK resolves it for every request
            details = config.get_server_details()
        except Exception:
            return None
        return details[0] if isinstance(details, tuple) and details and isinstance(details[0], str) else None

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        if call.operation == sc.OP_EMBEDDINGS:
            inputs = plain(kwargs.get("inputs"))
            texts = [inputs] if isinstance(inputs, str) else inputs if isinstance(inputs, list) else []
            call.input_messages = [
                {"role": "user", "parts": [{"type": "text", "content": t}]} for t in texts if isinstance(t, str)
            ]
            return
        messages = kwargs.get("messages")
        if isinstance(messages, (list, tuple)):
            call.input_messages = [_message(m) for m in messages]

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if result is None:
            return
        call.response_id = call.response_id or as_str(field(result, "id"))
        call.response_model = call.response_model or as_str(field(result, "model"))
        usage = usage_of(field(result, "usage"))
        if call.operation == sc.OP_EMBEDDINGS:
            if usage is not None and usage.input_tokens is not None:
                call.usage = Usage(input_tokens=usage.input_tokens)
            data = field(result, "data")
            if isinstance(data, list) and data and not (call.extra or {}).get(EMBEDDING_DIMENSIONS):
                vector = field(data[0], "embedding")
                if isinstance(vector, list):
                    call.extra = {**(call.extra or {}), EMBEDDING_DIMENSIONS: len(vector)}
            return
        if usage is not None:
            call.usage = usage
        choices = field(result, "choices")
        if not isinstance(choices, list) or not choices:
            return
        reasons = [_reason(field(choice, "finish_reason")) for choice in choices]
        if any(reasons):
            call.finish_reasons = [r or "error" for r in reasons]
        if capture:
            outputs = []
            for choice, reason in zip(choices, reasons, strict=False):
                msg = field(choice, "message")
                parts = content_parts(field(msg, "content")) if msg is not None else []
                tool_calls = plain(field(msg, "tool_calls")) if msg is not None else None
                out = content.output_message(None, reason, tool_calls if isinstance(tool_calls, list) else None)
                out["parts"] = parts + out["parts"]
                outputs.append(out)
            call.output_messages = outputs

    def error(self, call: LLMCall, exc: BaseException) -> None:
        extra: dict[str, Any] = {}
        status = getattr(exc, "status_code", None)
        if type(status) is int and 100 <= status <= 599:
            extra[HTTP_STATUS_CODE] = status
        headers = getattr(exc, "headers", None)
        if headers is None:
            headers = getattr(getattr(exc, "raw_response", None), "headers", None)
        if headers is not None and not isinstance(headers, (str, bytes)):
            extra.update(header_attributes(headers))
        if extra:
            call.extra = {**(call.extra or {}), **extra}


class MistralStreamExtractor(MistralExtractor):
    """``chat.stream`` / ``stream_async``: always a stream of ``CompletionEvent`` (``event.data`` is
    the chunk: id, model, ``choices[].delta`` / ``finish_reason``, usage on the last one)."""

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        super().request(call, instance, args, kwargs)
        call.stream = True

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        data = getattr(chunk, "data", None)
        if data is None:
            data = get(chunk, "data")
        if data is None or isinstance(data, str):
            return
        if call.response_model is None:
            call.response_id = call.response_id or as_str(field(data, "id"))
            call.response_model = as_str(field(data, "model"))
        choices = field(data, "choices")
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                reason = field(choice, "finish_reason")
                if reason is None and not capture:
                    continue  # the common chunk: nothing to record
                index = field(choice, "index")
                if type(index) is not int or not 0 <= index < MAX_CHOICES:
                    index = position
                text = _reason(reason)
                if text:
                    set_finish(call, index, text)
                if capture:
                    _add_delta(state, index, field(choice, "delta"))
        usage = field(data, "usage")
        if usage is not None:
            found = usage_of(usage)
            if found is not None:
                call.usage = found

    def chunk_text(self, chunk: Any) -> str | None:
        data = getattr(chunk, "data", None)
        choices = field(data, "choices") if data is not None else None
        if not isinstance(choices, list) or not choices:
            return None
        delta = field(choices[0], "delta")
        text = field(delta, "content") if delta is not None else None
        if isinstance(text, str):
            return text
        return "".join(p["content"] for p in content_parts(text) if p.get("type") == "text") or None


def _add_delta(state: StreamState, index: int, delta: Any) -> None:
    """A delta's text and tool calls, accumulated for the output messages (capture only)."""
    if delta is None:
        return
    value = field(delta, "content")
    text = (
        value
        if isinstance(value, str)
        else "".join(p["content"] for p in content_parts(value) if p.get("type") == "text")
    )
    if text:
        state.texts.setdefault(index, []).append(text)
    tool_calls = field(delta, "tool_calls")
    if isinstance(tool_calls, list):
        per_choice = state.tool_calls.setdefault(index, {})
        for position, tool_call in enumerate(tool_calls):
            tool_index = as_int(field(tool_call, "index"))
            entry = per_choice.setdefault(
                tool_index if tool_index is not None else position, {"id": None, "name": "", "arguments": ""}
            )
            entry["id"] = as_str(field(tool_call, "id")) or entry["id"]
            function = field(tool_call, "function")
            entry["name"] += as_str(field(function, "name")) or ""
            arguments = field(function, "arguments")
            if isinstance(arguments, str):
                entry["arguments"] += arguments
            elif isinstance(arguments, Mapping):
                entry["arguments"] += json.dumps(plain(arguments))
