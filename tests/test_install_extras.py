"""The base install is the scoring service alone; the other jobs take extras of the package.

A host installs the wheel's base dependencies only (``make dist``'s requirements.txt), so they must hold no
PySpark, moto, matplotlib or the like, and everything ``creditscore serve`` imports must work without them.
The other jobs need an extra (``etl``, ``train``, ``local``) and, without it, say which one to install.

"Without them" is simulated: a subprocess whose import system refuses every module that only a distribution
outside the base install's dependency closure provides (what this virtualenv has beyond what a host has).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from creditscore.cli import EXTRAS

ROOT: Final = Path(__file__).resolve().parent.parent
DISTRIBUTION: Final = "creditscore"
#: What must never reach a host: the heavy or local-only packages the extras carry.
NOT_ON_HOSTS: Final = frozenset(
    canonicalize_name(name)
    for name in ("pyspark", "py4j", "moto", "matplotlib", "Werkzeug", "Flask", "pandas", "pyarrow", "tqdm")
) | {canonicalize_name("PyYAML")}
#: The jobs the base install runs; every other job needs an extra.
BASE_JOBS: Final = frozenset(
    {
        "serve",
        "smoke",
        "apikey new",
        "models list",
        "models show",
        "models publish",
        "models promote",
        "models rollback",
        "models challenge",
        "models compare",
    }
)
#: Runs in the subprocess: installs the blocker (argv[1], a JSON list of top-level module names), then
#: either runs the command line with the rest of argv, or (argv[2] == "--probe") imports the serve path,
#: discovers the scorers and tries every job, printing what happened as JSON.
BLOCKED_RUN: Final = """
import argparse, importlib, importlib.abc, json, runpy, sys

blocked = frozenset(json.loads(sys.argv[1]))


class NotInTheBaseInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the base install)", name=name)
        return None


sys.meta_path.insert(0, NotInTheBaseInstall())
if sys.argv[2] != "--probe":
    sys.argv = ["creditscore", *sys.argv[2:]]
    runpy.run_module("creditscore.cli", run_name="__main__", alter_sys=True)
    raise SystemExit(0)

from creditscore.cli import MissingExtra, build_parser
from creditscore.config import load_settings

# What the base jobs import when they run: the service, the smoke check, the registry, `models show`'s report.
for module in ["server.app", "server.runner", "creditscore.smoke", "plugins.registry", "training.report"]:
    importlib.import_module(module)
from plugins.manager import discover
from server.app import create_app

create_app(load_settings())


def jobs(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                if (job := command.get_default("job")) is not None:
                    yield job
                yield from jobs(command)


outcome = {}
for job in jobs(build_parser()):
    try:
        job.require()
    except MissingExtra as error:
        outcome[job.name] = {"missing": list(error.extras)}
        continue
    job.handler.load()
    outcome[job.name] = "loaded"
print(json.dumps({"scorers": sorted(discover()), "jobs": outcome}))
"""


def _requirements(extra: str = "") -> list[Requirement]:
    """The requirements of the installed project's metadata that apply with ``extra`` ("" = the base)."""
    found = []
    for text in importlib.metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        applies = marker.evaluate({"extra": extra}) if marker is not None else extra == ""
        if applies:
            found.append(requirement)
    return found


def _closure(extras: frozenset[str]) -> set[NormalizedName]:
    """The project and every distribution it needs with ``extras``, recursively (as installed here)."""
    found: set[NormalizedName] = {canonicalize_name(DISTRIBUTION)}
    pending: list[tuple[str, frozenset[str]]] = [(DISTRIBUTION, extras)]
    while pending:
        name, wanted = pending.pop()
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in {"", *wanted}):
                continue
            key = canonicalize_name(requirement.name)
            if key not in found or requirement.extras:
                found.add(key)
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


@cache
def _blocked_modules() -> list[str]:
    """Top-level modules that only distributions outside the base install's closure provide."""
    base = _closure(frozenset()) | {canonicalize_name("pip"), canonicalize_name("setuptools")}
    return sorted(
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in base for d in distributions)
    )


def _run_blocked(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", BLOCKED_RUN, json.dumps(_blocked_modules()), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_the_base_dependencies_are_the_services_alone() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    in_pyproject = {canonicalize_name(Requirement(text).name) for text in declared}
    in_metadata = {canonicalize_name(r.name) for r in _requirements()}
    assert in_pyproject == in_metadata, "the installed metadata is stale: make install"
    assert not in_metadata & NOT_ON_HOSTS
    # Nor through another package: the hosts install the whole closure.
    assert not _closure(frozenset()) & NOT_ON_HOSTS
    assert {"pyspark", "moto", "matplotlib"} <= NOT_ON_HOSTS


def test_each_extra_brings_the_modules_the_command_line_checks_for() -> None:
    provides = set(importlib.metadata.metadata(DISTRIBUTION).get_all("Provides-Extra") or [])
    assert provides == {*EXTRAS, "dev"}
    distributions = importlib.metadata.packages_distributions()
    for extra, modules in EXTRAS.items():
        declared = {canonicalize_name(r.name) for r in _requirements(extra)} - {
            canonicalize_name(r.name) for r in _requirements()
        }
        providing = {canonicalize_name(d) for module in modules for d in distributions[module]}
        assert providing == declared, extra


def test_without_the_extras_the_service_and_its_jobs_work_and_the_others_name_their_extra() -> None:
    blocked = set(_blocked_modules())
    assert {"pyspark", "py4j", "moto", "werkzeug", "matplotlib", "pandas", "pyarrow", "yaml"} <= blocked
    assert {module for modules in EXTRAS.values() for module in modules} <= blocked
    probe = _run_blocked("--probe")
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.splitlines()[-1])
    assert found["scorers"] == ["extratrees-social", "pytorch-traditional", "xgboost-new-customer"]
    jobs = found["jobs"]
    assert {name for name, outcome in jobs.items() if outcome == "loaded"} == BASE_JOBS
    assert jobs["etl"] == jobs["generate"] == jobs["ingest"] == jobs["load-customers"] == {"missing": ["etl"]}
    assert jobs["train"] == jobs["score"] == {"missing": ["train"]}
    assert jobs["local-aws"] == {"missing": ["local"]}
    assert jobs["demo"] == {"missing": ["etl", "train", "local"]}


def test_without_the_extras_serve_runs_and_etl_names_the_extra_to_install() -> None:
    served = _run_blocked("serve", "--help")
    assert served.returncode == 0, served.stderr
    assert "--workers" in served.stdout

    etl = _run_blocked("etl")
    assert etl.returncode == 1
    assert "Traceback" not in etl.stderr
    assert "creditscore etl: needs the [etl] extra" in etl.stderr
    assert "pip install 'creditscore[etl]'" in etl.stderr

    # A mapping file is read while the arguments are parsed, before the job runs: the same answer.
    mapping = _run_blocked("train", "--model", "xgboost-new-customer", "--mapping", "mapping.yaml")
    assert mapping.returncode == 1
    assert "Traceback" not in mapping.stderr
    assert "pip install 'creditscore[train]'" in mapping.stderr

    scoring = _run_blocked("score", "--model", "xgboost-new-customer", "--data", "rows.csv", "--out", "s.csv")
    assert scoring.returncode == 1
    assert "Traceback" not in scoring.stderr
    assert "creditscore score: needs the [train] extra" in scoring.stderr
