"""The pydantic handler classes LlamaIndex's dispatcher calls, and attach/detach on a dispatcher."""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any

# llama_index.core.instrumentation paths: the same objects in every llama-index-core since 0.10.41,
# whether defined there (older) or re-exported from llama_index_instrumentation (newer).
from llama_index.core.instrumentation import Dispatcher, get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent  # type: ignore[attr-defined]
from llama_index.core.instrumentation.span import BaseSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from pydantic import PrivateAttr

from llmotel._safety import internal_error
from llmotel.extract import Extractor
from llmotel.integrations.llama_index._bridge import Bridge
from llmotel.telemetry.spans import Telemetry
from llmotel.wrap.decorators import default_telemetry

if TYPE_CHECKING:
    from opentelemetry._logs import LoggerProvider
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

Providers = tuple["TracerProvider | None", "MeterProvider | None", "LoggerProvider | None"]

__all__ = ["LlmotelEventHandler", "LlmotelSpanHandler", "attached", "detach", "install"]


class LlmotelSpanHandler(BaseSpanHandler[BaseSpan]):
    """Turns LlamaIndex dispatcher spans into llmotel spans (see the package docstring).

    Never raises into LlamaIndex: every callback is guarded (``llmotel._safety``).
    """

    _bridge: Bridge = PrivateAttr()

    def __init__(self, bridge: Bridge | None = None) -> None:
        super().__init__(open_spans={}, completed_spans=[], dropped_spans=[], current_span_ids={})
        self._bridge = bridge if bridge is not None else Bridge(default_telemetry())

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "LlmotelSpanHandler"

    @property
    def bridge(self) -> Bridge:
        """The state shared with the event handler."""
        return self._bridge

    def new_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        parent_span_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> BaseSpan | None:
        """A dispatcher span starts: a chain, tool or (pending) LLM span, made current."""
        try:
            evicted = self._bridge.enter(id_, bound_args, instance, parent_span_id)
        except Exception as exc:
            internal_error("llama_index span enter", exc)
            return None
        if evicted:
            with self.lock:
                for old in evicted:
                    self.open_spans.pop(old, None)
        return BaseSpan.model_construct(id_=id_, parent_id=parent_span_id)

    def close(self) -> None:
        """Dispatcher shutdown: end what is still open (streams not read to the end), abandoned."""
        try:
            self._bridge.close()
        except Exception as exc:
            internal_error("llama_index close", exc)

    def prepare_to_exit_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        result: Any | None = None,
        **kwargs: Any,
    ) -> BaseSpan | None:
        """The method returned: end its span (a returned stream keeps the LLM span open)."""
        try:
            self._bridge.exit(id_, result)
        except Exception as exc:
            internal_error("llama_index span exit", exc)
        return self.open_spans.get(id_)

    def prepare_to_drop_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> BaseSpan | None:
        """The method raised: end its span with ERROR."""
        try:
            self._bridge.drop(id_, err)
        except Exception as exc:
            internal_error("llama_index span drop", exc)
        return self.open_spans.get(id_)


class LlmotelEventHandler(BaseEventHandler):
    """Turns LlamaIndex LLM, exception and agent-tool events into attributes, chunks and span ends.

    Pair it with a span handler by sharing its bridge: ``LlmotelEventHandler(span_handler.bridge)``.
    """

    _bridge: Bridge = PrivateAttr()

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self._bridge = bridge

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "LlmotelEventHandler"

    @property
    def bridge(self) -> Bridge:
        """The state shared with the span handler."""
        return self._bridge

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """One event (guarded: never raises into LlamaIndex)."""
        try:
            self._bridge.event(event)
        except Exception as exc:
            internal_error("llama_index event", exc)


class _Installed:
    lock = threading.Lock()
    dispatcher: Dispatcher | None = None
    span_handler: LlmotelSpanHandler | None = None
    event_handler: LlmotelEventHandler | None = None


def install(target: Dispatcher | None, providers: Providers, extractor: Extractor | None) -> LlmotelSpanHandler:
    """``llmotel.integrations.llama_index.attach``: ``providers`` is (tracer, meter, logger provider)."""
    with _Installed.lock:
        current = _Installed.span_handler
        if current is not None:
            return current
        if target is None:
            target = get_dispatcher()
        present = next((h for h in target.span_handlers if isinstance(h, LlmotelSpanHandler)), None)
        if present is not None:  # added by hand (or by an earlier copy of this module): adopt it
            paired = [h for h in target.event_handlers if isinstance(h, LlmotelEventHandler)]
            if not any(h.bridge is present.bridge for h in paired):
                target.event_handlers = [*target.event_handlers, LlmotelEventHandler(present.bridge)]
            _Installed.dispatcher = target
            _Installed.span_handler = present
            _Installed.event_handler = next(
                h for h in target.event_handlers if isinstance(h, LlmotelEventHandler) and h.bridge is present.bridge
            )
            return present
        telemetry = default_telemetry() if not any(providers) else Telemetry(*providers)
        bridge = Bridge(telemetry, extractor)
        span_handler = LlmotelSpanHandler(bridge)
        event_handler = LlmotelEventHandler(bridge)
        # New lists, never in-place edits: a dispatch iterating the old list in another thread is unaffected.
        target.span_handlers = [*target.span_handlers, span_handler]
        target.event_handlers = [*target.event_handlers, event_handler]
        _Installed.dispatcher = target
        _Installed.span_handler = span_handler
        _Installed.event_handler = event_handler
        return span_handler


def attached() -> LlmotelSpanHandler | None:
    """The span handler in place, or ``None`` when not attached."""
    return _Installed.span_handler


def detach() -> bool:
    """See ``llmotel.integrations.llama_index.detach``."""
    with _Installed.lock:
        target = _Installed.dispatcher
        span_handler = _Installed.span_handler
        event_handler = _Installed.event_handler
        _Installed.dispatcher = _Installed.span_handler = _Installed.event_handler = None
        if target is None or span_handler is None:
            return False
        target.span_handlers = [h for h in target.span_handlers if h is not span_handler]
        target.event_handlers = [h for h in target.event_handlers if h is not event_handler]
    try:
        span_handler.bridge.close()
        with span_handler.lock:
            span_handler.open_spans.clear()
    except Exception as exc:
        internal_error("llama_index detach", exc)
    return True
