"""Making a dispatcher span's OpenTelemetry span current, and undoing that safely.

LlamaIndex calls ``new_span`` in the ``contextvars.Context`` the decorated method body then runs
in (for sync methods, for coroutines inside their task, for workflow steps inside the step's
task or copied context), and ``prepare_to_exit_span`` / ``prepare_to_drop_span`` in that same
Context when the body returns or raises. Attaching in ``new_span`` therefore makes our span the
parent of everything the body does (provider SDK spans, ``trace_chat``-decorated functions, user
spans), and a plain ``detach`` at exit is correct.

There is one exception: a *sync* method that returns an ``asyncio.Future`` exits from the
Future's done-callback, which runs in a different Context. A ``contextvars`` token cannot be reset
there ("created in a different Context", which OpenTelemetry's ``detach`` would log as "Failed to
detach context"), and the caller's Context would keep our span current after the call returned.
Eviction of an entry from the bounded state and ``detach()`` of the integration have the same
problem: they run away from the frame that attached.

``Attachment.release`` therefore either

1. detaches with the token, when it runs in the same Context as the attach. "Same Context" is
   tested by resetting a private ``ContextVar`` token set together with the attach: that reset
   raises ``ValueError`` elsewhere, silently. Dispatcher spans nest strictly within one Context,
   so the reset restores exactly what the caller had (and clears anything a callee leaked); or
2. *retires* the attached context object. It is a private ``RunContext`` (an OpenTelemetry
   ``Context`` only this module creates); retiring replaces its content with the content of the
   context that was current before the attach, so every Context still holding it (the caller's
   after a Future-returning call) sees exactly what it saw before: same current span, no llmotel
   inference or chain key. OpenTelemetry builds a new ``Context`` for every ``set_value``, so
   nothing else ever holds a ``RunContext`` and spans already started keep their parents.

The private ``ContextVar`` also tells ``new_span`` whether the code runs directly under a given
attachment (``current_attachment()``), so a child's parent can be the current context (which
includes any span the user opened in between) rather than the stored one.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from opentelemetry import context as otel_context
from opentelemetry.context import Context

__all__ = ["Attachment", "RunContext", "current_attachment"]

_ATTACHED: ContextVar[Attachment | None] = ContextVar("llmotel.llama_index.attached", default=None)


class RunContext(Context):
    """An OpenTelemetry ``Context`` attached for one dispatcher span; immutable except ``retire``."""

    __slots__ = ()

    def retire(self, before: Context) -> None:
        """Become (in content) ``before``: values first, then drop the keys ``before`` lacks, so a
        concurrent reader never sees an empty context."""
        dict.update(self, before)
        for key in [k for k in dict.keys(self) if k not in before]:
            dict.pop(self, key, None)


def current_attachment() -> Attachment | None:
    """The latest attachment made in the current Context (or inherited by a copy of it)."""
    return _ATTACHED.get()


class Attachment:
    """One span's context made current in the Context ``new_span`` (or a start event) ran in."""

    __slots__ = ("_mark", "_token", "before", "context", "released")

    def __init__(self, context: Context) -> None:
        self.before = otel_context.get_current()
        self.context = RunContext(context)
        self._token: Token[Context] = otel_context.attach(self.context)
        self._mark: Token[Attachment | None] = _ATTACHED.set(self)
        self.released = False

    def release(self) -> bool:
        """Undo the attach (see the module docstring). True when a real ``detach`` was made."""
        if self.released:
            return False
        self.released = True
        try:
            _ATTACHED.reset(self._mark)
        except (ValueError, RuntimeError):  # another Context (a Future's done-callback), or reused
            same = False
        else:
            same = True
        if same:
            otel_context.detach(self._token)
            return True
        self.context.retire(self.before)
        return False

    def abandon(self) -> None:
        """Undo the attach from outside its frame (eviction, ``detach()``): always retire."""
        if self.released:
            return
        self.released = True
        self.context.retire(self.before)
