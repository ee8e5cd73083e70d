"""A small hand-written tool-calling chain that reports its lifecycle through llmotel's callbacks.

The chain streams a (fake) model's reply, spots a tool call in the deltas, runs the tool, feeds
the result back, and retries once when the model is rate limited. Two handlers receive every
callback: the application's own (a plain dict of functions that prints progress) and llmotel's
``TracingHandler``, which turns the callbacks into span events and ``execute_tool`` spans.

Run: python examples/tool_chain.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import llmotel
from llmotel.callbacks import Callbacks, TracingHandler
from llmotel.export.console import ConsoleTraceExporter

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleTraceExporter()))
trace.set_tracer_provider(provider)


class RateLimited(Exception):
    """The fake model's 429."""


class FakeModel:
    """Streams OpenAI-shaped chunks: first a tool call, then (after one 429) the answer."""

    model = "fake-tools-1"

    def __init__(self) -> None:
        self.calls = 0

    @llmotel.trace_chat(provider="openai")
    def stream(self, messages: list[dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls += 1
        if self.calls == 2:
            raise RateLimited("429: slow down")
        if messages[-1]["role"] == "user":
            call = {"index": 0, "id": "call_1", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
            yield {"id": "r1", "model": self.model, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}
            yield {
                "id": "r1",
                "model": self.model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
            }
        else:
            for word in ["The ", "sum ", "is ", messages[-1]["content"], "."]:
                yield {"id": "r2", "model": self.model, "choices": [{"index": 0, "delta": {"content": word}}]}
            yield {"id": "r2", "model": self.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield {"id": "rX", "model": self.model, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class ToolChain:
    """The application's chain: model ↔ tools, with callbacks at every step."""

    def __init__(self, model: FakeModel, callbacks: Callbacks, max_retries: int = 2) -> None:
        self.model = model
        self.callbacks = callbacks
        self.max_retries = max_retries
        self.tools = {"add": add}

    def _ask(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        for _attempt in range(self.max_retries + 1):
            try:
                text, tool_calls = "", []
                for chunk in self.model.stream(messages):
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                        self.callbacks.fire("on_llm_token_usage", self, usage)
                        continue
                    delta = chunk["choices"][0]["delta"]
                    self.callbacks.fire("on_llm_new_delta", self, [delta])
                    text += delta.get("content") or ""
                    for call in delta.get("tool_calls") or []:
                        self.callbacks.fire(
                            "on_tool_call_identified", self, call, self.tools.get(call["function"]["name"])
                        )
                        tool_calls.append(call)
                message = {"role": "assistant", "content": text or None, "tool_calls": tool_calls or None}
                self.callbacks.fire("on_llm_new_message", self, message)
                return message
            except RateLimited as exc:
                reply = {"role": "assistant", "content": f"(error: {exc})"}
                self.callbacks.fire("on_error_message_created", self, reply)
        self.callbacks.fire("on_retries_exceeded", self)
        raise RuntimeError("the model kept failing")

    def run(self, question: str) -> str:
        with llmotel.trace_chain("calculator", chain=self):
            messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
            while True:
                message = self._ask(messages)
                messages.append(message)
                self.callbacks.fire("on_message_processed", self, message)
                if not message["tool_calls"]:
                    return str(message["content"])
                for call in message["tool_calls"]:
                    function = self.tools[call["function"]["name"]]
                    self.callbacks.fire("on_tool_execution_started", self, call, function)
                    try:
                        result = function(**json.loads(call["function"]["arguments"]))
                    except Exception as exc:
                        self.callbacks.fire("on_tool_execution_failed", self, call, exc)
                        raise
                    self.callbacks.fire("on_tool_execution_completed", self, call, result)
                    tool_message = {"role": "tool", "tool_call_id": call["id"], "content": str(result)}
                    self.callbacks.fire("on_tool_response_created", self, tool_message)
                    messages.append(tool_message)


def main() -> None:
    progress = {  # the application's own handler: any mapping of callback name to function
        "on_tool_execution_started": lambda chain, call, fn: print(f"running tool {call['function']['name']}"),
        "on_error_message_created": lambda chain, message: print(f"model error, retrying: {message['content']}"),
    }
    chain = ToolChain(FakeModel(), Callbacks(progress, TracingHandler()))
    print("answer:", chain.run("What is 2 + 3?"))
    provider.shutdown()


if __name__ == "__main__":
    main()
