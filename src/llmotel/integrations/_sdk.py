"""What the integrations of the Stainless-generated provider SDKs (openai, anthropic) share.

Both SDKs have resource classes whose methods make the call (``Completions.create``,
``Messages.create``, each with an ``Async...`` twin) and one client base module
(``<sdk>._base_client``) whose ``SyncAPIClient`` / ``AsyncAPIClient._process_response`` sees every
HTTP response. ``sync_and_async`` patches such a pair; ``call_patch`` is the patch factory of a
method that makes one LLM call (``call_spec`` builds its ``CallSpec`` from ``instrument()``'s
options); ``response_header_patches`` are the two client patches that put the allow-listed
response headers (request id, processing time, rate limits) on the call's span, installed only
when ``LLMOTEL_RESPONSE_HEADERS`` / ``LLMOTEL_RATELIMIT_ATTRIBUTES`` ask for more than the request
id; otherwise ``stream_request_id_patches`` read a stream's request id from its HTTP response (a
parsed result carries the SDK's own ``_request_id``, read by the extractors: ``sdk_request_id``).

The factories run when a patch is applied, never per call (the installed wrappers are the
``CallSpec``'s own methods); the header wrapper runs once per HTTP response, the stream one once
per stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmotel._safety import internal_error
from llmotel.config import settings
from llmotel.extract import Extractor
from llmotel.integrations._instrumentor import Patch, WrapperFactory, WrapperFn
from llmotel.records import LLMCall
from llmotel.wrap.decorators import CallSpec


def call_spec(
    options: dict[str, Any],
    operation: str,
    provider: str,
    extractor: Extractor,
    prepare: Prepare | None = None,
) -> CallSpec:
    """The span spec of one patched SDK method, with the providers given to ``instrument()``."""
    return CallSpec(
        operation,
        provider=provider,
        extractor=extractor,
        tracer_provider=options.get("tracer_provider"),
        meter_provider=options.get("meter_provider"),
        logger_provider=options.get("logger_provider"),
        prepare=prepare,
    )


Prepare = Callable[[LLMCall, dict[str, Any]], None]
"""``CallSpec``'s ``prepare`` hook: run after the span started, before the call (may adjust kwargs)."""


def sync_and_async(module: str, attribute: str, factory: Callable[[bool], WrapperFactory]) -> tuple[Patch, Patch]:
    """``Class.method`` and its ``AsyncClass.method`` twin (how both SDKs name their async
    resources and helpers), patched with ``factory(False)`` and ``factory(True)``."""
    return Patch(module, attribute, factory(False)), Patch(module, f"Async{attribute}", factory(True))


def call_patch(
    operation: str,
    provider: str,
    extractor: Extractor,
    prepare_for: Callable[[dict[str, Any]], Prepare | None] | None = None,
) -> Callable[[bool], WrapperFactory]:
    """For ``sync_and_async``: the patch factory of a method that makes one LLM call, traced by a
    ``CallSpec`` (its ``call_wrapper``, or ``async_wrapper`` for the async twin);
    ``prepare_for(options)`` picks its ``prepare`` hook from ``instrument()``'s options."""

    def for_mode(is_async: bool) -> WrapperFactory:
        def factory(options: dict[str, Any], original: Any) -> WrapperFn:
            prepare = prepare_for(options) if prepare_for is not None else None
            spec = call_spec(options, operation, provider, extractor, prepare)
            return spec.async_wrapper if is_async else spec.call_wrapper

        return factory

    return for_mode


INFERENCE_PATHS = ("/chat/completions", "/completions", "/responses", "/embeddings", "/messages")
"""Request paths whose response headers belong to the LLM span (not files, moderation, models...)."""


def _is_inference_request(options: Any) -> bool:
    url = getattr(options, "url", None)
    return not isinstance(url, str) or url.rstrip("/").endswith(INFERENCE_PATHS)


def _headers_onto(llm: Any, headers: Any, request_id_only: bool) -> None:
    """The allow-listed facts of ``headers`` onto ``llm``'s record (a request id already known,
    from the SDK's parsed response, is kept); never raises."""
    from llmotel.extract._headers import header_attributes

    try:
        facts = header_attributes(headers, llm._settings.ratelimit_attributes, request_id_only)
        if facts:
            call = llm.call
            call.extra = facts if call.extra is None else {**facts, **call.extra}
    except Exception as exc:
        internal_error("response headers", exc)


def record_response_headers(options: dict[str, Any], original: Any) -> WrapperFn:
    """Patch factory for a Stainless SDK's ``_process_response(response=..., options=...)`` (openai,
    anthropic): the allow-listed response headers (request id, rate limits) of an inference request
    go onto the active LLM span; other requests made under it (files, moderation) are not its own."""
    from llmotel.telemetry.spans import active_llm_span

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        llm = active_llm_span()
        if llm is not None and llm.recording and _is_inference_request(kwargs.get("options")):
            _headers_onto(llm, getattr(kwargs.get("response"), "headers", None), False)
        return wrapped(*args, **kwargs)

    return wrapper


def _headers_read() -> bool:
    """The processing time or rate limits of successful calls are asked for: every response's
    headers are read (else only a request id is recorded, which costs no wrapper per call)."""
    return settings().response_headers


def _request_id_only() -> bool:
    return not settings().response_headers


def response_header_patches(client_module: str) -> tuple[Patch, Patch]:
    """``record_response_headers`` on the sync and the async client of ``<sdk>._base_client``
    (with ``LLMOTEL_RESPONSE_HEADERS`` / ``LLMOTEL_RATELIMIT_ATTRIBUTES`` on)."""
    return (
        Patch(client_module, "SyncAPIClient._process_response", record_response_headers, _headers_read),
        Patch(client_module, "AsyncAPIClient._process_response", record_response_headers, _headers_read),
    )


def record_stream_request_id(options: dict[str, Any], original: Any) -> WrapperFn:
    """Patch factory for a Stainless SDK's ``Stream.__init__(..., response=...)``: the request id
    of a stream made under an LLM span goes onto it (a stream has no parsed ``_request_id``)."""
    from llmotel.telemetry.spans import active_llm_span

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        llm = active_llm_span()
        if llm is not None and llm.recording:  # the response the SDK's __init__ kept
            _headers_onto(llm, getattr(getattr(instance, "response", None), "headers", None), True)
        return result

    return wrapper


def stream_request_id_patches(streaming_module: str) -> tuple[Patch, Patch]:
    """``record_stream_request_id`` on ``<sdk>._streaming``'s ``Stream`` and ``AsyncStream`` (when
    the header patches are not installed: they read every response, streams included)."""
    return (
        Patch(streaming_module, "Stream.__init__", record_stream_request_id, _request_id_only),
        Patch(streaming_module, "AsyncStream.__init__", record_stream_request_id, _request_id_only),
    )
