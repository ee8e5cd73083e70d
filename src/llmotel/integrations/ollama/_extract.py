"""Ollama-specific extraction (no OpenTelemetry, no ``import ollama``).

The ollama SDK's methods take the model and the messages / prompt positionally as well as by
keyword (``client.chat("llama3.2", messages)``), put the sampling parameters in ``options`` (a dict
or an ``ollama.Options``: ``num_predict`` is the token limit), answer with ``ChatResponse`` /
``GenerateResponse`` / ``EmbedResponse`` (``done_reason``, ``prompt_eval_count``, ``eval_count``;
no response id) and stream NDJSON parts whose last one (``done: true``) carries the finish reason
and the token counts. ``ResponseError`` has the HTTP status (``status_code``); the SDK raises it
``from None`` inside its ``except httpx.HTTPStatusError``, so the HTTP response (and its headers,
``retry-after``) is the error's ``__context__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel import semconv as sc
from llmotel.extract import Extractor, content
from llmotel.extract._access import as_str, count, get
from llmotel.extract._headers import header_attributes
from llmotel.extract.request import EMPTY, request_params, server_of_url
from llmotel.records import LLMCall, StreamState, Usage

EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"
THINKING = -1
"""The ``StreamState.texts`` key the streamed thinking text is kept under (capture only); the
answer's text is under choice index 0 (Ollama answers with one message)."""
MAIN = 0


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str, position: int) -> Any:
    """A call argument given by keyword or positionally (``model`` is first, then messages / prompt / input)."""
    value = kwargs.get(name)
    if value is None and len(args) > position:
        value = args[position]
    return value


def _options(options: Any) -> Mapping[str, Any]:
    """``options=`` as a mapping: a dict as it is, an ``ollama.Options`` model by its fields."""
    if options is None:
        return EMPTY
    if isinstance(options, Mapping):
        return options
    fields = getattr(options, "__dict__", None)  # a pydantic model keeps its fields there
    return fields if isinstance(fields, dict) else EMPTY


def _usage(response: Any) -> Usage | None:
    """``prompt_eval_count`` (input) and ``eval_count`` (output); ``None`` when neither is reported."""
    prompt = count(get(response, "prompt_eval_count"))
    completion = count(get(response, "eval_count"))
    if prompt is None and completion is None:
        return None
    return Usage(prompt, completion)


def _output_message(text: Any, thinking: Any, tool_calls: Any, reason: str | None) -> dict[str, Any]:
    message = content.output_message(text if isinstance(text, str) and text else None, reason, tool_calls or None)
    if isinstance(thinking, str) and thinking:
        message["parts"].insert(0, {"type": "reasoning", "content": thinking})
    return message


def _with_images(message: dict[str, Any], source: Any) -> dict[str, Any]:
    """An input message plus one ``blob`` part per attached image (the image itself left out)."""
    images = get(source, "images") if not isinstance(source, str) else None
    if isinstance(images, (list, tuple)) and images:
        message["parts"].extend({"type": "blob", "modality": "image", "content": "<omitted>"} for _ in images)
    return message


def _tool_response(message: dict[str, Any], source: Any) -> dict[str, Any]:
    """A ``tool`` message names its tool with ``tool_name`` (Ollama has no tool-call ids)."""
    if message.get("role") == "tool" and not isinstance(source, str):
        name = as_str(get(source, "tool_name"))
        if name:
            message["name"] = name
    return message


class OllamaExtractor(Extractor):
    """Chat, generate and embed calls of ``ollama.Client`` / ``AsyncClient``."""

    reads_model_config = False  # the instance is the SDK client: no model configuration on it

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        if call.request_model is None:
            call.request_model = as_str(_argument(args, kwargs, "model", 0)) or None
        request_params(_options(kwargs.get("options")), EMPTY, call.params)
        fmt = kwargs.get("format")
        if fmt == "json" or isinstance(fmt, Mapping):  # JSON mode or a JSON schema
            call.params[sc.GEN_AI_OUTPUT_TYPE] = "json"
        if kwargs.get("stream") is True:
            call.stream = True
        base_url = getattr(getattr(instance, "_client", None), "base_url", None)
        if base_url is not None:
            call.server_address, call.server_port = server_of_url(base_url)

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        if call.operation == sc.OP_CHAT:
            messages = _argument(args, kwargs, "messages", 1)
            if isinstance(messages, (list, tuple)):
                call.input_messages = [_tool_response(_with_images(content.message(m), m), m) for m in messages]
            return
        if call.operation == sc.OP_EMBEDDINGS:
            text = _argument(args, kwargs, "input", 1)
            if isinstance(text, (str, list, tuple)):
                call.input_messages = content.input_messages(text if isinstance(text, str) else list(text))
            return
        prompt = _argument(args, kwargs, "prompt", 1)
        if isinstance(prompt, str):
            message = _with_images({"role": "user", "parts": content.content_parts(prompt)}, kwargs)
            call.input_messages = [message]
        system = kwargs.get("system")
        if isinstance(system, str) and system:
            call.system_instructions = content.system_instructions(system)

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if result is None:
            return
        if call.response_model is None:
            call.response_model = as_str(get(result, "model"))
        usage = _usage(result)
        if usage is not None:
            call.usage = usage
        if call.operation == sc.OP_EMBEDDINGS:
            vectors = get(result, "embeddings")
            if isinstance(vectors, (list, tuple)) and vectors and isinstance(vectors[0], (list, tuple)):
                call.extra = {**(call.extra or {}), EMBEDDING_DIMENSIONS: len(vectors[0])}
            return
        reason = as_str(get(result, "done_reason"))
        if reason:
            call.finish_reasons = [reason]
        if capture:
            message = get(result, "message")
            if message is not None:  # chat
                text, thinking, tools = get(message, "content"), get(message, "thinking"), get(message, "tool_calls")
            else:  # generate
                text, thinking, tools = get(result, "response"), get(result, "thinking"), None
            call.output_messages = [_output_message(text, thinking, tools, reason)]

    def error(self, call: LLMCall, exc: BaseException) -> None:
        super().error(call, exc)  # ResponseError.status_code (-1 for an error sent mid-stream: not recorded)
        http_error = exc.__context__  # the SDK's ``raise ResponseError(...) from None`` keeps it here
        headers = getattr(getattr(http_error, "response", None), "headers", None)
        if headers is not None:
            facts = header_attributes(headers)
            if facts:
                call.extra = {**(call.extra or {}), **facts}

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        if call.response_model is None:
            call.response_model = as_str(get(chunk, "model"))
        if capture:
            message = get(chunk, "message")
            if message is not None:  # chat
                text, thinking, tools = get(message, "content"), get(message, "thinking"), get(message, "tool_calls")
            else:  # generate
                text, thinking, tools = get(chunk, "response"), get(chunk, "thinking"), None
            if isinstance(text, str) and text:
                state.texts.setdefault(MAIN, []).append(text)
            if isinstance(thinking, str) and thinking:
                state.texts.setdefault(THINKING, []).append(thinking)
            if isinstance(tools, (list, tuple)) and tools:  # Ollama streams whole tool calls, not fragments
                calls = state.tool_calls.setdefault(MAIN, {})
                for tool in tools:
                    function = get(tool, "function")
                    name, arguments = as_str(get(function, "name")) or "", get(function, "arguments")
                    calls[len(calls)] = {"id": None, "function": {"name": name, "arguments": arguments}}
        if get(chunk, "done") is True:  # the final part: finish reason and token counts
            reason = as_str(get(chunk, "done_reason"))
            if reason:
                call.finish_reasons = [reason]
            usage = _usage(chunk)
            if usage is not None:
                call.usage = usage

    def chunk_text(self, chunk: Any) -> str | None:
        message = get(chunk, "message")
        text = get(message, "content") if message is not None else get(chunk, "response")
        if not (isinstance(text, str) and text):  # a thinking model thinks first
            thinking = get(message if message is not None else chunk, "thinking")
            text = thinking if isinstance(thinking, str) and thinking else text
        return text if isinstance(text, str) else None

    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None:
        if not capture:
            return
        reason = call.finish_reasons[0] if call.finish_reasons else None
        text = "".join(state.texts.get(MAIN, ()))
        thinking = "".join(state.texts.get(THINKING, ()))
        tools = [tool for _, tool in sorted(state.tool_calls.get(MAIN, {}).items())]
        if text or thinking or tools or reason:
            call.output_messages = [_output_message(text, thinking, tools, reason)]
