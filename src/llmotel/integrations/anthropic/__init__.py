"""anthropic: ``messages.create`` (sync/async, ``stream=True``) and the ``messages.stream(...)`` helpers.

One span per call. Current anthropic SDKs trace themselves (an ``anthropic.messages.create``
CLIENT span, on unless ``ANTHROPIC_OPEN_TELEMETRY=false``). llmotel *takes its place*: while an
llmotel span is the current span of an anthropic call, the SDK's ``start_api_call_span`` is told
to start none, so the user sees exactly one span per call, carrying llmotel's full set (usage with
cache tokens folded into ``gen_ai.usage.input_tokens`` as the conventions require, chunk events,
time to first chunk, request id from the response headers). The SDK still propagates the trace
context of the call's span (now llmotel's) with its requests. Calls llmotel does not trace (for
example with instrumentation suppressed) keep the SDK's own span.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.extract import Extractor
from llmotel.extract.request import server_of_url
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFn
from llmotel.integrations._sdk import (
    call_patch,
    call_spec,
    response_header_patches,
    stream_request_id_patches,
    sync_and_async,
)
from llmotel.records import LLMCall
from llmotel.telemetry.context import current_span_stand_in
from llmotel.telemetry.spans import LLMSpan, inside_inference
from llmotel.wrap.decorators import should_trace
from llmotel.wrap.streams import AsyncStreamProxy, ObjectProxy, SyncStreamProxy

PROVIDER = "anthropic"


class AnthropicExtractor(Extractor):
    """The default mapping plus the client's base URL."""

    reads_model_config = False  # the instance is an SDK resource: no model configuration on it

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Any) -> None:
        super().request(call, None, args, kwargs)  # an SDK resource: nothing to read on it
        base_url = getattr(getattr(instance, "_client", None), "base_url", None)
        if base_url is not None:
            call.server_address, call.server_port = server_of_url(base_url)


class _StreamHelperExtractor(AnthropicExtractor):
    """``messages.stream(...)`` always streams, though no ``stream=True`` is among its arguments."""

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Any) -> None:
        super().request(call, instance, args, kwargs)
        call.stream = True


EXTRACTOR = AnthropicExtractor()
STREAM_HELPER_EXTRACTOR = _StreamHelperExtractor()


class _StreamManagerProxy(ObjectProxy):
    """``messages.stream(...)``'s manager: the request happens on enter; the span ends on exit."""

    def __init__(self, wrapped: Any, llm_span: LLMSpan) -> None:
        super().__init__(wrapped)
        self._self_llm_span = llm_span
        self._self_stream: Any = None
        self._self_failed = False  # the request failed on enter: the span has ended already

    def _self_wrap_stream(self, stream: Any, proxy_cls: Any) -> None:
        try:
            stream._iterator = proxy_cls(stream._iterator, self._self_llm_span)
        except Exception as exc:  # a changed SDK: the span still ends on exit, without chunk facts
            internal_error("anthropic stream helper", exc)
            self._self_llm_span.start_stream()
        self._self_stream = stream

    @contextmanager
    def _self_entering(self) -> Iterator[None]:
        """Around the manager's enter (the request): the span is current; a failure ends it."""
        llm_span: LLMSpan = self._self_llm_span
        token = llm_span.attach()
        try:
            yield
        except BaseException as exc:
            llm_span.detach(token)
            self._self_failed = True
            llm_span.fail(exc)
            raise
        llm_span.detach(token)

    def _self_finish(self, reason: str) -> None:
        if self._self_failed:
            return
        llm_span: LLMSpan = self._self_llm_span
        if llm_span.call.stream_state is None:
            llm_span.start_stream()
        llm_span.finish_stream(reason)

    def __enter__(self) -> Any:
        with self._self_entering():
            stream = self.__wrapped__.__enter__()
        self._self_wrap_stream(stream, SyncStreamProxy)
        return stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_finish("context_exit")

    async def __aenter__(self) -> Any:
        with self._self_entering():
            stream = await self.__wrapped__.__aenter__()
        self._self_wrap_stream(stream, AsyncStreamProxy)
        return stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_finish("context_exit")

    def __del__(self) -> None:
        try:
            self._self_finish("garbage_collected")
        except Exception:
            return


def _stream_helper(options: dict[str, Any], original: Any) -> WrapperFn:
    spec = call_spec(options, sc.OP_CHAT, PROVIDER, STREAM_HELPER_EXTRACTOR)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not should_trace():
            return wrapped(*args, **kwargs)
        llm_span = spec.begin(instance, args, kwargs)
        if llm_span is None:
            return wrapped(*args, **kwargs)
        try:
            manager = wrapped(*args, **kwargs)
        except BaseException as exc:
            llm_span.fail(exc)
            raise
        return _StreamManagerProxy(manager, llm_span)

    return wrapper


def _no_sdk_span_under_llmotel(options: dict[str, Any], original: Any) -> WrapperFn:
    """The SDK's own call span is not started while an llmotel span is the current span.

    The SDK gets a non-recording stand-in carrying the llmotel span's context instead of ``None``,
    so it still sends that trace context with its requests (``traceparent``) as it would for its
    own span, and records nothing on it.
    """

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if inside_inference():
            return current_span_stand_in()
        return wrapped(*args, **kwargs)

    return wrapper


_MESSAGES = "anthropic.resources.messages.messages"
_CLIENT = "anthropic._base_client"
_STREAMING = "anthropic._streaming"

PATCHES: tuple[Patch, ...] = (
    *sync_and_async(_MESSAGES, "Messages.create", call_patch(sc.OP_CHAT, PROVIDER, EXTRACTOR)),
    *sync_and_async(
        _MESSAGES, "Messages.stream", lambda is_async: _stream_helper
    ),  # plain methods; the async one returns an async manager
    Patch(_CLIENT, "start_api_call_span", _no_sdk_span_under_llmotel),
    *response_header_patches(_CLIENT),
    *stream_request_id_patches(_STREAMING),
)


class AnthropicInstrumentor(PatchingInstrumentor):
    """Traces the anthropic SDK (entry point ``llmotel_anthropic``)."""

    library = "anthropic"
    distribution = "anthropic"
    min_version = "0.41.0"  # resources.messages is a package from 0.41
    max_version = "3.0.0"
    patches = PATCHES
