"""LlamaIndex objects in, plain facts out: dispatcher span names, agents, tools, Futures.
No OpenTelemetry here; ``_bridge`` turns the facts into telemetry calls."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from llmotel.extract._access import as_str

__all__ = [
    "ABANDONED",
    "SpanDropped",
    "is_agent",
    "is_stream",
    "returns_future",
    "span_name",
    "tool_arguments",
    "tool_call_of",
]

ABANDONED = "llmotel.llama_index.abandoned"
"""Set (true) on a span ended because its entry was evicted from the bounded state, or because the
integration was detached (or the dispatcher shut down) while it was in flight."""

_UUID_SUFFIX = 37  # "-" + uuid4


class SpanDropped(Exception):
    """Stands in for the error when LlamaIndex drops a span without one."""


def span_name(span_id: str) -> str:
    """``RetrieverQueryEngine.query`` from ``RetrieverQueryEngine.query-<uuid4>``."""
    if len(span_id) > _UUID_SUFFIX and span_id[-_UUID_SUFFIX] == "-":
        return span_id[:-_UUID_SUFFIX]
    return span_id.rpartition("-")[0] or span_id


_agent_types: dict[type, bool] = {}


def is_agent(instance: Any) -> bool:
    cls = type(instance)
    known = _agent_types.get(cls)
    if known is None:
        known = any(c.__name__ == "BaseWorkflowAgent" and c.__module__.startswith("llama_index.") for c in cls.__mro__)
        if len(_agent_types) < 256:
            _agent_types[cls] = known
    return known


def is_stream(result: Any) -> bool:
    return isinstance(result, (Iterator, AsyncIterator)) and not isinstance(result, (str, bytes))


_FUTURE_WORDS = frozenset({"Future", "Task", "WorkflowHandler"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def returns_future(bound_args: Any) -> bool:
    """True when the method is declared to return a Future: it exits from the Future's done-callback,
    in another Context, so attaching in ``new_span`` would leave our span current in the caller
    until then. Such a span is not made current (its children still find it by dispatcher id)."""
    annotation = getattr(getattr(bound_args, "signature", None), "return_annotation", inspect.Signature.empty)
    if annotation is inspect.Signature.empty or annotation is None:
        return False
    if isinstance(annotation, str):
        return any(word in _FUTURE_WORDS for word in _IDENTIFIER.findall(annotation))
    origin = getattr(annotation, "__origin__", annotation)
    return isinstance(origin, type) and issubclass(origin, asyncio.Future)


def tool_arguments(bound_args: Any) -> dict[str, Any]:
    """The arguments a tool was called with, flattened (``*args`` as a list, ``**kwargs`` merged)."""
    out: dict[str, Any] = {}
    parameters = bound_args.signature.parameters
    for name, value in bound_args.arguments.items():
        param = parameters.get(name)
        kind = param.kind if param is not None else None
        if kind is inspect.Parameter.VAR_KEYWORD and isinstance(value, Mapping):
            out.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                out[name] = list(value)
        else:
            out[name] = value
    return out


def tool_call_of(bound_args: Any) -> tuple[str, str] | None:
    """``(tool name, tool call id)`` from a step's event argument (agents' ``ToolCall``), if any."""
    for value in bound_args.arguments.values():
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, Mapping) and "tool_id" in fields and "tool_name" in fields:
            name, call_id = as_str(getattr(value, "tool_name", None)), as_str(getattr(value, "tool_id", None))
            if name and call_id:
                return name, call_id
    return None
