"""Small duck-typing helpers shared by the extractors. No OpenTelemetry, no provider imports."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

_MAX_INT64 = 2**63 - 1


_mapping_types: dict[type, bool] = {dict: True}


def get(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; ``None`` when absent.

    Hot path: whether a type is a mapping is decided once per type (an ABC check costs more than
    the lookup itself).
    """
    cls = type(obj)
    is_mapping = _mapping_types.get(cls)
    if is_mapping is None:
        is_mapping = isinstance(obj, Mapping)
        if len(_mapping_types) < 1024:
            _mapping_types[cls] = is_mapping
    if is_mapping:
        return obj.get(name)
    return getattr(obj, name, None)


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
