"""Small duck-typing helpers shared by the extractors. No OpenTelemetry, no provider imports."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, TypeVar

_MAX_INT64 = 2**63 - 1
MAX_COUNT = _MAX_INT64
"""The largest token count recorded (an int64 attribute)."""
COMPACT_INT = (1 << 30) - 1
"""The largest int CPython compares on its fastest path (one internal digit): hot-path range
checks use it and leave larger values to the general converters."""


_K = TypeVar("_K")
_V = TypeVar("_V")


def remember(cache: dict[_K, _V], key: _K, value: _V, limit: int = 1024) -> _V:
    """Keep ``value`` under ``key`` in a per-type decision cache while it holds fewer than
    ``limit`` entries (a bound: classes made at run time must not grow it forever); returns
    ``value``. For the cache-miss path only: hot paths read the cache inline."""
    if len(cache) < limit:
        cache[key] = value
    return value


_type_kinds: dict[type, Any] = {dict: True}
"""Per type: ``True`` for mappings, a frozenset of field names for pydantic models, else ``False``."""


def _kind(obj: Any) -> Any:
    cls = type(obj)
    if isinstance(obj, Mapping):
        return remember(_type_kinds, cls, True)
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, Mapping) and hasattr(obj, "__pydantic_extra__"):
        return remember(_type_kinds, cls, frozenset(fields))
    return remember(_type_kinds, cls, False)


def get(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; ``None`` when absent.

    Hot path: the kind of a type is decided once. For pydantic models a name that is neither a
    field nor a class attribute is looked up in the model's extras instead of through
    ``getattr``, which would raise (slowly) inside pydantic.
    """
    kind = _type_kinds.get(type(obj))
    if kind is None:
        kind = _kind(obj)
    if kind is True:
        return obj.get(name)
    if kind is False or name in kind or hasattr(type(obj), name):
        return getattr(obj, name, None)
    extra = obj.__pydantic_extra__
    return extra.get(name) if extra else None


MAPPED_NAMES = frozenset(
    {
        "choices",
        "completion_tokens",
        "completion_tokens_details",
        "finish_reason",
        "id",
        "index",
        "model",
        "prompt_tokens",
        "prompt_tokens_details",
        "raw",
        "type",
        "usage",
    }
)
"""The names the fast paths read through ``field_map`` (a pydantic class that serves one of them
from anything but a declared field, a property say, is not read through its ``__dict__``)."""
_NOT_MAPPED, _MAPPING, _PYDANTIC = 0, 1, 2
_map_modes: dict[type, int] = {dict: _MAPPING}
"""Per type, how ``field_map`` reads it: not at all, as the mapping itself, or through a pydantic
model's ``__dict__`` (decided once per class)."""


def _map_mode(obj: Any) -> int:
    cls = type(obj)
    kind = _type_kinds.get(cls)
    if kind is None:
        kind = _kind(obj)
    if kind is True:
        mode = _MAPPING
    elif kind is False or any(name not in kind and hasattr(cls, name) for name in MAPPED_NAMES):
        mode = _NOT_MAPPED
    else:
        mode = _PYDANTIC
    return remember(_map_modes, cls, mode)


def field_map(obj: Any) -> Mapping[str, Any] | None:
    """The object's fields as a mapping, when reading them needs no attribute access: a mapping
    itself, or a pydantic model's ``__dict__`` (its declared fields) when the model has no extras
    and its class serves none of ``MAPPED_NAMES`` from a property. ``None`` otherwise (read those
    with ``get``, which also sees extras and properties). Hot path: one dict lookup."""
    mode = _map_modes.get(type(obj))
    if mode is None:
        mode = _map_mode(obj)
    if mode == _PYDANTIC:
        if obj.__pydantic_extra__:
            return None
        fields = obj.__dict__
        return fields if type(fields) is dict else None
    return obj if mode == _MAPPING else None


def count(value: Any) -> int | None:
    """A token count: a non-negative int that fits an int64 attribute, else ``None``."""
    if type(value) is int and 0 <= value <= _MAX_INT64:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value <= _MAX_INT64:
        return int(value)
    return None


def as_int(value: Any) -> int | None:
    """An int64-safe integer, else ``None`` (bools are not numbers here)."""
    if type(value) is int:
        return value if -_MAX_INT64 <= value <= _MAX_INT64 else None
    if isinstance(value, int) and not isinstance(value, bool) and -_MAX_INT64 <= value <= _MAX_INT64:
        return int(value)
    return None


def as_float(value: Any) -> float | None:
    """A finite float (ints accepted), else ``None``."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            return None
        return result if math.isfinite(result) else None
    return None


MAX_IDENTIFIER = 1024
"""Identifiers (models, ids, names, reasons) longer than this are cut: a span stays exportable."""


def as_str(value: Any) -> str | None:
    """A string value (str subclasses such as str-enums become plain str), else ``None``.

    Cut at ``MAX_IDENTIFIER`` characters: this is how extraction reads identifiers, never content.
    """
    if type(value) is str:
        return value if len(value) <= MAX_IDENTIFIER else value[:MAX_IDENTIFIER] + "…"
    if isinstance(value, str):
        inner = getattr(value, "value", value)
        return as_str(str(inner) if isinstance(inner, str) else str.__str__(value))
    return None


def str_list(value: Any) -> list[str] | None:
    """A list of strings from a string or a sequence of strings; ``None`` if empty or not strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        items = [v for v in value if isinstance(v, str)]
        return items or None
    return None


def text_of(value: Any) -> str | None:
    """The text of a message content that is a plain string, else ``None``."""
    return value if isinstance(value, str) else None


def maybe_json(value: Any) -> Any:
    """Parse a JSON string (tool-call arguments); leave anything else, or invalid JSON, as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
