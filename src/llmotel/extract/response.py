"""Response-side extraction: id, model, finish reasons, usage and (with capture) output messages.

Shapes: OpenAI chat/completions/Responses objects, Anthropic ``Message``, LlamaIndex
``ChatResponse``/``CompletionResponse`` (``raw``, ``additional_kwargs``), plain dicts and strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel.extract import content
from llmotel.extract._access import (
    COMPACT_INT,
    MAX_COUNT,
    MAX_IDENTIFIER,
    as_str,
    count,
    field_map,
    get,
    remember,
)
from llmotel.extract._headers import _MAX_VALUE, header_attributes
from llmotel.extract._headers import _REQUEST_ID as REQUEST_ID
from llmotel.records import LLMCall, Usage


def usage_from(obj: Any) -> Usage | None:
    """Token usage from an OpenAI, Anthropic, Responses-API or dict-shaped usage object."""
    if obj is None:
        return None
    fields = field_map(obj)  # dicts and pydantic models: plain dict reads
    if fields is not None:
        prompt = fields.get("prompt_tokens")
        completion = fields.get("completion_tokens")
        if (
            type(prompt) is int
            and type(completion) is int
            and 0 <= prompt <= MAX_COUNT
            and 0 <= completion <= MAX_COUNT
            and fields.get("prompt_tokens_details") is None
            and fields.get("completion_tokens_details") is None
        ):  # plain OpenAI usage: no details to read
            return Usage(prompt, completion)
    else:
        prompt = get(obj, "prompt_tokens")
        completion = get(obj, "completion_tokens")
    if prompt is not None or completion is not None:  # OpenAI chat / completions
        usage = Usage(count(prompt), count(completion))
        _add_details(usage, obj, "prompt_tokens_details", "completion_tokens_details")
        return usage if not usage.is_empty() else None
    uncached = count(get(obj, "input_tokens"))
    cache_read = count(get(obj, "cache_read_input_tokens"))
    cache_creation = count(get(obj, "cache_creation_input_tokens"))
    usage = Usage(output_tokens=count(get(obj, "output_tokens")))
    if cache_read is not None or cache_creation is not None:  # Anthropic: input excludes cache
        usage.cache_read_input_tokens = cache_read
        usage.cache_creation_input_tokens = cache_creation
        if uncached is not None:
            usage.input_tokens = count(uncached + (cache_read or 0) + (cache_creation or 0))
    else:  # Responses API / generic
        usage.input_tokens = uncached
        _add_details(usage, obj, "input_tokens_details", "output_tokens_details")
    return usage if not usage.is_empty() else None


def _add_details(usage: Usage, obj: Any, input_details: str, output_details: str) -> None:
    """Cached input and reasoning output tokens from an OpenAI usage's two ``*_details`` objects
    (chat: ``prompt_tokens_details``/``completion_tokens_details``; Responses API: ``input_``/``output_``)."""
    details = get(obj, input_details)
    if details is not None:
        usage.cache_read_input_tokens = count(get(details, "cached_tokens"))
    details = get(obj, output_details)
    if details is not None:
        usage.reasoning_output_tokens = count(get(details, "reasoning_tokens"))


def add_usage(call: LLMCall, usage: Usage | None) -> None:
    """Merge a usage report into the call."""
    if usage is None:
        return
    if call.usage is None:
        call.usage = usage
    else:
        call.usage.merge(usage)


_llama_shapes: dict[type, bool] = {}


def _llama_shaped(response: Any) -> bool | None:
    """Whether a pydantic response class is LlamaIndex-shaped (``raw``/``additional_kwargs`` plus
    ``message``/``text``), decided once per class from its declared fields: probing a pydantic
    instance for a missing attribute raises inside pydantic, which costs microseconds per call.
    ``None`` for other objects (decided per instance)."""
    cls = type(response)
    known = _llama_shapes.get(cls)
    if known is not None:
        return known
    fields = getattr(cls, "model_fields", None)
    if not isinstance(fields, Mapping):
        return None
    llama = ("raw" in fields or "additional_kwargs" in fields) and ("message" in fields or "text" in fields)
    return remember(_llama_shapes, cls, llama)


def read_response(call: LLMCall, response: Any, capture: bool) -> None:
    """Fill the call's response facts from a provider response object.

    The most common shape (no capture) is read inline: an OpenAI chat/completions response, as a
    dict or as the SDK's pydantic object, through its field mapping. Hot path: one function, few
    calls (between two LLM calls the SDK runs and evicts this code from the CPU caches). Anything
    else, or anything unusual in that shape, goes to the general path; the fast path hands over
    before it has changed the record (``test_response_fast_path_records_what_the_general_path_records``).
    """
    if capture:
        _read_general(call, response, capture)
        return
    fields = response if type(response) is dict else field_map(response)
    if fields is None or "raw" in fields:
        _read_general(call, response, capture)
        return
    choices = fields.get("choices")
    if type(choices) is not list:
        _read_general(call, response, capture)
        return
    reasons: list[str] | None = None
    if len(choices) == 1:  # the usual response
        item = choices[0]
        if type(item) is not dict:
            item = field_map(item)
            if item is None:
                _read_general(call, response, capture)
                return
        reason = item.get("finish_reason")
        if reason is not None:
            if type(reason) is not str or len(reason) > MAX_IDENTIFIER:
                reason = as_str(reason)
            if reason:
                reasons = [reason]
    elif choices:
        reasons = _finish_reasons(choices)
        if reasons is False:
            _read_general(call, response, capture)
            return
    if call.response_id is None:
        value = fields.get("id")
        call.response_id = value if type(value) is str and len(value) <= MAX_IDENTIFIER else as_str(value)
    if call.response_model is None:
        value = fields.get("model")
        call.response_model = value if type(value) is str and len(value) <= MAX_IDENTIFIER else as_str(value)
    usage = fields.get("usage")
    if usage:
        counts = usage if type(usage) is dict else field_map(usage)
        prompt = completion = None
        if counts is not None:
            prompt = counts.get("prompt_tokens")
            completion = counts.get("completion_tokens")
        if (  # compact ints (< 2**30) compare fastest; larger counts take the general path
            type(prompt) is int
            and type(completion) is int
            and 0 <= prompt <= COMPACT_INT
            and 0 <= completion <= COMPACT_INT
            and call.usage is None
            and counts is not None
            and counts.get("prompt_tokens_details") is None
            and counts.get("completion_tokens_details") is None
        ):  # plain OpenAI usage (the usual case): no details to read
            call.usage = Usage(prompt, completion)
        else:
            add_usage(call, usage_from(usage))
    if reasons is not None:
        call.finish_reasons = reasons
    # the SDK's own request id, in the model's ``__dict__`` (not a key of a dict response)
    request_id = fields.get("_request_id") if fields is not response else None
    if request_id is not None:
        sdk_request_id(call, request_id)


def sdk_request_id(call: LLMCall, value: Any) -> None:
    """The request id a provider SDK read from the response headers itself (the Stainless SDKs'
    ``_request_id`` on a parsed response), unless the headers gave one already."""
    if type(value) is not str:
        return
    text = value.strip()
    extra = call.extra
    if text and (extra is None or REQUEST_ID not in extra):
        text = text[:_MAX_VALUE]
        call.extra = {REQUEST_ID: text} if extra is None else {**extra, REQUEST_ID: text}


def _finish_reasons(choices: list[Any]) -> Any:
    """Finish reasons of several OpenAI choices (``"error"`` where one has none; ``None`` when no
    choice has one), or ``False`` when a choice is neither a mapping nor a pydantic object."""
    reasons: list[str] | None = None
    for position, choice in enumerate(choices):
        item = choice if type(choice) is dict else field_map(choice)
        if item is None:
            return False
        reason = item.get("finish_reason")
        if reason is not None:
            if type(reason) is not str or len(reason) > MAX_IDENTIFIER:
                reason = as_str(reason)
            if reason:
                if reasons is None:
                    reasons = ["error"] * len(choices)
                reasons[position] = reason
    return reasons


def _read_general(call: LLMCall, response: Any, capture: bool) -> None:
    if response is None:
        return
    if isinstance(response, str):
        if capture:
            call.output_messages = [content.output_message(response, "stop")]
        return
    if _llama_shaped(response) is False:  # a provider SDK's pydantic response: no probing
        _read_provider(call, response, capture)
        return
    raw = get(response, "raw")
    if ((raw is not None and raw is not response) or isinstance(get(response, "additional_kwargs"), Mapping)) and (
        get(response, "message") is not None or get(response, "text") is not None
    ):  # LlamaIndex ChatResponse / CompletionResponse
        _read_llama_index(call, response, raw, capture)
        return
    _read_provider(call, response, capture)


def read_sdk_request_id(call: LLMCall, response: Any) -> None:
    """``sdk_request_id`` of a parsed SDK response object (its instance ``__dict__``: no probing)."""
    fields = getattr(response, "__dict__", None)
    if type(fields) is dict:
        request_id = fields.get("_request_id")
        if request_id is not None:
            sdk_request_id(call, request_id)


def _read_provider(call: LLMCall, response: Any, capture: bool) -> None:
    read_sdk_request_id(call, response)
    if call.response_id is None:
        call.response_id = as_str(get(response, "id"))
    if call.response_model is None:
        call.response_model = as_str(get(response, "model"))
    add_usage(call, usage_from(get(response, "usage")))
    choices = get(response, "choices")
    if choices and isinstance(choices, (list, tuple)):  # OpenAI chat / completions
        reasons = [as_str(get(c, "finish_reason")) for c in choices]
        if any(reasons):
            call.finish_reasons = [r or "error" for r in reasons]
        if capture:
            messages = []
            for choice, reason in zip(choices, reasons, strict=False):
                msg = get(choice, "message")
                if msg is not None:
                    messages.append(content.output_message(get(msg, "content"), reason, get(msg, "tool_calls")))
                else:
                    messages.append(content.output_message(get(choice, "text"), reason))
            call.output_messages = messages
        return
    stop_reason = as_str(get(response, "stop_reason"))
    if stop_reason is not None or get(response, "stop_sequence") is not None:  # Anthropic Message
        if stop_reason:
            call.finish_reasons = [stop_reason]
        if capture:
            call.output_messages = [content.output_message(get(response, "content"), stop_reason)]
        return
    output = get(response, "output")
    if isinstance(output, (list, tuple)):  # OpenAI Responses API
        status = as_str(get(response, "status"))
        reason = "stop" if status == "completed" else status
        if reason:
            call.finish_reasons = [reason]
        if capture:
            parts: list[Any] = []
            for item in output:
                item_type = as_str(get(item, "type"))
                if item_type == "message":
                    parts.extend(content.content_parts(get(item, "content")))
                elif item_type == "function_call":
                    parts.append(
                        content.output_message(None, None, [{"id": get(item, "call_id"), **_fn(item)}])["parts"][0]
                    )
            call.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": reason or "stop"}]
        return
    if capture:
        text = get(response, "text")
        if isinstance(text, str):
            call.output_messages = [content.output_message(text, "stop")]


def _fn(item: Any) -> dict[str, Any]:
    return {"function": {"name": get(item, "name"), "arguments": get(item, "arguments")}}


def _read_llama_index(call: LLMCall, response: Any, raw: Any, capture: bool) -> None:
    """LlamaIndex ``ChatResponse`` / ``CompletionResponse``: facts from ``raw`` and ``additional_kwargs``."""
    if raw is not None and not isinstance(raw, (str, bytes)):
        _read_provider(call, raw, capture=False)
    extra = get(response, "additional_kwargs")
    if isinstance(extra, Mapping) and call.usage is None:
        add_usage(call, usage_from(extra))
    if call.usage is None:  # CustomLLM.chat moves a completion's additional_kwargs onto the message
        message_extra = get(get(response, "message"), "additional_kwargs")
        if isinstance(message_extra, Mapping):
            add_usage(call, usage_from(message_extra))
    if capture:
        msg = get(response, "message")
        reason = call.finish_reasons[0] if call.finish_reasons else "stop"
        if msg is not None:
            out = content.message(msg)
            out["finish_reason"] = content.normalize_finish_reason(reason)
            out["role"] = "assistant"
            call.output_messages = [out]
        else:
            call.output_messages = [content.output_message(get(response, "text"), reason)]


HTTP_STATUS_CODE = "http.response.status_code"


def read_error(call: LLMCall, exc: BaseException) -> None:
    """HTTP status and allow-listed response headers of an SDK error (``exc.response``)."""
    extra: dict[str, Any] = {}
    status = getattr(exc, "status_code", None)
    if type(status) is int and 100 <= status <= 599:
        extra[HTTP_STATUS_CODE] = status
    http_response = getattr(exc, "response", None)
    headers = getattr(http_response, "headers", None) if http_response is not None else None
    if headers is not None:
        extra.update(header_attributes(headers))
    if extra:
        call.extra = {**(call.extra or {}), **extra}
