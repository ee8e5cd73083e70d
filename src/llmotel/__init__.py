"""llmotel: OpenTelemetry traces for every LLM call, following the GenAI semantic conventions.

Quick start::

    import llmotel

    @llmotel.trace_chat(provider="openai")
    def chat(messages, model="gpt-4o-mini"):
        return client.chat.completions.create(model=model, messages=messages)

Each call becomes one ``chat {model}`` CLIENT span with request parameters, response id/model,
finish reasons and token usage; streams are traced to their last chunk. Prompt and completion
content is recorded only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
"""

from llmotel import callbacks
from llmotel._safety import internal_error_counts
from llmotel._version import __version__
from llmotel.callbacks import TracingHandler, trace_chain
from llmotel.export.setup import configure
from llmotel.extract import Extractor
from llmotel.integrations.registry import instrument, uninstrument
from llmotel.records import LLMCall, StreamState, Usage
from llmotel.telemetry.conversation import conversation
from llmotel.wrap.decorators import llm_chat_callback, llm_completion_callback, trace_chat, trace_completion

__all__ = [
    "Extractor",
    "LLMCall",
    "StreamState",
    "TracingHandler",
    "Usage",
    "__version__",
    "callbacks",
    "configure",
    "conversation",
    "instrument",
    "internal_error_counts",
    "llm_chat_callback",
    "llm_completion_callback",
    "trace_chain",
    "trace_chat",
    "trace_completion",
    "uninstrument",
]
