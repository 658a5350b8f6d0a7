"""Every setting, read from ``CREDITSCORE_*`` environment variables in this one place and validated at start.

Names default to one prefix, ``{project}-{env}`` (``creditscore-dev``), the same prefix the Terraform
environments use, so a deployed service finds its buckets and tables without extra configuration.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Final
from urllib.parse import urlsplit

ENV_PREFIX: Final = "CREDITSCORE_"

_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS: Final = ("console", "json")
# S3 bucket naming rules, minus the dotted forms that break virtual-hosted TLS.
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_TABLE_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_NAME_PART_RE: Final = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_REGION_RE: Final = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_MODEL_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_MIN_SECRET_CHARS: Final = 32
KEY_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")
#: What an API key may be allowed to do: score customers; administer the service (model reloads, and
#: everything ``metrics`` may); read the metrics and dashboard figures only (what Prometheus scrapes with).
SCOPES: Final = ("score", "admin", "metrics")


@dataclass(frozen=True)
class ApiKey:
    """One accepted API key: the sha256 of the key (the key itself is never configured), its scopes and,
    optionally, a name for the client that holds it."""

    sha256: str
    scopes: frozenset[str]
    name: str = ""
    #: Requests per second the key may make in each worker (a token bucket), and how many at once; 0: no
    #: limit.
    rate: float = 0.0
    burst: float = 0.0

    @property
    def key_id(self) -> str:
        """Who made a request, in logs and score-history records: the entry's name, else the first 12 hex
        digits of the key's sha256 (the key is 256 random bits, so its hash gives nothing away)."""
        return self.name or self.sha256[:12]


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and what it expects."""


@dataclass(frozen=True)
class Setting:
    """One documented environment variable (the README's configuration table is generated from these)."""

    name: str
    default: str
    description: str


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("PROJECT", "creditscore", "Project name, first half of the resource-name prefix."),
    Setting("ENV", "dev", "Environment name (dev, prod, ...), second half of the prefix."),
    Setting(
        "AWS_ENDPOINT_URL",
        "http://127.0.0.1:4566",
        "Endpoint of S3 and every AWS service but DynamoDB: the local moto server by default. Empty = real "
        "AWS (or botocore's own `AWS_ENDPOINT_URL_S3`). With an endpoint set, static dummy credentials are "
        "used.",
    ),
    Setting(
        "DYNAMODB_ENDPOINT_URL",
        "http://127.0.0.1:8000",
        "DynamoDB endpoint: the local DynamoDB Local by default. Empty = real AWS (or botocore's own "
        "`AWS_ENDPOINT_URL_DYNAMODB`). With an endpoint set, static dummy credentials are used.",
    ),
    Setting(
        "DYNAMODB_LOCAL_DIR",
        ".cache/dynamodb-local",
        "Where `make` unpacks AWS's DynamoDB Local (`DynamoDBLocal.jar` and its libraries), which "
        "`creditscore local-aws`, the demo and the tests run; relative to the working directory.",
    ),
    Setting("AWS_REGION", "ap-southeast-1", "AWS region."),
    Setting("RAW_BUCKET", "{prefix}-raw", "Bucket where raw CSV lands."),
    Setting("CLEANED_BUCKET", "{prefix}-cleaned", "Bucket for cleaned features and quarantine."),
    Setting("MODELS_BUCKET", "{prefix}-models", "Bucket for versioned model artifacts."),
    Setting("CUSTOMERS_TABLE", "{prefix}-customers", "DynamoDB table of customers and their features."),
    Setting("SCORE_HISTORY_TABLE", "{prefix}-score-history", "DynamoDB table of every score given."),
    Setting("HOST", "127.0.0.1", "Address the scoring service binds to."),
    Setting("PORT", "8080", "Port the scoring service listens on (1-65535)."),
    Setting("LOG_LEVEL", "INFO", "One of " + ", ".join(_LOG_LEVELS) + "."),
    Setting(
        "LOG_FORMAT", "console", "console (readable, local) or json (one JSON object a line, production)."
    ),
    Setting(
        "SCORE_TARGET",
        "700",
        "Scorecard scaling: the score given at the target odds. Training records the scaling in the model's "
        "manifest and the service scores each model with its own; a host's value applies only to versions "
        "published before scaling was recorded.",
    ),
    Setting(
        "SCORE_TARGET_ODDS", "30", "Scorecard scaling: good:bad odds given the target score (30 = PD 3.2 %)."
    ),
    Setting("SCORE_PDO", "40", "Scorecard scaling: points to double the odds."),
    Setting(
        "GATE_MIN_AUC",
        "0.6",
        "Quality gate: a newly published model whose test AUC is below this does not become current "
        "(it stays published; `creditscore models promote` can still make it current).",
    ),
    Setting(
        "GATE_MAX_AUC_DROP",
        "0.02",
        "Quality gate: nor does one whose test AUC is more than this below the current version's.",
    ),
    Setting("WORKERS", "0", "Service worker processes; 0 = one per CPU core."),
    Setting(
        "API_KEYS",
        "",
        "Accepted API keys, comma-separated `sha256hex:scope[+scope][:name[:RATE[/BURST]]]` entries "
        "(scopes: "
        + ", ".join(SCOPES)
        + "; the optional name, distinct per entry, identifies the client in logs and score history, "
        "else the hash's first 12 digits do; RATE limits the key to that many requests per second per "
        "worker, in bursts of up to BURST, default 2 x RATE, beyond which it gets 429); "
        "`creditscore apikey new` prints a key and its entry. Empty: every protected route refuses.",
    ),
    Setting(
        "PSEUDONYM_KEY",
        "",
        "Secret key (32 characters or more) of the HMAC that turns a national ID into the pseudonym log "
        "lines and history cursors carry; in AWS it comes from SSM. Empty: a random key each time the "
        "service starts, so pseudonyms and cursors hold within one run only.",
    ),
    Setting(
        "METRICS_PUBLIC",
        "true",
        "true: `/metrics` and the dashboard's figures need no key; false: a key with the metrics (or admin) "
        "scope.",
    ),
    Setting("NEW_CUSTOMER_MODEL", "xgboost-new-customer", "The model that scores new applicants."),
    Setting(
        "EXISTING_CUSTOMER_MODELS",
        "pytorch-traditional:0.5,extratrees-social:0.5",
        "The models that score existing customers, `name:weight` comma-separated; scores average by weight.",
    ),
    Setting(
        "ALLOW_DEGRADED",
        "false",
        "true: an existing customer is scored by the models that can when one cannot, and the answer names "
        "the missing one; false: 503.",
    ),
    Setting(
        "MODEL_MAX_BYTES",
        "268435456",
        "Largest model version (all its files) a worker loads; a larger one is refused before it is read and "
        "the version in service keeps serving.",
    ),
    Setting("MODEL_POLL_SECONDS", "30", "How often each model's current-version pointer is checked."),
    Setting("INFERENCE_THREADS", "1", "Inference threads per worker process (framework threads stay at 1)."),
    Setting(
        "MAX_BATCH_ROWS",
        "256",
        "Concurrent requests are grouped into one model call of at most this many rows; 1 = no grouping.",
    ),
    Setting(
        "INLINE_ROWS",
        "8",
        "A model call of at most this many rows, with no other call of that model running, runs on the "
        "event loop instead of the inference thread (the handoff costs more than such a call); 0 = always "
        "the thread.",
    ),
    Setting("MAX_BODY_BYTES", "2097152", "Largest request body accepted (413 above)."),
    Setting(
        "REQUEST_DEADLINE_SECONDS",
        "5",
        "Total time a request may take, every DynamoDB call and retry included; past it the answer is 504.",
    ),
    Setting(
        "MAX_IN_FLIGHT",
        "256",
        "Scoring and admin requests a worker holds at once; the next is answered 503 with Retry-After at "
        "once (liveness, readiness and metrics are never refused).",
    ),
    Setting(
        "DYNAMODB_MAX_CONNECTIONS", "64", "DynamoDB connection pool per worker (the concurrency it serves)."
    ),
    Setting("DYNAMODB_TIMEOUT_SECONDS", "3", "DynamoDB read timeout per attempt (connect: a third of it)."),
    Setting("DYNAMODB_MAX_ATTEMPTS", "3", "DynamoDB attempts per call, with botocore's standard retry mode."),
    Setting(
        "SHUTDOWN_SECONDS", "30", "On SIGTERM, how long in-flight requests may take before workers stop."
    ),
    Setting(
        "METRICS_DIR",
        "",
        "Prometheus multiprocess directory, wiped when the service starts; empty: a fresh temporary one.",
    ),
    Setting(
        "STATS_FLUSH_SECONDS",
        "5",
        "How often each worker adds the scores it gave to the dashboard's per-minute counts in the "
        "score-history table (one write per minute with scores); `/dashboard` lags by up to this.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Validated settings. Build with :func:`load_settings`."""

    project: str
    env: str
    aws_endpoint_url: str | None
    dynamodb_endpoint_url: str | None
    dynamodb_local_dir: str
    aws_region: str
    raw_bucket: str
    cleaned_bucket: str
    models_bucket: str
    customers_table: str
    score_history_table: str
    host: str
    port: int
    log_level: str
    log_format: str
    score_target: float
    score_target_odds: float
    score_pdo: float
    gate_min_auc: float
    gate_max_auc_drop: float
    workers: int
    api_keys: tuple[ApiKey, ...]
    pseudonym_key: bytes = field(repr=False)
    metrics_public: bool
    new_customer_model: str
    existing_customer_models: tuple[tuple[str, float], ...]
    allow_degraded: bool
    model_max_bytes: int
    model_poll_seconds: float
    inference_threads: int
    max_batch_rows: int
    inline_rows: int
    max_body_bytes: int
    request_deadline_seconds: float
    max_in_flight: int
    dynamodb_max_connections: int
    dynamodb_timeout_seconds: float
    dynamodb_max_attempts: int
    shutdown_seconds: float
    metrics_dir: str
    stats_flush_seconds: float

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.env}"

    @property
    def models(self) -> tuple[str, ...]:
        """Every model the service loads: the new-customer one, then the existing-customer ones."""
        return (self.new_customer_model, *(name for name, _ in self.existing_customer_models))

    @property
    def buckets(self) -> tuple[str, str, str]:
        return (self.raw_bucket, self.cleaned_bucket, self.models_bucket)


def _expect(var: str, value: str, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{ENV_PREFIX}{var}={value!r} is invalid: expected {expected}")


def _check_name_part(var: str, value: str) -> str:
    _expect(var, value, bool(_NAME_PART_RE.match(value)), "lowercase letters, digits and '-', 2-32 chars")
    return value


def _check_endpoint(var: str, value: str) -> str | None:
    if value == "":
        return None
    parts = urlsplit(value)
    _expect(
        var,
        value,
        parts.scheme in ("http", "https") and bool(parts.hostname),
        "an http(s) URL such as http://127.0.0.1:4566, or empty for real AWS",
    )
    return value.rstrip("/")


def _check_region(var: str, value: str) -> str:
    _expect(var, value, bool(_REGION_RE.match(value)), "an AWS region name such as ap-southeast-1")
    return value


def _check_bucket(var: str, value: str) -> str:
    _expect(
        var, value, bool(_BUCKET_RE.match(value)), "an S3 bucket name: 3-63 lowercase letters, digits, '-'"
    )
    return value


def _check_table(var: str, value: str) -> str:
    _expect(var, value, bool(_TABLE_RE.match(value)), "a DynamoDB table name: 3-255 of A-Z a-z 0-9 _ . -")
    return value


def _check_host(var: str, value: str) -> str:
    _expect(var, value, bool(value) and " " not in value, "a host name or IP address such as 127.0.0.1")
    return value


def _check_port(var: str, value: str) -> int:
    _expect(var, value, value.isdigit() and 1 <= int(value) <= 65535, "an integer from 1 to 65535")
    return int(value)


def _check_level(var: str, value: str) -> str:
    _expect(var, value, value.upper() in _LOG_LEVELS, "one of " + ", ".join(_LOG_LEVELS))
    return value.upper()


def _check_format(var: str, value: str) -> str:
    _expect(var, value, value in _LOG_FORMATS, "one of " + ", ".join(_LOG_FORMATS))
    return value


def _number(value: str) -> float:
    """The value as a float; NaN (which fails every range check) when it is not a number."""
    try:
        return float(value)
    except ValueError:
        return float("nan")


def _check_positive(var: str, value: str) -> float:
    number = _number(value)
    _expect(var, value, 0 < number < 1e6, "a positive number")
    return number


def _check_share(var: str, value: str) -> float:
    number = _number(value)
    _expect(var, value, 0 <= number <= 1, "a number from 0 to 1")
    return number


def _check_int(low: int, high: int) -> Callable[[str, str], int]:
    def check(var: str, value: str) -> int:
        ok = value.isdigit() and low <= int(value) <= high
        _expect(var, value, ok, f"an integer from {low} to {high}")
        return int(value)

    return check


def _check_seconds(var: str, value: str) -> float:
    number = _number(value)
    _expect(var, value, 0.01 <= number <= 86400, "a number of seconds from 0.01 to 86400")
    return number


def _check_bool(var: str, value: str) -> bool:
    _expect(var, value, value.lower() in _TRUE + _FALSE, "true or false")
    return value.lower() in _TRUE


def _check_model(var: str, value: str) -> str:
    _expect(var, value, bool(_MODEL_RE.match(value)), "a model name: lowercase letters, digits and '-'")
    return value


def _check_weighted_models(var: str, value: str) -> tuple[tuple[str, float], ...]:
    expected = "comma-separated name:weight entries with distinct names and positive weights"
    entries = []
    for entry in value.split(","):
        name, _, weight = entry.strip().partition(":")
        number = _number(weight)
        _expect(var, value, bool(_MODEL_RE.match(name)) and 0 < number < 1e6, expected)
        entries.append((name, number))
    _expect(var, value, len({name for name, _ in entries}) == len(entries), expected)
    return tuple(entries)


def _check_api_keys(var: str, value: str) -> tuple[ApiKey, ...]:
    expected = (
        "comma-separated sha256hex:scope[+scope][:name[:RATE[/BURST]]] entries, scopes from "
        + ", ".join(SCOPES)
        + ", names of lowercase letters, digits, '.', '_', '-' (up to 32) and distinct, RATE and BURST "
        "positive numbers"
    )
    keys = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        digest, _, rest = entry.partition(":")
        scopes, _, rest = rest.partition(":")
        name, _, limit = rest.partition(":")
        names = frozenset(scopes.split("+"))
        ok = bool(_SHA256_RE.match(digest)) and names <= set(SCOPES)
        _expect(var, "<hidden>", ok and (name == "" or bool(KEY_NAME_RE.match(name))), expected)
        rate_text, _, burst_text = limit.partition("/")
        rate = _number(rate_text) if limit else 0.0
        burst = _number(burst_text) if burst_text else 2 * rate
        _expect(var, "<hidden>", not limit or (0 < rate < 1e6 and 1 <= burst < 1e6), expected)
        keys.append(ApiKey(digest, names, name, rate, burst))
    ids = [key.key_id for key in keys]
    _expect(var, "<hidden>", len(set(ids)) == len(ids), expected)
    return tuple(keys)


def _check_path(var: str, value: str) -> str:
    _expect(var, value, bool(value.strip()), "a directory path")
    return value


def _check_secret(var: str, value: str) -> bytes:
    if value == "":
        return secrets.token_bytes(32)
    _expect(var, "<hidden>", len(value) >= _MIN_SECRET_CHARS, f"at least {_MIN_SECRET_CHARS} characters")
    return value.encode()


def _check_directory(var: str, value: str) -> str:
    _expect(var, value, value == "" or value.startswith("/"), "an absolute directory path, or empty")
    return value


_CHECKS: Final[dict[str, Callable[[str, str], object]]] = {
    "PROJECT": _check_name_part,
    "ENV": _check_name_part,
    "AWS_ENDPOINT_URL": _check_endpoint,
    "DYNAMODB_ENDPOINT_URL": _check_endpoint,
    "DYNAMODB_LOCAL_DIR": _check_path,
    "AWS_REGION": _check_region,
    "RAW_BUCKET": _check_bucket,
    "CLEANED_BUCKET": _check_bucket,
    "MODELS_BUCKET": _check_bucket,
    "CUSTOMERS_TABLE": _check_table,
    "SCORE_HISTORY_TABLE": _check_table,
    "HOST": _check_host,
    "PORT": _check_port,
    "LOG_LEVEL": _check_level,
    "LOG_FORMAT": _check_format,
    "SCORE_TARGET": _check_positive,
    "SCORE_TARGET_ODDS": _check_positive,
    "SCORE_PDO": _check_positive,
    "GATE_MIN_AUC": _check_share,
    "GATE_MAX_AUC_DROP": _check_share,
    "WORKERS": _check_int(0, 256),
    "API_KEYS": _check_api_keys,
    "PSEUDONYM_KEY": _check_secret,
    "METRICS_PUBLIC": _check_bool,
    "NEW_CUSTOMER_MODEL": _check_model,
    "EXISTING_CUSTOMER_MODELS": _check_weighted_models,
    "ALLOW_DEGRADED": _check_bool,
    "MODEL_MAX_BYTES": _check_int(1 << 16, 1 << 36),
    "MODEL_POLL_SECONDS": _check_seconds,
    "INFERENCE_THREADS": _check_int(1, 64),
    "MAX_BATCH_ROWS": _check_int(1, 10_000),
    "INLINE_ROWS": _check_int(0, 10_000),
    "MAX_BODY_BYTES": _check_int(1024, 1 << 30),
    "REQUEST_DEADLINE_SECONDS": _check_seconds,
    "MAX_IN_FLIGHT": _check_int(1, 100_000),
    "DYNAMODB_MAX_CONNECTIONS": _check_int(1, 10_000),
    "DYNAMODB_TIMEOUT_SECONDS": _check_seconds,
    "DYNAMODB_MAX_ATTEMPTS": _check_int(1, 20),
    "SHUTDOWN_SECONDS": _check_seconds,
    "METRICS_DIR": _check_directory,
    "STATS_FLUSH_SECONDS": _check_seconds,
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``CREDITSCORE_*`` variable; raise :class:`ConfigError` on the first bad one."""
    env = os.environ if environ is None else environ
    raw = {s.name: env.get(ENV_PREFIX + s.name, s.default) for s in SETTINGS}
    project = _check_name_part("PROJECT", raw["PROJECT"])
    prefix = f"{project}-{_check_name_part('ENV', raw['ENV'])}"
    values = {name: _CHECKS[name](name, value.replace("{prefix}", prefix)) for name, value in raw.items()}
    return Settings(**{f.name: values[f.name.upper()] for f in fields(Settings)})  # type: ignore[arg-type]


def endpoint_environment(settings: Settings) -> dict[str, str]:
    """The variables that point another process (a service, a job) at the endpoints ``settings`` use."""
    return {
        f"{ENV_PREFIX}AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
        f"{ENV_PREFIX}DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url or "",
    }


def markdown_table() -> str:
    """The README's configuration table, generated from :data:`SETTINGS` so the two cannot drift."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{ENV_PREFIX}{s.name}` | `{s.default}` | {s.description} |" for s in SETTINGS]
    return "\n".join(rows)
