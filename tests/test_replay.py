"""Recorded provider exchanges replayed through the real openai / anthropic SDKs, instrumented.

Each cassette under ``tests/cassettes/<provider>/`` is one test case (sync and async): its request
body becomes the SDK call's arguments, ``helpers.replay.Replayer`` answers with the recorded
response (checking method, path, model and the whole request body), and the one span llmotel
exports is compared, whole, with what the recording says: every attribute expected here is read
from the cassette (the request JSON, the response JSON or its SSE events, the response headers),
so a new cassette is a new test with nothing else to write.

What the recording implies, as llmotel documents it:

- request: ``gen_ai.request.*`` from the request body, ``server.*`` from the recorded URL;
- response: id, model, one finish reason per choice (Responses API: ``stop`` when ``completed``,
  else its status), token counts with cached and reasoning tokens (Anthropic: input tokens include
  cache reads and writes), ``llmotel.usage.unknown`` when no usage was reported;
- streams: the chunk count the SDK yields (SSE events less OpenAI's ``[DONE]`` and Anthropic's
  ``ping``), chunk events (first, last and a spread, at most 10) sized by the text or tool-argument
  JSON each chunk carries, the call's final finish reason on the last one;
- headers: the request id on success; on an HTTP error also the processing time, the rate-limit
  figures and retry-after, with ``error.type`` (the SDK's exception class) and ``http.response.status_code``.
"""

from __future__ import annotations

import base64
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from conftest import finished, metric_points
from helpers.replay import (
    CASSETTES,
    SDKS,
    Cassette,
    Interaction,
    all_cassettes,
    anthropic_client,
    load,
    openai_client,
    replayer_for,
)
from helpers.spans import attrs, stream_attrs
from llmotel import semconv as sc
from llmotel.integrations.anthropic import AnthropicInstrumentor
from llmotel.integrations.openai import OpenAIInstrumentor

pytestmark = pytest.mark.filterwarnings(
    # anthropic SDKs warn when a call names a model on their deprecation list (the recorded models, in
    # some 1.x and 2.x releases): the SDK's own notice about the recording, not llmotel's
    r"ignore:The model '[^']+' is deprecated:DeprecationWarning"
)

CHUNK_EVENT_CAP = 10  # LLMOTEL_STREAM_CHUNK_EVENTS default

SDK_RESOURCES = {
    ("openai", "/v1/chat/completions"): ("chat", "completions"),
    ("openai", "/v1/responses"): ("responses",),
    ("openai", "/v1/embeddings"): ("embeddings",),
    ("anthropic", "/v1/messages"): ("messages",),
}
"""Recorded path -> the SDK resource whose ``create`` sends it."""

STATUS_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    529: "OverloadedError",  # anthropic only
}
"""The exception class each SDK documents for an HTTP error status."""

# --- what a recording implies ----------------------------------------------------------------------


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


_OPENAI_RATE = re.compile(r"x-ratelimit-(limit|remaining|reset)-(requests|tokens)")
_ANTHROPIC_RATE = re.compile(
    r"anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-(limit|remaining|reset)"
)


def header_expectations(interaction: Interaction, failed: bool) -> dict[str, Any]:
    """The allow-listed response headers: the request id; of a failed call also the processing
    time, rate limits and retry-after."""
    out: dict[str, Any] = {}
    ratelimits = failed
    for name, value in interaction.headers:
        name = name.lower()
        if name in ("x-request-id", "request-id"):
            out.setdefault("llmotel.response.request_id", value)
        elif failed and name == "openai-processing-ms":
            out["llmotel.response.processing_ms"] = int(value)
        elif ratelimits and name == "retry-after":
            out["llmotel.ratelimit.retry_after"] = _number(value)
        elif ratelimits and (m := _OPENAI_RATE.fullmatch(name)):
            out[f"llmotel.ratelimit.{m[2]}.{m[1]}"] = _number(value)
        elif ratelimits and (m := _ANTHROPIC_RATE.fullmatch(name)):
            out[f"llmotel.ratelimit.{m[1].replace('-', '_')}.{m[2]}"] = _number(value)
    return out


def request_expectations(cassette: Cassette, interaction: Interaction) -> dict[str, Any]:
    body = interaction.request_body
    host = interaction.base_url.split("://", 1)[1]
    out: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: "embeddings" if interaction.path.endswith("/embeddings") else "chat",
        sc.GEN_AI_PROVIDER_NAME: cassette.provider,
        sc.GEN_AI_REQUEST_MODEL: body["model"],
        sc.SERVER_ADDRESS: host,
        sc.SERVER_PORT: 443,
    }
    for key in ("temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty"):
        if key in body:
            out[f"gen_ai.request.{key}"] = float(body[key])
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if key in body:
            out[sc.GEN_AI_REQUEST_MAX_TOKENS] = body[key]
    for key in ("stop", "stop_sequences"):
        if key in body:
            stop = body[key]
            out[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,) if isinstance(stop, str) else tuple(stop)
    if "seed" in body:
        out[sc.GEN_AI_REQUEST_SEED] = body["seed"]
    if body.get("n", 1) != 1:
        out[sc.GEN_AI_REQUEST_CHOICE_COUNT] = body["n"]
    if "response_format" in body:
        kind = body["response_format"]["type"]
        out[sc.GEN_AI_OUTPUT_TYPE] = "json" if kind in ("json_object", "json_schema") else kind
    if body.get("stream"):
        out[sc.GEN_AI_REQUEST_STREAM] = True
    return out


@dataclass
class Tokens:
    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_creation: int | None = None
    reasoning: int | None = None

    def attributes(self) -> dict[str, Any]:
        if self.input is None and self.output is None:
            return {sc.LLMOTEL_USAGE_UNKNOWN: True}
        keys = {
            sc.GEN_AI_USAGE_INPUT_TOKENS: self.input,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: self.output,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: self.cache_read,
            sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: self.cache_creation,
            sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: self.reasoning,
        }
        return {k: v for k, v in keys.items() if v is not None}


def openai_tokens(usage: dict[str, Any] | None) -> Tokens:
    """Chat (``prompt_tokens``...) and Responses API (``input_tokens``...) usage."""
    if not usage:
        return Tokens()
    chat = "prompt_tokens" in usage
    tokens = Tokens(usage.get("prompt_tokens" if chat else "input_tokens"))
    tokens.output = usage.get("completion_tokens" if chat else "output_tokens")
    details = usage.get("prompt_tokens_details" if chat else "input_tokens_details")
    if details is not None:
        tokens.cache_read = details.get("cached_tokens")
    details = usage.get("completion_tokens_details" if chat else "output_tokens_details")
    if details is not None:
        tokens.reasoning = details.get("reasoning_tokens")
    return tokens


def anthropic_tokens(usage: dict[str, Any]) -> Tokens:
    """Anthropic reports uncached input; the conventions' input count includes cache reads and writes."""
    read, written = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    return Tokens(usage["input_tokens"] + (read or 0) + (written or 0), usage.get("output_tokens"), read, written)


@dataclass
class Expected:
    """What the span of one replayed exchange must carry."""

    name: str
    attributes: dict[str, Any]
    error: str | None = None  # the SDK exception class name
    chunk_sizes: list[int] = field(default_factory=list)  # streams: one per chunk the caller gets
    final_reason: str | None = None
    response_id: str | None = None  # what the caller's result must carry

    @property
    def stream(self) -> bool:
        return bool(self.attributes.get(sc.GEN_AI_REQUEST_STREAM)) and self.error is None


def _finish(reasons: list[str | None]) -> tuple[str, ...]:
    return tuple(r or "error" for r in reasons)


def response_expectations(cassette: Cassette, interaction: Interaction) -> tuple[dict[str, Any], str | None]:
    """Attributes of a whole (non-stream) response, and the id the caller sees."""
    data = interaction.json()
    if cassette.provider == "anthropic":
        out = {
            sc.GEN_AI_RESPONSE_ID: data["id"],
            sc.GEN_AI_RESPONSE_MODEL: data["model"],
            sc.GEN_AI_RESPONSE_FINISH_REASONS: (data["stop_reason"],),
            **anthropic_tokens(data["usage"]).attributes(),
        }
        return out, data["id"]
    if data.get("object") == "list":  # embeddings
        vector = data["data"][0]["embedding"]
        dims = len(vector) if isinstance(vector, list) else len(base64.b64decode(vector)) // 4
        usage = {sc.GEN_AI_USAGE_INPUT_TOKENS: data["usage"]["prompt_tokens"]}
        return {sc.GEN_AI_RESPONSE_MODEL: data["model"], **usage, "gen_ai.embeddings.dimension.count": dims}, None
    if data.get("object") == "response":  # the Responses API: one status for the whole response
        reasons: tuple[str, ...] = ("stop" if data["status"] == "completed" else data["status"],)
    else:  # chat completions: one finish reason per choice
        reasons = _finish([c.get("finish_reason") for c in data["choices"]])
    out = {
        sc.GEN_AI_RESPONSE_ID: data["id"],
        sc.GEN_AI_RESPONSE_MODEL: data["model"],
        sc.GEN_AI_RESPONSE_FINISH_REASONS: reasons,
        **openai_tokens(data.get("usage")).attributes(),
    }
    return out, data["id"]


def _chat_stream(events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[int], list[str | None]]:
    first = events[0]
    reasons: list[str | None] = []
    tokens = Tokens()
    sizes = []
    for chunk in events:
        choices = chunk.get("choices") or []
        for choice in choices:
            if choice.get("finish_reason"):
                index = choice["index"]
                reasons.extend([None] * (index + 1 - len(reasons)))
                reasons[index] = choice["finish_reason"]
        if chunk.get("usage"):
            tokens = openai_tokens(chunk["usage"])
        text = (choices[0].get("delta") or {}).get("content") if choices else None
        sizes.append(len(text or ""))
    out = {sc.GEN_AI_RESPONSE_ID: first["id"], sc.GEN_AI_RESPONSE_MODEL: first["model"]}
    if reasons:
        out[sc.GEN_AI_RESPONSE_FINISH_REASONS] = _finish(reasons)
    return {**out, **tokens.attributes()}, sizes, reasons


def _responses_stream(events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[int], list[str | None]]:
    final = next(e["response"] for e in events if e["type"] in ("response.completed", "response.incomplete"))
    reason = "stop" if final["status"] == "completed" else final["status"]
    sizes = [len(e["delta"]) if isinstance(e.get("delta"), str) else 0 for e in events]
    out = {
        sc.GEN_AI_RESPONSE_ID: final["id"],
        sc.GEN_AI_RESPONSE_MODEL: final["model"],
        sc.GEN_AI_RESPONSE_FINISH_REASONS: (reason,),
        **openai_tokens(final.get("usage")).attributes(),
    }
    return out, sizes, [reason]


def _anthropic_stream(events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[int], list[str | None]]:
    events = [e for e in events if e["type"] != "ping"]  # the SDK does not yield pings
    start = events[0]["message"]
    tokens = anthropic_tokens(start["usage"])
    reasons: list[str | None] = []
    sizes = []
    for event in events:
        delta = event.get("delta") or {}
        sizes.append(len(delta.get("text") or delta.get("partial_json") or ""))
        if event["type"] == "message_delta":
            reasons = [delta["stop_reason"]] if delta.get("stop_reason") else reasons
            usage = event.get("usage") or {}
            tokens.output = usage.get("output_tokens", tokens.output)  # cumulative: the last count wins
            tokens.cache_read = usage.get("cache_read_input_tokens", tokens.cache_read)
            tokens.cache_creation = usage.get("cache_creation_input_tokens", tokens.cache_creation)
    out = {sc.GEN_AI_RESPONSE_ID: start["id"], sc.GEN_AI_RESPONSE_MODEL: start["model"]}
    if reasons:
        out[sc.GEN_AI_RESPONSE_FINISH_REASONS] = _finish(reasons)
    return {**out, **tokens.attributes()}, sizes, reasons


def expectations(cassette: Cassette) -> Expected:
    [interaction] = cassette.interactions  # one call per cassette (the replayer supports more)
    request = request_expectations(cassette, interaction)
    name = f"{request[sc.GEN_AI_OPERATION_NAME]} {request[sc.GEN_AI_REQUEST_MODEL]}"
    if interaction.status >= 400:
        error = STATUS_ERRORS[interaction.status]
        if not hasattr(_sdk(cassette), error) and interaction.status >= 500:
            error = "InternalServerError"  # an SDK older than the class (anthropic 0.41: no OverloadedError)
        attributes = {
            **request,
            sc.ERROR_TYPE: f"{cassette.provider}.{error}",
            "http.response.status_code": interaction.status,
            **header_expectations(interaction, failed=True),
        }
        return Expected(name, attributes, error=error)
    headers = header_expectations(interaction, failed=False)
    if not interaction.is_sse:
        response, response_id = response_expectations(cassette, interaction)
        return Expected(name, {**request, **response, **headers}, response_id=response_id)
    events = interaction.sse_json()
    if cassette.provider == "anthropic":
        response, sizes, reasons = _anthropic_stream(events)
    elif interaction.path == "/v1/responses":
        response, sizes, reasons = _responses_stream(events)
    else:
        response, sizes, reasons = _chat_stream(events)
    end = {
        sc.LLMOTEL_STREAM_CHUNKS: len(sizes),
        sc.LLMOTEL_STREAM_COMPLETED: True,
        sc.LLMOTEL_STREAM_STOP_REASON: "exhausted",
    }
    final = next((r for r in reversed(reasons) if r), None)
    return Expected(name, {**request, **response, **headers, **end}, chunk_sizes=sizes, final_reason=final)


# --- fixtures ------------------------------------------------------------------------------------

CASSETTE_FILES = all_cassettes()


def _needs_sdk(provider: str) -> list[pytest.MarkDecorator]:
    """Skip marks for a case of ``provider`` when its SDK is not installed (a matrix venv has one)."""
    if SDKS[provider] is None:
        return [pytest.mark.skip(reason=f"{provider} is not installed")]
    return []


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture(params=[pytest.param(p, id=_id(p), marks=_needs_sdk(p.parent.name)) for p in CASSETTE_FILES])
def cassette(request: pytest.FixtureRequest) -> Cassette:
    return load(request.param)


@pytest.fixture
def instrumented(cassette: Cassette) -> Iterator[None]:
    instrumentor = OpenAIInstrumentor() if cassette.provider == "openai" else AnthropicInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry, "an earlier test left the SDK instrumented"
    instrumentor.instrument()
    yield
    instrumentor.uninstrument()


def _create(client: Any, cassette: Cassette, change: dict[str, Any] | None = None) -> Any:
    interaction = cassette.interactions[0]
    resource = client
    for name in SDK_RESOURCES[(cassette.provider, interaction.path)]:
        resource = getattr(resource, name)
    kwargs = {**interaction.request_body, **(change or {})}  # the recorded request, as the caller wrote it
    parameters = inspect.signature(resource.create).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [] if takes_any else sorted(set(kwargs) - set(parameters))
    if unknown:  # a recording newer than the installed SDK (anthropic 0.41 has no `thinking`)
        sdk = _sdk(cassette)
        pytest.skip(f"{sdk.__name__} {sdk.__version__}: create() has no {', '.join(unknown)} parameter")
    if interaction.path == "/v1/embeddings" and kwargs.get("encoding_format") == "base64":
        del kwargs["encoding_format"]  # the SDK's default: it asks for base64 itself and decodes the vectors
    return resource.create(**kwargs)


def _sdk(cassette: Cassette) -> Any:
    sdk = SDKS[cassette.provider]
    assert sdk is not None
    return sdk


# --- the checks ------------------------------------------------------------------------------------


def the_span(expected: Expected) -> ReadableSpan:
    spans = finished()
    assert [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else None) for s in spans] == [
        (expected.name, "llmotel")
    ], "exactly one span per call, llmotel's (never the SDK's own as well)"
    assert spans[0].kind is SpanKind.CLIENT
    return spans[0]


def check_span(span: ReadableSpan, expected: Expected, outcome: Any) -> None:
    if expected.error is not None:
        assert attrs(span) == expected.attributes
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is not None and span.status.description.startswith(f"{expected.error}: ")
        [event] = span.events
        assert event.name == "exception"
        values = dict(event.attributes or {})
        assert values.pop("exception.stacktrace").startswith("Traceback")
        assert values == {
            "exception.type": expected.attributes[sc.ERROR_TYPE],
            "exception.message": str(outcome),
            "exception.escaped": "True",
        }
        return
    assert span.status.status_code is StatusCode.UNSET
    if not expected.stream:
        assert attrs(span) == expected.attributes
        assert span.events == ()
        return
    values = stream_attrs(span)
    assert {k: v for k, v in values.items() if k != sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED} == expected.attributes
    sizes = expected.chunk_sizes
    assert all(e.name == sc.EVENT_STREAM_CHUNK for e in span.events)
    events = [dict(e.attributes or {}) for e in span.events]
    indexes = [e[sc.EVENT_CHUNK_INDEX] for e in events]
    # every chunk gets an event up to the cap; beyond it, the first, the last and a spread between
    assert (len(events) == len(sizes)) if len(sizes) <= CHUNK_EVENT_CAP else (2 <= len(events) <= CHUNK_EVENT_CAP)
    assert stream_attrs(span)[sc.LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED] == len(sizes) - len(events)
    assert indexes[0] == 0 and indexes[-1] == len(sizes) - 1 and indexes == sorted(set(indexes))
    assert [e[sc.EVENT_CHUNK_SIZE] for e in events] == [sizes[i] for i in indexes]
    reasons = [e.get(sc.EVENT_CHUNK_FINISH_REASON) for e in events]
    assert reasons == [None] * (len(events) - 1) + [expected.final_reason]
    timestamps = [e.timestamp for e in span.events]
    assert timestamps == sorted(timestamps)


def check_caller(expected: Expected, outcome: Any, cassette: Cassette) -> None:
    """The caller got what the recording says: the SDK's own result or exception, unchanged."""
    interaction = cassette.interactions[0]
    if expected.error is not None:
        sdk = _sdk(cassette)
        assert type(outcome) is getattr(sdk, expected.error) and type(outcome).__module__ == sdk.__name__
        assert outcome.status_code == interaction.status
        recorded = interaction.json()
        assert outcome.body in (recorded, recorded.get("error"))  # (openai hands over the "error" member)
    elif expected.stream:
        assert len(outcome) == len(expected.chunk_sizes)
    elif expected.response_id is not None:
        assert outcome.id == expected.response_id


def check_token_metrics(expected: Expected) -> None:
    points = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in metric_points(sc.METRIC_TOKEN_USAGE)}
    wanted = {
        kind: expected.attributes[key]
        for kind, key in (("input", sc.GEN_AI_USAGE_INPUT_TOKENS), ("output", sc.GEN_AI_USAGE_OUTPUT_TOKENS))
        if key in expected.attributes
    }
    assert {kind: (p.sum, p.count) for kind, p in points.items()} == {kind: (n, 1) for kind, n in wanted.items()}


def test_cassettes_are_there() -> None:
    """The suite replays the recordings it was written for (a glob that finds nothing fails here)."""
    names = {_id(p) for p in CASSETTE_FILES}
    assert len(names) >= 30
    assert {p.split("/")[0] for p in names} == {"openai", "anthropic"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=_needs_sdk(name.split("/")[0]))
        for name in ("openai/chat_plain", "anthropic/messages_plain")
    ],
)
@pytest.mark.parametrize(
    ("change", "mismatch"),
    [({"model": "claude-x"}, "model 'claude-x' != "), ({"stop_sequences": ["END"]}, "body differs from the recording")],
)
def test_the_replayer_refuses_a_request_that_differs_from_the_recording(
    name: str, change: dict[str, Any], mismatch: str
) -> None:
    cassette = load(CASSETTES / f"{name}.yaml")
    replayer = replayer_for(cassette)
    if cassette.provider == "openai":
        change = {("stop" if k == "stop_sequences" else k): v for k, v in change.items()}
    make = openai_client if cassette.provider == "openai" else anthropic_client
    # recent openai SDKs let the transport's AssertionError through; anthropic and openai 1.66 wrap it
    with make(replayer) as client, pytest.raises((AssertionError, _sdk(cassette).APIConnectionError)):
        _create(client, cassette, change)
    [found] = replayer.mismatches
    assert mismatch in found
    with pytest.raises(AssertionError):
        replayer.assert_all_served()


def test_replay(cassette: Cassette, instrumented: None) -> None:
    expected = expectations(cassette)
    replayer = replayer_for(cassette)
    client = openai_client(replayer) if cassette.provider == "openai" else anthropic_client(replayer)
    with client:
        if expected.error is not None:
            with pytest.raises(_sdk(cassette).APIStatusError) as caught:
                _create(client, cassette)
            outcome: Any = caught.value
        else:
            outcome = _create(client, cassette)
            if expected.stream:
                outcome = list(outcome)
    replayer.assert_all_served()
    check_caller(expected, outcome, cassette)
    check_span(the_span(expected), expected, outcome)
    check_token_metrics(expected)


async def test_replay_async(cassette: Cassette, instrumented: None) -> None:
    expected = expectations(cassette)
    replayer = replayer_for(cassette)
    client = openai_client(replayer, True) if cassette.provider == "openai" else anthropic_client(replayer, True)
    async with client:
        if expected.error is not None:
            with pytest.raises(_sdk(cassette).APIStatusError) as caught:
                await _create(client, cassette)
            outcome: Any = caught.value
        else:
            outcome = await _create(client, cassette)
            if expected.stream:
                outcome = [item async for item in outcome]
    replayer.assert_all_served()
    check_caller(expected, outcome, cassette)
    check_span(the_span(expected), expected, outcome)
    check_token_metrics(expected)
