"""Content capture: off by default, on by the standard switch, bounded and valid JSON."""

from __future__ import annotations

import json
from typing import Any

import llmotel
from conftest import finished
from llmotel import config
from llmotel import semconv as sc

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+2?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a":2,"b":2}'}}],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "4"},
]
RESPONSE = {
    "id": "r",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
}


@llmotel.trace_chat(provider="openai", model="m")
def chat(messages: Any, **kwargs: Any) -> dict[str, Any]:
    return RESPONSE


@llmotel.trace_completion(provider="openai", model="m")
def complete(prompt: str) -> str:
    return "completion text"


def test_content_is_off_by_default() -> None:
    chat(MESSAGES, system="be nice")
    [span] = finished()
    attrs = dict(span.attributes or {})
    for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS):
        assert key not in attrs
    assert "What is 2+2" not in repr(attrs)


def test_content_in_parts_schema_when_on(capture_content: None) -> None:
    chat(MESSAGES, system="be nice")
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [  # type: ignore[arg-type]
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "add", "arguments": {"a": 2, "b": 2}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "4"}]},
    ]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [  # type: ignore[arg-type]
        {"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}
    ]
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be nice"}]  # type: ignore[arg-type]


def test_completion_prompt_and_plain_string_output(capture_content: None) -> None:
    complete("Say something")
    [span] = finished()
    attrs = dict(span.attributes or {})
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [  # type: ignore[arg-type]
        {"role": "user", "parts": [{"type": "text", "content": "Say something"}]}
    ]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "completion text"  # type: ignore[arg-type]


def test_length_cap_keeps_valid_json(env: Any) -> None:
    env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="span_only", LLMOTEL_CONTENT_MAX_LENGTH="300")
    long_messages = [{"role": "user", "content": "x" * 5000}, {"role": "user", "content": "tail question"}]
    chat(long_messages)
    [span] = finished()
    raw = span.attributes[sc.GEN_AI_INPUT_MESSAGES]  # type: ignore[index]
    assert isinstance(raw, str) and len(raw) <= 300
    parsed = json.loads(raw)
    assert [m["role"] for m in parsed] == ["user", "user"]
    assert parsed[0]["parts"][0]["content"].endswith("…")
    assert parsed[1]["parts"][0]["content"] == "tail question"


def test_capture_switch_values(env: Any) -> None:
    for value, on in [
        ("true", True),
        ("SPAN_ONLY", True),
        ("span_and_event", True),
        ("1", True),
        ("false", False),
        ("NO_CONTENT", False),
        ("event_only", False),
        ("", False),
    ]:
        env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=value)
        assert config.settings().capture_content is on, value
