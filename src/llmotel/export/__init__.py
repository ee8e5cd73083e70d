"""Exporters and SDK setup: console trace view, OTLP configuration."""
