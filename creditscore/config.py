"""Every setting, read from ``CREDITSCORE_*`` environment variables in this one place and validated at start.

Each setting is declared once, as a field of :class:`Settings`: its variable is the field's name in
capitals, and its type, default, check, group and meaning sit in that one declaration; :data:`SETTINGS`
and the README's configuration table are read from the fields, so none can drift from the others.

Names default to one prefix, ``{project}-{env}`` (``creditscore-dev``), the same prefix the Terraform
environments use, so a deployed service finds its buckets and tables without extra configuration.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, TypeVar, cast
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

T = TypeVar("T")


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


# --- checks: each turns a variable's text into its typed value or raises ConfigError naming it ------------


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


# --- the settings ------------------------------------------------------------------------------------------

AWS: Final = "AWS resources and endpoints"
SERVICE: Final = "Scoring service"
SERVED_MODELS: Final = "Models served"
TRAINING: Final = "Training: score scaling and the quality gate"
EVERY_JOB: Final = "Every job"
LOCAL: Final = "Local endpoints"


def _setting(
    group: str, default: str, check: Callable[[str, str], T], meaning: str, *, secret: bool = False
) -> T:
    """A field of :class:`Settings`, declared once: the field's type is what ``check`` returns."""
    spec = {"group": group, "default": default, "check": check, "meaning": meaning}
    return cast(T, field(repr=not secret, metadata=spec))


@dataclass(frozen=True)
class Settings:
    """Validated settings. Build with :func:`load_settings`; a variable is its field's name in capitals."""

    # AWS. PROJECT and ENV are read first: the default names below are built from the prefix they make.
    project: str = _setting(
        AWS, "creditscore", _check_name_part, "Project name, first half of the resource-name prefix."
    )
    env: str = _setting(
        AWS, "dev", _check_name_part, "Environment name (dev, prod, ...), second half of the prefix."
    )
    aws_region: str = _setting(AWS, "ap-southeast-1", _check_region, "AWS region.")
    aws_endpoint_url: str | None = _setting(
        AWS,
        "http://127.0.0.1:4566",
        _check_endpoint,
        "Endpoint of S3 and every AWS service but DynamoDB: the local moto server by default. Empty = real "
        "AWS (or botocore's own `AWS_ENDPOINT_URL_S3`). With an endpoint set, static dummy credentials are "
        "used.",
    )
    dynamodb_endpoint_url: str | None = _setting(
        AWS,
        "http://127.0.0.1:8000",
        _check_endpoint,
        "DynamoDB endpoint: the local DynamoDB Local by default. Empty = real AWS (or botocore's own "
        "`AWS_ENDPOINT_URL_DYNAMODB`). With an endpoint set, static dummy credentials are used.",
    )
    raw_bucket: str = _setting(AWS, "{prefix}-raw", _check_bucket, "Bucket where raw CSV lands.")
    cleaned_bucket: str = _setting(
        AWS, "{prefix}-cleaned", _check_bucket, "Bucket for cleaned features and quarantine."
    )
    models_bucket: str = _setting(
        AWS, "{prefix}-models", _check_bucket, "Bucket for versioned model artifacts."
    )
    customers_table: str = _setting(
        AWS, "{prefix}-customers", _check_table, "DynamoDB table of customers and their features."
    )
    score_history_table: str = _setting(
        AWS, "{prefix}-score-history", _check_table, "DynamoDB table of every score given."
    )
    dynamodb_max_connections: int = _setting(
        AWS, "64", _check_int(1, 10_000), "DynamoDB connection pool per worker (the concurrency it serves)."
    )
    dynamodb_timeout_seconds: float = _setting(
        AWS, "3", _check_seconds, "DynamoDB read timeout per attempt (connect: a third of it)."
    )
    dynamodb_max_attempts: int = _setting(
        AWS, "3", _check_int(1, 20), "DynamoDB attempts per call, with botocore's standard retry mode."
    )

    # Every job.
    log_level: str = _setting(EVERY_JOB, "INFO", _check_level, "One of " + ", ".join(_LOG_LEVELS) + ".")
    log_format: str = _setting(
        EVERY_JOB,
        "console",
        _check_format,
        "console (readable, local) or json (one JSON object a line, production).",
    )

    # The scoring service.
    host: str = _setting(SERVICE, "127.0.0.1", _check_host, "Address the scoring service binds to.")
    port: int = _setting(SERVICE, "8080", _check_port, "Port the scoring service listens on (1-65535).")
    workers: int = _setting(
        SERVICE, "0", _check_int(0, 256), "Service worker processes; 0 = one per CPU core."
    )
    api_keys: tuple[ApiKey, ...] = _setting(
        SERVICE,
        "",
        _check_api_keys,
        "Accepted API keys, comma-separated `sha256hex:scope[+scope][:name[:RATE[/BURST]]]` entries "
        "(scopes: "
        + ", ".join(SCOPES)
        + "; the optional name, distinct per entry, identifies the client in logs and score history, "
        "else the hash's first 12 digits do; RATE limits the key to that many requests per second per "
        "worker, in bursts of up to BURST, default 2 x RATE, beyond which it gets 429); "
        "`creditscore apikey new` prints a key and its entry. Empty: every protected route refuses.",
    )
    pseudonym_key: bytes = _setting(
        SERVICE,
        "",
        _check_secret,
        "Secret key (32 characters or more) of the HMAC that turns a national ID into the pseudonym log "
        "lines and history cursors carry; in AWS it comes from SSM. Empty: a random key each time the "
        "service starts, so pseudonyms and cursors hold within one run only.",
        secret=True,
    )
    metrics_public: bool = _setting(
        SERVICE,
        "true",
        _check_bool,
        "true: `/metrics` and the dashboard's figures need no key; false: a key with the metrics (or admin) "
        "scope.",
    )
    max_body_bytes: int = _setting(
        SERVICE, "2097152", _check_int(1024, 1 << 30), "Largest request body accepted (413 above)."
    )
    request_deadline_seconds: float = _setting(
        SERVICE,
        "5",
        _check_seconds,
        "Total time a request may take, every DynamoDB call and retry included; past it the answer is 504.",
    )
    max_in_flight: int = _setting(
        SERVICE,
        "256",
        _check_int(1, 100_000),
        "Scoring and admin requests a worker holds at once; the next is answered 503 with Retry-After at "
        "once (liveness, readiness and metrics are never refused).",
    )
    shutdown_seconds: float = _setting(
        SERVICE, "30", _check_seconds, "On SIGTERM, how long in-flight requests may take before workers stop."
    )
    metrics_dir: str = _setting(
        SERVICE,
        "",
        _check_directory,
        "Prometheus multiprocess directory, wiped when the service starts; empty: a fresh temporary one.",
    )
    stats_flush_seconds: float = _setting(
        SERVICE,
        "5",
        _check_seconds,
        "How often each worker adds the scores it gave to the dashboard's per-minute counts in the "
        "score-history table (one write per minute with scores); `/dashboard` lags by up to this.",
    )
    stability_window_seconds: float = _setting(
        SERVICE,
        "3600",
        _check_seconds,
        "The window of live scores each model version's population and characteristic stability indices "
        "(`creditscore_score_psi`, `creditscore_feature_csi`) compare with its training population.",
    )
    stability_min_observations: int = _setting(
        SERVICE,
        "1000",
        _check_int(1, 100_000_000),
        "Scores a version must have given in the window before its stability indices are reported (on "
        "fewer, sampling noise alone reads as drift: about (bins - 1) / scores).",
    )
    stability_flush_seconds: float = _setting(
        SERVICE,
        "15",
        _check_seconds,
        "How often each worker adds the rows it scored to the stability counters and recomputes the "
        "indices from every worker's counts; the figures lag by up to this.",
    )

    access_log_sample: float = _setting(
        SERVICE,
        "1",
        _check_share,
        "Share of answered requests (status below 400) whose access line is logged, at random; every 4xx "
        "and 5xx is logged whatever the share. 1 = every request; lower it where a line per request costs "
        "more than it tells.",
    )
    loop_lag_seconds: float = _setting(
        SERVICE,
        "0.05",
        _check_seconds,
        "How often each worker checks how late its event loop runs (`creditscore_event_loop_lag_seconds`).",
    )

    # The models the service serves, and how.
    new_customer_model: str = _setting(
        SERVED_MODELS, "xgboost-new-customer", _check_model, "The model that scores new applicants."
    )
    existing_customer_models: tuple[tuple[str, float], ...] = _setting(
        SERVED_MODELS,
        "pytorch-traditional:0.5,extratrees-social:0.5",
        _check_weighted_models,
        "The models that score existing customers, `name:weight` comma-separated; scores average by weight.",
    )
    allow_degraded: bool = _setting(
        SERVED_MODELS,
        "false",
        _check_bool,
        "true: an existing customer is scored by the models that can when one cannot, and the answer names "
        "the missing one; false: 503.",
    )
    model_max_bytes: int = _setting(
        SERVED_MODELS,
        "268435456",
        _check_int(1 << 16, 1 << 36),
        "Largest model version (all its files) a worker loads; a larger one is refused before it is read and "
        "the version in service keeps serving.",
    )
    model_poll_seconds: float = _setting(
        SERVED_MODELS, "30", _check_seconds, "How often each model's current-version pointer is checked."
    )
    inference_threads: int = _setting(
        SERVED_MODELS,
        "1",
        _check_int(1, 64),
        "Inference threads per worker process (framework threads stay at 1).",
    )
    max_batch_rows: int = _setting(
        SERVED_MODELS,
        "256",
        _check_int(1, 10_000),
        "Concurrent requests are grouped into one model call of at most this many rows; 1 = no grouping.",
    )
    inline_rows: int = _setting(
        SERVED_MODELS,
        "8",
        _check_int(0, 10_000),
        "A model call of at most this many rows, with no other call of that model running, runs on the "
        "event loop instead of the inference thread (the handoff costs more than such a call); 0 = always "
        "the thread.",
    )
    challenger_max_disagreement: float = _setting(
        SERVED_MODELS,
        "0.2",
        _check_share,
        "Largest share of customers a model's challenger may put in another FICO band than the champion "
        "before the CreditscoreChallengerDisagrees alert fires (exported as "
        "creditscore_challenger_max_disagreement).",
    )

    # Training.
    score_target: float = _setting(
        TRAINING,
        "700",
        _check_positive,
        "Scorecard scaling: the score given at the target odds. Training records the scaling in the model's "
        "manifest and the service scores each model with its own; a host's value applies only to versions "
        "published before scaling was recorded.",
    )
    score_target_odds: float = _setting(
        TRAINING,
        "30",
        _check_positive,
        "Scorecard scaling: good:bad odds given the target score (30 = PD 3.2 %).",
    )
    score_pdo: float = _setting(
        TRAINING, "40", _check_positive, "Scorecard scaling: points to double the odds."
    )
    gate_min_auc: float = _setting(
        TRAINING,
        "0.6",
        _check_share,
        "Quality gate: a newly published model whose test AUC is below this does not become current "
        "(it stays published; `creditscore models promote` can still make it current).",
    )
    gate_max_auc_drop: float = _setting(
        TRAINING,
        "0.02",
        _check_share,
        "Quality gate: nor does one whose test AUC is more than this below the current version's.",
    )

    # Local endpoints.
    dynamodb_local_dir: str = _setting(
        LOCAL,
        ".cache/dynamodb-local",
        _check_path,
        "Where `make` unpacks AWS's DynamoDB Local (`DynamoDBLocal.jar` and its libraries), which "
        "`creditscore local-aws`, the demo and the tests run; relative to the working directory.",
    )

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


@dataclass(frozen=True)
class Setting:
    """One ``CREDITSCORE_*`` variable, as its field of :class:`Settings` declares it."""

    attribute: str
    group: str
    default: str
    meaning: str
    check: Callable[[str, str], Any] = field(repr=False)

    @property
    def name(self) -> str:
        return self.attribute.upper()

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.name


SETTINGS: Final = tuple(Setting(f.name, **f.metadata) for f in fields(Settings))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``CREDITSCORE_*`` variable; raise :class:`ConfigError` on the first bad one."""
    env = os.environ if environ is None else environ
    raw = {s.name: env.get(s.variable, s.default) for s in SETTINGS}
    prefix = f"{_check_name_part('PROJECT', raw['PROJECT'])}-{_check_name_part('ENV', raw['ENV'])}"
    values = {s.attribute: s.check(s.name, raw[s.name].replace("{prefix}", prefix)) for s in SETTINGS}
    return Settings(**values)


def endpoint_environment(settings: Settings) -> dict[str, str]:
    """The variables that point another process (a service, a job) at the endpoints ``settings`` use."""
    return {
        f"{ENV_PREFIX}AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
        f"{ENV_PREFIX}DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url or "",
    }


def markdown_table() -> str:
    """The README's configuration tables, one per group, read from :data:`SETTINGS` so they cannot drift."""
    lines: list[str] = []
    for group in dict.fromkeys(s.group for s in SETTINGS):
        lines += ["", f"**{group}**", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{s.variable}` | `{s.default}` | {s.meaning} |" for s in SETTINGS if s.group == group]
    return "\n".join(lines[1:])
