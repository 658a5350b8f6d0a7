"""Terraform for real, offline: every module and environment initialises and validates, and each one's
``terraform test`` passes against this session's moto server — plan-level assertions for the modules, an
apply and destroy of ``envs/dev`` that leaves nothing behind. And what the hosts install: ``make dist``'s
``requirements.txt`` pins, with hashes, exactly the packages the wheel pulls in, at the tested versions.

Run by ``make tf-check`` (which also writes the CLI configuration that points Terraform at the local
provider mirror, and builds ``dist/``); ``make unit`` leaves this file out.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from creditscore import aws
from creditscore.local_aws import LocalAws
from tests.conftest import settings_for

ROOT: Final = Path(__file__).resolve().parent.parent
# modules/monitoring's test applies what moto's server implements of Amazon Managed Service for Prometheus
# (moto/amp: workspaces with their logging configuration, rule groups namespaces; it ignores a workspace's
# KMS key) and asserts the rest, the alert manager definition (not in moto) and Managed Grafana (no moto
# service), in plan runs.
DIRECTORIES: Final = (
    "modules/vpc",
    "modules/data",
    "modules/compute",
    "modules/ml",
    "modules/monitoring",
    "envs/dev",
    "envs/prod",
)
WITH_TESTS: Final = tuple(d for d in DIRECTORIES if list((ROOT / d / "tests").glob("*.tftest.hcl")))
# The prefix envs/dev's test deploys under (its tests/dev.tftest.hcl sets project and environment).
DEV_TEST_PREFIX: Final = "cstf-dev"


def terraform(directory: str, *args: str, timeout: float = 900) -> str:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    result = subprocess.run(
        ["terraform", f"-chdir={ROOT / directory}", *args, "-no-color"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"terraform {' '.join(args)} in {directory}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module", autouse=True)
def _cli_configuration() -> None:
    if not os.environ.get("TF_CLI_CONFIG_FILE") and Path("/opt/tf-plugins").is_dir():
        pytest.fail("TF_CLI_CONFIG_FILE is not set: run through `make tf-check`, which writes it")


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_initialises_and_validates(directory: str) -> None:
    terraform(directory, "init", "-backend=false")
    assert "Success! The configuration is valid." in terraform(directory, "validate")


@pytest.mark.parametrize("directory", WITH_TESTS)
def test_terraform_test_passes_against_the_local_endpoint(directory: str, local_aws: LocalAws) -> None:
    terraform(directory, "init", "-backend=false")
    # No configuration declares aws_endpoint (only the test files' provider blocks use it), so Terraform
    # reads the value as an expression: a quoted string.
    # Terraform deploys against moto alone, DynamoDB tables included.
    output = terraform(directory, "test", f'-var=aws_endpoint="{local_aws.endpoint_url}"', timeout=1800)
    assert "0 failed" in output, output
    if directory == "envs/dev":
        # Its test applies the whole environment, asserts on what exists, then destroys it.
        assert leftovers(local_aws) == ([], [], [])


def test_every_module_and_environment_has_terraform_tests() -> None:
    assert set(WITH_TESTS) >= {
        "modules/vpc",
        "modules/data",
        "modules/compute",
        "modules/ml",
        "modules/monitoring",
        "envs/dev",
    }


def leftovers(local_aws: LocalAws) -> tuple[list[str], list[str], list[str]]:
    """Buckets, tables and live instances named from the dev test's prefix, in moto."""
    settings = replace(settings_for(local_aws, "dev"), dynamodb_endpoint_url=local_aws.endpoint_url)
    s3 = aws.client("s3", settings)
    dynamodb = aws.client("dynamodb", settings)
    ec2 = aws.client("ec2", settings)
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(DEV_TEST_PREFIX)]
    tables = [t for t in dynamodb.list_tables()["TableNames"] if t.startswith(DEV_TEST_PREFIX)]
    running = [
        instance["InstanceId"]
        for reservation in ec2.describe_instances()["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("terminated", "shutting-down")
        and any(tag["Value"].startswith(DEV_TEST_PREFIX) for tag in instance.get("Tags", []))
    ]
    return buckets, tables, running


def installed_closure(distribution: str, extras: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every distribution ``distribution`` with ``extras`` needs (extras it names included), with the
    version installed in this virtualenv: the packages the tests run with."""
    found: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = [(distribution, extras)]
    while pending:
        name, extras = pending.pop()
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                continue
            key = canonicalize_name(requirement.name)
            if key not in found:
                found[key] = importlib.metadata.version(requirement.name)
                pending.append((requirement.name, frozenset(requirement.extras)))
            elif requirement.extras:
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def hashed_pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` of each line, every one of which must carry at least one sha256."""
    line_re = re.compile(r"([a-z0-9-]+)==(\S+)((?: --hash=sha256:[0-9a-f]{64})+)")
    pinned: dict[str, str] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        match = line_re.fullmatch(line)
        assert match, f"not a hashed pin: {line[:120]}"
        assert match[1] not in pinned, f"{match[1]} pinned twice"
        pinned[match[1]] = match[2]
    return pinned


def test_release_requirements_pin_what_the_wheel_pulls_in_with_hashes() -> None:
    """dist/requirements.txt (``make dist``, which ``make tf-check`` runs first): one line per package,
    ``name==version`` and at least one sha256, for exactly the wheel's dependency closure at the versions
    installed here, plus setuptools (the hosts' build backend); torch is the CPU build."""
    pinned = hashed_pins((ROOT / "dist" / "requirements.txt").read_text().splitlines())
    expected = installed_closure("creditscore")
    assert set(pinned) - {"setuptools"} == set(expected) - {"setuptools"}
    assert {name: pinned[name] for name in expected} == expected
    assert "setuptools" in pinned
    assert pinned["torch"].endswith("+cpu")


def test_the_glue_jobs_install_the_loads_dependencies_at_the_tested_versions() -> None:
    """modules/ml's --additional-python-modules pins are constraints.txt's: Glue runs what the tests ran."""
    variables = (ROOT / "modules" / "ml" / "variables.tf").read_text()
    block = variables[variables.index('variable "glue_additional_python_modules"') :]
    pins = re.findall(r'"([a-z0-9-]+)==([^"]+)"', block[: block.index("\n}\n")])
    constraints = dict(
        line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line
    )
    assert {name for name, _ in pins} == {"structlog", "tqdm"}
    assert all(constraints[name] == version for name, version in pins), (pins, constraints)

    # The score-book job installs the wheel (its own pins) and what scoring imports besides: the same rule.
    block = variables[variables.index('variable "score_additional_python_modules"') :]
    pins = re.findall(r'"([A-Za-z0-9-]+)==([^"]+)"', block[: block.index("\n}\n")])
    assert {name for name, _ in pins} == {"pandas", "pyarrow", "tqdm"}
    assert all(constraints[name] == version for name, version in pins), (pins, constraints)


def test_the_training_source_installs_the_wheel_with_the_train_extra_all_hashed(tmp_path: Path) -> None:
    """dist/training-source.tar.gz, SageMaker's source folder: the wheel pinned by its own sha256, every
    package of creditscore[train] pinned and hashed, torch's CPU index; train.py runs the wheel's entry point
    (which, outside a training job, says what it misses and exits 2)."""
    with tarfile.open(ROOT / "dist" / "training-source.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    (wheel,) = tmp_path.glob("creditscore-*.whl")
    assert {p.name for p in tmp_path.iterdir()} == {wheel.name, "requirements.txt", "train.py"}
    lines = (tmp_path / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    own = f"./{wheel.name} --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}"
    assert lines[-1] == own
    pinned = hashed_pins([line for line in lines if not line.startswith(("--", "./"))])
    expected = installed_closure("creditscore", frozenset({"train"}))
    assert set(pinned) - {"setuptools"} == set(expected) - {"setuptools"}
    assert {"pandas", "matplotlib", "torch", "xgboost-cpu"} <= set(pinned)
    outside = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert outside.returncode == 2 and "not a SageMaker training job" in outside.stderr
