"""Exporters and SDK setup: the console trace view (log events under their spans) and the OTLP
configuration of traces, metrics and logs."""
