"""``trace_chain``: the chain span (``invoke_workflow`` / ``invoke_agent``) as a context manager or
decorator. LLM spans from the decorators and tool spans from callbacks nest under it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from llmotel.telemetry.chains import ChainRun, tracer_for

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
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.name = name
        self.agent = agent
        self.provider = provider
        self.chain = chain
        self.attributes = attributes
        self._tracer = tracer_for(tracer_provider)
        self.run: ChainRun | None = None
        self._token: object | None = None

    def _start(self, chain: Any = None) -> ChainRun:
        return ChainRun(
            self.name,
            agent=self.agent,
            provider=self.provider,
            chain=chain if chain is not None else self.chain,
            attributes=self.attributes,
            tracer=self._tracer,
        )

    def __enter__(self) -> ChainRun:
        self.run = self._start()
        self._token = self.run.attach()
        return self.run

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        run, token = self.run, self._token
        if run is None or token is None:
            return
        run.detach(token)
        run.end(exc)

    async def __aenter__(self) -> ChainRun:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate a function or coroutine function: each call runs under its own chain span."""
        spec = self

        if inspect.iscoroutinefunction(func):

            async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                if not is_instrumentation_enabled():
                    return await wrapped(*args, **kwargs)
                run = spec._start()
                token = run.attach()
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as exc:
                    run.detach(token)
                    run.end(exc)
                    raise
                run.detach(token)
                run.end()
                return result

            return wrapt.FunctionWrapper(func, async_wrapper)  # type: ignore[return-value]

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if not is_instrumentation_enabled():
                return wrapped(*args, **kwargs)
            run = spec._start()
            token = run.attach()
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                run.detach(token)
                run.end(exc)
                raise
            run.detach(token)
            run.end()
            return result

        return wrapt.FunctionWrapper(func, wrapper)  # type: ignore[return-value]
