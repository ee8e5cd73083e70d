"""Neutral records: what llmotel knows about one LLM call, free of OpenTelemetry and provider types.

Extraction code (``llmotel.extract``) fills these from provider objects; telemetry code
(``llmotel.telemetry``) turns them into span attributes, events and metrics. Nothing here imports
OpenTelemetry or any provider SDK, so a record can be built and inspected in a test with no setup.

Record tree::

    LLMCall                one inference call (chat / text_completion / ...)
    ├── Usage              token counts as reported by the provider (never estimated)
    └── StreamState        per-stream accumulation: chunk count, timings, sampled chunks, text
    Chain                  one chain / agent run (name, agent or workflow, provider, attributes)
    ToolCall               one tool execution (name, call id, type, description, raw arguments)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Scalar = str | bool | int | float
"""An attribute value llmotel records for a configuration field."""


@dataclass(slots=True)
class Usage:
    """Token usage as reported by the provider.

    ``input_tokens`` includes cached tokens, as the GenAI conventions require (for Anthropic the
    extractor adds cache read and cache creation tokens to the uncached count).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    def merge(self, other: Usage) -> None:
        """Take every count ``other`` knows (later usage reports win over earlier ones)."""
        if other.input_tokens is not None:
            self.input_tokens = other.input_tokens
        if other.output_tokens is not None:
            self.output_tokens = other.output_tokens
        if other.cache_read_input_tokens is not None:
            self.cache_read_input_tokens = other.cache_read_input_tokens
        if other.cache_creation_input_tokens is not None:
            self.cache_creation_input_tokens = other.cache_creation_input_tokens
        if other.reasoning_output_tokens is not None:
            self.reasoning_output_tokens = other.reasoning_output_tokens

    def is_empty(self) -> bool:
        """True when no count is known."""
        return self.input_tokens is None and self.output_tokens is None


@dataclass(slots=True)
class StreamState:
    """What the extractor accumulates from a stream's chunks (text only with content capture).

    Counting, timing and sampling the chunks for chunk events is telemetry's (``LLMSpan``).
    """

    reader_type: type | None = None
    """The chunk type whose reader is cached in ``reader`` (chosen once per stream)."""
    reader: Any = None
    texts: dict[int, list[str]] = field(default_factory=dict)
    """Text deltas per choice index, only with content capture."""
    tool_calls: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    """Tool-call fragments per choice index and tool index, only with content capture."""


@dataclass(slots=True)
class LLMCall:
    """One inference call: request facts, then response facts.

    ``params`` maps GenAI request attribute keys (``gen_ai.request.temperature`` ...) to values;
    ``model_config`` maps ``llmotel.model.*`` keys to scalar configuration values.
    ``input_messages`` / ``output_messages`` / ``system_instructions`` are in the GenAI parts
    schema and are only filled when content capture is on.
    """

    operation: str
    provider: str
    request_model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    server_address: str | None = None
    server_port: int | None = None
    model_config: dict[str, Scalar] | None = None
    span_name: str | None = None
    conversation_id: str | None = None
    """``gen_ai.conversation.id``: given by the application (``llmotel.conversation``) or the
    framework/request; never invented."""

    input_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None

    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] | None = None
    usage: Usage | None = None

    stream_state: StreamState | None = None
    hide_chunk: Any = None
    """Optional ``chunk -> bool``: chunks it accepts are read but not passed to the caller (e.g. the
    usage-only chunk of an OpenAI stream whose usage llmotel asked for)."""
    extra: dict[str, Any] | None = None
    """Additional span attributes an extractor wants recorded (already valid attribute values)."""

    @property
    def name(self) -> str:
        """The span name: ``"{operation} {model}"`` unless overridden."""
        return span_name(self)


def span_name(call: LLMCall) -> str:
    """``call.name`` (a plain function call: hot paths use this rather than the property)."""
    if call.span_name:
        return call.span_name
    model = call.request_model
    if not model:
        return call.operation
    names = _SPAN_NAMES.get(call.operation)
    if names is None:
        if len(_SPAN_NAMES) >= _SPAN_NAMES_OPERATIONS:
            return f"{call.operation} {model}"
        names = _SPAN_NAMES[call.operation] = {}
    name = names.get(model)
    if name is None:
        name = f"{call.operation} {model}"
        if len(names) < _SPAN_NAMES_MODELS and len(name) <= _SPAN_NAME_CACHED_LENGTH:
            names[model] = name
    return name


_SPAN_NAMES: dict[str, dict[str, str]] = {}
"""Span names per operation and model, built once: no string is built per call (bounded: at most
8 operations x 128 models, names up to 256 characters)."""
_SPAN_NAMES_OPERATIONS = 8
_SPAN_NAMES_MODELS = 128
_SPAN_NAME_CACHED_LENGTH = 256


@dataclass(slots=True)
class ToolCall:
    """One tool execution as a producer saw it (a framework's tool run, a chain callback's tool call).

    ``arguments`` is the raw value (recorded, as JSON, only with content capture); producers may
    leave it ``None`` when capture is off, to save reading it.
    """

    name: str
    call_id: str | None = None
    type: str = "function"
    description: str | None = None
    arguments: Any = None

    @property
    def key(self) -> str:
        """What a start and its end are paired by: the call id, else the name."""
        return self.call_id or self.name


@dataclass(slots=True, frozen=True)
class Chain:
    """One chain run: an ``invoke_agent`` span when ``agent`` (with ``provider``), else an
    ``invoke_workflow`` span; ``attributes`` are extra span attributes (valid attribute values)."""

    name: str
    agent: bool = False
    provider: str | None = None
    attributes: Mapping[str, Any] | None = None
    conversation_id: str | None = None
    """The conversation the framework says the run belongs to (a LangChain ``thread_id``): set on
    the run and every GenAI span inside it."""
