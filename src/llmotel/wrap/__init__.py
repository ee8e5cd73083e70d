"""Wrapping: decorators and stream proxies that turn calls into telemetry (built on wrapt)."""
