"""Bedrock extraction (no OpenTelemetry, no ``import botocore``): botocore's ``_make_api_call``
arguments and parsed response dicts -> ``LLMCall``.

The patched method is ``BaseClient._make_api_call(operation_name, api_params)``: the request is
``args[1]`` (``modelId``, ``messages``, ``inferenceConfig``, or ``body`` for ``InvokeModel``).
A plain ``InvokeModel`` response reaches ``response`` as an ``InvokeResult`` (the response dict
plus the body bytes the integration read and put back); the streams' chunks are the
``EventStream``'s events (dicts). Shapes are in ``_converse`` and ``_invoke``.

``gen_ai.response.id`` is the request id (``ResponseMetadata.RequestId``, the one id every
Bedrock response has). Usage missing from a body comes from the ``x-amzn-bedrock-*-token-count``
response headers or the streams' ``amazon-bedrock-invocationMetrics``. Only the allow-listed
response headers (request id, retry-after, rate limits) are ever read; request headers and
credentials never are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmotel.extract import Extractor
from llmotel.extract._access import as_str
from llmotel.extract._headers import header_attributes
from llmotel.extract.request import server_of_url
from llmotel.integrations.bedrock import _converse as cv
from llmotel.integrations.bedrock import _invoke as inv
from llmotel.records import LLMCall, StreamState

CONVERSE = frozenset({"Converse", "ConverseStream"})
STREAMS = frozenset({"ConverseStream", "InvokeModelWithResponseStream"})
HTTP_STATUS_CODE = "http.response.status_code"
ERROR_CODE = "llmotel.bedrock.error_code"
"""The AWS error code of a failed call (``ThrottlingException``, ``modelStreamErrorException``...)."""


class InvokeResult:
    """A plain ``InvokeModel`` response for the extractor: botocore's dict and its body's bytes."""

    __slots__ = ("data", "response")

    def __init__(self, response: Any, data: bytes | None) -> None:
        self.response = response
        self.data = data


def _api_params(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    operation = args[0] if args else kwargs.get("operation_name")
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    return (operation if isinstance(operation, str) else None), (params if isinstance(params, Mapping) else {})


def _metadata(result: Any) -> Mapping[str, Any]:
    meta = result.get("ResponseMetadata") if isinstance(result, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


_servers: dict[str, tuple[str | None, int | None]] = {}


def _server(instance: Any) -> tuple[str | None, int | None]:
    url = getattr(getattr(instance, "meta", None), "endpoint_url", None)
    if not isinstance(url, str):
        return None, None
    known = _servers.get(url)
    if known is None:
        known = server_of_url(url)
        if len(_servers) < 256:
            _servers[url] = known
    return known


class BedrockExtractor(Extractor):
    """Converse / ConverseStream / InvokeModel / InvokeModelWithResponseStream."""

    reads_model_config = False  # the instance is a botocore client

    def request(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        operation, params = _api_params(args, kwargs)
        call.request_model = as_str(params.get("modelId"))
        call.server_address, call.server_port = _server(instance)
        if operation in STREAMS:
            call.stream = True
        if operation in CONVERSE:
            cv.converse_request(call, params)
        else:
            inv.invoke_request(call, cv.parse_json(params.get("body")))

    def input_content(self, call: LLMCall, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        operation, params = _api_params(args, kwargs)
        if operation in CONVERSE:
            call.input_messages = cv.converse_messages(params.get("messages"))
            system = cv.blocks_parts(params.get("system"))
            if system:
                call.system_instructions = system
        else:
            inv.invoke_input(call, cv.parse_json(params.get("body")))

    def response(self, call: LLMCall, result: Any, capture: bool) -> None:
        if isinstance(result, InvokeResult):
            self.started(call, result.response)
            inv.read_invoke_body(call, cv.parse_json(result.data), capture)
            headers = _metadata(result.response).get("HTTPHeaders")
            if isinstance(headers, Mapping):
                cv.fill_missing(
                    call,
                    _header_count(headers.get("x-amzn-bedrock-input-token-count")),
                    _header_count(headers.get("x-amzn-bedrock-output-token-count")),
                )
        elif isinstance(result, Mapping):
            self.started(call, result)
            cv.read_converse(call, result, capture)

    def started(self, call: LLMCall, result: Any) -> None:
        """What the response dict says before any body or stream is read: the request id."""
        if call.response_id is None:
            call.response_id = as_str(_metadata(result).get("RequestId"))

    def chunk(self, call: LLMCall, state: StreamState, chunk: Any, capture: bool) -> None:
        if type(chunk) is not dict or ("contentBlockDelta" in chunk and not capture):
            return  # a ConverseStream text delta carries nothing but content (the usual chunk)
        part = chunk.get("chunk")
        if part is not None:  # InvokeModelWithResponseStream: {"chunk": {"bytes": b"{...}"}}
            data = part.get("bytes") if isinstance(part, Mapping) else None
            inv.invoke_chunk(call, state, cv.parse_json(data), capture)
        else:
            cv.converse_event(call, state, chunk, capture)

    def chunk_text(self, chunk: Any) -> str | None:
        if type(chunk) is not dict:
            return None
        part = chunk.get("chunk")
        if isinstance(part, Mapping):
            return inv.invoke_chunk_text(cv.parse_json(part.get("bytes")))
        return cv.converse_chunk_text(chunk)

    def stream_end(self, call: LLMCall, state: StreamState, capture: bool) -> None:
        if capture:
            cv.stream_output(call, state)

    def error(self, call: LLMCall, exc: BaseException) -> None:
        """A ``ClientError`` (``EventStreamError`` mid-stream): status, error code, allow-listed headers."""
        response = getattr(exc, "response", None)
        if not isinstance(response, Mapping):
            return
        extra: dict[str, Any] = {}
        meta = _metadata(response)
        status = meta.get("HTTPStatusCode")
        if type(status) is int and 100 <= status <= 599:
            extra[HTTP_STATUS_CODE] = status
        error = response.get("Error")
        code = as_str(error.get("Code")) if isinstance(error, Mapping) else None
        if code:
            extra[ERROR_CODE] = code
        headers = meta.get("HTTPHeaders")
        if isinstance(headers, Mapping):
            extra.update(header_attributes(headers))
        if extra:
            call.extra = {**(call.extra or {}), **extra}


def _header_count(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
