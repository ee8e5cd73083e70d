"""The guard around llmotel's own code: never break the host application.

Extraction, accumulation and attribute mapping run inside ``try`` blocks whose ``except`` calls
``internal_error(kind, exc)``. In production the error is counted and logged once per kind, and the
user's call goes on untouched. With ``LLMOTEL_STRICT=1`` (the test suite) it is raised, so bugs are
seen. The user's own exceptions never pass through here.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from llmotel.config import settings

_log = logging.getLogger("llmotel")
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_logged: set[str] = set()


class InternalError(RuntimeError):
    """Raised in strict mode when llmotel's own code failed (the cause is chained)."""


def internal_error(kind: str, exc: BaseException) -> None:
    """Count and log (once per ``kind``) an error in llmotel's own code; raise it in strict mode."""
    with _lock:
        _counts[kind] += 1
        first = kind not in _logged
        if first:
            _logged.add(kind)
    if settings().strict:
        raise InternalError(f"llmotel internal error in {kind}: {exc!r}") from exc
    if first:
        _log.warning(
            "llmotel: internal error in %s; the call was not affected (logged once per kind)",
            kind,
            exc_info=(type(exc), exc, exc.__traceback__),
        )


def internal_error_counts() -> dict[str, int]:
    """How many internal errors of each kind llmotel has caught since start (or the last reset)."""
    with _lock:
        return dict(_counts)


def reset_internal_errors() -> None:
    """Forget counted errors and which kinds were logged (for tests)."""
    with _lock:
        _counts.clear()
        _logged.clear()
