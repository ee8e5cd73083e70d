"""What the provider test modules (openai, anthropic, google-genai, Bedrock, Mistral, Cohere, Ollama,
LiteLLM) share: instrumenting for one test, and running a fresh interpreter.

- ``instrumenting``: the body of each module's ``instrument``/``instrumented`` fixture.
- ``run_python``: a snippet in a fresh interpreter (the "importing the integration does not import
  the SDK" tests), its exit status checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from helpers.spans import assert_unwrapped

T = TypeVar("T")

SRC = str(Path(__file__).resolve().parents[2] / "src")


@contextmanager
def instrumenting(
    instrumentor: T, library: str, targets: Iterable[tuple[Any, str]] | None = None
) -> Iterator[Callable[..., T]]:
    """``instrument(**options)`` for one test: ``instrumentor`` must not be instrumented on entry (by
    an earlier test that forgot to undo it); on exit it is uninstrumented and none of ``targets`` is
    still wrapped."""
    assert not instrumentor.is_instrumented_by_opentelemetry, f"an earlier test left {library} instrumented"  # type: ignore[attr-defined]

    def instrument(**options: Any) -> T:
        instrumentor.instrument(**options)  # type: ignore[attr-defined]
        assert instrumentor.is_instrumented_by_opentelemetry  # type: ignore[attr-defined]
        return instrumentor

    yield instrument
    instrumentor.uninstrument()  # type: ignore[attr-defined]
    assert not instrumentor.is_instrumented_by_opentelemetry  # type: ignore[attr-defined]
    if targets is not None:
        assert_unwrapped(targets)


def run_python(
    code: str, *, timeout: float = 60, src_on_path: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter and check it exits 0 (its stderr the failure message).

    ``src_on_path`` puts the repository's ``src/`` first on ``PYTHONPATH``; ``env`` adds variables."""
    environ = {**os.environ, **(env or {})}
    if src_on_path:
        environ["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=environ)
    assert done.returncode == 0, done.stderr[-2000:]
    return done
