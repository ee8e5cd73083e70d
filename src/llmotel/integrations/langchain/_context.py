"""Attaching a run's span to the current context from a callback, and undoing it safely.

LangChain calls ``on_*_start`` in the caller's ``contextvars.Context`` and then runs the run's
body in a *copy* of it (``set_config_context`` / ``coro_with_context``). Attaching the run's span
in ``on_*_start`` therefore makes it the parent of everything the body does (provider SDK spans,
``trace_chat``-decorated functions), for sync and async runs alike.

Undoing it is the hard part: on the sync path ``on_*_end`` runs in the same ``Context`` as the
start, but on the async path LangChain runs ``on_llm_end`` / ``on_chain_end`` (and ``*_error``)
in a *shielded task*, i.e. a copy of the caller's context. A ``contextvars`` token cannot be reset
from there ("was created in a different Context") and the caller's context would keep the run's
span as current forever.

``Attachment.release`` therefore does one of two things, and never logs:

1. Same ``Context`` as the attach, and the run's context is still the current one (LIFO): a plain
   ``detach`` with the token. Whether the Context is the same is tested by resetting a private
   ``ContextVar`` token set together with the attach: that reset raises ``ValueError`` in another
   Context, silently, where OpenTelemetry's ``detach`` would log "Failed to detach context".
2. Same ``Context`` but a later attach is still on top (LangChain ends batched runs in start
   order): the context retires (below) now and is detached later, when everything attached on
   top of it in this Context has been detached (``_unwind``), so a batch leaves the caller's
   context exactly as it was.
3. Otherwise: the attached context object *retires*. It is a private ``RunContext`` (an
   OpenTelemetry ``Context`` only this module creates); retiring replaces its content with the
   content of the context that was current before the attach. Every ``Context`` still holding it
   (the caller's, after an ``ainvoke``) then sees exactly what it saw before the run: same current
   span, no llmotel inference or chain key. Nothing else ever holds a ``RunContext``: OpenTelemetry
   builds a new ``Context`` for every ``set_value``.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from opentelemetry import context as otel_context
from opentelemetry.context import Context

__all__ = ["Attachment", "RunContext"]

_MARK: ContextVar[bool] = ContextVar("llmotel.langchain.attached", default=False)


class RunContext(Context):
    """An OpenTelemetry ``Context`` attached for one LangChain run; immutable except ``retire``."""

    __slots__ = ("owner",)

    owner: Attachment

    def retire(self, before: Context) -> None:
        """Become (in content) ``before``: values first, then drop keys ``before`` does not have,
        so a concurrent reader never sees an empty context."""
        dict.update(self, before)
        for key in [k for k in dict.keys(self) if k not in before]:
            dict.pop(self, key, None)


class Attachment:
    """One run's span made current in the ``Context`` the start callback ran in."""

    __slots__ = ("_mark", "_token", "before", "context", "pending", "released")

    def __init__(self, context: Context) -> None:
        self.before = otel_context.get_current()
        self.context = RunContext(context)
        self.context.owner = self
        self._token: Token[Context] = otel_context.attach(self.context)
        self._mark = _MARK.set(True)
        self.released = False
        self.pending = False

    def _same_context(self) -> bool:
        """True when called in the ``Context`` the attach was made in (uses up the proof token)."""
        try:
            _MARK.reset(self._mark)
        except (ValueError, RuntimeError):  # another Context (an async end callback), or used up
            return False
        return True

    def release(self) -> bool:
        """Undo the attach (see the module docstring). True when a real ``detach`` was made."""
        if self.released:
            return False
        self.released = True
        if not self._same_context():
            self.context.retire(self.before)
            return False
        if otel_context.get_current() is self.context:
            otel_context.detach(self._token)
            _unwind()
            return True
        self.context.retire(self.before)
        self._mark = _MARK.set(True)  # a fresh proof of this Context for the deferred detach
        self.pending = True
        return False


def _unwind() -> None:
    """Detach the released-but-covered attachments a detach uncovered, in their own Context."""
    for _ in range(10_000):
        current = otel_context.get_current()
        owner = getattr(current, "owner", None) if isinstance(current, RunContext) else None
        if owner is None or not owner.pending or not owner._same_context():
            return
        owner.pending = False
        otel_context.detach(owner._token)
