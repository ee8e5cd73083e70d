"""Attribute keys, operation names and event names used by llmotel.

GenAI keys follow the OpenTelemetry GenAI semantic conventions as released in semconv v1.41 (the
names the official Python util emits and backends understand). Keys under ``llmotel.`` are our own,
for facts the conventions do not define yet (chunk events, stream completion, model configuration).

This module imports nothing: it is safe to use from extraction code.
"""

from __future__ import annotations

from typing import Final

# --- operation names (gen_ai.operation.name) ---------------------------------------------------
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EMBEDDINGS: Final = "embeddings"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"

# --- GenAI semantic conventions ----------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"

GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"

GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"

GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# --- GenAI client metrics (semconv v1.41 names) --------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"

# --- llmotel's own keys ------------------------------------------------------------------------
LLMOTEL_PREFIX: Final = "llmotel."
LLMOTEL_MODEL_PREFIX: Final = "llmotel.model."
"""Prefix of the scalar configuration fields of the model instance (secrets left out)."""
LLMOTEL_STREAM_CHUNKS: Final = "llmotel.stream.chunks"
"""Total number of chunks the stream delivered to the caller."""
LLMOTEL_STREAM_CHUNK_EVENTS_DROPPED: Final = "llmotel.stream.chunk_events_dropped"
"""Chunks that got no chunk event because of the event cap."""
LLMOTEL_STREAM_COMPLETED: Final = "llmotel.stream.completed"
"""True when the stream was read to its end; false on an early stop."""
LLMOTEL_STREAM_STOP_REASON: Final = "llmotel.stream.stop_reason"
"""How a stream ended: exhausted, closed, context_exit, garbage_collected, cancelled, error."""
LLMOTEL_USAGE_UNKNOWN: Final = "llmotel.usage.unknown"
"""True when the response (or stream) reported no token usage: counts are absent, not guessed."""

EVENT_STREAM_CHUNK: Final = "llmotel.stream.chunk"
EVENT_INFERENCE_DETAILS: Final = "gen_ai.client.inference.operation.details"
"""The GenAI log event (a LogRecord's ``event_name``) carrying one call's attributes and content."""
EVENT_CHUNK_INDEX: Final = "llmotel.chunk.index"
EVENT_CHUNK_SIZE: Final = "llmotel.chunk.size"
EVENT_CHUNK_FINISH_REASON: Final = "llmotel.chunk.finish_reason"
EVENT_CHUNK_CONTENT: Final = "llmotel.chunk.content"
