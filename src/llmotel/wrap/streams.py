"""Stream proxies: the returned stream, unchanged to the caller, with its span ended on every exit.

``SyncStreamProxy`` / ``AsyncStreamProxy`` are ``wrapt.ObjectProxy`` subclasses, so ``isinstance``,
attributes (``.response``...), and every method the stream has keep working. They take over only
iteration, closing, context-manager use and finalization. All state lives in ``_self_*`` slots on
the proxy, never on the wrapped object.

Exit paths and how the span ends (stop reason): exhausted (``exhausted``), ``close()``/``aclose()``
(``closed``), ``with``/``async with`` exit (``context_exit``), dropped without closing
(``garbage_collected``), producer raised (``error``, status ERROR), task cancelled (``cancelled``).
The span is attached as current only while the producer runs (inside ``next()``), never across a
``yield`` to the consumer.

One implementation, thin sync/async shells: what both kinds share (state, start, finalizer) is in
``_StreamProxy``; how a stream stops is decided once, by ``_stopped``; the wrapped stream's own
methods (``send``, ``throw``, ``close``, context exit and their async forms) run inside
``_Attached``. The shells differ only in ``def``/``async def``, ``next``/``await``. The one place
logic is written per kind is the per-chunk read (the ``_self_stepper`` closures): it is the hottest
path there is, and a shared helper would cost a Python call per chunk. A ``for`` loop over an SDK
stream is ``LLMSpan.iterate`` (``telemetry.streaming``), which has the chunk's bookkeeping inline.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from types import AsyncGeneratorType, GeneratorType
from typing import TYPE_CHECKING, Any

import wrapt

from llmotel._safety import internal_error
from llmotel.telemetry.spans import LLMSpan, attach_context, detach_context, reset_context

if TYPE_CHECKING:
    ObjectProxy = wrapt.ObjectProxy[Any]
else:
    ObjectProxy = wrapt.ObjectProxy


def _stopped(llm_span: LLMSpan, exc: BaseException, end: type[BaseException], token: object = None) -> None:
    """A read raised ``exc``: end the span, ``exhausted`` if ``exc`` is the stream's ``end``
    (``StopIteration`` / ``StopAsyncIteration``), else closed, cancelled or failed. ``token``: the
    context attached for the read, restored first."""
    if token is not None:
        detach_context(token)
    if isinstance(exc, end):
        llm_span.finish_stream("exhausted")
    else:
        llm_span.stream_stopped(exc)


class _Attached:
    """``with _Attached(...)``: the span is current while one of the wrapped stream's own methods
    runs (``send``/``throw``, ``close``, context exit, and their async forms: the block may
    ``await``); on the way out the context is restored and the span ends if the stream did.

    ``ends_as``: the span ends with this stop reason however the block leaves (``close()``, exit).
    Otherwise (``send``/``throw``) it ends only if the block raised, as a read does (``_stopped``,
    with ``end`` the stream's end-of-stream exception).
    """

    __slots__ = ("_end", "_ends_as", "_llm_span", "_token")

    def __init__(self, llm_span: LLMSpan, end: type[BaseException] = StopIteration, ends_as: str | None = None) -> None:
        self._llm_span = llm_span
        self._end = end
        self._ends_as = ends_as

    def __enter__(self) -> None:
        self._token = attach_context(self._llm_span.context)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._ends_as is not None:
            detach_context(self._token)
            self._llm_span.finish_stream(self._ends_as)
        elif exc is not None:
            _stopped(self._llm_span, exc, self._end, self._token)
        else:
            detach_context(self._token)


class _StreamProxy(ObjectProxy):
    """What the sync and async proxies share: the span (started as a stream here), the read
    closure (``_self_stepper``, per kind) and the finalizer."""

    def __new__(cls, wrapped: Any, llm_span: LLMSpan) -> Any:
        # a generator (a user's producer) gets the proxy that makes the span current while it runs
        return super().__new__(_PRODUCER_PROXIES.get((cls, type(wrapped)), cls))

    def __init__(self, wrapped: Any, llm_span: LLMSpan) -> None:
        super().__init__(wrapped)
        self._self_llm_span = llm_span
        llm_span.start_stream()
        self._self_next = self._self_stepper(wrapped, llm_span, llm_span.call.hide_chunk)

    @staticmethod
    def _self_stepper(wrapped: Any, llm_span: LLMSpan, hide: Any) -> Callable[[], Any]:
        """``next()``'s (``__anext__``'s) body as a closure made once per stream: reading the proxy's
        own attributes goes through wrapt's attribute hook (about 0.1-0.2 µs each), so the read
        method reads one. It returns the next chunk the caller sees: chunks ``hide`` says are
        internal (read for their facts, see ``LLMSpan.hidden_chunk``) are skipped."""
        raise NotImplementedError

    def __del__(self) -> None:
        try:
            self._self_llm_span.finish_stream("garbage_collected")
        except Exception as exc:  # never raise from a finalizer
            try:
                internal_error("stream finalizer", exc)
            except Exception:
                return


class SyncStreamProxy(_StreamProxy):
    """A synchronous iterator/generator/SDK stream whose reads are traced.

    A generator gets ``SyncGeneratorProxy``, which attaches the span around each step: code runs
    inside ``next()`` only for generators (user producers). An SDK stream object just decodes its
    response, so its ``next()`` is the leanest path: no context switch per chunk.
    """

    @staticmethod
    def _self_stepper(wrapped: Any, llm_span: LLMSpan, hide: Any) -> Callable[[], Any]:
        count = llm_span.chunk

        def step() -> Any:
            while True:
                try:
                    chunk = next(wrapped)
                except BaseException as exc:
                    _stopped(llm_span, exc, StopIteration)
                    raise
                if hide is not None and hide(chunk):
                    llm_span.hidden_chunk(chunk)
                    continue
                count(chunk)
                return chunk

        return step

    def __iter__(self) -> Iterator[Any]:
        """What the wrapped stream's ``iter()`` gives, traced: a ``for`` loop over an SDK stream
        then runs as one generator over the SDK's own, with no method lookup per chunk.

        A loop left early (``break``, an exception in its body) closes this generator, not the
        stream: the stream can still be read (``next()``, another loop), and its span ends when
        it is exhausted, closed, exited or collected, as with ``next()``.

        A stream that is its own iterator (``iter(s) is s``: iterator classes) gets the proxy
        itself, so ``iter(proxy) is proxy`` holds for it too, and ``yield from`` over it keeps the
        stream's ``close()`` and return value.
        """
        wrapped = self.__wrapped__
        chunks = iter(wrapped)
        if chunks is wrapped:
            return self
        return self._self_llm_span.iterate(chunks, self)

    def __next__(self) -> Any:
        return self._self_next()

    def send(self, value: Any) -> Any:
        """Generator ``send``, traced like ``next``."""
        return self._self_step(self.__wrapped__.send, value)

    def throw(self, *args: Any) -> Any:
        """Generator ``throw``, traced like ``next``."""
        return self._self_step(self.__wrapped__.throw, *args)

    def _self_step(self, method: Any, *args: Any) -> Any:
        llm_span: LLMSpan = self._self_llm_span
        with _Attached(llm_span, StopIteration):
            chunk = method(*args)
        llm_span.chunk(chunk)
        return chunk

    def close(self) -> Any:
        """Close the stream and end its span (an early stop is not an error)."""
        with _Attached(self._self_llm_span, ends_as="closed"):
            return self.__wrapped__.close()

    def __enter__(self) -> SyncStreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        with _Attached(self._self_llm_span, ends_as="context_exit"):
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            if exit_ is not None:
                return exit_(exc_type, exc, tb)
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
            return None


class SyncGeneratorProxy(SyncStreamProxy):
    """A generator (a user's producer): the span is current while it runs, never across a ``yield``."""

    def __iter__(self) -> SyncGeneratorProxy:
        return self

    @staticmethod
    def _self_stepper(wrapped: Any, llm_span: LLMSpan, hide: Any) -> Callable[[], Any]:
        context = llm_span.context
        count = llm_span.chunk

        def step() -> Any:
            while True:
                token = attach_context(context)
                try:
                    chunk = next(wrapped)
                except BaseException as exc:
                    _stopped(llm_span, exc, StopIteration, token)
                    raise
                try:
                    reset_context(token)
                except Exception:  # logged by the API, never raised
                    detach_context(token)
                if hide is not None and hide(chunk):
                    llm_span.hidden_chunk(chunk)
                    continue
                count(chunk)
                return chunk

        return step


class AsyncStreamProxy(_StreamProxy):
    """An async iterator/async generator/SDK async stream whose reads are traced (an async
    generator gets ``AsyncGeneratorProxy``: see ``SyncStreamProxy``)."""

    _self_next: Callable[[], Awaitable[Any]]

    @staticmethod
    def _self_stepper(wrapped: Any, llm_span: LLMSpan, hide: Any) -> Callable[[], Awaitable[Any]]:
        count = llm_span.chunk

        async def step() -> Any:
            while True:
                try:
                    chunk = await wrapped.__anext__()
                except BaseException as exc:
                    _stopped(llm_span, exc, StopAsyncIteration)
                    raise
                if hide is not None and hide(chunk):
                    llm_span.hidden_chunk(chunk)
                    continue
                count(chunk)
                return chunk

        return step

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    def __anext__(self) -> Awaitable[Any]:
        return self._self_next()

    async def asend(self, value: Any) -> Any:
        """Async generator ``asend``, traced like ``__anext__``."""
        return await self._self_astep(self.__wrapped__.asend, value)

    async def athrow(self, *args: Any) -> Any:
        """Async generator ``athrow``, traced like ``__anext__``."""
        return await self._self_astep(self.__wrapped__.athrow, *args)

    async def _self_astep(self, method: Any, *args: Any) -> Any:
        llm_span: LLMSpan = self._self_llm_span
        with _Attached(llm_span, StopAsyncIteration):
            chunk = await method(*args)
        llm_span.chunk(chunk)
        return chunk

    async def aclose(self) -> Any:
        """Close the stream (``aclose()`` of a generator, ``close()`` of an SDK stream), end the span."""
        with _Attached(self._self_llm_span, ends_as="closed"):
            closer = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
            result = closer()
            if inspect.isawaitable(result):
                result = await result
            return result

    def close(self) -> Any:
        """``close()`` as the wrapped stream defines it (SDK async streams make it a coroutine)."""
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._self_after(result, "closed")
        self._self_llm_span.finish_stream("closed")
        return result

    async def _self_after(self, awaitable: Any, reason: str) -> Any:
        try:
            return await awaitable
        finally:
            self._self_llm_span.finish_stream(reason)

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        with _Attached(self._self_llm_span, ends_as="context_exit"):
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            if exit_ is not None:
                return await exit_(exc_type, exc, tb)
            closer = getattr(self.__wrapped__, "aclose", None)
            if closer is not None:
                await closer()
            return None


class AsyncGeneratorProxy(AsyncStreamProxy):
    """An async generator (a user's producer): the span is current while it runs."""

    @staticmethod
    def _self_stepper(wrapped: Any, llm_span: LLMSpan, hide: Any) -> Callable[[], Awaitable[Any]]:
        context = llm_span.context
        count = llm_span.chunk

        async def step() -> Any:
            while True:
                token = attach_context(context)
                try:
                    chunk = await wrapped.__anext__()
                except BaseException as exc:
                    _stopped(llm_span, exc, StopAsyncIteration, token)
                    raise
                try:
                    reset_context(token)
                except Exception:  # logged by the API, never raised
                    detach_context(token)
                if hide is not None and hide(chunk):
                    llm_span.hidden_chunk(chunk)
                    continue
                count(chunk)
                return chunk

        return step


_PRODUCER_PROXIES: dict[tuple[type, type], type] = {
    (SyncStreamProxy, GeneratorType): SyncGeneratorProxy,
    (AsyncStreamProxy, AsyncGeneratorType): AsyncGeneratorProxy,
}
"""(proxy asked for, type of the wrapped stream) -> the proxy made instead."""
