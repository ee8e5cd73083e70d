"""Quickstart: trace a (fake) chat model with llmotel and print the spans it made.

Run: python examples/quickstart.py
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmotel

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)


class FakeChatModel:
    """Stands in for an LLM client: deterministic, no network, no key."""

    def __init__(self) -> None:
        self.model = "fake-gpt"
        self.temperature = 0.3
        self.api_key = "sk-not-recorded"  # secret-like fields never reach the trace

    @llmotel.trace_chat(provider="openai")
    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "model": "fake-gpt-2026-01-01",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2},
        }

    @llmotel.trace_chat(provider="openai")
    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        yield from ["Once ", "upon ", "a ", "time."]


def main() -> None:
    llm = FakeChatModel()
    llm.chat([{"role": "user", "content": "Hello"}], max_tokens=50)
    print("".join(llm.stream([{"role": "user", "content": "Tell me a story"}])))
    for span in exporter.get_finished_spans():
        print(f"\n{span.name}  ({span.kind.name}, {(span.end_time - span.start_time) / 1e6:.2f} ms)")
        for key, value in sorted(span.attributes.items()):
            print(f"  {key} = {value}")
        for event in span.events:
            print(f"  event {event.name} {dict(event.attributes)}")


if __name__ == "__main__":
    main()
