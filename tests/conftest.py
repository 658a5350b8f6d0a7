"""Shared fixtures: one real moto server per test session, reached over HTTP like AWS itself."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from creditscore import aws
from creditscore.config import Settings, load_settings
from creditscore.local_aws import LocalAws, free_port
from etl.spark import local_session

_env_names = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with LocalAws("127.0.0.1", free_port()) as server:
        yield server.endpoint_url


def settings_for(endpoint: str, env: str) -> Settings:
    return load_settings(
        {"CREDITSCORE_AWS_ENDPOINT_URL": endpoint, "CREDITSCORE_ENV": env, "CREDITSCORE_PROJECT": "cs"}
    )


@pytest.fixture
def settings(moto_endpoint: str) -> Settings:
    """Settings with names of their own (``cs-tN-*``) on the shared server, buckets and tables created."""
    result = settings_for(moto_endpoint, f"t{next(_env_names)}")
    aws.bootstrap(result)
    return result


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the whole run (a JVM start costs seconds)."""
    session = local_session("creditscore-tests", driver_memory="2g")
    yield session
    session.stop()
