"""OpenTelemetry's logs names and log-record fields, resolved once for the installed release.

llmotel supports opentelemetry 1.30 and later. What moved in that range, and what this module does:

* 1.39 renamed the logs SDK's export side: ``LogExporter``, ``LogExportResult``, ``LogData`` and
  ``InMemoryLogExporter`` became ``LogRecordExporter``, ``LogRecordExportResult``,
  ``ReadableLogRecord`` and ``InMemoryLogRecordExporter``. The exported record (either type)
  holds the record as ``.log_record`` (``body``, ``attributes``, ``trace_id``, ``span_id``,
  ``trace_flags``, ``timestamp``...), so only the names differ: import them from here.
* 1.35 added ``LogRecord.event_name``; before it, an event is named by its ``event.name``
  attribute. ``event_name()`` and ``attributes()`` read either.
* Before 1.37 the SDK's ``Logger.emit`` hands an API ``LogRecord`` to its processors as it is:
  with no ``resource`` or ``dropped_attributes``, which the OTLP exporter reads (the export
  fails); 1.37 converts it, but passes ``trace_id`` next to ``context`` and warns
  ``LogDeprecatedInitWarning`` at every conversion. Before 1.38 ``new_log_record()`` therefore
  builds the SDK's own record, with the logger's resource, as later SDKs do (1.38 converts API
  records cleanly and deprecates constructing its own).
* Before 1.35 the SDK's record kept only primitive attribute values (structured ones, such as
  ``gen_ai.input_messages``, were dropped): ``new_log_record()`` keeps them, as later SDKs do.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry._logs import Logger, LogRecord
from opentelemetry._logs._internal import ProxyLogger
from opentelemetry.attributes import BoundedAttributes

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExporter, LogRecordExportResult
else:
    try:  # opentelemetry-sdk >= 1.39
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExporter, LogRecordExportResult
    except ImportError:  # 1.30 .. 1.38: the same types under their older names
        from opentelemetry.sdk._logs import LogData as ReadableLogRecord
        from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogRecordExporter
        from opentelemetry.sdk._logs.export import LogExporter as LogRecordExporter
        from opentelemetry.sdk._logs.export import LogExportResult as LogRecordExportResult

__all__ = [
    "EVENT_NAME_ATTRIBUTE",
    "HAS_CONTEXT",
    "HAS_EVENT_NAME",
    "InMemoryLogRecordExporter",
    "LogRecordExportResult",
    "LogRecordExporter",
    "ReadableLogRecord",
    "attributes",
    "event_name",
    "new_log_record",
]

EVENT_NAME_ATTRIBUTE = "event.name"
"""Where an event's name goes on an API without ``LogRecord.event_name`` (before 1.35)."""


def _record_parameters() -> tuple[bool, bool]:
    """Whether this API's ``LogRecord`` takes ``event_name`` and ``context`` (both since 1.35)."""
    try:
        parameters = inspect.signature(LogRecord.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - a LogRecord without a signature
        return False, False
    return "event_name" in parameters, "context" in parameters


HAS_EVENT_NAME, HAS_CONTEXT = _record_parameters()


def _sdk_record_class() -> Any:
    """The SDK's own ``LogRecord`` class where ``new_log_record`` builds it directly (before 1.38)."""
    from opentelemetry.sdk.version import __version__ as sdk_version

    major, minor = (int(part) for part in sdk_version.split(".")[:2])
    if (major, minor) >= (1, 38):  # 1.38 converts API records cleanly and deprecates its own class
        return None
    from opentelemetry.sdk._logs import LogRecord as SdkLogRecord  # type: ignore[attr-defined]

    return SdkLogRecord


_SDK_RECORD = _sdk_record_class()
_EXTENDED_ATTRIBUTES = "extended_attributes" in inspect.signature(BoundedAttributes.__init__).parameters


class _Attributes(dict[str, Any]):
    """A record's attributes kept as given (structured values too), for SDKs before 1.35, whose
    exporters read ``attributes.dropped``."""

    dropped = 0


def _sdk_logger(logger: Logger) -> Any:
    """The SDK ``Logger`` behind ``logger`` (a proxy resolves to the global provider's), or None."""
    from opentelemetry.sdk._logs import Logger as SdkLogger

    real = logger._logger if isinstance(logger, ProxyLogger) else logger
    return real if isinstance(real, SdkLogger) else None


def new_log_record(logger: Logger, **fields: Any) -> LogRecord:
    """A ``LogRecord(**fields)`` for ``logger.emit()``: the API's, or before 1.38, when ``logger``
    is the SDK's, the SDK's own record with the logger's resource (what later SDKs make of it)."""
    sdk_logger = _sdk_logger(logger) if _SDK_RECORD is not None else None
    if sdk_logger is None:
        return LogRecord(**fields)
    given = fields.get("attributes")
    record: LogRecord = _SDK_RECORD(resource=sdk_logger.resource, **fields)
    if given and not _EXTENDED_ATTRIBUTES:
        record.attributes = _Attributes(given)
    return record


def event_name(log_record: Any) -> str | None:
    """The event name of a ``LogRecord`` (an exported record's ``.log_record``), on any API."""
    name = getattr(log_record, "event_name", None)
    if name is None:
        name = (log_record.attributes or {}).get(EVENT_NAME_ATTRIBUTE)
    return name if isinstance(name, str) else None


def attributes(log_record: Any) -> Mapping[str, Any]:
    """A ``LogRecord``'s attributes, without the ``event.name`` an API before 1.35 keeps there."""
    attrs = log_record.attributes or {}
    if hasattr(log_record, "event_name") or EVENT_NAME_ATTRIBUTE not in attrs:
        return attrs
    return {key: value for key, value in attrs.items() if key != EVENT_NAME_ATTRIBUTE}
