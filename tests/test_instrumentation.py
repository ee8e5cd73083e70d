"""Auto-instrumentation plumbing: patch tables, exact restore, deferred patching, LLMOTEL_INSTRUMENT,
llmotel.instrument(), and `opentelemetry-instrument` runs in subprocesses."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import llmotel
from conftest import finished
from llmotel import semconv as sc
from llmotel.integrations._instrumentor import Patch, PatchingInstrumentor
from llmotel.integrations.configured import ConfiguredInstrumentor, parse
from llmotel.integrations.registry import INSTRUMENTORS

LLM_MODULE = """
class MyLLM:
    model = "my-model"

    def chat(self, messages):
        return {"id": "r1", "model": "my-model-1", "choices": [{"index": 0, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1}}

    def stream_complete(self, prompt):
        yield "a"
        yield "b"

    async def achat(self, messages):
        return "async"
"""


@pytest.fixture
def user_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user package that is NOT imported yet (so patching must wait for its import)."""
    name = f"userpkg_{os.getpid()}_{abs(hash(str(tmp_path))) % 10**8}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "llm.py").write_text(LLM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_parse_targets() -> None:
    assert parse("a.b:C.chat=chat, a.b:C.complete=text_completion,x:f") == [
        ("a.b", "C.chat", "chat"),
        ("a.b", "C.complete", "text_completion"),
        ("x", "f", "chat"),
    ]
    with pytest.raises(ValueError, match=r"module:Class\.method"):
        parse("no_colon_here")


def test_configured_classes_are_patched_on_import_and_restored(user_package: str) -> None:
    instrumentor = ConfiguredInstrumentor()
    targets = f"{user_package}.llm:MyLLM.chat=chat,{user_package}.llm:MyLLM.stream_complete=text_completion,{user_package}.llm:MyLLM.achat"
    assert f"{user_package}.llm" not in sys.modules
    instrumentor.instrument(targets=targets)
    try:
        module = __import__(f"{user_package}.llm", fromlist=["MyLLM"])
        llm = module.MyLLM()
        assert llm.chat([])["id"] == "r1"
        assert list(llm.stream_complete("p")) == ["a", "b"]
        import asyncio
        import inspect

        assert inspect.iscoroutinefunction(module.MyLLM.achat)
        assert asyncio.run(llm.achat([])) == "async"
    finally:
        instrumentor.uninstrument()
    spans = finished()
    assert [s.name for s in spans] == ["chat my-model", "text_completion my-model", "chat my-model"]
    assert spans[0].attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 2  # type: ignore[index]
    assert spans[1].attributes[sc.LLMOTEL_STREAM_CHUNKS] == 2  # type: ignore[index]
    assert "__wrapped__" not in vars(module.MyLLM)["chat"].__dict__  # a plain function again
    assert not hasattr(module.MyLLM.chat, "__wrapped__")


def test_unresolvable_name_warns(user_package: str, caplog: pytest.LogCaptureFixture) -> None:
    __import__(f"{user_package}.llm")
    instrumentor = ConfiguredInstrumentor()
    with caplog.at_level(logging.WARNING, logger="llmotel"):
        instrumentor.instrument(targets=f"{user_package}.llm:MyLLM.nope=chat,not_installed_pkg_xyz.mod:X.y")
    instrumentor.uninstrument()
    messages = [r.getMessage() for r in caplog.records]
    assert any("has no attribute 'MyLLM.nope'" in m for m in messages)
    assert any("not_installed_pkg_xyz" in m and "not installed" in m for m in messages)


def test_instrument_uninstrument_instrument_restores_exact_objects(user_package: str) -> None:
    module = __import__(f"{user_package}.llm", fromlist=["MyLLM"])
    original = vars(module.MyLLM)["chat"]
    instrumentor = ConfiguredInstrumentor()
    for _ in range(2):
        instrumentor.instrument(targets=f"{user_package}.llm:MyLLM.chat")
        assert vars(module.MyLLM)["chat"] is not original
        instrumentor.uninstrument()
        assert vars(module.MyLLM)["chat"] is original
    module.MyLLM().chat([])
    assert finished() == []


def test_missing_library_is_a_quiet_no_op(caplog: pytest.LogCaptureFixture) -> None:
    class Missing(PatchingInstrumentor):
        library = "not_a_real_llm_sdk"
        distribution = "not-a-real-llm-sdk"
        min_version = "1.0"
        patches = (Patch("not_a_real_llm_sdk.client", "Client.create", lambda options, original: original),)

    with caplog.at_level(logging.DEBUG):
        Missing().instrument()
        Missing().uninstrument()
    assert [r for r in caplog.records if r.levelno > logging.DEBUG] == []
    assert "not_a_real_llm_sdk.client" not in sys.modules


def test_instrument_all_and_inverse() -> None:
    import openai.resources.chat.completions.completions as chat

    original = vars(chat.Completions)["create"]
    done = llmotel.instrument()
    try:
        assert {"llmotel_openai", "llmotel_anthropic", "llmotel_langchain", "llmotel_llama_index"} <= set(done)
        assert vars(chat.Completions)["create"] is not original
    finally:
        undone = llmotel.uninstrument()
    assert set(undone) == set(done)
    assert vars(chat.Completions)["create"] is original


def test_entry_points_match_the_registry() -> None:
    found = {e.name: e.value for e in entry_points(group="opentelemetry_instrumentor") if e.name.startswith("llmotel")}
    assert found == INSTRUMENTORS


def test_importing_llmotel_imports_no_provider_sdk() -> None:
    code = "import sys, llmotel; print(sorted(m for m in sys.modules if m.split('.')[0] in {'openai','anthropic','langchain_core','llama_index'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# --- opentelemetry-instrument -------------------------------------------------------------------------

APP = """
import httpx
import openai

def handler(request):
    return httpx.Response(200, json={"id": "chatcmpl-auto", "object": "chat.completion", "created": 1,
        "model": "gpt-auto-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

client = openai.OpenAI(api_key="sk-test-secret-key-123", base_url="http://127.0.0.1:1/v1",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
print("APP-RESULT", client.chat.completions.create(model="gpt-auto", messages=[{"role": "user", "content": "hi"}]).id)
"""


def run_instrumented(tmp_path: Path, extra_env: dict[str, str], app: str = APP) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(app))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMOTEL_"))}
    env.update(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "auto-app",
            # the official openai instrumentation (a test dependency) stays out unless a test asks
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
            **extra_env,
        }
    )
    launcher = Path(sys.executable).parent / "opentelemetry-instrument"
    return subprocess.run(
        [str(launcher), sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )


def test_opentelemetry_instrument_traces_an_unmodified_app(tmp_path: Path) -> None:
    result = run_instrumented(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert "APP-RESULT chatcmpl-auto" in result.stdout
    assert '"name": "chat gpt-auto"' in result.stdout
    assert '"gen_ai.usage.input_tokens": 3' in result.stdout
    assert '"service.name": "auto-app"' in result.stdout
    assert "sk-test-secret-key-123" not in result.stdout
    assert result.stderr == ""  # no tracebacks, no warnings from any instrumentor


def test_disabled_instrumentation_by_name(tmp_path: Path) -> None:
    result = run_instrumented(tmp_path, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "llmotel_openai,openai"})
    assert result.returncode == 0, result.stderr
    assert "APP-RESULT chatcmpl-auto" in result.stdout
    assert "chat gpt-auto" not in result.stdout
    assert result.stderr == ""


def test_next_to_the_official_openai_instrumentation_one_span_per_call(tmp_path: Path) -> None:
    """Both auto-instrumentations enabled (``opentelemetry-instrumentation-genai-openai`` installed):
    the app still gets one LLM span per call."""
    result = run_instrumented(tmp_path, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ""})
    assert result.returncode == 0, result.stderr
    assert "APP-RESULT chatcmpl-auto" in result.stdout
    assert result.stdout.count('"name": "chat gpt-auto"') == 1
    assert result.stderr == ""


def test_configured_classes_under_opentelemetry_instrument(tmp_path: Path) -> None:
    (tmp_path / "myllm.py").write_text(LLM_MODULE)
    app = "import myllm\nprint('APP-RESULT', myllm.MyLLM().chat([])['id'])\n"
    result = run_instrumented(
        tmp_path, {"LLMOTEL_INSTRUMENT": "myllm:MyLLM.chat=chat", "PYTHONPATH": str(tmp_path)}, app
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "chat my-model"' in result.stdout
    assert result.stderr == ""


def test_too_old_library_is_skipped_without_noise(tmp_path: Path) -> None:
    """A distribution shadowed by an old version (first on sys.path) makes llmotel_openai a quiet no-op."""
    shadow = tmp_path / "shadow"
    dist = shadow / "openai-0.0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: openai\nVersion: 0.0.1\n")
    result = run_instrumented(tmp_path, {"PYTHONPATH": str(shadow), "OTEL_LOG_LEVEL": "debug"})
    assert result.returncode == 0, result.stderr
    assert "APP-RESULT chatcmpl-auto" in result.stdout
    assert "chat gpt-auto" not in result.stdout  # not instrumented: the installed version is "too old"
    assert result.stderr == ""


def test_headers_of_other_requests_under_an_llm_span_are_not_recorded() -> None:
    import json as _json

    import httpx
    import openai

    from llmotel.integrations.openai import OpenAIInstrumentor

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/moderations"):
            return httpx.Response(
                200,
                json={"id": "modr-1", "model": "omni-moderation", "results": []},
                headers={"x-request-id": "req-moderation"},
            )
        body = _json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-h",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
            headers={"x-request-id": "req-chat"},
        )

    client = openai.OpenAI(
        api_key="sk-test-secret-key-123",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )

    @llmotel.trace_chat(provider="openai", model="gpt-x")
    def answer() -> str:
        reply = client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        client.moderations.create(input="hi")  # another request made under the same LLM span
        return str(reply.choices[0].message.content)

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument()
    try:
        assert answer() == "hi"
    finally:
        instrumentor.uninstrument()
    [span] = finished()
    assert span.attributes["llmotel.response.request_id"] == "req-chat"  # type: ignore[index]
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1  # type: ignore[index]


def test_a_version_newer_than_the_tested_range_is_refused_with_one_warning(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import openai.resources.chat.completions  # noqa: F401  (patched at once, not on import)

    from llmotel.integrations import _instrumentor
    from llmotel.integrations.openai import OpenAIInstrumentor

    class UntestedOpenAI(OpenAIInstrumentor):
        max_version = "1.0"  # the installed openai is newer
        _instance = None  # BaseInstrumentor's singleton: one of this class's own

    _instrumentor._warned_untested.discard("openai")
    instrumentor = UntestedOpenAI()
    assert instrumentor.instrumentation_dependencies() == ("openai >= 1.66.0, < 1.0",)
    with caplog.at_level(logging.WARNING, logger="llmotel"):
        for _ in range(2):
            instrumentor.instrument()
            assert instrumentor.applied_patches == []
            instrumentor.uninstrument()
    warnings = [r.getMessage() for r in caplog.records if "newer than the versions" in r.getMessage()]
    assert len(warnings) == 1 and "LLMOTEL_ALLOW_UNTESTED=true" in warnings[0]

    env(LLMOTEL_ALLOW_UNTESTED="true")
    instrumentor.instrument()
    try:
        assert instrumentor.applied_patches != []
    finally:
        instrumentor.uninstrument()
