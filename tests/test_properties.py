"""Property tests: whatever a traced function returns or yields, the caller's program is unaffected.

These check *production* behaviour, so llmotel's strict mode is off here (``LLMOTEL_STRICT=0``):
internal errors are counted and swallowed, never raised. Arbitrary responses, chunks, usage values
(negative, > 2**63, None, strings, floats, bools, nested containers, objects whose properties raise)
go through ``llmotel.trace_chat``-decorated functions, coroutine functions, generators and async
generators, and every call must:

- let no exception escape except the user's own (the very same object);
- return / yield exactly what the function produced (the same objects, in order);
- export exactly one span, ended, whose attribute values are all valid OpenTelemetry attribute
  values (the SDK logs nothing about dropped or invalid attributes);
- with content capture on, record ``gen_ai.*.messages`` as JSON lists within
  ``LLMOTEL_CONTENT_MAX_LENGTH``.

Choice indexes are kept small in the generated chunks on purpose: a huge ``index`` makes the current
extractor allocate one slot per index value (see ``test_extract.test_stream_choice_index_is_bounded``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from anthropic.types import Message as AnthropicMessage
from anthropic.types import Usage as AnthropicUsage
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from llama_index.core.llms import ChatMessage, ChatResponse, CompletionResponse
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import llmotel
from conftest import EXPORTER, finished
from helpers.checks import MAX_INT64, SdkLogs, strict_json, valid_attribute
from helpers.objects import Attrs, Hostile
from llmotel import semconv as sc
from llmotel.telemetry.attributes import bounded_json

CONTENT_MAX = 200

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def production(env: Any) -> None:
    """Production behaviour: llmotel's internal errors are swallowed, not raised."""
    env(LLMOTEL_STRICT="0")


@pytest.fixture
def capture(env: Any) -> None:
    env(
        LLMOTEL_STRICT="0",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
        LLMOTEL_CONTENT_MAX_LENGTH=str(CONTENT_MAX),
    )


# --- arbitrary values ----------------------------------------------------------------------------

KEYS = (
    "id",
    "model",
    "model_name",
    "usage",
    "choices",
    "finish_reason",
    "delta",
    "content",
    "text",
    "message",
    "role",
    "name",
    "tool_calls",
    "tool_call_id",
    "tool_use_id",
    "function",
    "arguments",
    "args",
    "input",
    "prompt_tokens",
    "completion_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
    "input_tokens_details",
    "output_tokens_details",
    "cached_tokens",
    "reasoning_tokens",
    "stop_reason",
    "stop_sequence",
    "output",
    "status",
    "type",
    "block_type",
    "raw",
    "additional_kwargs",
    "image_url",
    "url",
    "thinking",
    "partial_json",
    "response",
    "blocks",
    "call_id",
)
"""Field names the extractors read (``index`` is left out on purpose, see the module docstring)."""

TYPES = (
    "message_start",
    "message_delta",
    "content_block_delta",
    "content_block_start",
    "response.output_text.delta",
    "response.completed",
    "response.incomplete",
    "message",
    "function_call",
    "text",
    "output_text",
    "tool_use",
    "tool_result",
    "thinking",
    "image",
    "image_url",
    "input_audio",
)

WORDS = (
    "stop",
    "length",
    "tool_calls",
    "end_turn",
    "completed",
    "assistant",
    "user",
    "tool",
    "human",
    "ai",
    "data:image/png;base64,iVBORw0KGgo=",
    "https://example.com/a.png",
    '{"city": "Paris"}',
    '{"x": NaN}',
    "{not json",
    "sk-secret",
)


class Everything:
    """Every public attribute exists and is this same object (a self-similar, truthy value)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self

    def __repr__(self) -> str:
        return "Everything()"


def _not_index(key: str) -> bool:
    return key != "index"


keys = st.sampled_from(KEYS) | st.text(max_size=5).filter(_not_index)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.integers(max_value=-1),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.sampled_from(WORDS),
    st.builds(Hostile),
    st.builds(Everything),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    dicts = st.dictionaries(keys, children, max_size=5)
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        dicts,
        dicts.map(Attrs),
        st.builds(lambda t, d: {**d, "type": t}, st.sampled_from(TYPES), dicts),
    )


values = st.recursive(scalars, _containers, max_leaves=12)
"""Anything: scalars, odd objects, and lists/tuples/dicts/attribute objects of them, nested."""

counts = st.one_of(
    st.sampled_from([0, 1, 2**62, 2**63 - 1, 2**63, -1, 1.0, 2.5, math.nan, math.inf, "12"]),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**66),
    st.none(),
    st.booleans(),
    st.floats(),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(Hostile),
)
"""Token-count values, mostly invalid ones."""


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


usage_dicts = _optional(
    prompt_tokens=counts,
    completion_tokens=counts,
    input_tokens=counts,
    output_tokens=counts,
    cache_read_input_tokens=counts,
    cache_creation_input_tokens=counts,
    prompt_tokens_details=_optional(cached_tokens=counts) | values,
    completion_tokens_details=_optional(reasoning_tokens=counts) | values,
    input_tokens_details=_optional(cached_tokens=counts) | values,
    output_tokens_details=_optional(reasoning_tokens=counts) | values,
)
usages = st.one_of(
    usage_dicts,
    usage_dicts.map(Attrs),
    usage_dicts.map(lambda d: CompletionUsage.model_construct(**d)),
    usage_dicts.map(lambda d: AnthropicUsage.model_construct(**d)),
    values,
)
"""Usage reports: dicts, attribute objects and real SDK usage classes built without validation."""

reasons = st.sampled_from(["stop", "length", "tool_calls", "end_turn", "tool_use", ""]) | values
choice_index = st.one_of(st.none(), st.integers(min_value=-3, max_value=8), st.text(max_size=2), st.floats())

blocks = st.lists(
    st.builds(lambda t, d: {**d, "type": t}, st.sampled_from(TYPES) | values, st.dictionaries(keys, values, max_size=4))
    | values,
    max_size=3,
)
tool_calls = st.lists(
    _optional(
        id=values,
        index=st.integers(min_value=-2, max_value=4) | values,
        type=values,
        function=_optional(name=values, arguments=values) | values,
        name=values,
        args=values,
    )
    | values,
    max_size=3,
)
roles = st.sampled_from(["user", "assistant", "system", "tool", "human", "ai", "developer"]) | values
messages_like = _optional(role=roles, content=blocks | values, tool_calls=tool_calls, name=values, tool_call_id=values)

choices = st.lists(
    _optional(
        index=choice_index,
        finish_reason=reasons,
        message=messages_like | values,
        delta=_optional(role=values, content=values, tool_calls=tool_calls) | values,
        text=values,
    )
    | values,
    max_size=3,
)

openai_dicts = _optional(id=values, model=values, usage=usages, choices=choices)
openai_shaped = st.one_of(
    openai_dicts,
    openai_dicts.map(Attrs),
    openai_dicts.map(lambda d: ChatCompletion.model_construct(**d)),
    openai_dicts.map(lambda d: ChatCompletionChunk.model_construct(**d)),
)

anthropic_dicts = _optional(
    id=values, model=values, usage=usages, stop_reason=reasons, stop_sequence=values, content=blocks | values
)
anthropic_shaped = anthropic_dicts | anthropic_dicts.map(lambda d: AnthropicMessage.model_construct(**d))

responses_api_shaped = _optional(
    id=values,
    model=values,
    usage=usages,
    status=st.sampled_from(["completed", "incomplete", "failed"]) | values,
    output=st.lists(
        _optional(type=st.sampled_from(["message", "function_call"]) | values, content=blocks | values) | values,
        max_size=3,
    ),
)

llama_index_shaped = st.one_of(
    st.builds(
        lambda text, raw, extra: ChatResponse(
            message=ChatMessage(role="assistant", content=text), raw=raw, additional_kwargs=extra
        ),
        st.text(max_size=20),
        openai_shaped | values,
        usage_dicts,
    ),
    st.builds(
        lambda text, raw, delta, extra: CompletionResponse(text=text, raw=raw, delta=delta, additional_kwargs=extra),
        st.text(max_size=20),
        openai_shaped | values,
        st.none() | st.text(max_size=5),
        usage_dicts,
    ),
    st.builds(lambda d: ChatResponse.model_construct(**d), st.dictionaries(keys, values, max_size=4)),
)

responses = st.one_of(values, openai_shaped, anthropic_shaped, responses_api_shaped, llama_index_shaped)
"""What a traced function may return."""

events = st.one_of(
    st.builds(
        lambda t, d: {**d, "type": t},
        st.sampled_from(TYPES),
        _optional(
            message=anthropic_shaped | values, delta=values, usage=usages, response=responses_api_shaped | values
        ),
    ),
    st.builds(lambda t, d: Attrs({**d, "type": t}), st.sampled_from(TYPES), st.dictionaries(keys, values, max_size=4)),
)
chunk = st.one_of(values, openai_shaped, events, llama_index_shaped, st.text(max_size=10))
chunk_lists = st.lists(chunk, max_size=6)
"""What a traced stream may yield."""

request_messages = st.one_of(values, st.lists(messages_like | values, max_size=4), st.text(max_size=30))


# --- checks --------------------------------------------------------------------------------------


class UserError(Exception):
    """The traced function's own exception: must reach the caller unchanged."""


class UserErrorWithBrokenStr(Exception):
    """A user exception whose ``str()`` raises (still the user's own: must reach the caller)."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ of the user's exception raised")


def one_ended_span(sdk_log: list[logging.LogRecord]) -> ReadableSpan:
    """The single span of the call, checked: ended, valid attributes, nothing logged by the SDK."""
    spans = finished()
    assert len(spans) == 1, [s.name for s in spans]
    [span] = spans
    assert span.end_time is not None
    assert span.end_time >= (span.start_time or 0)
    attributes = dict(span.attributes or {})
    bad = {k: v for k, v in attributes.items() if not valid_attribute(v, allow_none_items=True)}
    assert not bad
    for event in span.events:
        bad = {k: v for k, v in (event.attributes or {}).items() if not valid_attribute(v, allow_none_items=True)}
        assert not bad, event.name
    assert attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert [r.getMessage() for r in sdk_log] == []
    return span


def check_content(span: ReadableSpan) -> None:
    attributes = dict(span.attributes or {})
    for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS):
        if key in attributes:
            value = attributes[key]
            assert isinstance(value, str)
            assert len(value) <= CONTENT_MAX, (key, len(value))
            assert isinstance(strict_json(value), list), key


def check_user_error(span: ReadableSpan, error: type[Exception]) -> None:
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[sc.ERROR_TYPE] == f"{error.__module__}.{error.__qualname__}"


# --- traced functions ----------------------------------------------------------------------------


@llmotel.trace_chat
def returns(value: Any, **kwargs: Any) -> Any:
    return value


@llmotel.trace_chat
async def returns_async(value: Any, **kwargs: Any) -> Any:
    await asyncio.sleep(0)
    return value


@llmotel.trace_chat
def raises(error: Exception, **kwargs: Any) -> Any:
    raise error


@llmotel.trace_chat
def generates(items: list[Any], error: Exception | None = None, fail_at: int = 0, **kwargs: Any) -> Iterator[Any]:
    for position, item in enumerate(items):
        if error is not None and position == fail_at:
            raise error
        yield item
    if error is not None:
        raise error


@llmotel.trace_chat
async def generates_async(
    items: list[Any], error: Exception | None = None, fail_at: int = 0, **kwargs: Any
) -> AsyncIterator[Any]:
    for position, item in enumerate(items):
        if error is not None and position == fail_at:
            raise error
        await asyncio.sleep(0)
        yield item
    if error is not None:
        raise error


@llmotel.trace_chat
def returns_iterator(items: list[Any], **kwargs: Any) -> Iterator[Any]:
    return iter(items)


def consume(stream: Any) -> list[Any]:
    return list(stream)


def consume_async(stream: Any) -> list[Any]:
    async def main() -> list[Any]:
        return [item async for item in stream]

    return asyncio.run(main())


def assert_same_items(received: list[Any], produced: list[Any]) -> None:
    assert len(received) == len(produced)
    assert all(got is sent for got, sent in zip(received, produced, strict=True))


# --- properties: responses -----------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(response=responses)
def test_any_response_is_returned_unchanged_with_one_valid_span(response: Any) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        result = returns(response, model="m")
        assert result is response
        one_ended_span(sdk_log)


@PROPERTY_SETTINGS
@given(response=responses)
def test_any_response_from_a_coroutine(response: Any) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        result = asyncio.run(returns_async(response, model="m"))
        assert result is response
        one_ended_span(sdk_log)


BIG = 2**62


@PROPERTY_SETTINGS
@given(usage=usages, kind=st.sampled_from(["openai", "anthropic", "responses"]))
@example(  # each count fits an int64, their sum (Anthropic input = uncached + cache read + cache creation) does not
    usage={"input_tokens": BIG, "cache_read_input_tokens": BIG, "cache_creation_input_tokens": BIG, "output_tokens": 1},
    kind="anthropic",
)
def test_any_usage_values_give_valid_token_attributes(usage: Any, kind: str) -> None:
    response: dict[str, Any] = {"id": "r", "model": "m", "usage": usage}
    if kind == "openai":
        response["choices"] = [{"index": 0, "finish_reason": "stop", "message": {"content": "x"}}]
    elif kind == "anthropic":
        response["stop_reason"] = "end_turn"
    else:
        response["output"] = []
        response["status"] = "completed"
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert returns(response) is response
        span = one_ended_span(sdk_log)
    attributes = dict(span.attributes or {})
    for key in (
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    ):
        if key in attributes:
            value = attributes[key]
            assert type(value) is int, key
            assert 0 <= value <= MAX_INT64, key
    assert (sc.LLMOTEL_USAGE_UNKNOWN in attributes) is not any(k.startswith("gen_ai.usage.") for k in attributes)


# --- properties: streams -------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(items=chunk_lists, shape=st.sampled_from(["generator", "iterator"]))
def test_any_chunks_reach_the_caller_unchanged(items: list[Any], shape: str) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        stream = generates(items, model="m") if shape == "generator" else returns_iterator(items, model="m")
        assert_same_items(consume(stream), items)
        span = one_ended_span(sdk_log)
    attributes = dict(span.attributes or {})
    assert attributes[sc.LLMOTEL_STREAM_CHUNKS] == len(items)
    assert attributes[sc.LLMOTEL_STREAM_COMPLETED] is True


@PROPERTY_SETTINGS
@given(items=chunk_lists)
def test_any_chunks_from_an_async_generator(items: list[Any]) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert_same_items(consume_async(generates_async(items, model="m")), items)
        span = one_ended_span(sdk_log)
    assert (span.attributes or {})[sc.LLMOTEL_STREAM_CHUNKS] == len(items)


@PROPERTY_SETTINGS
@given(items=chunk_lists, fail_at=st.integers(min_value=0, max_value=6))
def test_user_error_in_a_generator_reaches_the_caller(items: list[Any], fail_at: int) -> None:
    error = UserError
    raised = error()
    received: list[Any] = []
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        with pytest.raises(error) as caught:
            for item in generates(items, raised, fail_at):
                received.append(item)
        assert caught.value is raised
        assert_same_items(received, items[: min(fail_at, len(items))])
        span = one_ended_span(sdk_log)
    check_user_error(span, error)


@PROPERTY_SETTINGS
@given(items=chunk_lists, fail_at=st.integers(min_value=0, max_value=6))
def test_user_error_in_an_async_generator_reaches_the_caller(items: list[Any], fail_at: int) -> None:
    error = UserError
    raised = error()
    received: list[Any] = []

    async def main() -> None:
        async for item in generates_async(items, raised, fail_at):
            received.append(item)

    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        with pytest.raises(error) as caught:
            asyncio.run(main())
        assert caught.value is raised
        assert_same_items(received, items[: min(fail_at, len(items))])
        span = one_ended_span(sdk_log)
    check_user_error(span, error)


@PROPERTY_SETTINGS
@given(messages=request_messages)
def test_user_error_from_a_plain_call_reaches_the_caller(messages: Any) -> None:
    error = UserError
    raised = error()
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        with pytest.raises(error) as caught:
            raises(raised, messages=messages)
        assert caught.value is raised
        span = one_ended_span(sdk_log)
    check_user_error(span, error)


@pytest.mark.parametrize("shape", ["call", "generator", "async generator"])
def test_user_error_whose_str_raises_still_reaches_the_caller(shape: str) -> None:
    """The user's exception is theirs to raise, even one whose ``str()`` fails: llmotel may not
    replace it with its own error while describing it, and the span must still end."""
    raised = UserErrorWithBrokenStr()
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        with pytest.raises(UserErrorWithBrokenStr) as caught:
            if shape == "call":
                raises(raised)
            elif shape == "generator":
                consume(generates(["a"], raised, 1))
            else:
                consume_async(generates_async(["a"], raised, 1))
        assert caught.value is raised
        span = one_ended_span(sdk_log)
    check_user_error(span, UserErrorWithBrokenStr)


# --- properties: request side ----------------------------------------------------------------------

config_fields = _optional(
    model=values,
    model_name=values,
    metadata=values,
    base_url=values,
    api_base=values,
    endpoint=values,
    temperature=counts,
    max_tokens=counts,
    top_k=counts,
    stop=values,
    n=counts,
    api_key=values,
    description=values,
)
request_kwargs = _optional(
    messages=request_messages,
    model=values,
    temperature=counts,
    max_tokens=counts,
    top_p=counts,
    top_k=counts,
    stop=values,
    seed=counts,
    n=counts,
    stream=values,
    system=values,
    instructions=values,
)


class Model:
    """A model class with arbitrary configuration fields (read by llmotel from ``__dict__``)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)

    @llmotel.trace_chat
    def chat(self, **kwargs: Any) -> str:
        return "ok"


@PROPERTY_SETTINGS
@given(fields=config_fields, kwargs=request_kwargs)
@example(fields={"metadata": Hostile()}, kwargs={})  # a metadata object whose model_name raises
def test_any_request_arguments_and_model_fields_give_one_valid_span(
    fields: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert Model(fields).chat(**kwargs) == "ok"
        span = one_ended_span(sdk_log)
    for key, value in (span.attributes or {}).items():
        if key.startswith(sc.LLMOTEL_MODEL_PREFIX):
            assert not (isinstance(value, str) and value.startswith("sk-")), key


# --- properties: content capture -------------------------------------------------------------------


@pytest.mark.usefixtures("capture")
@PROPERTY_SETTINGS
@given(messages=request_messages, system=values, response=responses)
@example(  # tool-call arguments holding NaN: Python's json accepts them, JSON does not
    messages=[{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"x": NaN}'}}]}],
    system=None,
    response="ok",
)
def test_captured_content_is_bounded_json_lists(messages: Any, system: Any, response: Any) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert returns(response, messages=messages, system=system) is response
        span = one_ended_span(sdk_log)
    check_content(span)


@pytest.mark.usefixtures("capture")
@PROPERTY_SETTINGS
@given(messages=request_messages, items=chunk_lists)
def test_captured_stream_content_is_bounded_json_lists(messages: Any, items: list[Any]) -> None:
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert_same_items(consume(generates(items, messages=messages)), items)
        span = one_ended_span(sdk_log)
    check_content(span)


# --- bounded_json --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=60),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)
json_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool"])},
        optional={"parts": st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=4)},
    )
    | json_values,
    max_size=6,
)


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(messages=json_messages, cap=st.integers(min_value=2, max_value=400))
def test_bounded_json_is_a_json_list_within_the_cap(messages: list[Any], cap: int) -> None:
    out = bounded_json(messages, cap)
    assert len(out) <= cap
    parsed = strict_json(out)
    assert isinstance(parsed, list)
    assert len(parsed) <= len(messages)
    if len(json.dumps(messages, ensure_ascii=False, separators=(",", ":"))) <= cap:
        assert parsed == messages  # nothing to cut: the value is kept whole


@settings(max_examples=50, deadline=None, database=None, derandomize=True)
@given(messages=json_messages)
def test_bounded_json_without_a_cap_is_the_whole_value(messages: list[Any]) -> None:
    assert json.loads(bounded_json(messages, 0)) == messages


def test_bounded_json_output_is_strict_json_for_non_finite_floats() -> None:
    """Tool arguments may hold NaN/Infinity (Python's json.loads accepts ``NaN``); the attribute must
    still be JSON that other languages' parsers accept."""
    out = bounded_json([{"role": "tool", "parts": [{"type": "tool_call_response", "response": math.nan}]}], 1000)
    assert isinstance(strict_json(out), list)


# --- regressions found by the properties -----------------------------------------------------------


@pytest.mark.usefixtures("capture")
def test_content_that_cannot_be_serialized_does_not_drop_the_response_attributes() -> None:
    """A tool_use ``input`` with non-string keys cannot be JSON-encoded; usage and finish reasons
    must still be recorded (only the content attribute may be lost)."""
    response = {
        "id": "msg_1",
        "model": "claude",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 5},
        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {(1, 2): "tuple key"}}],
    }
    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert returns(response) is response
        span = one_ended_span(sdk_log)
    attributes = dict(span.attributes or {})
    assert attributes[sc.GEN_AI_RESPONSE_ID] == "msg_1"
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_failing_metadata_property_does_not_lose_the_span() -> None:
    """A LlamaIndex-style ``metadata`` property that raises must not make the call go untraced."""

    class LLM:
        @property
        def metadata(self) -> Any:
            raise RuntimeError("metadata needs a network call")

        @llmotel.trace_chat
        def chat(self, **kwargs: Any) -> str:
            return "ok"

    EXPORTER.clear()
    with SdkLogs() as sdk_log:
        assert LLM().chat(messages=[]) == "ok"
        one_ended_span(sdk_log)
