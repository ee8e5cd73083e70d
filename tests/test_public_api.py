"""The public API: ``llmotel.__all__`` is exactly this list, and every name in it can be imported.

A name added to or removed from ``__all__`` is a change of the public API: update ``PUBLIC_API``
here (and the CHANGELOG) on purpose, never as a side effect of moving code between modules.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import llmotel

PUBLIC_API = [
    "Extractor",
    "LLMCall",
    "StreamState",
    "TracingHandler",
    "Usage",
    "__version__",
    "callbacks",
    "configure",
    "conversation",
    "instrument",
    "internal_error_counts",
    "llm_chat_callback",
    "llm_completion_callback",
    "trace_chain",
    "trace_chat",
    "trace_completion",
    "uninstrument",
]


def test_all_is_exactly_the_public_api() -> None:
    assert llmotel.__all__ == PUBLIC_API
    assert len(set(llmotel.__all__)) == len(llmotel.__all__)


@pytest.mark.parametrize("name", PUBLIC_API)
def test_every_public_name_is_importable(name: str) -> None:
    module = importlib.import_module("llmotel")
    assert hasattr(module, name), name
    namespace: dict[str, object] = {}
    exec(f"from llmotel import {name}", namespace)  # the form users write
    assert namespace[name] is getattr(llmotel, name)


def test_star_import_gives_exactly_the_public_api_in_a_fresh_interpreter() -> None:
    code = "names = set(globals())\nfrom llmotel import *\nprint(sorted(set(globals()) - names - {'names'}))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == repr(sorted(PUBLIC_API))
