"""Property-based API fuzzing (issue #13): schemathesis drives ``creditscore serve`` over real HTTP from the
service's own ``/api/v1/openapi.json``, with valid and invalid data, and every answer must conform to it.

Phases: the document's examples, schemathesis' coverage phase (boundary values, each constraint broken in
turn, missing auth, methods a route does not take) and Hypothesis fuzzing, valid and invalid data mixed.
No stateful phase: the document declares no links between operations. The generation is derandomised, so
runs send the same requests while the service answers the same. A failure names its check and prints a
curl command that reproduces it; the last test prints the requests sent per operation and status class.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import requests
import schemathesis
from schemathesis import BaseSchema, Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from creditscore import aws
from creditscore.config import Settings, endpoint_environment
from creditscore.local_aws import ChildServer, LocalAws, free_port
from server.auth import hash_key
from tests.conftest import settings_for

KEY: Final = "cs_fuzz-test-key"
# Hypothesis examples per operation in the fuzzing phase, valid and invalid mixed; the examples and coverage
# phases add the cases the document defines. Routes without parameters have little to vary.
MAX_EXAMPLES: Final = 200
MIN_REQUESTS: Final = 1000
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # Data the document says is invalid must be refused (4xx), never scored or stored.
    negative_data_rejection,
    # A protected route answers 401 without the key; a method a route does not take answers 405.
    ignored_auth,
    unsupported_method,
    # Not positive_data_acceptance: the document cannot say every rule the service enforces (a reused
    # Idempotency-Key, a cursor the service did not issue, an unknown customer): schema-valid data may be
    # refused.
]


class Tally:
    """Requests sent, by operation (``METHOD /path`` in the document) and status class."""

    def __init__(self) -> None:
        self.sent: dict[str, Counter[str]] = {}

    def record(self, case: Case[Any], status: int) -> None:
        # A probe with a method the route does not take counts for the operation it probes.
        self.sent.setdefault(case.operation.label, Counter())[f"{status // 100}xx"] += 1

    def total(self) -> Counter[str]:
        return sum(self.sent.values(), Counter[str]())

    def lines(self) -> list[str]:
        """The summary line, then one line per operation."""
        total = self.total()
        width = max(map(len, self.sent), default=0)
        rows = [f"  {op:{width}}  {n.total():5d}  ({_classes(n)})" for op, n in sorted(self.sent.items())]
        return [f"schemathesis: {total.total()} requests ({_classes(total)})", *rows]


def _classes(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Tally()


@pytest.fixture(scope="module")
def fuzzed_service(
    local_aws: LocalAws, published_models: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``creditscore serve`` (gunicorn, one aiohttp worker) on fresh tables and the published models, with
    one key holding both scopes, so every route is reachable."""
    settings = settings_for(local_aws, "fuzz", models_bucket=published_models.models_bucket)
    aws.bootstrap(settings)
    work: Path = tmp_path_factory.mktemp("fuzz")
    env = {
        **os.environ,
        **endpoint_environment(settings),
        "CREDITSCORE_PROJECT": settings.project,
        "CREDITSCORE_ENV": settings.env,
        "CREDITSCORE_MODELS_BUCKET": settings.models_bucket,
        "CREDITSCORE_API_KEYS": f"{hash_key(KEY)}:score+admin",
        "CREDITSCORE_METRICS_DIR": str(work / "metrics"),
        "CREDITSCORE_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "creditscore.cli", "serve", "--port", str(port), "--workers", "1"]
    with ChildServer("service", command, f"{base}/ready", work / "serve.log", env, start_timeout=120):
        yield base


def with_row_features(document: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    """The document with ``POST /api/v1/score``'s rows narrowed to the features its segment's models take.

    The document types a row as any ``{name: number}`` map, while the service takes exactly the features of
    the loaded models (docs/api.md says so in prose). Unnarrowed, every generated row is refused for
    missing features and the fuzzing never reaches a model; narrowed, the numbers reach inference.
    """
    features: dict[str, set[str]] = {}
    for model in models:
        features.setdefault(model["segment"], set()).update(model["features"])
    schemas = document["components"]["schemas"]
    request = schemas["ScoreRequest"]
    rows = request["properties"]["rows"]
    number = rows["items"]["additionalProperties"]
    # One self-contained object schema per segment: nothing left at the top for the generator to merge.
    schemas["ScoreRequest"] = {
        "oneOf": [
            {
                **request,
                "properties": {
                    "segment": {"const": segment},
                    "rows": {
                        **rows,
                        "items": {
                            "type": "object",
                            "properties": dict.fromkeys(sorted(names), number),
                            "required": sorted(names),
                            "additionalProperties": False,
                        },
                    },
                },
            }
            for segment, names in sorted(features.items())
        ]
    }
    return document


@pytest.fixture(scope="module")
def api_schema(fuzzed_service: str) -> BaseSchema:
    auth = {"X-API-Key": KEY}
    document = requests.get(f"{fuzzed_service}/api/v1/openapi.json", timeout=30).json()
    models = requests.get(f"{fuzzed_service}/api/v1/models", headers=auth, timeout=30).json()["models"]
    config: dict[str, Any] = {
        "base-url": fuzzed_service,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        # The key goes in through the document's security schemes (X-API-Key and Bearer).
        "auth": {"openapi": {"apiKey": {"api_key": KEY}, "bearer": {"bearer": KEY}}},
        "request-timeout": 30,
        # Only Hypothesis' slowness checks: a real service over HTTP is slower than it expects.
        "suppress-health-check": ["too_slow"],
    }
    # Loaded from the fetched dict: from_url would also leave out the route that serves the document.
    return schemathesis.openapi.from_dict(
        with_row_features(document, models), config=schemathesis.Config.from_dict(config)
    )


lazy_schema = schemathesis.pytest.from_fixture("api_schema")


@lazy_schema.parametrize()
def test_every_answer_conforms_to_the_document(case: Case[Any], tally: Tally) -> None:
    """One subtest per operation; Hypothesis stops an operation at its first failure, once shrunk."""
    response = case.call()
    tally.record(case, response.status_code)
    case.validate_response(response, checks=CHECKS)


def test_the_fuzzing_reached_every_route(
    tally: Tally, api_schema: BaseSchema, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs after the fuzzing (file order): its figures for the CI log, and enough of them everywhere."""
    lines = tally.lines()
    with capsys.disabled():  # in the CI log even when the test passes
        print("\n" + "\n".join(lines))
    paths = api_schema.raw_schema["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert set(tally.sent) == operations, f"never requested: {sorted(operations - set(tally.sent))}"
    assert tally.total().total() >= MIN_REQUESTS, lines[0]
    assert tally.total()["5xx"] == 0, lines[0]
