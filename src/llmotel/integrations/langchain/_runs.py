"""The LangChain handler's run map: ``run_id -> _Run``, bounded, and what a run's context is.

Each run with a span keeps its span handle (``LLMSpan`` / ``ChainRun`` / ``ToolRun``, all from
``llmotel.telemetry``), the context its children are parented to, and the ``Attachment`` that made
it current (``llmotel.telemetry.context``). Children find their parent by ``parent_run_id`` first
(robust whatever thread or task a callback runs in), by the current context otherwise. No span
or context API is called here: only the telemetry lifecycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from llmotel._safety import internal_error
from llmotel.telemetry.context import Attachment, Context, RunMap, current_context
from llmotel.telemetry.events import event_in

if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmotel.telemetry.chains import ChainRun
    from llmotel.telemetry.spans import LLMSpan
    from llmotel.telemetry.tools import ToolRun

__all__ = ["ABANDONED", "Runs"]

ABANDONED = "llmotel.run.abandoned"


@dataclass(slots=True, eq=False)
class _Run:
    """One LangChain run we track: its span handle and the context its children are parented to."""

    parent_id: UUID | None
    context: Context
    llm: LLMSpan | None = None
    chain: ChainRun | None = None
    tool: ToolRun | None = None
    attachment: Attachment | None = None


class Runs:
    """Runs in flight by LangChain run id (thread-safe, at most ``max_runs``; the oldest is ended
    as abandoned beyond it)."""

    __slots__ = ("_map", "attach_context")

    def __init__(self, max_runs: int, attach_context: bool) -> None:
        self._map: RunMap[UUID, _Run] = RunMap(max_runs, _abandon)
        self.attach_context = attach_context

    def __len__(self) -> int:
        return len(self._map)

    @property
    def limit(self) -> int:
        return self._map.limit

    def parent(self, parent_run_id: UUID | None) -> Context | None:
        """The parent context: the parent run's, else ``None`` (= the current context)."""
        run = self._map.get(parent_run_id)
        return run.context if run is not None else None

    def start(
        self,
        run_id: UUID,
        parent_id: UUID | None,
        handle: LLMSpan | ChainRun | ToolRun,
        parent: Context | None,
        kind: Literal["llm", "chain", "tool"],
    ) -> None:
        """Track a run with a span: children start in ``handle``'s context on ``parent``; while
        the run's body executes, ``handle``'s context on the current one is current."""
        run = _Run(parent_id, handle.context_in(parent))
        setattr(run, kind, handle)
        self._map.add(run_id, run)
        if self.attach_context:
            run.attachment = Attachment(handle.context_in(None), defer_covered=True)

    def passthrough(self, run_id: UUID, parent_id: UUID | None, parent: Context | None) -> None:
        """Track a run without a span: its children are parented to its parent."""
        self._map.add(run_id, _Run(parent_id, parent if parent is not None else current_context()))

    def finish(self, run_id: UUID) -> _Run | None:
        """Forget a run that ended, its context restored; returns it (``None`` if unknown)."""
        run = self._map.pop(run_id)
        if run is not None and run.attachment is not None:
            run.attachment.release()
        return run

    def finish_llm(self, run_id: UUID) -> LLMSpan | None:
        """``finish`` for a model run: its span, for the caller to end (``None`` for other runs)."""
        run = self.finish(run_id)
        return run.llm if run is not None else None

    def llm(self, run_id: UUID) -> LLMSpan | None:
        """The model run's span, while it is in flight."""
        run = self._map.get(run_id)
        return run.llm if run is not None else None

    def forget(self, run_id: UUID) -> None:
        self._map.pop(run_id)

    def event(self, run_id: UUID, name: str, attributes: Mapping[str, Any]) -> None:
        """An event on the run's span (the nearest recorded ancestor's for a run without one)."""
        run = self._map.get(run_id)
        event_in(run.context if run is not None else None, name, attributes)

    def enclosing_chain(self, run_id: UUID | None) -> ChainRun | None:
        """The nearest chain run at or above ``run_id``."""
        for _ in range(1024):
            run = self._map.get(run_id)
            if run is None:
                return None
            if run.chain is not None:
                return run.chain
            run_id = run.parent_id
        return None


def _abandon(run: _Run) -> None:
    """End a run LangChain never finished (evicted from the map)."""
    try:
        if run.attachment is not None:
            run.attachment.release()
        handle = run.llm or run.chain or run.tool
        if handle is not None:
            handle.abandon(ABANDONED)
    except Exception as exc:
        internal_error("langchain abandon", exc)
