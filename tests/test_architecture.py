"""The architecture, checked: one-way dependencies, no import cycle, span and context calls only in
``llmotel.telemetry``, no source file over 500 lines. See ``docs/architecture.md``.

Imports are read from the source (every ``import`` anywhere in a module: top level, functions and
``if TYPE_CHECKING:`` blocks alike), so a cycle hidden in a function or a type-only import counts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "llmotel"
MAX_LINES = 500

# Where OpenTelemetry's span and context API may be called: telemetry, export, the doctor (it probes
# the pipeline) and the demo (a user application, with spans of its own).
SPAN_API_OWNERS = ("llmotel.telemetry", "llmotel.export", "llmotel.cli.doctor", "llmotel.cli.demo")
# OpenTelemetry modules that give span / context access; elsewhere they may be imported for types only.
SPAN_API_MODULES = (
    "opentelemetry.trace",
    "opentelemetry.context",
    "opentelemetry.instrumentation.utils",
    "opentelemetry.metrics",
)
SPAN_API_CALLS = (
    "start_span(",
    "start_as_current_span(",
    "use_span(",
    "set_span_in_context(",
    "get_current_span(",
    "otel_context.",
    "context.attach(",
    "context.detach(",
    ".set_status(",
    ".record_exception(",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str, *, runtime_only: bool = False) -> Iterator[str]:
    """Every module ``name`` imports (absolute names; ``from pkg import sub`` yields ``pkg.sub``)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree) if runtime_only else set()
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            for alias in node.names:  # ``from opentelemetry import trace`` imports ``opentelemetry.trace``
                if not target.startswith("llmotel") or f"{target}.{alias.name}" in MODULES:
                    yield f"{target}.{alias.name}"


def _internal_edges(name: str) -> set[str]:
    """The llmotel modules ``name`` depends on, with the parent packages an import executes (the
    root package and ``name``'s own ancestors aside: they are running already)."""
    ancestors = {name.rsplit(".", i)[0] for i in range(name.count(".") + 1)}
    edges: set[str] = set()
    for target in _imports(name):
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        parts = target.split(".")
        for i in range(2, len(parts) + 1):
            module = ".".join(parts[:i])
            if module in MODULES and module not in ancestors and module != name:
                edges.add(module)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: _internal_edges(name) for name in MODULES}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("llmotel.extract") or n == "llmotel.records"])
def test_extraction_knows_nothing_of_opentelemetry(name: str) -> None:
    """Provider objects -> plain records: no OpenTelemetry, no telemetry, no producers."""
    forbidden = ("opentelemetry", "llmotel.telemetry", "llmotel.wrap", "llmotel.callbacks", "llmotel.integrations")
    assert [m for m in _imports(name) if m.startswith(forbidden)] == []


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("llmotel.telemetry")])
def test_telemetry_depends_on_records_not_on_producers(name: str) -> None:
    forbidden = ("llmotel.extract", "llmotel.wrap", "llmotel.callbacks", "llmotel.integrations", "llmotel.cli")
    assert [m for m in _imports(name) if m.startswith(forbidden)] == []


@pytest.mark.parametrize("name", [n for n in MODULES if not n.startswith(SPAN_API_OWNERS)])
def test_span_and_context_api_only_in_telemetry(name: str) -> None:
    """Producers (decorators, SDK patches, callbacks, bridges) use the telemetry lifecycle only:
    OpenTelemetry's trace/context modules are imported for types alone, and never called."""
    runtime = [m for m in _imports(name, runtime_only=True) if m.startswith(SPAN_API_MODULES)]
    assert runtime == []
    source = MODULES[name].read_text(encoding="utf-8")
    assert [call for call in SPAN_API_CALLS if call in source] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_source_file_over_500_lines(name: str) -> None:
    assert len(MODULES[name].read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_one_context_module() -> None:
    """Context propagation lives in ``llmotel.telemetry.context`` alone."""
    assert [n for n in MODULES if n.rpartition(".")[2] in ("_context", "context")] == ["llmotel.telemetry.context"]
