"""What the provider test modules (openai, anthropic, google-genai, Bedrock, Mistral, Cohere, Ollama,
LiteLLM) share: instrumenting for one test, and running a fresh interpreter.

- ``instrumenting``: the body of each module's ``instrument``/``instrumented`` fixture.
- ``assert_uninstrument_restores``: instrument/uninstrument cycles leave the exact originals behind.
- ``assert_call_metrics``: one call's duration and token usage metrics.
- ``event_only_details``: in EVENT_ONLY capture mode, the one details event of a call's span.
- ``assert_no_span_when_suppressed``: calls inside ``suppress_instrumentation()`` make no span.
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

import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan

from conftest import finished, metric_points
from helpers.events import assert_correlated, event_attrs, one_detail
from helpers.spans import CONTENT_KEYS, assert_unwrapped, attrs
from llmotel import semconv as sc

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


def assert_uninstrument_restores(
    instrumentor: Any,
    targets: Iterable[tuple[Any, str]],
    *,
    cycles: int = 2,
    instrument_calls: int = 1,
    while_instrumented: Callable[[], object] | None = None,
) -> None:
    """``cycles`` times: ``instrument()`` (``instrument_calls`` times: the later ones must be no-ops)
    wraps each ``(owner, name)`` of ``targets`` exactly once (and ``while_instrumented`` runs), then
    ``uninstrument()`` puts back the very originals; no patch is left applied."""
    originals = {(owner, name): vars(owner)[name] for owner, name in targets}
    assert not any(isinstance(f, wrapt.FunctionWrapper) for f in originals.values()), "already instrumented"
    for _ in range(cycles):  # instrument -> uninstrument -> instrument again
        for _ in range(instrument_calls):
            instrumentor.instrument()
        try:
            for (owner, name), original in originals.items():
                assert isinstance(vars(owner)[name], wrapt.FunctionWrapper), name
                assert vars(owner)[name].__wrapped__ is original  # wrapped exactly once
            if while_instrumented is not None:
                while_instrumented()
        finally:
            instrumentor.uninstrument()
        for (owner, name), original in originals.items():
            assert vars(owner)[name] is original, name
    assert instrumentor.applied_patches == []


def assert_call_metrics(span: ReadableSpan, attributes: dict[str, Any], tokens: dict[str, int]) -> None:
    """The one call ``span`` timed recorded one operation duration (within the span, with
    ``attributes``) and, per token type of ``tokens``, one token usage point of that many tokens."""
    [duration] = metric_points(sc.METRIC_OPERATION_DURATION)
    assert dict(duration.attributes) == attributes
    assert span.start_time is not None and span.end_time is not None
    assert duration.count == 1 and 0 < duration.sum <= (span.end_time - span.start_time) / 1e9
    points = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: (p.sum, p.count) for p in metric_points(sc.METRIC_TOKEN_USAGE)}
    assert points == {kind: (count, 1) for kind, count in tokens.items()}


def event_only_details(span: ReadableSpan) -> dict[str, Any]:
    """With content captured as EVENT_ONLY: ``span`` carries no content, and the one details event
    was emitted in its context; that event's attributes (as plain values)."""
    assert not set(CONTENT_KEYS) & set(attrs(span)), "content on the span"
    record = one_detail()
    assert_correlated(record, span)
    return event_attrs(record)


def assert_no_span_when_suppressed(requests: list[Any], *calls: Callable[[], object]) -> None:
    """Inside ``suppress_instrumentation()`` each of ``calls`` still reaches the fake server (one
    request each, recorded in ``requests``) and no span is made."""
    with suppress_instrumentation():
        for call in calls:
            call()
    assert len(requests) == len(calls)
    assert finished() == []


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
