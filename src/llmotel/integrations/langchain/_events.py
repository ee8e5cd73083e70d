"""The LangChain callbacks that become span events (retries, agent actions and finishes, custom
events), and the guard every callback of the handler runs under."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec
from uuid import UUID

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.config import settings
from llmotel.extract._access import as_float, as_int, as_str
from llmotel.telemetry.attributes import error_type
from llmotel.telemetry.tools import content_json

if TYPE_CHECKING:
    from langchain_core.agents import AgentAction, AgentFinish
    from tenacity import RetryCallState

    from llmotel.integrations.langchain._runs import Runs

__all__ = ["RETRY_ATTEMPT", "EventCallbacks", "guarded"]

RETRY_ATTEMPT = "llmotel.retry.attempt"

P = ParamSpec("P")


def guarded(method: Callable[P, None]) -> Callable[P, None]:
    """Run a callback under llmotel's guard: never raise into LangChain (raise in strict mode)."""
    kind = f"langchain {method.__name__}"

    @wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as exc:
            internal_error(kind, exc)

    return guarded


def _cut(text: str) -> str:
    limit = settings().content_max_length
    return text if limit <= 0 or len(text) <= limit else text[:limit] + "…"


class EventCallbacks:
    """Callbacks recorded as events on the run's span (a mixin of ``LlmotelCallbackHandler``)."""

    _runs: Runs

    # --- events --------------------------------------------------------------------------------

    @guarded
    def on_retry(self, retry_state: RetryCallState, *, run_id: UUID, **kwargs: Any) -> None:
        """A retry is about to happen: ``llmotel.retry`` with the upcoming attempt number."""
        attributes: dict[str, Any] = {}
        attempt = as_int(getattr(retry_state, "attempt_number", None))
        if attempt is not None:
            attributes[RETRY_ATTEMPT] = attempt + 1  # the attempt about to start, as with_retry tags it
        outcome = getattr(retry_state, "outcome", None)
        if outcome is not None and getattr(outcome, "failed", False):
            exc = outcome.exception()
            if isinstance(exc, BaseException):
                attributes[sc.ERROR_TYPE] = error_type(exc)
        sleep = as_float(getattr(getattr(retry_state, "next_action", None), "sleep", None))
        if sleep is not None:
            attributes["llmotel.retry.sleep_s"] = sleep
        self._runs.event(run_id, "llmotel.retry", attributes)

    @guarded
    def on_agent_action(self, action: AgentAction, *, run_id: UUID, **kwargs: Any) -> None:
        """The agent chose a tool: ``llmotel.agent.action`` (tool input and log only with capture)."""
        tool = as_str(getattr(action, "tool", None)) or "unknown_tool"
        self._agent_event(run_id, "action", {sc.GEN_AI_TOOL_NAME: tool}, action, "tool_input")

    @guarded
    def on_agent_finish(self, finish: AgentFinish, *, run_id: UUID, **kwargs: Any) -> None:
        """The agent finished: ``llmotel.agent.finish`` (output and log only with capture)."""
        self._agent_event(run_id, "finish", {}, finish, "return_values")

    def _agent_event(self, run_id: UUID, kind: str, attributes: dict[str, Any], source: Any, field: str) -> None:
        """``llmotel.agent.{kind}``; with capture, ``source.{field}`` and its ``log`` too."""
        if settings().capture_content:
            value = getattr(source, field, None)
            if value is not None:
                key = sc.GEN_AI_TOOL_CALL_ARGUMENTS if kind == "action" else "llmotel.agent.output"
                attributes[key] = content_json(value)
            log = getattr(source, "log", None)
            if isinstance(log, str) and log:
                attributes["llmotel.agent.log"] = _cut(log)
        self._runs.event(run_id, f"llmotel.agent.{kind}", attributes)

    @guarded
    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``dispatch_custom_event``: ``llmotel.custom_event`` with its name (data only with capture)."""
        attributes: dict[str, Any] = {"llmotel.custom_event.name": str(name)}
        if settings().capture_content and data is not None:
            attributes["llmotel.custom_event.data"] = content_json(data)
        self._runs.event(run_id, "llmotel.custom_event", attributes)
