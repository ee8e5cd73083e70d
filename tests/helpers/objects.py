"""Objects for the property and bad-input tests: SDK-like objects read by attribute, and hostile ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class Attrs:
    """A plain object whose attributes are a dict's entries (SDK objects are read by attribute)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"Attrs({self.__dict__!r})"


class Hostile:
    """Every public attribute is a property that raises; so do bool(), len(), iter(), str() and ==."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise RuntimeError(f"attribute {name} raised")

    def __bool__(self) -> bool:
        raise RuntimeError("bool raised")

    def __len__(self) -> int:
        raise RuntimeError("len raised")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter raised")

    def __str__(self) -> str:
        raise RuntimeError("str raised")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq raised")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Hostile()"
