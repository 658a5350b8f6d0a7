"""Shared fixtures: one DynamoDB Local and one moto server per test session, reached over HTTP like AWS."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

# prometheus_client chooses multiprocess storage at import, so the directory is set before anything imports
# it: the tests exercise the same multiprocess path as the served workers.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="creditscore-test-metrics-")

import pytest
from aiohttp.test_utils import TestClient
from pyspark.sql import SparkSession

from creditscore import aws
from creditscore.config import ApiKey, Settings, load_settings
from creditscore.local_aws import LocalAws
from creditscore.logs import configure_logging
from etl.spark import local_session
from server.app import create_app
from server.auth import hash_key
from tests.factories import customers, publish_builtins

_env_names = itertools.count()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """DynamoDB Local and moto's server (S3 and the rest), once per session, on free ports."""
    with LocalAws.on_free_ports(load_settings()) as endpoints:
        yield endpoints


def settings_for(local: LocalAws, env: str, **overrides: str) -> Settings:
    """Settings named ``cs-{env}-*`` on the local endpoints; ``overrides`` are other variables without the
    prefix."""
    return local.settings(
        load_settings(
            {
                "CREDITSCORE_ENV": env,
                "CREDITSCORE_PROJECT": "cs",
                **{f"CREDITSCORE_{name.upper()}": value for name, value in overrides.items()},
            }
        )
    )


@pytest.fixture
def settings(local_aws: LocalAws) -> Settings:
    """Settings with names of their own (``cs-tN-*``) on the shared servers, buckets and tables created."""
    result = settings_for(local_aws, f"t{next(_env_names)}")
    aws.bootstrap(result)
    return result


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the whole run (a JVM start costs seconds)."""
    session = local_session("creditscore-tests", driver_memory="2g")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def published_models(local_aws: LocalAws) -> Settings:
    """A models bucket holding the three built-in models, trained small, each current (once per session)."""
    result = settings_for(local_aws, "models")
    aws.bootstrap(result)
    publish_builtins(result, customers(3000, seed=5))
    return result


@pytest.fixture
def service_settings(local_aws: LocalAws, published_models: Settings) -> Settings:
    """Fresh tables of their own (``cs-tN-*``) and the shared models bucket with the published models."""
    result = settings_for(local_aws, f"t{next(_env_names)}", models_bucket=published_models.models_bucket)
    aws.bootstrap(result)
    return result


SCORE_KEY = "cs_test-score-key"
ADMIN_KEY = "cs_test-admin-key"


def with_keys(settings: Settings, **changes: Any) -> Settings:
    """``settings`` accepting :data:`SCORE_KEY` (scope score) and :data:`ADMIN_KEY` (scope admin)."""
    keys = (
        ApiKey(hash_key(SCORE_KEY), frozenset({"score"})),
        ApiKey(hash_key(ADMIN_KEY), frozenset({"admin"})),
    )
    return replace(settings, **({"api_keys": keys} | changes))


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Any], service_settings: Settings) -> Callable[..., Any]:
    """A client of a new app instance (a worker of its own) on the test's tables, settings ``changes``d."""

    async def make(**changes: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(with_keys(service_settings, **changes))
        )
        return client

    return make


@pytest.fixture
def json_logs(service_settings: Settings) -> Iterator[None]:
    """Logs rendered as JSON lines (as in production) for the test, readable with capsys."""
    configure_logging(replace(service_settings, log_format="json"))
    yield
    configure_logging(service_settings)
