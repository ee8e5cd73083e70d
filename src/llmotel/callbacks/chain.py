"""``trace_chain``: the chain span (``invoke_workflow`` / ``invoke_agent``) as a context manager or
decorator. LLM spans from the decorators and tool spans from callbacks nest under it."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import wrapt

from llmotel.records import Chain
from llmotel.telemetry.chains import ChainRun
from llmotel.telemetry.context import instrumentation_enabled as is_instrumentation_enabled
from llmotel.telemetry.spans import tracer_for

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

F = TypeVar("F", bound=Callable[..., Any])


class trace_chain:
    """Trace a chain run as one span: ``with trace_chain("weather-agent") as run:`` or ``@trace_chain("x")``.

    - ``agent=True`` makes it an ``invoke_agent`` span (``gen_ai.agent.name``, ``provider``);
      otherwise ``invoke_workflow`` (``gen_ai.workflow.name``).
    - ``chain=obj`` routes callbacks fired with ``obj`` as their chain argument to this span,
      from any thread or task; callbacks fired under the ``with`` block find it by context.
    - An exception leaving the block ends the span with ERROR; ``on_retries_exceeded`` does too.

    As a context manager an instance is used once; as a decorator each call gets its own span.
    """

    def __init__(
        self,
        name: str,
        *,
        agent: bool = False,
        provider: str | None = None,
        chain: Any = None,
        attributes: Mapping[str, Any] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.record = Chain(name, agent, provider, attributes)
        """What each run of this chain starts from."""
        self.chain = chain
        self._tracer = tracer_for(tracer_provider)
        self.run: ChainRun | None = None
        self._scope: _Scope | None = None

    @property
    def name(self) -> str:
        return self.record.name

    def _start(self) -> ChainRun:
        return ChainRun(self.record, chain=self.chain, tracer=self._tracer)

    def __enter__(self) -> ChainRun:
        self._scope = _Scope(self._start())
        self.run = self._scope.run
        return self.run

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._scope is not None:
            self._scope.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> ChainRun:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate a function, coroutine function, generator or async generator function: each
        call runs under its own chain span (for generators: from the first step to the end)."""
        spec = self
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            traced = _chain_generator if inspect.isgeneratorfunction(func) else _chain_async_generator

            def generator_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if not is_instrumentation_enabled():
                    return wrapped(*args, **kwargs)
                return traced(spec, wrapped(*args, **kwargs))

            return wrapt.FunctionWrapper(func, generator_wrapper)  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):

            async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if not is_instrumentation_enabled():
                    return await wrapped(*args, **kwargs)
                with _Scope(spec._start()):
                    return await wrapped(*args, **kwargs)

            return wrapt.FunctionWrapper(func, async_wrapper)  # type: ignore[return-value]

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if not is_instrumentation_enabled():
                return wrapped(*args, **kwargs)
            with _Scope(spec._start()):
                return wrapped(*args, **kwargs)

        return wrapt.FunctionWrapper(func, wrapper)  # type: ignore[return-value]


class _Scope:
    """A run made current for one block (one call of a decorated function), ended on exit."""

    __slots__ = ("run", "token")

    def __init__(self, run: ChainRun) -> None:
        self.run = run
        self.token = run.attach()

    def __enter__(self) -> ChainRun:
        return self.run

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.run.detach(self.token)
        self.run.end(exc)


class _Step:
    """One step of a traced generator: the run is current while the step runs (never across a
    ``yield``); an exception the step raises ends the run with it (``StopIteration`` is the end)."""

    __slots__ = ("run", "token")

    def __init__(self, run: ChainRun) -> None:
        self.run = run

    def __enter__(self) -> None:
        self.token = self.run.attach()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.run.detach(self.token)
        if exc is not None and not isinstance(exc, (StopIteration, StopAsyncIteration)):
            self.run.end(exc)


def _chain_generator(spec: trace_chain, gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """Run ``gen`` under a chain span, ended when the generator finishes, raises, is closed or is
    garbage collected. The span starts with the first step: a generator never started records nothing."""
    run = spec._start()
    step, send, value = _Step(run), gen.send, None
    try:
        while True:
            try:
                with step:
                    item = send(value)
            except StopIteration as stop:
                return stop.value
            try:
                value, send = (yield item), gen.send
            except GeneratorExit:
                gen.close()
                raise
            except BaseException as exc:  # thrown in by the consumer: forwarded to the generator
                send, value = gen.throw, exc
    finally:
        run.end()


async def _chain_async_generator(spec: trace_chain, gen: AsyncGenerator[Any, Any]) -> AsyncGenerator[Any, Any]:
    """``_chain_generator`` for async generators (the same steps, awaited)."""
    run = spec._start()
    step, send, value = _Step(run), gen.asend, None
    try:
        while True:
            try:
                with step:
                    item = await send(value)
            except StopAsyncIteration:
                return
            try:
                value, send = (yield item), gen.asend
            except GeneratorExit:
                await gen.aclose()
                raise
            except BaseException as exc:
                send, value = gen.athrow, exc
    finally:
        run.end()
