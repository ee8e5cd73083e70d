"""Request-side extraction: model, parameters, provider, server and model configuration.

Everything is read by duck typing from the call's keyword arguments and the instance the method
is bound to. Instance fields are read from ``instance.__dict__`` (where pydantic v2 and plain
objects keep them), which never runs user properties and never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from llmotel import semconv as sc
from llmotel.extract._access import COMPACT_INT, as_float, as_int, as_str, get, str_list
from llmotel.records import Scalar


def _choice_count(value: Any) -> int | None:
    count = as_int(value)
    return None if count == 1 else count  # the conventions record it only when it is not 1


_JSON_FORMATS = frozenset({"json", "json_object", "json_schema"})


def _output_type(value: Any) -> str | None:
    """``gen_ai.output.type`` from ``response_format`` (``{"type": "json_schema"}``, a pydantic
    model class for ``.parse``, ``"json"``) or ``modalities`` (``["text", "audio"]``)."""
    if isinstance(value, type):
        return "json"  # a structured-output model class
    if isinstance(value, (list, tuple)):  # modalities
        names = {v for v in value if isinstance(v, str)}
        return "speech" if "audio" in names else "text" if "text" in names else None
    kind = value if isinstance(value, str) else as_str(get(value, "type"))
    if kind is None:
        return None
    kind = kind.lower()
    return "json" if kind in _JSON_FORMATS else "text" if kind == "text" else None


_PARAMS: tuple[tuple[str, tuple[str, ...], Callable[[Any], Any]], ...] = (
    (sc.GEN_AI_REQUEST_TEMPERATURE, ("temperature",), as_float),
    (
        sc.GEN_AI_REQUEST_MAX_TOKENS,
        ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens", "num_predict"),
        as_int,
    ),
    (sc.GEN_AI_REQUEST_TOP_P, ("top_p",), as_float),
    (sc.GEN_AI_REQUEST_TOP_K, ("top_k",), as_float),
    (sc.GEN_AI_REQUEST_STOP_SEQUENCES, ("stop", "stop_sequences"), str_list),
    (sc.GEN_AI_REQUEST_SEED, ("seed",), as_int),
    (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, ("frequency_penalty",), as_float),
    (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, ("presence_penalty",), as_float),
    (sc.GEN_AI_REQUEST_CHOICE_COUNT, ("n", "candidate_count"), _choice_count),
    (sc.GEN_AI_OUTPUT_TYPE, ("response_format", "modalities"), _output_type),
)

EMPTY: Mapping[str, Any] = {}
_ALIASES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    name: (key, convert) for key, names, convert in _PARAMS for name in names
}
"""Argument name -> (attribute key, converter)."""


no_fields: dict[type, bool] = {}
"""Classes whose instances have no ``__dict__`` (``__slots__``): looked up once, not per call.
(Dicts rather than sets, here and in ``no_config``: the per-call membership test then runs the
dict code the interpreter runs anyway, which stays in the CPU's instruction cache.)"""


def fields_of(instance: Any) -> Mapping[str, Any]:
    """The instance's own field values (``__dict__``), or an empty mapping."""
    if instance is None:
        return EMPTY
    cls = type(instance)
    if cls in no_fields:
        return EMPTY
    d = getattr(instance, "__dict__", None)
    if isinstance(d, dict):
        return d
    if len(no_fields) < 1024:
        no_fields[cls] = True
    return EMPTY


def request_params(
    kwargs: Mapping[str, Any], fields: Mapping[str, Any], params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """GenAI request attributes found in the call's kwargs, else on the instance, added to
    ``params`` (a new dict by default), which is returned.

    The instance's configuration is read first and the call's own arguments override it.
    """
    if params is None:
        params = {}
    aliases = _ALIASES
    if fields:
        for name, raw in fields.items():
            alias = aliases.get(name)
            if alias is not None and raw is not None:
                value = alias[1](raw)
                if value is not None:
                    params[alias[0]] = value
    for name, raw in kwargs.items():
        alias = aliases.get(name)
        if alias is not None and raw is not None:
            convert = alias[1]
            kind = type(raw)
            if (kind is float and convert is as_float and raw - raw == 0.0) or (  # finite
                kind is int and convert is as_int and -COMPACT_INT <= raw <= COMPACT_INT  # larger: as_int checks
            ):
                params[alias[0]] = raw  # the usual values, without a converter call
            else:
                value = convert(raw)
                if value is not None:
                    params[alias[0]] = value
    return params


def request_model(kwargs: Mapping[str, Any], instance: Any, fields: Mapping[str, Any]) -> str | None:
    """The requested model: ``model=`` kwarg, else the instance's model / model_name / metadata."""
    for value in (kwargs.get("model"), fields.get("model"), fields.get("model_name")):
        text = as_str(value)
        if text:
            return text
    if instance is None:
        return None
    for name in ("model", "model_name"):
        text = as_str(getattr(type(instance), name, None) and getattr(instance, name, None))
        if text:
            return text
    try:  # ``metadata`` is often a property computed by user code: it may raise
        metadata = fields.get("metadata")
        if metadata is None and hasattr(type(instance), "metadata"):
            metadata = getattr(instance, "metadata", None)
        if metadata is not None and not callable(metadata):
            return as_str(get(metadata, "model_name"))
    except Exception:
        return None
    return None


_PROVIDERS = (  # platforms first: AnthropicBedrock is served by aws.bedrock, ChatAnthropicVertex by vertex
    ("azure", "azure.ai.openai"),
    ("bedrock", "aws.bedrock"),
    ("vertex", "gcp.vertex_ai"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("cohere", "cohere"),
    ("mistral", "mistral_ai"),
    ("groq", "groq"),
    ("deepseek", "deepseek"),
    ("gemini", "gcp.gemini"),
    ("google", "gcp.gen_ai"),
    ("perplexity", "perplexity"),
    ("watsonx", "ibm.watsonx.ai"),
    ("xai", "x_ai"),
    ("ollama", "ollama"),
)
_provider_cache: dict[type, str] = {}

UNKNOWN_PROVIDER = "unknown"


def infer_provider(instance: Any) -> str:
    """Provider name from the instance's class module and name; ``"unknown"`` when none matches."""
    if instance is None:
        return UNKNOWN_PROVIDER
    cls = instance if isinstance(instance, type) else type(instance)
    cached = _provider_cache.get(cls)
    if cached is not None:
        return cached
    where = f"{cls.__module__}.{cls.__qualname__}".lower()
    result = next((name for needle, name in _PROVIDERS if needle in where), UNKNOWN_PROVIDER)
    if len(_provider_cache) < 512:
        _provider_cache[cls] = result
    return result


_server_cache: dict[str, tuple[str | None, int | None]] = {}


def server_of(fields: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """``server.address`` / ``server.port`` from a base URL field on the instance."""
    for name in ("base_url", "api_base", "endpoint", "azure_endpoint"):
        raw = fields.get(name)
        if raw is None:
            continue
        url = raw if isinstance(raw, str) else str(raw) if type(raw).__name__ == "URL" else None
        if not url:
            continue
        cached = _server_cache.get(url)
        if cached is None:
            try:
                parts = urlsplit(url if "//" in url else f"//{url}")
                port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
                cached = (parts.hostname, port)
            except ValueError:
                cached = (None, None)
            if len(_server_cache) < 256:
                _server_cache[url] = cached
        return cached
    return None, None


_url_servers: dict[int, tuple[Any, str | None, int | None]] = {}


def server_of_url(url: Any) -> tuple[str | None, int | None]:
    """``server_of`` for a client's base URL object (``httpx.URL``, or a string): decided once per
    URL object (kept, to be sure of its identity), not by building its string on every call."""
    if isinstance(url, str):
        return server_of({"base_url": url})
    known = _url_servers.get(id(url))
    if known is not None and known[0] is url:
        return known[1], known[2]
    address, port = server_of({"base_url": str(url)})
    if len(_url_servers) < 256:
        _url_servers[id(url)] = (url, address, port)
    return address, port


# --- model configuration ---------------------------------------------------------------------

_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "pwd",
        "token",
        "authorization",
        "auth",
        "credential",
        "credentials",
        "cookie",
        "bearer",
        "signature",
        "private",
        "session",
        "jwt",
        "pass",
        "passphrase",
        "pat",
        "pin",
        "otp",
        "cert",
        "certificate",
        "ssn",
        "sig",
    }
)
_CONTENT_WORDS = frozenset(
    {
        "prompt",
        "system",
        "instruction",
        "instructions",
        "messages",
        "message",
        "template",
        "persona",
        "context",
        "history",
        "memory",
    }
)
"""Field-name words that suggest content: a text field named so is left out; a number or a flag
(``context_window=4096``, ``max_history=5``) is configuration and is kept."""
_PERSONAL_WORDS = frozenset({"email", "phone", "address", "user", "customer"})
"""Field-name words that suggest personal data: left out whatever the value (an id is personal too)."""
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SECRET_VALUE = re.compile(
    r"^(sk-|Bearer |Basic |ey[A-Za-z0-9_-]{10,}\.)"  # API keys, auth headers, JWTs
    r"|^(gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AKIA|ASIA|AIza|hf_|pk_|rk_)"  # well-known token prefixes
    r"|://[^/\s]*:[^/\s]*@"  # URLs with user:password@
    r"|[?&;](api[-_]?key|key|token|access[-_]?token|code|sig|signature|secret|password|auth)="  # secret queries
    r"|[^\s@/]+@[^\s@/]+\.[a-z]{2,}",  # e-mail addresses
    re.IGNORECASE,
)
_MAX_VALUE_LENGTH = 256


def is_secret_name(name: str) -> bool:
    """True for field names that may hold a secret (api_key, access_token, Authorization...)."""
    words = _WORD_SPLIT.split(_CAMEL.sub("_", name).lower())
    return any(w in _SECRET_WORDS for w in words) or "apikey" in name.lower()


def is_secret_value(value: str) -> bool:
    """True for strings shaped like keys, bearer tokens, JWTs or URLs with credentials."""
    return _SECRET_VALUE.search(value) is not None


_key_cache: dict[str, tuple[str | None, bool]] = {}
"""Field name -> (attribute key, or ``None`` for private and secret-like names; content-like name)."""
no_config: dict[type, bool] = {}
"""Classes without ``__dict__``, ``to_dict`` or ``model_dump``: no configuration to record
(checked before ``model_config`` is called, on every call)."""


def _attribute_key(name: str) -> tuple[str | None, bool]:
    """``(key, content_like)``: the attribute key of a configuration field (``None``: never
    recorded), and whether its name is content-like (``system_prompt``, ``context_window``): a text
    value of such a field is content, a number or a flag is configuration."""
    cached = _key_cache.get(name)
    if cached is not None:
        return cached
    words = set(_WORD_SPLIT.split(_CAMEL.sub("_", name).lower()))
    private = name.startswith("_") or is_secret_name(name) or bool(words & _PERSONAL_WORDS)
    key = None if private else sc.LLMOTEL_MODEL_PREFIX + name
    entry = (key, bool(words & _CONTENT_WORDS))
    if len(_key_cache) < 4096:
        _key_cache[name] = entry
    return entry


def model_config(instance: Any, limit: int) -> dict[str, Scalar] | None:
    """Scalar configuration fields of the model instance as ``llmotel.model.*`` attributes.

    Private names, secret-like names and values, and content-like fields (prompts, system
    instructions, templates) are left out; strings are cut at 256 characters; at most ``limit``.
    """
    if instance is None or limit <= 0:
        return None
    cls = type(instance)
    if cls in no_config or cls is type:
        return None
    fields = fields_of(instance)
    if not fields:
        if isinstance(instance, type):
            return None
        dump = getattr(instance, "to_dict", None) or getattr(instance, "model_dump", None)
        if dump is None or not callable(dump):
            if len(no_config) < 1024:
                no_config[cls] = True
            return None
        dumped = dump()
        fields = dumped if isinstance(dumped, Mapping) else EMPTY
    out: dict[str, Scalar] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not isinstance(value, (str, bool, int, float)):
            continue
        key, content_like = _attribute_key(name)
        if key is None:
            continue
        if isinstance(value, str):
            if content_like or is_secret_value(value) or any(ch.isspace() for ch in value):
                continue  # secrets, and text with spaces (prompts, personas): content, not configuration
            if len(value) > _MAX_VALUE_LENGTH:
                value = value[:_MAX_VALUE_LENGTH] + "…"
            value = str(value)
        elif isinstance(value, int) and not isinstance(value, bool) and as_int(value) is None:
            continue
        out[key] = value
        if len(out) >= limit:
            break
    return out or None
