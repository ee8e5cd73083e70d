"""``llmotel.conversation(id)``: the ``gen_ai.conversation.id`` of every GenAI span and event inside.

The id travels in the OpenTelemetry context (``CONVERSATION_KEY``), so it follows the code into
async tasks (which copy the context when created) and threads started with the context
(``contextvars.copy_context().run``, ``opentelemetry-instrumentation-threading``). It is never
invented: a call outside a conversation has no ``gen_ai.conversation.id`` unless its framework or
request supplies one (a LangChain ``thread_id``, the OpenAI Responses ``conversation``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from llmotel.telemetry.context import CONVERSATION_KEY, attach_context, current_context, detach_context

__all__ = ["conversation", "current_conversation"]

F = TypeVar("F", bound=Callable[..., Any])


def current_conversation() -> str | None:
    """The conversation id the current code runs under, if any."""
    value = current_context().get(CONVERSATION_KEY)
    return value if isinstance(value, str) else None


class conversation:
    """Run a block (``with``/``async with``) or every call of a function (decorator) in the
    conversation ``conversation_id``: each GenAI span and log event started inside records it as
    ``gen_ai.conversation.id``; an inner ``conversation`` wins over an outer one.

    ``conversation_id`` must be a non-empty string (anything else raises ``ValueError`` at the
    call site, where the mistake is).
    """

    __slots__ = ("_tokens", "id")

    def __init__(self, conversation_id: str) -> None:
        if not isinstance(conversation_id, str) or not conversation_id:
            raise ValueError(f"conversation id must be a non-empty string, not {conversation_id!r}")
        self.id = conversation_id
        self._tokens: list[object] = []

    def _enter(self) -> object:
        return attach_context(otel_context.set_value(CONVERSATION_KEY, self.id, current_context()))

    def __enter__(self) -> str:
        self._tokens.append(self._enter())
        return self.id

    def __exit__(self, *exc_info: object) -> None:
        detach_context(self._tokens.pop())

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()

    def __call__(self, func: F) -> F:
        """As a decorator: each call of ``func`` (a function, coroutine function, generator or
        async generator function) runs in the conversation; the context is attached around each
        step, so a generator's consumer never runs inside it."""
        enter = self._enter
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = enter()
                try:
                    agen = func(*args, **kwargs)
                finally:
                    detach_context(token)
                value: Any = None
                thrown: BaseException | None = None
                while True:
                    token = enter()
                    try:
                        item = await (agen.asend(value) if thrown is None else agen.athrow(thrown))
                    except StopAsyncIteration:
                        return
                    finally:
                        detach_context(token)
                    thrown = None
                    try:
                        value = yield item
                    except GeneratorExit:
                        token = enter()
                        try:
                            await agen.aclose()
                        finally:
                            detach_context(token)
                        raise
                    except BaseException as exc:  # thrown in by the consumer: into the generator
                        thrown = exc

            return agen_wrapper  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = enter()
                try:
                    gen = func(*args, **kwargs)
                finally:
                    detach_context(token)
                value: Any = None
                thrown: BaseException | None = None
                while True:
                    token = enter()
                    try:
                        item = gen.send(value) if thrown is None else gen.throw(thrown)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        detach_context(token)
                    thrown = None
                    try:
                        value = yield item
                    except GeneratorExit:
                        token = enter()
                        try:
                            gen.close()
                        finally:
                            detach_context(token)
                        raise
                    except BaseException as exc:  # thrown in by the consumer: into the generator
                        thrown = exc

            return gen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = enter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    detach_context(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = enter()
            try:
                return func(*args, **kwargs)
            finally:
                detach_context(token)

        return wrapper  # type: ignore[return-value]
