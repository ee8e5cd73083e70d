"""Helpers shared by the test modules (fixtures live in ``tests/conftest.py``).

Test modules import them as ``helpers.<module>``: pytest's default "prepend" import mode puts the
rootless tests/ directory on sys.path, which makes this package importable.

- ``otlp_receiver``: real in-process OTLP receivers (gRPC and HTTP/protobuf) and the decoders.
- ``collector``: environments and receivers for the tests that run llmotel in a subprocess.
- ``spans``: reading the in-memory exporter's spans (attributes, stream attributes, lookups).
- ``fake_openai`` / ``fake_anthropic``: httpx handlers answering like the real APIs, for the real SDKs.
- ``objects``: duck-typed and hostile objects for the property and bad-input tests.
"""
