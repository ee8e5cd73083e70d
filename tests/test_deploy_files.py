"""Structural checks for the local Jaeger stack: docker-compose.yml, collector-config.yaml, docs/jaeger.md.

Docker is not needed: the files are parsed and cross-checked. Every check is a plain function that returns a
list of problem strings (empty means fine). The positive tests run them on the real files; the negative
tests run the same functions on mutated copies and assert that the problem is reported, so no check passes
vacuously.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_PATH = ROOT / "docker-compose.yml"
COLLECTOR_PATH = ROOT / "collector-config.yaml"
DOCS_PATH = ROOT / "docs" / "jaeger.md"
SCHEMA_PATH = ROOT / "tests" / "schemas" / "compose-spec.json"

JAEGER_IMAGE_REPO = "cr.jaegertracing.io/jaegertracing/jaeger"
COLLECTOR_IMAGE_REPO = "otel/opentelemetry-collector-contrib"
DEMO_SERVICE = "demo"
REQUIRED_HOST_PORTS = frozenset({16686, 4317, 4318})
JAEGER_OTLP_GRPC_PORT = 4317

# Collector exporter types that must not be used, with the reason. Only exporters are checked: `otlp` is
# still the (only) name of the OTLP *receiver*, and a `jaeger` receiver exists in contrib.
BANNED_EXPORTER_TYPES = {
    "logging": "removed in collector v0.111.0; use `debug`",
    "jaeger": "removed in collector v0.85.0; send OTLP to Jaeger with `otlp_grpc`",
    "otlp": "deprecated alias since collector v0.144.0; use `otlp_grpc`",
    "otlphttp": "deprecated alias since collector v0.144.0; use `otlp_http`",
}
PIPELINE_KINDS = ("receivers", "processors", "exporters")

Doc = dict[str, Any]
Problems = list[str]


# ----------------------------------------------------------------------------------------------------
# Loading and small parsing helpers
# ----------------------------------------------------------------------------------------------------


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_yaml(path: Path) -> Doc:
    doc = yaml.safe_load(_read(path))
    assert isinstance(doc, dict), f"{path.name} must be a YAML mapping"
    return doc


@cache
def load_schema() -> dict[str, Any]:
    return json.loads(_read(SCHEMA_PATH))


def _services(compose: Mapping[str, Any]) -> dict[str, Any]:
    services = compose.get("services")
    return services if isinstance(services, dict) else {}


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """Split an image reference into (repository, tag, digest); tag/digest are None when absent."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a ':' before the last '/' is a registry port, not a tag
        repo, tag = name.rsplit(":", 1)
        return repo, tag, digest or None
    return name, None, digest or None


def services_with_image(compose: Mapping[str, Any], repo: str) -> list[str]:
    return [
        name
        for name, svc in _services(compose).items()
        if isinstance(svc, dict) and isinstance(svc.get("image"), str) and split_image(svc["image"])[0] == repo
    ]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def host_port(endpoint: str) -> tuple[str | None, int | None]:
    """Host and port of 'host:port' or 'scheme://host:port/...'; None for missing or invalid parts."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port


def component_type(component_id: str) -> str:
    """'otlp_grpc/jaeger' -> 'otlp_grpc'."""
    return component_id.split("/", 1)[0]


def pipelines(cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    service = cfg.get("service") or {}
    return {name: (p or {}) for name, p in (service.get("pipelines") or {}).items()}


def _pipeline_list(pipeline: Mapping[str, Any], kind: str) -> list[str]:
    return [str(c) for c in pipeline.get(kind) or []]


def parse_port(spec: Any) -> tuple[int, int] | str:
    """(host, container) port numbers of a short-syntax "host:container[/proto]" string, or a problem."""
    if not isinstance(spec, str):
        return f"{spec!r} ({type(spec).__name__}) is not a quoted 'host:container' string"
    m = re.fullmatch(r"(?:\d{1,3}(?:\.\d{1,3}){3}:)?(\d+):(\d+)(?:/(?:tcp|udp))?", spec)
    if not m:
        return f"{spec!r} is not of the form 'host:container'"
    host, container = int(m.group(1)), int(m.group(2))
    bad = [p for p in (host, container) if not 1 <= p <= 65535]
    if bad:
        return f"{spec!r} has port(s) outside 1-65535: {bad}"
    return host, container


def mount_source_target(volume: Any) -> tuple[str | None, str | None, bool]:
    """(source, target, is_bind) for short- or long-syntax volume entries."""
    if isinstance(volume, dict):
        source, target = volume.get("source"), volume.get("target")
        return source, target, volume.get("type") == "bind"
    parts = str(volume).split(":")
    if len(parts) == 1:  # anonymous volume: only a container path
        return None, parts[0], False
    source, target = parts[0], parts[1]
    return source, target, source.startswith((".", "/", "~"))


def config_flag(command: Any) -> list[str]:
    """Values passed with --config in a compose command (list or string form)."""
    args = command.split() if isinstance(command, str) else [str(a) for a in command or []]
    values = []
    for i, arg in enumerate(args):
        if arg.startswith("--config="):
            values.append(arg.split("=", 1)[1])
        elif arg == "--config" and i + 1 < len(args):
            values.append(args[i + 1])
    return values


# ----------------------------------------------------------------------------------------------------
# docker-compose.yml checks
# ----------------------------------------------------------------------------------------------------


def schema_problems(compose: Doc, schema: Mapping[str, Any] | None = None) -> Problems:
    schema = load_schema() if schema is None else schema
    cls = validator_for(schema, default=None)
    if cls is None:
        return [f"no jsonschema validator for $schema {schema.get('$schema')!r}"]
    cls.check_schema(schema)
    problems = []
    for err in sorted(cls(schema).iter_errors(compose), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, err.absolute_path)) or "<root>"
        detail = ""
        if err.context:  # oneOf/anyOf: the deepest sub-error usually names the real mistake
            sub = max(err.context, key=lambda e: len(e.absolute_path))
            detail = f" (deepest: {'.'.join(map(str, sub.absolute_path))}: {sub.message})"
        problems.append(f"{where}: {err.message}{detail}")
    return problems


def obsolete_key_problems(compose: Doc) -> Problems:
    if "version" in compose:
        return ["top-level `version:` is obsolete in the Compose spec; remove it"]
    return []


def depends_on_problems(compose: Doc) -> Problems:
    services = _services(compose)
    problems = []
    for name, svc in services.items():
        deps = (svc or {}).get("depends_on") or []
        for target in deps:  # list of names or mapping keyed by name
            if target not in services:
                problems.append(f"services.{name}.depends_on: {target!r} is not a defined service")
            elif target == name:
                problems.append(f"services.{name}.depends_on: depends on itself")
    return problems


def bind_mount_problems(compose: Doc, base_dir: Path) -> Problems:
    problems = []
    for name, svc in _services(compose).items():
        for volume in (svc or {}).get("volumes") or []:
            source, _target, is_bind = mount_source_target(volume)
            if not is_bind or source is None:
                continue
            host_path = (base_dir / Path(source).expanduser()).resolve()
            if not host_path.exists():
                problems.append(f"services.{name}.volumes: host path {source!r} does not exist ({host_path})")
    return problems


def port_problems(compose: Doc, required: Iterable[int] = REQUIRED_HOST_PORTS) -> Problems:
    problems = []
    published: dict[int, str] = {}
    for name, svc in _services(compose).items():
        for spec in (svc or {}).get("ports") or []:
            parsed = parse_port(spec)
            if isinstance(parsed, str):
                problems.append(f"services.{name}.ports: {parsed}")
                continue
            host, _container = parsed
            if host in published:
                problems.append(f"services.{name}.ports: host port {host} already published by {published[host]}")
            published[host] = name
    for port in sorted(set(required) - set(published)):
        problems.append(f"host port {port} is not published by any service")
    return problems


def image_pin_problems(compose: Doc) -> Problems:
    problems = []
    for name, svc in _services(compose).items():
        image = (svc or {}).get("image")
        if not isinstance(image, str) or not image:
            problems.append(f"services.{name}: no image")
            continue
        _repo, tag, digest = split_image(image)
        if digest:
            continue
        if tag is None:
            problems.append(f"services.{name}.image {image!r} has no tag (means :latest)")
        elif tag == "latest":
            problems.append(f"services.{name}.image {image!r} uses the floating `latest` tag")
    return problems


def jaeger_image_problems(compose: Doc) -> Problems:
    names = services_with_image(compose, JAEGER_IMAGE_REPO)
    if len(names) != 1:
        return [f"expected exactly one service with image {JAEGER_IMAGE_REPO}:2.x, found {names}"]
    _repo, tag, _digest = split_image(_services(compose)[names[0]]["image"])
    if tag is None or not re.fullmatch(r"2\.\d+\.\d+", tag):
        return [f"services.{names[0]}.image tag {tag!r} is not a Jaeger 2.x release (e.g. 2.20.0)"]
    return []


def collector_receive_ports(cfg: Doc) -> dict[str, int]:
    """Protocol ('grpc'/'http') -> port of the collector's otlp receiver."""
    protocols = ((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    ports = {}
    for proto, settings in protocols.items():
        _host, port = host_port(str((settings or {}).get("endpoint", "")))
        if port is not None:
            ports[proto] = port
    return ports


def demo_endpoint_problems(compose: Doc, cfg: Doc, service: str = DEMO_SERVICE) -> Problems:
    services = _services(compose)
    if service not in services:
        return [f"no `{service}` service"]
    env = environment(services[service])
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return [f"services.{service}: OTEL_EXPORTER_OTLP_ENDPOINT is not set"]
    problems = []
    scheme = urlsplit(endpoint).scheme if "://" in endpoint else ""
    if scheme != "http":
        problems.append(
            f"OTEL_EXPORTER_OTLP_ENDPOINT {endpoint!r} must start with http:// (the collector has no TLS; "
            "a gRPC endpoint without a scheme means TLS in Python)"
        )
    host, port = host_port(endpoint)
    collectors = services_with_image(compose, COLLECTOR_IMAGE_REPO)
    if host not in services:
        problems.append(f"OTEL_EXPORTER_OTLP_ENDPOINT host {host!r} is not a compose service")
    elif host not in collectors:
        problems.append(f"OTEL_EXPORTER_OTLP_ENDPOINT host {host!r} is not the collector service {collectors}")
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    receive = collector_receive_ports(cfg)
    wanted = receive.get("grpc" if protocol == "grpc" else "http")
    if port is None or port != wanted:
        problems.append(
            f"OTEL_EXPORTER_OTLP_ENDPOINT port {port} does not match the collector's otlp receiver port for "
            f"protocol {protocol!r} ({wanted}); receiver ports: {receive}"
        )
    return problems


def config_mount_problems(compose: Doc, base_dir: Path, config_file: Path = COLLECTOR_PATH) -> Problems:
    collectors = services_with_image(compose, COLLECTOR_IMAGE_REPO)
    if len(collectors) != 1:
        return [f"expected exactly one service with image {COLLECTOR_IMAGE_REPO}, found {collectors}"]
    name = collectors[0]
    svc = _services(compose)[name]
    paths = config_flag(svc.get("command"))
    if len(paths) != 1:
        return [f"services.{name}.command must pass exactly one --config=PATH, found {paths}"]
    mounts = [mount_source_target(v) for v in svc.get("volumes") or []]
    sources = [src for src, target, _bind in mounts if target == paths[0]]
    if not sources:
        return [f"services.{name}: --config path {paths[0]!r} is not a mount target in its volumes"]
    host = (base_dir / str(sources[0])).resolve()
    if host != config_file.resolve():
        return [f"services.{name}: {paths[0]!r} is mounted from {sources[0]!r}, not {config_file.name}"]
    return []


# ----------------------------------------------------------------------------------------------------
# collector-config.yaml checks
# ----------------------------------------------------------------------------------------------------


def pipeline_reference_problems(cfg: Doc) -> Problems:
    problems = []
    pipes = pipelines(cfg)
    if not pipes:
        return ["service.pipelines is empty"]
    connectors = set(cfg.get("connectors") or {})
    for pname, pipe in pipes.items():
        for kind in PIPELINE_KINDS:
            defined = set(cfg.get(kind) or {})
            if kind != "processors":  # connectors act as exporter of one pipeline and receiver of another
                defined |= connectors
            names = _pipeline_list(pipe, kind)
            if kind != "processors" and not names:
                problems.append(f"pipeline {pname}: no {kind}")
            for comp in names:
                if comp not in defined:
                    problems.append(f"pipeline {pname}: {kind[:-1]} {comp!r} is not defined under `{kind}:`")
    for kind in ("receivers", "exporters"):
        used = {c for pipe in pipes.values() for c in _pipeline_list(pipe, kind)}
        for comp in sorted(set(cfg.get(kind) or {}) - used):
            problems.append(f"{kind[:-1]} {comp!r} is defined but not used by any pipeline")
    return problems


def logs_pipeline_problems(cfg: Doc) -> Problems:
    """llmotel's log events (the GenAI details events) need a logs pipeline from the OTLP receiver to
    the debug exporter, the only place the stack shows them (Jaeger stores traces only)."""
    logs = pipelines(cfg).get("logs")
    if logs is None:
        return ["no logs pipeline: the collector would refuse llmotel's log events"]
    problems = []
    if "otlp" not in _pipeline_list(logs, "receivers"):
        problems.append(f"logs pipeline: receivers {_pipeline_list(logs, 'receivers')} do not include otlp")
    exporters = _pipeline_list(logs, "exporters")
    debug = [c for c in exporters if component_type(c) == "debug"]
    if not debug:
        problems.append(f"logs pipeline: no debug exporter in {exporters} (where the log events are read)")
    for comp in debug:
        verbosity = ((cfg.get("exporters") or {}).get(comp) or {}).get("verbosity")
        if verbosity != "detailed":
            problems.append(f"exporter {comp!r}: verbosity {verbosity!r}, not 'detailed' (attributes not printed)")
    for comp in exporters:
        if "jaeger" in comp:
            problems.append(f"logs pipeline: exporter {comp!r} sends logs to Jaeger, which stores traces only")
    return problems


def logs_comment_problems(text: str) -> Problems:
    """The collector config says where the log events can be seen (not in Jaeger)."""
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    problems = []
    if "docker compose logs otel-collector" not in comments:
        problems.append("no comment says the log events are read with `docker compose logs otel-collector`")
    if not re.search(r"Jaeger[^\n]*(traces only|only traces|does not show logs)", comments):
        problems.append("no comment says Jaeger shows traces only")
    return problems


def demo_logs_problems(compose: Doc, service: str = DEMO_SERVICE) -> Problems:
    """The demo sends its log events to the collector, with content on them (made-up prompts)."""
    env = environment(_services(compose).get(service) or {})
    problems = []
    if env.get("OTEL_LOGS_EXPORTER", "otlp") != "otlp":
        problems.append(f"services.{service}: OTEL_LOGS_EXPORTER={env['OTEL_LOGS_EXPORTER']!r}, not otlp")
    mode = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").upper()
    if mode not in ("EVENT_ONLY", "SPAN_AND_EVENT"):
        problems.append(f"services.{service}: content capture {mode or 'unset'!r} emits no log events")
    return problems


def extension_problems(cfg: Doc) -> Problems:
    problems = []
    defined = cfg.get("extensions") or {}
    enabled = [str(e) for e in (cfg.get("service") or {}).get("extensions") or []]
    for ext in enabled:
        if ext not in defined:
            problems.append(f"service.extensions: {ext!r} is not defined under `extensions:`")
    if "health_check" not in enabled:
        problems.append("service.extensions does not enable health_check")
    health = defined.get("health_check") or {}
    host, port = host_port(str(health.get("endpoint", "")))
    if (host, port) != ("0.0.0.0", 13133):
        problems.append(
            f"extensions.health_check.endpoint must be 0.0.0.0:13133 (published to the host), got {host}:{port}"
        )
    return problems


def memory_limiter_problems(cfg: Doc) -> Problems:
    problems = []
    for pname, pipe in pipelines(cfg).items():
        procs = _pipeline_list(pipe, "processors")
        if not procs or component_type(procs[0]) != "memory_limiter":
            problems.append(f"pipeline {pname}: memory_limiter must be the first processor, got {procs}")
    return problems


def banned_component_problems(cfg: Doc) -> Problems:
    exporters = set(cfg.get("exporters") or {})
    exporters |= {c for pipe in pipelines(cfg).values() for c in _pipeline_list(pipe, "exporters")}
    return [
        f"exporter {comp!r}: type {component_type(comp)!r} is {BANNED_EXPORTER_TYPES[component_type(comp)]}"
        for comp in sorted(exporters)
        if component_type(comp) in BANNED_EXPORTER_TYPES
    ]


def jaeger_exporter_problems(cfg: Doc, compose: Doc) -> Problems:
    jaeger_services = services_with_image(compose, JAEGER_IMAGE_REPO)
    traces = pipelines(cfg).get("traces")
    if traces is None:
        return ["no traces pipeline"]
    grpc_exporters = [c for c in _pipeline_list(traces, "exporters") if component_type(c) == "otlp_grpc"]
    if not grpc_exporters:
        return ["traces pipeline has no otlp_grpc exporter (to Jaeger)"]
    problems = []
    for comp in grpc_exporters:
        settings = (cfg.get("exporters") or {}).get(comp) or {}
        endpoint = str(settings.get("endpoint", ""))
        host, port = host_port(endpoint)
        if host not in jaeger_services:
            problems.append(f"exporter {comp}: endpoint host {host!r} is not the Jaeger service {jaeger_services}")
        if port != JAEGER_OTLP_GRPC_PORT:
            problems.append(f"exporter {comp}: endpoint port {port} is not Jaeger's OTLP gRPC port 4317")
        if endpoint.startswith("https://") or (settings.get("tls") or {}).get("insecure") is not True:
            problems.append(f"exporter {comp}: Jaeger in compose has no TLS; set tls.insecure: true")
    return problems


def receiver_bind_problems(cfg: Doc) -> Problems:
    problems = []
    receivers = cfg.get("receivers") or {}
    if not receivers:
        return ["no receivers defined"]
    for name, settings in receivers.items():
        protocols = (settings or {}).get("protocols")
        entries = protocols.items() if isinstance(protocols, dict) else [("", settings)]
        for proto, proto_settings in entries:
            where = f"receivers.{name}" + (f".protocols.{proto}" if proto else "")
            endpoint = (proto_settings or {}).get("endpoint")
            host, _port = host_port(str(endpoint or ""))
            if host != "0.0.0.0":
                problems.append(
                    f"{where}.endpoint is {endpoint!r}: must bind 0.0.0.0 (the default is localhost, "
                    "unreachable from other containers)"
                )
    return problems


# ----------------------------------------------------------------------------------------------------
# docs/jaeger.md checks
# ----------------------------------------------------------------------------------------------------


def troubleshooting_rows(text: str) -> list[list[str]]:
    """Body rows of the Markdown table whose header starts with 'Symptom'."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells[0].lower() == "symptom":
            rows = []
            for body in lines[i + 2 :]:  # skip the |---| separator
                if not body.lstrip().startswith("|"):
                    break
                rows.append([c.strip() for c in body.strip().strip("|").split("|")])
            return rows
    return []


def docs_problems(text: str, compose: Doc) -> Problems:
    problems = []
    demo_env = environment(_services(compose).get(DEMO_SERVICE) or {})
    service_name = demo_env.get("OTEL_SERVICE_NAME", "")
    if not service_name or f"`{service_name}`" not in text:
        problems.append(f"docs do not name the demo's OTEL_SERVICE_NAME `{service_name}`")
    for needle in ("docker compose up -d", "http://localhost:16686", "http://localhost:4317", "/v1/traces"):
        if needle not in text:
            problems.append(f"docs do not mention {needle!r}")
    rows = troubleshooting_rows(text)
    if len(rows) < 6:
        problems.append(f"troubleshooting table has {len(rows)} rows, expected at least 6")
    for row in rows:
        if len(row) != 3 or not all(row):
            problems.append(f"troubleshooting row {row} must have a symptom, a cause and a fix")
    return problems


# ----------------------------------------------------------------------------------------------------
# Fixtures and helpers for mutation
# ----------------------------------------------------------------------------------------------------


@pytest.fixture
def compose() -> Doc:
    return copy.deepcopy(load_yaml(COMPOSE_PATH))


@pytest.fixture
def collector() -> Doc:
    return copy.deepcopy(load_yaml(COLLECTOR_PATH))


DELETE = object()


def set_in(doc: Doc, path: str, value: Any) -> None:
    """Set doc[a][b]... for a dotted path; list indexes are integers; a value of DELETE removes the key."""
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    index: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[index]
    else:
        node[index] = value


def assert_reports(problems: Problems, fragment: str) -> None:
    assert any(fragment in p for p in problems), f"expected a problem containing {fragment!r}, got {problems}"


def show(problems: Problems) -> str:
    return "\n  " + "\n  ".join(problems)


# ----------------------------------------------------------------------------------------------------
# Positive tests: the real files
# ----------------------------------------------------------------------------------------------------


def test_schema_copy_uses_a_known_draft() -> None:
    # The copy declares draft 2020-12; validator_for picks the class from $schema instead of assuming one.
    schema = load_schema()
    cls = validator_for(schema, default=None)
    assert cls is not None, f"jsonschema has no validator for $schema {schema.get('$schema')!r}"
    assert cls.META_SCHEMA["$id"].rstrip("#") == schema["$schema"].rstrip("#")
    cls.check_schema(schema)


def test_compose_validates_against_schema(compose: Doc) -> None:
    problems = schema_problems(compose) + obsolete_key_problems(compose)
    assert not problems, "docker-compose.yml violates the Compose spec:" + show(problems)


@pytest.mark.parametrize(
    "check",
    [
        depends_on_problems,
        port_problems,
        image_pin_problems,
        jaeger_image_problems,
        lambda c: bind_mount_problems(c, COMPOSE_PATH.parent),
        lambda c: config_mount_problems(c, COMPOSE_PATH.parent),
    ],
    ids=["depends_on", "ports", "pinned-images", "jaeger-image", "bind-mounts", "config-mount"],
)
def test_compose_checks(compose: Doc, check: Callable[[Doc], Problems]) -> None:
    problems = check(compose)
    assert not problems, "docker-compose.yml:" + show(problems)


def test_demo_endpoint_targets_collector(compose: Doc, collector: Doc) -> None:
    problems = demo_endpoint_problems(compose, collector)
    assert not problems, show(problems)


@pytest.mark.parametrize(
    "check",
    [
        pipeline_reference_problems,
        logs_pipeline_problems,
        extension_problems,
        memory_limiter_problems,
        banned_component_problems,
        receiver_bind_problems,
    ],
    ids=lambda f: f.__name__,
)
def test_collector_checks(collector: Doc, check: Callable[[Doc], Problems]) -> None:
    problems = check(collector)
    assert not problems, "collector-config.yaml:" + show(problems)


def test_collector_logs_pipeline_and_where_to_read_it(compose: Doc, collector: Doc) -> None:
    logs = pipelines(collector)["logs"]
    assert _pipeline_list(logs, "receivers") == ["otlp"]
    assert _pipeline_list(logs, "exporters") == ["debug"]
    assert collector["exporters"]["debug"]["verbosity"] == "detailed"
    referenced = {c for pipe in pipelines(collector).values() for c in _pipeline_list(pipe, "exporters")}
    assert referenced <= set(collector["exporters"])  # every exporter a pipeline names is defined
    assert not logs_comment_problems(_read(COLLECTOR_PATH))
    assert not demo_logs_problems(compose)


def test_collector_exports_traces_to_jaeger_service(compose: Doc, collector: Doc) -> None:
    problems = jaeger_exporter_problems(collector, compose)
    assert not problems, show(problems)


def test_collector_pipelines_are_the_documented_ones(collector: Doc) -> None:
    pipes = pipelines(collector)
    assert set(pipes) == {"traces", "metrics", "logs"}
    assert _pipeline_list(pipes["traces"], "exporters") == ["otlp_grpc/jaeger", "debug"]
    for name in ("metrics", "logs"):  # Jaeger stores traces only
        assert _pipeline_list(pipes[name], "exporters") == ["debug"]
    for pipe in pipes.values():
        assert _pipeline_list(pipe, "processors") == ["memory_limiter", "batch"]


def test_docs_match_compose(compose: Doc) -> None:
    problems = docs_problems(_read(DOCS_PATH), compose)
    assert not problems, "docs/jaeger.md:" + show(problems)


# ----------------------------------------------------------------------------------------------------
# Negative tests: each check reports a broken input
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("services.demo.restart", False, "services.demo.restart"),  # unquoted `restart: no`
        ("services.demo.imagee", "typo", "services.demo"),
        ("services.jaeger.healthcheck.test", 42, "services.jaeger.healthcheck.test"),
        ("services.otel-collector.depends_on.jaeger.condition", "service_ready", "condition"),
        ("services.bad name", {"image": "x:1"}, "services"),
    ],
)
def test_schema_problems_reports_invalid_compose(compose: Doc, path: str, value: Any, fragment: str) -> None:
    set_in(compose, path, value)
    assert_reports(schema_problems(compose), fragment)


def test_schema_problems_collects_all_errors(compose: Doc) -> None:
    set_in(compose, "services.demo.restart", False)
    set_in(compose, "services.jaeger.ports", "16686:16686")
    assert len(schema_problems(compose)) >= 2


def test_obsolete_version_key_is_reported(compose: Doc) -> None:
    compose = {"version": "3.8", **compose}
    assert schema_problems(compose) == []  # the schema still tolerates it ...
    assert_reports(obsolete_key_problems(compose), "version")  # ... so it is checked separately


def test_depends_on_unknown_service(compose: Doc) -> None:
    set_in(compose, "services.demo.depends_on", {"collector": {"condition": "service_started"}})
    assert_reports(depends_on_problems(compose), "'collector' is not a defined service")
    set_in(compose, "services.demo.depends_on", ["demo"])
    assert_reports(depends_on_problems(compose), "depends on itself")


def test_missing_bind_mount_source(compose: Doc) -> None:
    set_in(compose, "services.otel-collector.volumes.0", "./otel-config.yaml:/etc/otelcol-contrib/config.yaml:ro")
    assert_reports(bind_mount_problems(compose, COMPOSE_PATH.parent), "'./otel-config.yaml' does not exist")


def test_named_volumes_are_not_bind_mounts(compose: Doc) -> None:
    set_in(compose, "services.demo.volumes", ["pipcache:/root/.cache/pip", {"type": "bind", "source": "./nope"}])
    problems = bind_mount_problems(compose, COMPOSE_PATH.parent)
    assert len(problems) == 1
    assert_reports(problems, "./nope")


@pytest.mark.parametrize(
    ("ports", "fragment"),
    [
        ([16686], "16686 (int) is not a quoted 'host:container' string"),
        (["16686"], "not of the form 'host:container'"),
        (["70000:16686"], "outside 1-65535"),
        (["16687:16686"], "host port 16686 is not published"),
    ],
)
def test_port_problems(compose: Doc, ports: list[Any], fragment: str) -> None:
    set_in(compose, "services.jaeger.ports", ports)
    assert_reports(port_problems(compose), fragment)


def test_unquoted_port_in_yaml_text_is_caught() -> None:
    # YAML 1.1 reads an unquoted 2222:22 as the base-60 integer 133342 (both sides < 60 after the first
    # become sexagesimal), so the compose file quotes every port mapping and the check insists on strings.
    text = _read(COMPOSE_PATH).replace('- "16686:16686"', '- "16686:16686"\n      - 2222:22')
    assert text != _read(COMPOSE_PATH)
    assert_reports(port_problems(yaml.safe_load(text)), "133342 (int) is not a quoted")


def test_duplicate_host_port(compose: Doc) -> None:
    compose["services"]["demo"]["ports"] = ["4317:4317"]
    assert_reports(port_problems(compose), "already published by otel-collector")


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("python", "has no tag"),
        ("python:latest", "`latest`"),
        ("localhost:5000/python", "has no tag"),
    ],
)
def test_unpinned_images(compose: Doc, image: str, fragment: str) -> None:
    set_in(compose, "services.demo.image", image)
    assert_reports(image_pin_problems(compose), fragment)


def test_digest_counts_as_pinned(compose: Doc) -> None:
    set_in(compose, "services.demo.image", "python@sha256:" + "0" * 64)
    assert image_pin_problems(compose) == []


@pytest.mark.parametrize(
    "image",
    [
        "jaegertracing/all-in-one:1.76.0",  # Jaeger v1 image
        "cr.jaegertracing.io/jaegertracing/jaeger:1.76.0",
        "cr.jaegertracing.io/jaegertracing/jaeger:latest",
    ],
)
def test_jaeger_image_problems(compose: Doc, image: str) -> None:
    set_in(compose, "services.jaeger.image", image)
    assert jaeger_image_problems(compose)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, "is not a compose service"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317"}, "is not the collector service"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, "does not match"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "otel-collector:4317"}, "must start with http://"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "does not match"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": None}, "is not set"),
    ],
)
def test_demo_endpoint_problems(compose: Doc, collector: Doc, env: dict[str, Any], fragment: str) -> None:
    demo_env = compose["services"]["demo"]["environment"]
    for key, value in env.items():
        if value is None:
            del demo_env[key]
        else:
            demo_env[key] = value
    assert_reports(demo_endpoint_problems(compose, collector), fragment)


def test_demo_endpoint_accepts_list_environment_and_http(compose: Doc, collector: Doc) -> None:
    compose["services"]["demo"]["environment"] = [
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
    ]
    assert demo_endpoint_problems(compose, collector) == []


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("services.otel-collector.command", ["--config=/etc/otelcol/config.yaml"], "is not a mount target"),
        ("services.otel-collector.command", [], "exactly one --config"),
        (
            "services.otel-collector.volumes.0",
            "./README.md:/etc/otelcol-contrib/config.yaml:ro",
            "not collector",
        ),
    ],
)
def test_config_mount_problems(compose: Doc, path: str, value: Any, fragment: str) -> None:
    set_in(compose, path, value)
    assert_reports(config_mount_problems(compose, COMPOSE_PATH.parent), fragment)


def test_config_flag_forms() -> None:
    assert config_flag("--config /a.yaml") == ["/a.yaml"]
    assert config_flag(["--config=/a.yaml", "--feature-gates=x"]) == ["/a.yaml"]


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (
            "service.pipelines.traces.exporters",
            ["otlp_grpc/jaegr", "debug"],
            "'otlp_grpc/jaegr' is not defined",
        ),
        ("service.pipelines.logs.receivers", ["otlp", "filelog"], "receiver 'filelog' is not defined"),
        ("service.pipelines.metrics.processors", ["memory_limiter", "batch/2"], "'batch/2' is not defined"),
        (
            "exporters.otlp_http/unused",
            {"endpoint": "http://x:4318"},
            "'otlp_http/unused' is defined but not",
        ),
        ("service.pipelines.logs.exporters", [], "pipeline logs: no exporters"),
        ("service.pipelines", {}, "service.pipelines is empty"),
    ],
)
def test_pipeline_reference_problems(collector: Doc, path: str, value: Any, fragment: str) -> None:
    set_in(collector, path, value)
    assert_reports(pipeline_reference_problems(collector), fragment)


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("service.extensions", ["health_check", "pprof"], "'pprof' is not defined"),
        ("service.extensions", [], "does not enable health_check"),
        ("extensions.health_check.endpoint", "localhost:13133", "must be 0.0.0.0:13133"),
    ],
)
def test_extension_problems(collector: Doc, path: str, value: Any, fragment: str) -> None:
    set_in(collector, path, value)
    assert_reports(extension_problems(collector), fragment)


@pytest.mark.parametrize("processors", [["batch", "memory_limiter"], [], ["batch"]])
def test_memory_limiter_not_first(collector: Doc, processors: list[str]) -> None:
    set_in(collector, "service.pipelines.metrics.processors", processors)
    assert_reports(memory_limiter_problems(collector), "pipeline metrics: memory_limiter must be the first")


@pytest.mark.parametrize("exporter", ["logging", "jaeger", "otlp/jaeger", "otlphttp", "otlphttp/x"])
def test_banned_exporter_types(collector: Doc, exporter: str) -> None:
    collector["exporters"][exporter] = {}
    collector["service"]["pipelines"]["traces"]["exporters"].append(exporter)
    assert_reports(banned_component_problems(collector), f"exporter {exporter!r}")


def test_otlp_receiver_is_not_banned(collector: Doc) -> None:
    assert "otlp" in collector["receivers"]
    assert banned_component_problems(collector) == []


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("exporters.otlp_grpc/jaeger.endpoint", "localhost:4317", "is not the Jaeger service"),
        ("exporters.otlp_grpc/jaeger.endpoint", "jaeger:14250", "not Jaeger's OTLP gRPC port"),
        ("exporters.otlp_grpc/jaeger.tls", DELETE, "tls.insecure"),
        ("service.pipelines.traces.exporters", ["debug"], "no otlp_grpc exporter"),
        ("service.pipelines.traces", DELETE, "no traces pipeline"),
    ],
)
def test_jaeger_exporter_problems(compose: Doc, collector: Doc, path: str, value: Any, fragment: str) -> None:
    set_in(collector, path, value)
    assert_reports(jaeger_exporter_problems(collector, compose), fragment)


def test_jaeger_exporter_follows_service_rename(compose: Doc, collector: Doc) -> None:
    compose["services"]["tracing-ui"] = compose["services"].pop("jaeger")
    assert_reports(jaeger_exporter_problems(collector, compose), "'jaeger' is not the Jaeger service")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("receivers.otlp.protocols.grpc.endpoint", "localhost:4317"),
        ("receivers.otlp.protocols.http.endpoint", "127.0.0.1:4318"),
        ("receivers.otlp.protocols.http", None),  # default endpoint = localhost
        ("receivers.zipkin", {"endpoint": "localhost:9411"}),
    ],
)
def test_receiver_bind_problems(collector: Doc, path: str, value: Any) -> None:
    set_in(collector, path, value)
    assert_reports(receiver_bind_problems(collector), "must bind 0.0.0.0")


def test_docs_problems_on_broken_docs(compose: Doc) -> None:
    text = _read(DOCS_PATH)
    assert_reports(docs_problems(text.replace("`llmotel-demo`", "`demo`"), compose), "OTEL_SERVICE_NAME")
    assert_reports(docs_problems(text.replace("/v1/traces", "/traces"), compose), "/v1/traces")
    short_table = "| Symptom | Cause | Fix |\n|---|---|---|\n| a | b | c |\n| d | | f |\n"
    problems = docs_problems(short_table, compose)
    assert_reports(problems, "troubleshooting table has 2 rows")
    assert_reports(problems, "must have a symptom, a cause and a fix")


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("service.pipelines.logs", DELETE, "no logs pipeline"),
        ("service.pipelines.logs.receivers", ["otlp/other"], "do not include otlp"),
        ("service.pipelines.logs.exporters", ["otlp_grpc/jaeger"], "no debug exporter"),
        ("service.pipelines.logs.exporters", ["debug", "otlp_grpc/jaeger"], "Jaeger, which stores traces only"),
        ("exporters.debug.verbosity", "basic", "not 'detailed'"),
        ("exporters.debug.verbosity", DELETE, "not 'detailed'"),
    ],
)
def test_logs_pipeline_problems(collector: Doc, path: str, value: Any, fragment: str) -> None:
    set_in(collector, path, value)
    assert_reports(logs_pipeline_problems(collector), fragment)


def test_an_undefined_logs_exporter_is_reported(collector: Doc) -> None:
    set_in(collector, "service.pipelines.logs.exporters", ["debug/typo"])
    assert_reports(pipeline_reference_problems(collector), "pipeline logs: exporter 'debug/typo' is not defined")


def test_logs_comment_problems() -> None:
    text = _read(COLLECTOR_PATH)
    assert_reports(logs_comment_problems(text.replace("docker compose logs", "docker logs")), "docker compose logs")
    no_jaeger_note = "\n".join(line for line in text.splitlines() if "Jaeger" not in line)
    assert_reports(logs_comment_problems(no_jaeger_note), "Jaeger shows traces only")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"OTEL_LOGS_EXPORTER": "none"}, "OTEL_LOGS_EXPORTER='none', not otlp"),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}, "emits no log events"),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": None}, "'unset' emits no log events"),
    ],
)
def test_demo_logs_problems(compose: Doc, env: dict[str, Any], fragment: str) -> None:
    demo_env = compose["services"]["demo"]["environment"]
    for key, value in env.items():
        if value is None:
            del demo_env[key]
        else:
            demo_env[key] = value
    assert_reports(demo_logs_problems(compose), fragment)
