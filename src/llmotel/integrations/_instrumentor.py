"""Instrumentors are tables of patches.

A ``Patch`` names a module, a dotted attribute inside it and a factory that builds the wrapt
wrapper from the instrumentor's settings. ``PatchingInstrumentor`` applies the table on
``instrument()`` (now if the module is imported, else from a post-import hook, so llmotel never
imports a provider SDK itself) and ``uninstrument()`` puts back exactly the objects it replaced.
A missing attribute (an older or newer SDK) skips that one patch at debug level; a missing or
too-old library makes the whole instrumentor a quiet no-op.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from llmotel._safety import internal_error

_log = logging.getLogger("llmotel")
_warned_untested: set[str] = set()
"""Distributions already warned about (one warning per process)."""

WrapperFn = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
WrapperFactory = Callable[[dict[str, Any], Any], WrapperFn]
"""``factory(options, original)``: the wrapt wrapper for ``original``, from ``instrument(**options)``."""


@dataclass(frozen=True)
class Patch:
    """Wrap ``module:attribute`` (dotted, like ``"Class.method"``) with ``factory(options, original)``."""

    module: str
    attribute: str
    factory: WrapperFactory
    when: Callable[[], bool] | None = None
    """Apply the patch only if this says so when ``instrument()`` runs (or the module is imported
    later): an opt-in feature whose wrapper would cost every call something when it is off."""


@dataclass
class _Applied:
    parent: Any
    name: str
    original: Any
    wrapper: Any
    owned: bool


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class PatchingInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Base class: subclasses set ``library``, ``distribution``, ``min_version`` and ``patches``."""

    library: str = ""
    """The import name of the instrumented library (``openai``)."""
    distribution: str = ""
    """Its distribution name on PyPI (``openai``)."""
    min_version: str = "0"
    max_version: str | None = None
    """Exclusive upper bound of the versions this integration is tested against (``None``: none).
    A newer installed version is not instrumented, with one warning, unless
    ``LLMOTEL_ALLOW_UNTESTED=true``."""
    patches: tuple[Patch, ...] = ()

    def __init__(self) -> None:
        if not hasattr(self, "_applied"):
            self._applied: list[_Applied] = []
            self._generation = 0
            self._patch_lock = threading.Lock()

    def instrument(self, **kwargs: Any) -> Any:
        """Instrument (see ``BaseInstrumentor``). A missing or too-old library is a quiet no-op:
        llmotel checks it itself, at debug level, instead of the base class's error log."""
        kwargs.setdefault("skip_dep_check", True)
        return super().instrument(**kwargs)

    def instrumentation_dependencies(self) -> Collection[str]:
        """Only this integration's own library, in its tested range."""
        upper = f", < {self.max_version}" if self.max_version else ""
        return (f"{self.distribution} >= {self.min_version}{upper}",)

    def library_available(self) -> bool:
        """True when the library is installed in a supported version (it is not imported)."""
        try:
            installed = version(self.distribution)
        except PackageNotFoundError:
            _log.debug("llmotel: %s is not installed; %s does nothing", self.distribution, type(self).__name__)
            return False
        if _version_tuple(installed) < _version_tuple(self.min_version):
            _log.debug(
                "llmotel: %s %s is older than %s; not instrumented", self.distribution, installed, self.min_version
            )
            return False
        if self.max_version and _version_tuple(installed) >= _version_tuple(self.max_version):
            if os.environ.get("LLMOTEL_ALLOW_UNTESTED", "").strip().lower() in ("1", "true", "yes", "on"):
                return True
            if self.distribution not in _warned_untested:
                _warned_untested.add(self.distribution)
                _log.warning(
                    "llmotel: %s %s is newer than the versions %s is tested with (%s to below %s); not "
                    "instrumented (LLMOTEL_ALLOW_UNTESTED=true instruments it anyway)",
                    self.distribution,
                    installed,
                    type(self).__name__,
                    self.min_version,
                    self.max_version,
                )
            return False
        return True

    def _instrument(self, **kwargs: Any) -> None:
        if not self.library_available():
            return
        with self._patch_lock:
            self._generation += 1
            generation = self._generation
        for patch in self.patches:
            if patch.module in sys.modules:
                self._apply(patch, kwargs, generation)
            else:
                wrapt.register_post_import_hook(self._hook(patch, kwargs, generation), patch.module)

    def _hook(self, patch: Patch, options: dict[str, Any], generation: int) -> Callable[[Any], None]:
        def on_import(module: Any) -> None:
            # Hooks cannot be unregistered: a hook from an earlier instrument() that was undone is stale.
            if self._generation == generation and self.is_instrumented_by_opentelemetry:
                self._apply(patch, options, generation)

        return on_import

    def _apply(self, patch: Patch, options: dict[str, Any], generation: int) -> None:
        if patch.when is not None and not patch.when():
            return
        try:
            module = sys.modules[patch.module]
            parent, name, original = wrapt.resolve_path(module, patch.attribute)
        except (KeyError, AttributeError, ImportError):
            self.missing(patch)
            return
        try:
            wrapper = wrapt.FunctionWrapper(original, patch.factory(options, original))
            with self._patch_lock:
                if generation != self._generation:
                    return
                owned = name in vars(parent)
                setattr(parent, name, wrapper)
                self._applied.append(_Applied(parent, name, original, wrapper, owned))
        except Exception as exc:  # one broken patch never stops the others
            internal_error(f"patching {patch.module}:{patch.attribute}", exc)

    def missing(self, patch: Patch) -> None:
        """A patch target does not exist (another SDK version): skipped, at debug level."""
        _log.debug("llmotel: %s:%s not found; that patch is skipped", patch.module, patch.attribute)

    def _uninstrument(self, **kwargs: Any) -> None:
        with self._patch_lock:
            self._generation += 1
            applied, self._applied = self._applied, []
        for item in reversed(applied):
            current = vars(item.parent).get(item.name)
            # ours, or ours bound (what ``opentelemetry.instrumentation.utils.unwrap`` puts back when
            # another instrumentation wrapped ours and is undone first); anything else is someone
            # else's since: leave theirs alone
            if current is not item.wrapper and getattr(current, "_self_parent", None) is not item.wrapper:
                continue
            if item.owned:
                setattr(item.parent, item.name, item.original)
            else:
                delattr(item.parent, item.name)

    @property
    def applied_patches(self) -> list[str]:
        """``module:attribute`` of every patch in place now."""
        return [f"{getattr(a.parent, '__qualname__', a.parent)}.{a.name}" for a in self._applied]
