"""AWS Bedrock (``bedrock-runtime``) through boto3/botocore: ``converse``, ``converse_stream``,
``invoke_model`` and ``invoke_model_with_response_stream``.

botocore builds its client classes at run time, so the patch is one method every client shares:
``botocore.client.BaseClient._make_api_call(operation_name, api_params)``. A call of any other
operation or service (S3, DynamoDB...) goes straight through after one dict lookup of the
operation name (and, for the four names above, one check of the client's service name).

- ``Converse`` / ``InvokeModel``: one span around the call (``InvokeModel``'s operation is
  ``chat`` or ``text_completion`` by its body's format). ``InvokeModel``'s response body is read
  once (to record usage and finish reasons) and put back as a fresh ``StreamingBody`` over the
  same bytes, so the caller reads exactly what it would have (an error reading it, a timeout say,
  is then raised by ``invoke_model`` itself, and the span records it).
- ``ConverseStream`` / ``InvokeModelWithResponseStream``: the caller gets the same dict, whose
  ``stream`` / ``body`` ``EventStream`` is inside a stream proxy (``isinstance``, ``close()`` and
  ``get_initial_response()`` still work); the span ends when the events are exhausted, on
  ``close()``, at ``with`` exit, when the stream is garbage collected or when an exception event
  (``modelStreamErrorException``...) or a broken connection stops it.

aiobotocore's async client overrides ``_make_api_call`` with its own coroutine, so it is not traced
(and not touched).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from llmotel import semconv as sc
from llmotel._safety import internal_error
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor, WrapperFn
from llmotel.integrations._sdk import call_spec
from llmotel.integrations.bedrock._extract import BedrockExtractor, InvokeResult
from llmotel.wrap.decorators import CallSpec, should_trace
from llmotel.wrap.streams import SyncStreamProxy

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"
EXTRACTOR = BedrockExtractor()

_STREAM_KEYS = {"ConverseStream": "stream", "InvokeModelWithResponseStream": "body"}
"""Streaming operations -> the key of the ``EventStream`` in the response dict."""


def _is_bedrock(instance: Any) -> bool:
    model = getattr(instance, "_service_model", None)
    try:
        return getattr(model, "service_name", None) == SERVICE
    except Exception:  # a service model that cannot say: not ours
        return False


def _buffered(wrapped: Callable[..., Any]) -> Callable[..., Any]:
    """``InvokeModel``, its response body read once and put back (see the module docstring)."""

    def call(*args: Any, **kwargs: Any) -> InvokeResult:
        response = wrapped(*args, **kwargs)
        body = response.get("body") if isinstance(response, dict) else None
        if body is None or not callable(getattr(body, "read", None)):
            return InvokeResult(response, None)
        data = body.read()
        try:
            response["body"] = type(body)(io.BytesIO(data), len(data))  # botocore's StreamingBody(raw, length)
        except Exception as exc:  # another body type: the caller gets a plain file over the bytes
            internal_error("bedrock response body", exc)
            response["body"] = io.BytesIO(data)
        return InvokeResult(response, data if isinstance(data, bytes) else None)

    return call


def _invoke_call(spec: CallSpec) -> WrapperFn:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = spec.call_wrapper(_buffered(wrapped), instance, args, kwargs)
        return result.response if isinstance(result, InvokeResult) else result

    return wrapper


def _stream_call(spec: CallSpec, key: str) -> WrapperFn:
    """A streaming operation: the span starts with the request and ends with the ``EventStream``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not should_trace():
            return wrapped(*args, **kwargs)
        llm_span = spec.begin(instance, args, kwargs)
        if llm_span is None:
            return wrapped(*args, **kwargs)
        token = llm_span.attach()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            llm_span.detach(token)
            llm_span.fail(exc)
            raise
        llm_span.detach(token)
        events = result.get(key) if isinstance(result, dict) else None
        if events is None:  # not the shape botocore returns: a plain call, ended now
            llm_span.end(result)
            return result
        try:
            EXTRACTOR.started(llm_span.call, result)
            result[key] = SyncStreamProxy(events, llm_span)
        except Exception as exc:
            internal_error("bedrock stream proxy", exc)
            llm_span.end(None)
        return result

    return wrapper


def _make_api_call(options: dict[str, Any], original: Any) -> WrapperFn:
    """The patch of ``BaseClient._make_api_call``: the four Bedrock operations are traced."""
    chat = call_spec(options, sc.OP_CHAT, PROVIDER, EXTRACTOR)
    routes: dict[str, WrapperFn] = {
        "Converse": chat.call_wrapper,
        "InvokeModel": _invoke_call(chat),  # the extractor sets text_completion for prompt bodies
        **{op: _stream_call(chat, key) for op, key in _STREAM_KEYS.items()},
    }

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        route = routes.get(args[0]) if args and type(args[0]) is str else None
        if route is None or not _is_bedrock(instance):
            return wrapped(*args, **kwargs)
        return route(wrapped, instance, args, kwargs)

    return wrapper


PATCHES: tuple[Patch, ...] = (Patch("botocore.client", "BaseClient._make_api_call", _make_api_call),)


class BedrockInstrumentor(PatchingInstrumentor):
    """Traces AWS Bedrock calls made with boto3/botocore (entry point ``llmotel_bedrock``)."""

    library = "botocore"
    distribution = "botocore"
    min_version = "1.34.116"
    max_version = "2.0.0"
    patches = PATCHES


__all__ = ["PROVIDER", "BedrockExtractor", "BedrockInstrumentor"]
