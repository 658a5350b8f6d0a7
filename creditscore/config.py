"""Every setting, read from ``CREDITSCORE_*`` environment variables in this one place and validated at start.

Names default to one prefix, ``{project}-{env}`` (``creditscore-dev``), the same prefix the Terraform
environments use, so a deployed service finds its buckets and tables without extra configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
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
        "S3/DynamoDB endpoint; the local moto server by default. Empty string = real AWS. "
        "With an endpoint set, static dummy credentials are used.",
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
    Setting("SCORE_TARGET", "700", "Scorecard scaling: the score given at the target odds."),
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
)


@dataclass(frozen=True)
class Settings:
    """Validated settings. Build with :func:`load_settings`."""

    project: str
    env: str
    aws_endpoint_url: str | None
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

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.env}"

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


def _check_positive(var: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    _expect(var, value, 0 < number < 1e6, "a positive number")
    return number


def _check_share(var: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    _expect(var, value, 0 <= number <= 1, "a number from 0 to 1")
    return number


_CHECKS: Final[dict[str, Callable[[str, str], object]]] = {
    "PROJECT": _check_name_part,
    "ENV": _check_name_part,
    "AWS_ENDPOINT_URL": _check_endpoint,
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
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``CREDITSCORE_*`` variable; raise :class:`ConfigError` on the first bad one."""
    env = os.environ if environ is None else environ
    raw = {s.name: env.get(ENV_PREFIX + s.name, s.default) for s in SETTINGS}
    project = _check_name_part("PROJECT", raw["PROJECT"])
    prefix = f"{project}-{_check_name_part('ENV', raw['ENV'])}"
    values = {name: _CHECKS[name](name, value.replace("{prefix}", prefix)) for name, value in raw.items()}
    return Settings(**{f.name: values[f.name.upper()] for f in fields(Settings)})  # type: ignore[arg-type]


def markdown_table() -> str:
    """The README's configuration table, generated from :data:`SETTINGS` so the two cannot drift."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{ENV_PREFIX}{s.name}` | `{s.default}` | {s.description} |" for s in SETTINGS]
    return "\n".join(rows)
