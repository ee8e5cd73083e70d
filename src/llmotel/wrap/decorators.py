"""Public decorators: ``trace_chat`` / ``trace_completion`` (and LlamaIndex-style aliases).

The wrapper is chosen once, at decoration time, from the decorated callable's shape: plain
function, coroutine function, generator function or async generator function. Plain and coroutine
functions that *return* an iterator or async iterator (an SDK stream, LlamaIndex's ``stream_chat``
/ ``astream_chat``) get their result wrapped in a stream proxy. Built on ``wrapt``, so signature,
``__name__``, ``__qualname__``, ``__doc__`` and ``inspect.iscoroutinefunction`` stay true, and the
decorators work on functions, methods, classmethods (put the decorator outside ``@classmethod``)
and staticmethods.
"""

from __future__ import annotations

import inspect
import io
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

import wrapt

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.extract import DEFAULT_EXTRACTOR, Extractor
from llmotel.extract._access import as_str
from llmotel.extract.request import infer_provider
from llmotel.records import LLMCall
from llmotel.telemetry.context import LEGACY_SUPPRESS_KEY as _LEGACY_SUPPRESS_KEY
from llmotel.telemetry.context import SPAN_KEY as _SPAN_KEY
from llmotel.telemetry.context import SUPPRESS_KEY as _SUPPRESS_INSTRUMENTATION_KEY
from llmotel.telemetry.context import UTIL_INFERENCE_KEY as _UTIL_INFERENCE_KEY
from llmotel.telemetry.context import Context, instrumentation_enabled
from llmotel.telemetry.spans import (
    INFERENCE_SPAN_KEY,
    LLMSpan,
    Telemetry,
    attach_context,
    current_context,
    detach_context,
    foreign_inference,
    reset_context,
)
from llmotel.wrap.streams import AsyncStreamProxy, SyncStreamProxy

if TYPE_CHECKING:
    from opentelemetry import _logs as otel_logs
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace

F = TypeVar("F", bound=Callable[..., Any])


def is_instrumentation_enabled() -> bool:
    """False under ``suppress_instrumentation()`` (both the current and the legacy context keys)."""
    return instrumentation_enabled()


def trace_decision(ctx: Context | None = None) -> Any:
    """``True``: trace this call. ``False``: suppressed, call through. Otherwise the
    ``InferenceMarker`` of the llmotel span this call is directly nested in: fold into it (one span
    per call; the nested call's response facts go to that span's record). One context read."""
    if ctx is None:
        ctx = current_context()
    if ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_LEGACY_SUPPRESS_KEY):
        return False
    outer: Any = ctx.get(INFERENCE_SPAN_KEY)
    if outer is not None and outer.span is ctx.get(_SPAN_KEY):
        return outer
    return not foreign_inference(ctx, outer)  # under an official instrumentation's span: already traced


def should_trace() -> bool:
    """Not suppressed, and not directly nested in another llmotel inference span."""
    return trace_decision() is True


ModelOption = str | Callable[..., Any] | None

_NOT_STREAM, _SYNC_STREAM, _ASYNC_STREAM = 0, 1, 2
_stream_kinds: dict[type, int] = {}


def _is_mock(cls: type) -> bool:
    mock = sys.modules.get("unittest.mock")
    return mock is not None and issubclass(cls, mock.NonCallableMock)


def _stream_kind(cls: type) -> int:
    kind = _stream_kinds.get(cls)
    if kind is not None:
        return kind
    if not isinstance(cls, type) or _is_mock(cls):
        return _NOT_STREAM  # not cached: test doubles make a class per instance
    if issubclass(cls, (str, bytes, bytearray, Mapping, io.IOBase)):  # iterators, but not LLM streams
        kind = _NOT_STREAM
    elif hasattr(cls, "__next__"):
        kind = _SYNC_STREAM
    elif hasattr(cls, "__anext__"):
        kind = _ASYNC_STREAM
    else:
        kind = _NOT_STREAM
    if len(_stream_kinds) < 1024:
        _stream_kinds[cls] = kind
    return kind


class _Shared:
    telemetry: Telemetry | None = None


def default_telemetry() -> Telemetry:
    """The telemetry used by decorators without explicit providers (global providers)."""
    telemetry = _Shared.telemetry
    if telemetry is None:
        telemetry = _Shared.telemetry = Telemetry()
    return telemetry


class CallSpec:
    """What one decorated callable records: operation, provider, model, naming and extraction."""

    __slots__ = ("_telemetry", "extractor", "model", "name", "operation", "prepare", "provider", "stream")

    def __init__(
        self,
        operation: str,
        *,
        provider: str | None = None,
        model: ModelOption = None,
        name: str | None = None,
        extractor: Extractor | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
        logger_provider: otel_logs.LoggerProvider | None = None,
        prepare: Callable[[LLMCall, dict[str, Any]], None] | None = None,
        stream: bool | None = None,
    ) -> None:
        self.operation = operation
        self.stream = stream
        """``None``: a returned generator, SDK stream or other iterator is traced as a stream;
        ``False``: never (the span ends when the call returns); ``True``: always for iterators."""
        self.prepare = prepare
        """Integration hook run after the span started, before the call: may adjust ``kwargs``."""
        self.provider = provider
        self.model = model
        self.name = name
        if extractor is not None and not isinstance(extractor, Extractor):
            raise TypeError(f"extractor= takes an llmotel.Extractor instance, not {type(extractor).__name__}")
        self.extractor = extractor or DEFAULT_EXTRACTOR
        self._telemetry = (
            Telemetry(tracer_provider, meter_provider, logger_provider)
            if tracer_provider is not None or meter_provider is not None or logger_provider is not None
            else None
        )

    def begin(
        self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], parent: Context | None = None
    ) -> LLMSpan | None:
        """Build the request record and start the span; ``None`` means "call through untraced".

        Callers check ``should_trace()`` first (suppression, and a call directly nested in another
        inference span of ours, which makes one span per call).
        """
        try:
            call = LLMCall(self.operation, self.provider or infer_provider(instance))
            if self.name:
                call.span_name = self.name
        except Exception as exc:
            internal_error("span start", exc)
            return None
        try:
            model = self.model
            if model is not None:
                if isinstance(model, str):
                    call.request_model = model
                else:
                    value = model(instance, *args, **kwargs) if instance is not None else model(*args, **kwargs)
                    call.request_model = None if value is None else as_str(str(value))
            self.extractor.request(call, instance, args, kwargs)
        except Exception as exc:  # the span still starts, with what is known
            internal_error("request extraction", exc)
        try:
            telemetry = self._telemetry or _Shared.telemetry or default_telemetry()
            llm_span = LLMSpan(telemetry, call, self.extractor, instance, args, kwargs, parent)
            if self.prepare is not None:
                try:
                    self.prepare(call, kwargs)
                except Exception:
                    llm_span.end(None)  # never leave a started span behind
                    raise
            return llm_span
        except Exception as exc:
            internal_error("span start", exc)
            return None

    # --- wrappers (wrapt signature: wrapped, instance, args, kwargs) ----------------------------

    def call_wrapper(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        """Plain function: one span around the call, or a stream proxy if it returns an iterator."""
        active, token = self._enter(instance, args, kwargs)
        if active is None:
            return self._untraced(token, wrapped(*args, **kwargs))
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(active, token, exc)
            raise
        return self._exit(active, token, result)

    async def async_wrapper(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        """Coroutine function: one span around the awaited call, or a stream proxy for its result."""
        active, token = self._enter(instance, args, kwargs)
        if active is None:
            return self._untraced(token, await wrapped(*args, **kwargs))
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(active, token, exc)
            raise
        return self._exit(active, token, result)

    # The two wrappers above are shells around these three: the logic of a call, written once.

    def _enter(self, instance: Any, args: Any, kwargs: Any) -> tuple[LLMSpan | None, Any]:
        """Before the call: ``(llm_span, token)``, the span started and made current (``token``
        restores the context); or ``(None, decision)``: call through untraced, then
        ``_untraced(decision, result)``."""
        ctx = current_context()
        outer: Any = ctx.get(INFERENCE_SPAN_KEY)
        if (
            (outer is not None and outer.span is ctx.get(_SPAN_KEY))
            or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY)
            or ctx.get(_LEGACY_SUPPRESS_KEY)
            or ctx.get(_UTIL_INFERENCE_KEY) is not None
        ):  # ``trace_decision``, inlined: nested directly in our own span (fold), suppressed, or
            # under an inference span (maybe another instrumentation's)
            decision = trace_decision(ctx)
            if decision is not True:
                return None, decision
        active = self.begin(instance, args, kwargs, ctx)
        if active is None:
            return None, False
        return active, attach_context(active.context)

    def _untraced(self, decision: Any, result: Any) -> Any:
        """After an untraced call: a call nested directly in our own span folds into it."""
        if decision is not False:
            self._fold(decision, result)
        return result

    def _exit(self, active: LLMSpan, token: Any, result: Any) -> Any:
        """After the call returned: restore the context, end the span, or proxy a returned stream."""
        try:
            reset_context(token)
        except Exception:  # logged by the API; never raised
            detach_context(token)
        if _stream_kinds.get(type(result)) == _NOT_STREAM and self.stream is not True:  # the usual case
            active.end(result)
            return result
        return _finish(active, result, self.stream)

    def _fold(self, outer: Any, result: Any) -> None:
        """A call folded into the span it is directly nested in: its response facts (usage, id,
        model, finish reasons) go to that span's record, which often has no better source."""
        llm = outer.llm
        if llm is None or self.stream is False or _stream_kind(type(result)) != _NOT_STREAM:
            return
        try:
            self.extractor.response(llm.call, result, False)
        except Exception as exc:
            internal_error("response extraction", exc)

    def _generator(self, proxy: type, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if not should_trace():
            return wrapped(*args, **kwargs)
        active = self.begin(instance, args, kwargs)
        if active is None:
            return wrapped(*args, **kwargs)
        try:
            generator = wrapped(*args, **kwargs)
        except BaseException as exc:
            active.fail(exc)
            raise
        return _proxied(proxy, generator, active)

    def generator_wrapper(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        """Generator function: the generator is returned inside a stream proxy."""
        return self._generator(SyncStreamProxy, wrapped, instance, args, kwargs)

    def async_generator_wrapper(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        """Async generator function: the async generator is returned inside a stream proxy."""
        return self._generator(AsyncStreamProxy, wrapped, instance, args, kwargs)

    def wrapper_for(self, func: Any) -> Callable[..., Any]:
        """Pick the wrapper for ``func``'s shape (once, at decoration time)."""
        target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
        target = inspect.unwrap(target) if not isinstance(target, wrapt.ObjectProxy) else target
        if inspect.isasyncgenfunction(target):
            return self.async_generator_wrapper
        if inspect.isgeneratorfunction(target):
            return self.generator_wrapper
        if inspect.iscoroutinefunction(target):
            return self.async_wrapper
        return self.call_wrapper


def _finish(active: LLMSpan, result: Any, stream: bool | None = None) -> Any:
    cls = type(result)
    kind = _stream_kinds.get(cls)
    if kind is None:
        kind = _stream_kind(cls)
    if stream is not None:
        if stream is False:
            kind = _NOT_STREAM
        elif kind == _NOT_STREAM:  # forced: any iterator, even one llmotel would not guess
            kind = _SYNC_STREAM if hasattr(cls, "__next__") else _ASYNC_STREAM if hasattr(cls, "__anext__") else kind
    if kind == _NOT_STREAM:
        active.end(result)
        return result
    return _proxied(SyncStreamProxy if kind == _SYNC_STREAM else AsyncStreamProxy, result, active)


def _proxied(proxy: type, stream: Any, active: LLMSpan) -> Any:
    """``stream`` inside a ``proxy`` that ends ``active`` with it; if it cannot be proxied, the
    stream as it is, its span ended."""
    try:
        return proxy(stream, active)
    except Exception as exc:
        internal_error("stream proxy", exc)
        active.end(None)
        return stream


def _failed(active: LLMSpan, token: Any, exc: BaseException) -> None:
    """The call raised: restore the context, end the span with the error."""
    detach_context(token)
    active.fail(exc)


def _decorator(operation: str, func: Any, options: dict[str, Any]) -> Any:
    def decorate(f: Any) -> Any:
        spec = CallSpec(options.pop("operation", None) or operation, **options)
        return wrapt.FunctionWrapper(f, spec.wrapper_for(f))

    if func is None:
        return decorate
    return decorate(func)


class TraceDecorator(Protocol):
    """The type of ``trace_chat`` and ``trace_completion``: used bare (``@trace_chat``) or with
    options (``@trace_chat(provider="openai")``), it returns the decorated callable's own type."""

    @overload
    def __call__(self, func: F) -> F: ...
    @overload
    def __call__(
        self,
        func: None = None,
        *,
        provider: str | None = ...,
        model: ModelOption = ...,
        operation: str | None = ...,
        name: str | None = ...,
        extractor: Extractor | None = ...,
        tracer_provider: trace.TracerProvider | None = ...,
        meter_provider: otel_metrics.MeterProvider | None = ...,
        logger_provider: otel_logs.LoggerProvider | None = ...,
        stream: bool | None = ...,
    ) -> Callable[[F], F]: ...


def _trace_decorator(func: Callable[..., Any]) -> TraceDecorator:
    """``func`` unchanged, typed as a ``TraceDecorator`` (the overloads, written once)."""
    return func


@_trace_decorator
def trace_chat(func: Any = None, **options: Any) -> Any:
    """Trace each call of the decorated chat function/method as one GenAI ``chat`` span.

    Usable bare (``@trace_chat``) or with options (``@trace_chat(provider="openai")``):

    - ``provider``: ``gen_ai.provider.name`` (default: guessed from the instance's class, else
      ``"unknown"``).
    - ``model``: the requested model, a string or a callable given the call's arguments (the
      instance first, for methods); default: ``model=`` kwarg, else the instance's ``model`` /
      ``model_name`` / ``metadata.model_name``.
    - ``operation``: ``gen_ai.operation.name`` (default ``chat``); ``name``: span name override.
    - ``extractor``: an ``llmotel.Extractor`` subclass instance mapping your own types.
    - ``tracer_provider`` / ``meter_provider`` / ``logger_provider``: use these instead of the
      global providers (the logger provider receives the GenAI details log events).
    - ``stream``: a returned generator, SDK stream or other iterator is traced to its end by
      default (``None``); ``False`` ends the span when the call returns; ``True`` traces any
      returned iterator. Strings, mappings, files and ``unittest.mock`` objects are never streams.
    """
    return _decorator(sc.OP_CHAT, func, options)


@_trace_decorator
def trace_completion(func: Any = None, **options: Any) -> Any:
    """Trace each call as one GenAI ``text_completion`` span; same options as ``trace_chat``."""
    return _decorator(sc.OP_TEXT_COMPLETION, func, options)


llm_chat_callback = trace_chat
"""Alias of ``trace_chat`` shaped like LlamaIndex's ``llm_chat_callback()``."""
llm_completion_callback = trace_completion
"""Alias of ``trace_completion`` shaped like LlamaIndex's ``llm_completion_callback()``."""
