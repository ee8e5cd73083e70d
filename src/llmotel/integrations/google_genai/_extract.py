"""google-genai extraction (no OpenTelemetry, no ``import google.genai``): ``Models.generate_content``
requests (``model=``, ``contents=``, ``config=``), ``GenerateContentResponse`` objects and their
stream chunks (each chunk is a ``GenerateContentResponse`` too), ``APIError`` facts.

Everything is read by duck typing, from the SDK's pydantic objects or the dicts a caller may pass
instead (``config={"temperature": 0.2}``, ``contents=[{"role": "user", "parts": [...]}]``).

Usage (``usage_metadata``), as the GenAI conventions count it:

- ``gen_ai.usage.input_tokens`` = ``prompt_token_count``, which already includes
  ``cached_content_token_count`` (the conventions want cached tokens inside the input count);
- ``gen_ai.usage.cache_read.input_tokens`` = ``cached_content_token_count``;
- ``gen_ai.usage.output_tokens`` = ``candidates_token_count + thoughts_token_count``: Gemini reports
  the thinking tokens apart from the candidates' tokens, but they are generated (and billed) output,
  and the conventions' output count includes reasoning tokens (as OpenAI's ``completion_tokens``
  does), with ``gen_ai.usage.reasoning.output_tokens`` = ``thoughts_token_count`` the part of it
  spent on reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import Extractor
from llmotel.extract._access import as_int, as_str, count, get, remember
from llmotel.extract.chunks import set_finish
from llmotel.extract.content import Message, Part
from llmotel.extract.request import EMPTY, request_params, server_of_url
from llmotel.extract.response import HTTP_STATUS_CODE, add_usage, read_error
from llmotel.records import LLMCall, StreamState, Usage

PROVIDER = "gcp.gen_ai"
VERTEX_PROVIDER = "gcp.vertex_ai"
"""``gen_ai.provider.name``: the Gemini Developer API, or Vertex AI (the client's ``vertexai`` flag)."""

MAX_CANDIDATES = 128
"""Candidate indexes beyond this are not tracked (a bound on per-stream state)."""

_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}
_reasons: dict[str, str] = {}
"""Gemini finish reason -> the conventions' value (``STOP`` -> ``stop``; unmapped ones lowercased)."""


def finish_reason(value: Any) -> str | None:
    """``gen_ai.response.finish_reasons`` value of a candidate's ``finish_reason`` (a str enum)."""
    if value is None:
        return None
    text = as_str(value)
    if not text:
        return None
    known = _reasons.get(text)
    if known is not None:
        return known
    return remember(_reasons, text, _FINISH_REASONS.get(text) or text.lower(), 64)


def usage_of(metadata: Any) -> Usage | None:
    """Token usage from a ``usage_metadata`` (``GenerateContentResponseUsageMetadata`` or a dict)."""
    if metadata is None:
        return None
    prompt = count(get(metadata, "prompt_token_count"))
    candidates = count(get(metadata, "candidates_token_count"))
    thoughts = count(get(metadata, "thoughts_token_count"))
    if prompt is None and candidates is None and thoughts is None:
        return None
    output = None if candidates is None and thoughts is None else count((candidates or 0) + (thoughts or 0))
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        cache_read_input_tokens=count(get(metadata, "cached_content_token_count")),
        reasoning_output_tokens=thoughts,
    )


# --- request -------------------------------------------------------------------------------------

_CONFIG_PARAMS = (
    "temperature",
    "max_output_tokens",
    "top_p",
    "top_k",
    "stop_sequences",
    "seed",
    "candidate_count",
    "presence_penalty",
    "frequency_penalty",
)
"""``GenerateContentConfig`` fields that are GenAI request attributes (names ``request_params`` knows)."""
_OUTPUT_TYPES = {"application/json": "json", "text/plain": "text"}


def config_params(config: Any, params: dict[str, Any]) -> None:
    """Request attributes from a ``GenerateContentConfig`` (or its dict form), added to ``params``."""
    values = {}
    for name in _CONFIG_PARAMS:
        value = get(config, name)
        if value is not None:
            values[name] = value
    if values:
        request_params(values, EMPTY, params)
    mime = as_str(get(config, "response_mime_type"))
    output_type = _OUTPUT_TYPES.get(mime.lower()) if mime else None
    if output_type is not None:
        params[sc.GEN_AI_OUTPUT_TYPE] = output_type


def request_model(model: Any) -> str | None:
    """``model=`` without the Gemini API's ``models/`` prefix (``models/gemini-2.5-flash``)."""
    name = as_str(model)
    if name and name.startswith("models/"):
        name = name[len("models/") :]
    return name or None


# --- content (capture only) ----------------------------------------------------------------------

_ROLES = {"model": "assistant", "user": "user", "function": "tool", "tool": "tool", "system": "system"}


def _modality(mime: str | None) -> str:
    kind = mime.split("/", 1)[0] if mime else ""
    return kind if kind in ("image", "video", "audio") else "file"


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of function-call arguments or a function response."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def part_of(item: Any) -> Part | None:
    """One Gemini ``Part`` (or a plain string) in the GenAI parts schema; ``None`` for a part that
    carries nothing to record (a bare ``thought_signature``)."""
    if isinstance(item, str):
        return {"type": "text", "content": item}
    text = get(item, "text")
    if isinstance(text, str):
        return {"type": "reasoning" if get(item, "thought") is True else "text", "content": text}
    call = get(item, "function_call")
    if call is not None:
        return {
            "type": "tool_call",
            "id": as_str(get(call, "id")),
            "name": as_str(get(call, "name")) or "",
            "arguments": _plain(get(call, "args")),
        }
    result = get(item, "function_response")
    if result is not None:
        return {
            "type": "tool_call_response",
            "id": as_str(get(result, "id")),
            "response": _plain(get(result, "response")),
        }
    blob = get(item, "inline_data")
    if blob is not None:
        mime = as_str(get(blob, "mime_type"))
        return {"type": "blob", "modality": _modality(mime), "mime_type": mime, "content": "<omitted>"}
    data = get(item, "file_data")
    if data is None and isinstance(get(item, "uri"), str):  # an uploaded ``File`` passed as a part
        data = {"file_uri": get(item, "uri"), "mime_type": get(item, "mime_type")}
    if data is not None:
        mime = as_str(get(data, "mime_type"))
        return {
            "type": "uri",
            "modality": _modality(mime),
            "mime_type": mime,
            "uri": as_str(get(data, "file_uri")) or "",
        }
    code = get(item, "executable_code")
    if code is not None:
        return {"type": "executable_code", "language": as_str(get(code, "language")), "code": get(code, "code")}
    outcome = get(item, "code_execution_result")
    if outcome is not None:
        return {
            "type": "code_execution_result",
            "outcome": as_str(get(outcome, "outcome")),
            "output": get(outcome, "output"),
        }
    return None


def parts_of(value: Any) -> list[Part]:
    """The parts of a ``Content``, a ``Part``, a string, or a list of any of them."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in parts_of(item)]
    inner = get(value, "parts") if not isinstance(value, str) else None
    if isinstance(inner, (list, tuple)):
        return parts_of(inner)
    part = part_of(value)
    return [part] if part is not None else []


def _is_content(item: Any) -> bool:
    """A ``Content`` (``role`` + ``parts``), not a ``Part``: the SDK's own test, by duck typing."""
    return not isinstance(item, str) and (get(item, "parts") is not None or get(item, "role") is not None)


def _message(item: Any) -> Message:
    role = as_str(get(item, "role")) or "user"
    return {"role": _ROLES.get(role, role), "parts": parts_of(get(item, "parts"))}


def input_messages(contents: Any) -> list[Message]:
    """``contents=`` as chat messages: each ``Content`` is one message; strings and parts given
    between them are one user message, as the SDK sends them (``t_contents``)."""
    if contents is None:
        return []
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: list[Message] = []
    pending: list[Part] = []
    for item in items:
        if _is_content(item):
            if pending:
                messages.append({"role": "user", "parts": pending})
                pending = []
            messages.append(_message(item))
        else:
            pending.extend(parts_of(item))
    if pending:
        messages.append({"role": "user", "parts": pending})
    return messages


def output_message(parts: list[Part], reason: str | None) -> Message:
    """One candidate as an output message; a ``stop`` with function calls is a ``tool_call`` end."""
    final = reason or "error"
    if final == "stop" and any(p.get("type") == "tool_call" for p in parts):
        final = "tool_call"
    return {"role": "assistant", "parts": parts, "finish_reason": final}


# --- stream chunks -------------------------------------------------------------------------------


def _candidate_index(candidate: Any, position: int) -> int:
    index = as_int(get(candidate, "index"))
    return index if index is not None and 0 <= index < MAX_CANDIDATES else position


def _accumulate(state: StreamState, index: int, candidate: Any) -> None:
    """A stream candidate's parts, kept in order per candidate (``state.tool_calls[index]``: part
    number -> part); consecutive text deltas of one kind (text or reasoning) join into one part."""
    parts = parts_of(get(candidate, "content"))
    if not parts:
        return
    kept = state.tool_calls.setdefault(index, {})
    for part in parts:
        last = kept.get(len(kept) - 1)
        if last is not None and part["type"] in ("text", "reasoning") and last["type"] == part["type"]:
            last["content"] += part["content"]
        elif len(kept) < MAX_CANDIDATES:
            kept[len(kept)] = part


def text_of(response: Any) -> str | None:
    """The answer text of the first candidate (thoughts left out), for chunk events."""
    candidates = get(response, "candidates")
    if not candidates or not isinstance(candidates, (list, tuple)):
        return None
    parts = get(get(candidates[0], "content"), "parts")
    if not parts or not isinstance(parts, (list, tuple)):
        return None
    texts = [t for p in parts if isinstance(t := get(p, "text"), str) and get(p, "thought") is not True]
    return "".join(texts) if texts else None


# --- the extractor -------------------------------------------------------------------------------


class GoogleGenAIExtractor(Extractor):
    """``Models.generate_content`` (and its async twin) requests and responses."""

    reads_model_config = False  # the instance is an SDK resource (``Models``): no model configuration

    streams = False
    """The patched method streams (``generate_content_stream``): it has no ``stream=True`` argument."""

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        api = getattr(instance, "_api_client", None)
        if getattr(api, "vertexai", None) is True:
            call.provider = VERTEX_PROVIDER
        call.request_model = request_model(kwargs.get("model"))
        config = kwargs.get("config")
        base_url = None
        if config is not None:
            config_params(config, call.params)
            base_url = get(get(config, "http_options"), "base_url")  # a per-call endpoint wins
        if self.streams:
            call.stream = True
        if base_url is None:
            base_url = get(getattr(api, "_http_options", None), "base_url")
        if isinstance(base_url, str) and base_url:
            call.server_address, call.server_port = server_of_url(base_url)

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        call.input_messages = input_messages(kwargs.get("contents"))
        config = kwargs.get("config")
        system = get(config, "system_instruction") if config is not None else None
        if system is not None:
            call.system_instructions = parts_of(system) or None

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if result is None:
            return
        if call.response_id is None:
            call.response_id = as_str(get(result, "response_id"))
        if call.response_model is None:
            call.response_model = as_str(get(result, "model_version"))
        candidates = get(result, "candidates")
        if isinstance(candidates, (list, tuple)) and candidates:
            reasons = [finish_reason(get(c, "finish_reason")) for c in candidates]
            if any(reasons):
                call.finish_reasons = [r or "error" for r in reasons]
            if capture:
                call.output_messages = [
                    output_message(parts_of(get(c, "content")), r) for c, r in zip(candidates, reasons, strict=False)
                ]
        add_usage(call, usage_of(get(result, "usage_metadata")))

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        """Every chunk: kept lean. Gemini sends a cumulative ``usage_metadata`` on every chunk:
        only the latest is kept (in ``state.reader``, a slot only the default ``chunk`` uses) and
        read once, when the stream ends. A chunk without a finish reason (most of them) is done
        after two attribute reads when content is not captured."""
        try:  # the SDK's GenerateContentResponse
            candidates = chunk.candidates
            metadata = chunk.usage_metadata
        except AttributeError:  # a dict, or another shape
            candidates = get(chunk, "candidates")
            metadata = get(chunk, "usage_metadata")
        if call.response_model is None:
            call.response_id = call.response_id or as_str(get(chunk, "response_id"))
            call.response_model = as_str(get(chunk, "model_version"))
        if metadata is not None:
            state.reader = metadata
        if not candidates:
            return
        if not capture and type(candidates) is list and len(candidates) == 1:
            try:
                if candidates[0].finish_reason is None:
                    return
            except AttributeError:
                pass
        if isinstance(candidates, (list, tuple)):
            for position, candidate in enumerate(candidates):
                index = _candidate_index(candidate, position)
                reason = finish_reason(get(candidate, "finish_reason"))
                if reason:
                    set_finish(call, index, reason)
                if capture:
                    _accumulate(state, index, candidate)

    def chunk_text(self, chunk: Any) -> str | None:
        return text_of(chunk)

    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None:
        if state.reader is not None:  # the last usage report (see ``chunk``)
            add_usage(call, usage_of(state.reader))
            state.reader = None
        if not capture:
            return
        reasons = call.finish_reasons or []
        indexes = sorted(set(state.tool_calls) | set(range(len(reasons))))
        call.output_messages = [
            output_message(
                [part for _, part in sorted(state.tool_calls.get(index, {}).items())],
                reasons[index] if index < len(reasons) and reasons[index] else None,
            )
            for index in indexes
        ]

    def error(self, call: LLMCall, exc: BaseException) -> None:
        """``APIError`` (``ClientError`` / ``ServerError``): its ``code`` is the HTTP status; the
        allow-listed response headers; a 429's ``RetryInfo.retryDelay`` when no ``retry-after``."""
        read_error(call, exc)
        extra: dict[str, Any] = {}
        code = getattr(exc, "code", None)
        if type(code) is int and 100 <= code <= 599:
            extra[HTTP_STATUS_CODE] = code
        if "llmotel.ratelimit.retry_after" not in (call.extra or {}):
            delay = retry_delay(getattr(exc, "details", None))
            if delay is not None:
                extra["llmotel.ratelimit.retry_after"] = delay
        if extra:
            call.extra = {**(call.extra or {}), **extra}


_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def retry_delay(details: Any) -> int | float | None:
    """Seconds from a Google error body's ``RetryInfo`` detail (``"retryDelay": "17s"``)."""
    error = details.get("error") if isinstance(details, Mapping) else None
    items = error.get("details") if isinstance(error, Mapping) else None
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, Mapping) and item.get("@type") == _RETRY_INFO:
            delay = item.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    seconds = float(delay[:-1])
                except ValueError:
                    return None
                if seconds >= 0 and seconds == seconds and seconds != float("inf"):
                    return int(seconds) if seconds.is_integer() else seconds
    return None


class GoogleGenAIStreamExtractor(GoogleGenAIExtractor):
    """``generate_content_stream``: always a stream."""

    streams = True
