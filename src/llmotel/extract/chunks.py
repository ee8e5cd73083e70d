"""Stream-chunk extraction: finish reasons, usage, id/model and (with capture) text, per chunk.

This runs once per chunk, so it is kept lean: a reader function is picked once per chunk type and
cached, and text is only accumulated when content capture is on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmotel.extract import content
from llmotel.extract._access import MAX_IDENTIFIER, as_int, as_str, field_map, get, remember
from llmotel.extract.response import add_usage, usage_from
from llmotel.records import LLMCall, StreamState

ChunkReader = Callable[[LLMCall, StreamState, Any, bool], None]


MAX_CHOICES = 128
"""Choice indexes beyond this are not tracked (a bound on per-stream state)."""


def set_finish(call: LLMCall, index: int, reason: str) -> None:
    """Record choice ``index``'s finish reason (the list grows with empty slots for choices whose
    reason has not arrived; indexes beyond ``MAX_CHOICES`` are not tracked)."""
    if not 0 <= index < MAX_CHOICES:
        return
    reasons = call.finish_reasons
    if reasons is None:
        reasons = call.finish_reasons = []
    while len(reasons) <= index:
        reasons.append("")
    reasons[index] = reason


def _add_text(state: StreamState, index: int, text: Any) -> None:
    if isinstance(text, str) and text and 0 <= index < MAX_CHOICES:
        bucket = state.texts.get(index)
        if bucket is None:
            bucket = state.texts[index] = []
        bucket.append(text)


def _add_tool_fragment(state: StreamState, choice: int, call: Any) -> None:
    tool_index = as_int(get(call, "index")) or 0
    per_choice = state.tool_calls.setdefault(choice, {})
    entry = per_choice.setdefault(tool_index, {"id": None, "name": "", "arguments": ""})
    if get(call, "id"):
        entry["id"] = as_str(get(call, "id"))
    function = get(call, "function")
    if function is not None:
        name = as_str(get(function, "name"))
        if name:
            entry["name"] += name
        args = get(function, "arguments")
        if isinstance(args, str):
            entry["arguments"] += args


def _openai_chunk(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    """OpenAI chat.completions / completions chunk (objects or dicts)."""
    if type(chunk) is dict:  # dicts and pydantic chunks: dict reads
        if "type" in chunk:  # a dict stream of typed events (Anthropic / Responses API shapes)
            _typed_event(call, state, chunk, capture)
            return
        fields: Any = chunk
    else:
        fields = field_map(chunk)
    if fields is None:
        _openai_chunk_object(call, state, chunk, capture)
        return
    if call.response_model is None:
        call.response_id = call.response_id or as_str(fields.get("id"))
        call.response_model = as_str(fields.get("model"))
    choices = fields.get("choices")
    if choices:
        if capture or type(choices) is not list or len(choices) != 1:
            if isinstance(choices, (list, tuple)):
                _openai_choices(call, state, choices, capture)
        else:  # the common chunk: one choice, usually without a finish reason yet
            choice = choices[0]
            choice = choice if type(choice) is dict else field_map(choice)
            if choice is None or choice.get("finish_reason") is not None:
                _openai_choices(call, state, choices, capture)
    usage = fields.get("usage")
    if usage is not None:
        add_usage(call, usage_from(usage))


def _openai_model_chunk(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    """A pydantic OpenAI chunk (``ChatCompletionChunk``). The common chunk (one choice without a
    finish reason yet; with capture, a text delta) is read by plain attribute access: the fewest
    steps. Anything else goes to the general readers."""
    if call.response_model is None:
        _openai_chunk(call, state, chunk, capture)
        return
    try:  # every read before anything is recorded: a failed read leaves the chunk to the general reader
        choices = chunk.choices
        usage = chunk.usage
        if type(choices) is not list:
            raise AttributeError("choices")
        if choices:
            choice = choices[0]
            common = len(choices) == 1 and choice.finish_reason is None
            if common and capture:  # a delta of choice 0 without tool calls: its text only
                delta = choice.delta
                common = choice.index == 0 and delta is not None and not delta.tool_calls
                text = delta.content if common else None
    except AttributeError:  # a chunk built without its declared fields, or an unusual one
        _openai_chunk(call, state, chunk, capture)
        return
    if choices:
        if not common:
            _openai_choices(call, state, choices, capture)
        elif capture and type(text) is str and text:
            bucket = state.texts.get(0)
            if bucket is None:
                bucket = state.texts[0] = []
            bucket.append(text)
    if usage is not None:
        add_usage(call, usage_from(usage))


def _openai_chunk_object(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    if call.response_model is None:
        call.response_id = call.response_id or as_str(get(chunk, "id"))
        call.response_model = as_str(get(chunk, "model"))
    choices = get(chunk, "choices")
    if choices and isinstance(choices, (list, tuple)):
        _openai_choices(call, state, choices, capture)
    usage = get(chunk, "usage")
    if usage is not None:
        add_usage(call, usage_from(usage))


def _openai_choices(call: LLMCall, state: StreamState, choices: Any, capture: bool) -> None:
    for position, choice in enumerate(choices):
        index = get(choice, "index")
        if type(index) is not int or not 0 <= index < MAX_CHOICES:
            index = position  # a malformed index: the choice's position in this chunk
        reason = get(choice, "finish_reason")
        if reason:
            text = as_str(reason) if isinstance(reason, str) else str(reason)[:MAX_IDENTIFIER]
            if text:
                set_finish(call, index, text)
        if capture:
            delta = get(choice, "delta")
            if delta is not None:
                _add_text(state, index, get(delta, "content"))
                tool_calls = get(delta, "tool_calls")
                if tool_calls:
                    for tool_call in tool_calls:
                        _add_tool_fragment(state, index, tool_call)
            else:
                _add_text(state, index, get(choice, "text"))


def _typed_event(call: LLMCall, state: StreamState, event: Any, capture: bool) -> None:
    """Anthropic stream events and OpenAI Responses-API stream events (both carry ``type``)."""
    kind = get(event, "type")
    if kind == "content_block_delta" or kind == "response.output_text.delta":
        if capture:
            delta = get(event, "delta")
            _add_text(state, 0, delta if isinstance(delta, str) else get(delta, "text"))
    elif kind == "message_start":
        message = get(event, "message")
        call.response_id = call.response_id or as_str(get(message, "id"))
        call.response_model = call.response_model or as_str(get(message, "model"))
        add_usage(call, usage_from(get(message, "usage")))
    elif kind == "message_delta":
        reason = as_str(get(get(event, "delta"), "stop_reason"))
        if reason:
            set_finish(call, 0, reason)
        usage = usage_from(get(event, "usage"))
        if usage is not None:  # message_delta reports output tokens only (cumulative)
            usage.input_tokens = None
            add_usage(call, usage)
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        _read_responses_final(call, get(event, "response"))


def _read_responses_final(call: LLMCall, response: Any) -> None:
    if response is None:
        return
    call.response_id = call.response_id or as_str(get(response, "id"))
    call.response_model = call.response_model or as_str(get(response, "model"))
    status = as_str(get(response, "status"))
    if status:
        set_finish(call, 0, "stop" if status == "completed" else status)
    add_usage(call, usage_from(get(response, "usage")))


def _llama_index_chunk(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    """LlamaIndex ``ChatResponse``/``CompletionResponse`` stream items: ``delta`` plus ``raw``."""
    raw = get(chunk, "raw")
    if raw is not None and not isinstance(raw, (str, bytes)):
        reader = reader_for(raw)
        if reader is not _llama_index_chunk:
            reader(call, state, raw, False)
    extra = get(chunk, "additional_kwargs")
    if isinstance(extra, Mapping) and extra:
        add_usage(call, usage_from(extra))
    if capture:
        _add_text(state, 0, get(chunk, "delta"))


def _text_chunk(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    if capture:
        _add_text(state, 0, chunk)


def _dict_chunk(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    """Mappings other than ``dict``: typed events or OpenAI-shaped chunks."""
    if "type" in chunk:
        _typed_event(call, state, chunk, capture)
    else:
        _openai_chunk(call, state, chunk, capture)


def _ignore(call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
    return None


_readers: dict[type, ChunkReader] = {str: _text_chunk, dict: _openai_chunk}  # (it reads typed dicts too)


def reader_for(chunk: Any) -> ChunkReader:
    """The reader for this chunk's type (chosen from the first chunk of a type, then cached)."""
    cls = type(chunk)
    reader = _readers.get(cls)
    if reader is not None:
        return reader
    if isinstance(chunk, str):
        reader = _text_chunk
    elif isinstance(chunk, Mapping):
        reader = _dict_chunk
    elif hasattr(chunk, "choices"):
        reader = _openai_model_chunk if _pydantic_with(chunk, "choices") else _openai_chunk
    elif isinstance(get(chunk, "type"), str):
        reader = _typed_event
    elif hasattr(chunk, "delta") or hasattr(chunk, "raw"):
        reader = _llama_index_chunk
    else:
        return _ignore  # not cached: a later chunk of this type may tell more
    return remember(_readers, cls, reader, 256)


def _pydantic_with(obj: Any, name: str) -> bool:
    """A pydantic model whose fields (read through ``field_map``) include ``name``."""
    fields = field_map(obj)
    return fields is not None and fields is not obj and name in fields


def chunk_text(chunk: Any) -> str | None:
    """The text a chunk carries (for chunk events), if any."""
    if _readers.get(type(chunk)) is _openai_model_chunk:
        try:
            choices = chunk.choices
            text = choices[0].delta.content if type(choices) is list and choices else None
        except AttributeError:
            pass
        else:
            return text if type(text) is str else None
    elif type(chunk) is dict:  # an OpenAI-shaped dict: the general path below, read as dicts
        choices = chunk.get("choices")
        if type(choices) is list and choices and type(choices[0]) is dict:
            first = choices[0]
            delta = first.get("delta")
            if delta is None:
                text = first.get("text")
            else:
                text = delta.get("content") if type(delta) is dict else get(delta, "content")
            return text if isinstance(text, str) else None
    if isinstance(chunk, str):
        return chunk
    choices = get(chunk, "choices")
    if isinstance(choices, (list, tuple)) and choices:
        first = choices[0]
        delta = get(first, "delta")
        text = get(delta, "content") if delta is not None else get(first, "text")
        return text if isinstance(text, str) else None
    delta = get(chunk, "delta")
    if isinstance(delta, str):
        return delta
    if delta is not None:
        text = get(delta, "text")
        if not isinstance(text, str):
            text = get(delta, "partial_json")
        return text if isinstance(text, str) else None
    return None


def stream_output(call: LLMCall, state: StreamState) -> None:
    """Build output messages from the text and tool calls accumulated over the stream."""
    indexes = sorted(set(state.texts) | set(state.tool_calls) | set(range(len(call.finish_reasons or ()))))
    messages = []
    for index in indexes:
        text = "".join(state.texts.get(index, ()))
        reasons = call.finish_reasons or []
        reason = reasons[index] if index < len(reasons) and reasons[index] else None
        tools = [
            {"id": t["id"], "function": {"name": t["name"], "arguments": t["arguments"]}}
            for _, t in sorted(state.tool_calls.get(index, {}).items())
        ]
        messages.append(content.output_message(text or None, reason, tools or None))
    call.output_messages = messages
