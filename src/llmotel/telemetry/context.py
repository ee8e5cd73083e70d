"""Context propagation, in one place: what is current, and how a span is made current and undone.

- **Primitives** (``attach_context`` / ``detach_context`` / ``current_context``): OpenTelemetry's
  ``context.attach``/``detach``, reaching the default runtime ``ContextVar`` directly on the hot
  paths (every call, every stream chunk).
- **Keys**: ``INFERENCE_SPAN_KEY`` (the LLM span a call runs under: de-duplication and callback
  routing), ``CHAIN_RUN_KEY`` (the chain run) and ``CONVERSATION_KEY`` (the conversation id), with
  the contexts built from them.
- **Attachments**, for the framework bridges (LangChain callbacks, LlamaIndex dispatcher spans):
  a run's context is made current in the ``contextvars.Context`` its start callback ran in, and
  undone by ``Attachment.release`` wherever its end callback runs, see below.

Why attachments are special: a framework calls *start* in the Context the run's body then runs in
(so attaching there parents everything the body does: provider SDK spans, decorated functions,
user spans), but may call *end* elsewhere: LangChain runs async end callbacks in a shielded task
(a copy of the caller's Context), LlamaIndex ends a Future-returning method in the Future's
done-callback, and evicting state from a bounded map or detaching an integration runs away from
the frame that attached. A ``contextvars`` token cannot be reset there ("created in a different
Context", which OpenTelemetry's ``detach`` logs as "Failed to detach context"), and the caller's
Context would keep the run current forever. ``Attachment.release`` therefore

1. detaches with the token when it runs in the same Context as the attach, and the run's context
   is still current (LIFO). "Same Context" is tested by resetting a private ``ContextVar`` token
   set together with the attach: that reset raises ``ValueError`` elsewhere, silently;
2. with ``defer_covered`` (LangChain, which ends batched runs in start order): same Context but a
   later attach is still on top: the context *retires* now (below) and is detached when
   everything attached on top of it in this Context has been (``_unwind``), so a batch leaves the
   caller's context exactly as it was. Without it (LlamaIndex, whose spans nest strictly), a plain
   detach, which also clears anything a callee leaked;
3. otherwise *retires* the attached context object. It is a private ``RunContext`` (an
   OpenTelemetry ``Context`` only this module creates); retiring replaces its content with the
   content of the context that was current before the attach, so every Context still holding it
   sees exactly what it saw before the run: same current span, no llmotel key. OpenTelemetry builds
   a new ``Context`` for every ``set_value``, so nothing else ever holds a ``RunContext``, and
   spans already started keep their parents.

The private ``ContextVar`` also tells a bridge whether code runs directly under a given attachment
(``current_attachment()``), so a child's parent can be the current context (which includes any
span the user opened in between) rather than the stored one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextvars import ContextVar, Token
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.trace.propagation import _SPAN_KEY

__all__ = [
    "CHAIN_RUN_KEY",
    "CONVERSATION_KEY",
    "INFERENCE_SPAN_KEY",
    "LEGACY_SUPPRESS_KEY",
    "SPAN_KEY",
    "SUPPRESS_KEY",
    "UTIL_INFERENCE_KEY",
    "UTIL_INFERENCE_MODULE",
    "Attachment",
    "Context",
    "RunContext",
    "RunMap",
    "attach_context",
    "chain_context",
    "conversation_in",
    "current_attachment",
    "current_chain_run",
    "current_context",
    "current_span",
    "current_span_stand_in",
    "detach_context",
    "instrumentation_enabled",
    "reset_context",
    "span_context",
]

SPAN_KEY = _SPAN_KEY
"""The key OpenTelemetry keeps the current span under (read directly on hot paths)."""
SUPPRESS_KEY = _SUPPRESS_INSTRUMENTATION_KEY
"""OpenTelemetry's "instrumentation suppressed" key."""
LEGACY_SUPPRESS_KEY = "suppress_instrumentation"
"""The plain-string key older instrumentations set."""

INFERENCE_SPAN_KEY = otel_context.create_key("opentelemetry.genai.inference_span")
"""Context key holding the ``LLMSpan`` a call runs under (de-duplication, callback routing)."""
CHAIN_RUN_KEY = otel_context.create_key("llmotel.chain_run")
"""Context key holding the ``ChainRun`` (chain span) the code runs under."""
UTIL_INFERENCE_KEY = "opentelemetry.genai.client.inference.context"
"""The OpenTelemetry GenAI util's inference context key (``opentelemetry-util-genai`` 1.3, used by
the official instrumentations): a plain string, holding the util's ``InferenceData`` while one of
its inference spans runs. llmotel does not trace a call made under another instrumentation's
inference (the outer span wins), and puts an ``InferenceData`` in its own inference context so an
official instrumentation inside does not trace the same call a second time."""
UTIL_INFERENCE_MODULE = "opentelemetry.util.genai._inference_invocation"
"""Where the util defines ``InferenceData`` (checked in ``sys.modules``: never imported by llmotel)."""
CONVERSATION_KEY = otel_context.create_key("llmotel.conversation_id")
"""Context key holding the ``gen_ai.conversation.id`` the code runs under (``llmotel.conversation``)."""


# --- primitives -----------------------------------------------------------------------------


def _runtime_context_var() -> ContextVar[Context] | None:
    """The ContextVar behind OpenTelemetry's default runtime context, if that is the one in use.

    ``opentelemetry.context.attach``/``detach`` go through three Python frames to reach it; on
    a stream's per-chunk path (and every call) llmotel sets and resets it directly. Any other
    runtime context (``OTEL_PYTHON_CONTEXT``) is used through the API.
    """
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

        runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
        var = getattr(runtime, "_current_context", None)
        if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar):
            return var
    except Exception:  # pragma: no cover - an OpenTelemetry API without these internals
        return None
    return None


_CONTEXT_VAR = _runtime_context_var()

attach_context: Callable[[Context], object]
"""Make ``ctx`` the current context; returns the token for ``detach_context``."""
current_context: Callable[[], Context]
"""The current context (``opentelemetry.context.get_current``)."""
reset_context: Callable[[Any], object]
"""``detach_context`` without its error handling, for hot paths that catch errors themselves and
then call ``detach_context`` (which logs them the API's way)."""

if _CONTEXT_VAR is not None:
    attach_context = _CONTEXT_VAR.set
    current_context = _CONTEXT_VAR.get
    reset_context = _reset = _CONTEXT_VAR.reset

    def detach_context(token: object) -> None:
        """Restore the context ``token`` replaced (always in the frame that attached)."""
        try:
            _reset(token)  # type: ignore[arg-type]
        except Exception:  # the API's own handling: logged, never raised
            otel_context.detach(token)  # type: ignore[arg-type]

else:  # pragma: no cover - a non-default runtime context
    attach_context = otel_context.attach
    current_context = otel_context.get_current
    reset_context = otel_context.detach

    def detach_context(token: object) -> None:
        """Restore the context ``token`` replaced (always in the frame that attached)."""
        otel_context.detach(token)  # type: ignore[arg-type]


def instrumentation_enabled(ctx: Context | None = None) -> bool:
    """False under ``suppress_instrumentation()`` (both the current and the legacy context keys)."""
    if ctx is None:
        ctx = current_context()
    return not (ctx.get(SUPPRESS_KEY) or ctx.get(LEGACY_SUPPRESS_KEY))


def span_context(span: trace.Span, base: Context | None = None) -> Context:
    """``base`` (default: current) with ``span`` as its current span."""
    return trace.set_span_in_context(span, base)


def current_span(ctx: Context | None = None) -> trace.Span:
    """The current span of ``ctx`` (default: the current context)."""
    return trace.get_current_span(ctx)


def current_span_stand_in() -> trace.Span | None:
    """A non-recording span carrying the current span's context (``None`` without a valid one):
    what an SDK that insists on starting its own span gets instead, so it propagates our trace."""
    context = trace.get_current_span().get_span_context()
    return trace.NonRecordingSpan(context) if context.is_valid else None


# --- chain key ----------------------------------------------------------------


def chain_context(
    run: object, span: trace.Span, base: Context | None = None, conversation: str | None = None
) -> Context:
    """``base`` (default: current) with ``span`` current and ``run`` as the chain run (and
    ``conversation``, when given, as the conversation id of everything inside)."""
    ctx = Context(base if base is not None else current_context())
    dict.__setitem__(ctx, _SPAN_KEY, span)
    dict.__setitem__(ctx, CHAIN_RUN_KEY, run)
    if conversation is not None:
        dict.__setitem__(ctx, CONVERSATION_KEY, conversation)
    return ctx


def conversation_in(ctx: Context | None = None) -> str | None:
    """The conversation id ``ctx`` (default: the current context) carries, if any."""
    value = (ctx if ctx is not None else current_context()).get(CONVERSATION_KEY)
    return value if isinstance(value, str) else None


def current_chain_run(ctx: Context | None = None) -> Any:
    """The ``ChainRun`` the code runs under (``None`` outside one)."""
    return (ctx if ctx is not None else current_context()).get(CHAIN_RUN_KEY)


# --- attachments (framework bridges) ---------------------------------------------------------

_ATTACHED: ContextVar[Attachment | None] = ContextVar("llmotel.attached", default=None)


class RunContext(Context):
    """An OpenTelemetry ``Context`` attached for one run; immutable except ``retire``."""

    __slots__ = ("owner",)

    owner: Attachment

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
    """One run's context made current in the Context its start callback ran in (module docstring).

    ``defer_covered``: released while a later attachment is still on top in the same Context, it
    retires at once and detaches once uncovered (LangChain); otherwise it detaches at once.
    """

    __slots__ = ("_mark", "_token", "before", "context", "defer_covered", "pending", "released")

    def __init__(self, context: Context, *, defer_covered: bool = False) -> None:
        self.before = current_context()
        self.context = ctx = RunContext(context)
        ctx.owner = self
        self._token = attach_context(ctx)
        self._mark: Token[Attachment | None] = _ATTACHED.set(self)
        self.defer_covered = defer_covered
        self.released = False
        self.pending = False

    def _same_context(self) -> bool:
        """True when called in the Context the attach was made in (uses up the proof token)."""
        try:
            _ATTACHED.reset(self._mark)
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
        if not self.defer_covered:
            detach_context(self._token)
            return True
        if current_context() is self.context:
            detach_context(self._token)
            _unwind()
            return True
        self.context.retire(self.before)
        self._mark = _ATTACHED.set(self)  # a fresh proof of this Context for the deferred detach
        self.pending = True
        return False

    def abandon(self) -> None:
        """Undo the attach from outside its frame (eviction, ``detach()``): always retire."""
        if self.released:
            return
        self.released = True
        self.context.retire(self.before)


def _unwind() -> None:
    """Detach the released-but-covered attachments a detach uncovered, in their own Context."""
    for _ in range(10_000):
        current = current_context()
        owner = getattr(current, "owner", None) if isinstance(current, RunContext) else None
        if owner is None or not owner.pending or not owner._same_context():
            return
        owner.pending = False
        detach_context(owner._token)


# --- run id -> run, bounded ------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RunMap(Generic[K, V]):
    """Runs in flight by id (a framework's run id, a chain object's id), thread-safe and bounded.

    Beyond ``limit`` the oldest run is evicted and handed to ``evict`` (outside the lock), which
    ends it as abandoned: a framework that never finishes its runs cannot grow llmotel's memory.
    """

    __slots__ = ("_evict", "_items", "_lock", "limit")

    def __init__(self, limit: int, evict: Callable[[V], None] | None = None) -> None:
        self.limit = max(1, limit)
        self._evict = evict
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add(self, key: K, value: V) -> list[V]:
        """Track ``value`` under ``key`` (a run already there is evicted); returns the evicted runs."""
        evicted: list[V] = []
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None and previous is not value:
                evicted.append(previous)
            self._items[key] = value
            while len(self._items) > self.limit:
                evicted.append(self._items.popitem(last=False)[1])
        if self._evict is not None:
            for old in evicted:
                self._evict(old)
        return evicted

    def get(self, key: K | None) -> V | None:
        if key is None:
            return None
        with self._lock:
            return self._items.get(key)

    def pop(self, key: K | None) -> V | None:
        if key is None:
            return None
        with self._lock:
            return self._items.pop(key, None)

    def discard(self, key: K, value: V) -> None:
        """Forget ``key`` if it still maps to ``value``."""
        with self._lock:
            if self._items.get(key) is value:
                del self._items[key]

    def clear(self) -> list[V]:
        """Forget every run; returns them, oldest first."""
        with self._lock:
            values = list(self._items.values())
            self._items.clear()
        return values
