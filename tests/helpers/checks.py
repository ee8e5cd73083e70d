"""Checks that a span stays exportable: valid attribute values, strict JSON, nothing the SDK logged."""

from __future__ import annotations

import json
import logging
from typing import Any

MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1


def valid_scalar(value: Any) -> bool:
    """str, bool, float, or an int within int64 (what OTLP can carry)."""
    if isinstance(value, bool | str | float):
        return True
    return isinstance(value, int) and MIN_INT64 <= value <= MAX_INT64


def valid_attribute(value: Any, *, allow_none_items: bool = False) -> bool:
    """An OpenTelemetry attribute value: a valid scalar, or a homogeneous sequence of them
    (``None`` items allowed, and left out of the homogeneity check, with ``allow_none_items``)."""
    if isinstance(value, tuple | list):
        items = [v for v in value if v is not None] if allow_none_items else list(value)
        return len({type(v) for v in items}) <= 1 and all(valid_scalar(v) for v in items)
    return valid_scalar(value)


def strict_json(text: str) -> Any:
    """``json.loads`` that rejects NaN and Infinity (which are not JSON)."""

    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=reject)


class SdkLogs(logging.Handler):
    """What the OpenTelemetry SDK and exporters log at WARNING and above (invalid attributes, calls
    on ended spans, encoding failures...): ``with SdkLogs() as records: ...``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> list[logging.LogRecord]:
        logging.getLogger("opentelemetry").addHandler(self)
        return self.records

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("opentelemetry").removeHandler(self)
