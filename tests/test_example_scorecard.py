"""The example plugin package, examples/logistic_scorecard: installed with pip as a bank team would, the
model's own behaviour, then trained and published with ``creditscore train --publish`` against the moto
server and served by the scoring service as the new-customer model."""

from __future__ import annotations

import bisect
import importlib
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest
from aiohttp.test_utils import TestClient
from sklearn.metrics import roc_auc_score

from creditscore import aws
from creditscore.cli import main
from creditscore.cli.demo import DEMO_APPLICANT
from creditscore.config import ApiKey, Settings, endpoint_environment
from creditscore.domain.features import APPLICATION, LABEL, application_features, names
from creditscore.domain.reasons import screen
from creditscore.domain.scores import Scaling, band
from creditscore.local_aws import LocalAws
from creditscore.plugin import Calibration, Labels, Matrix
from plugins import manager
from plugins.calibration import CalibratedModel
from plugins.registry import Registry
from server.app import create_app
from server.auth import hash_key
from server.scoring import TOP_REASONS
from tests.conftest import settings_for
from tests.factories import customers

ROOT: Final = Path(__file__).resolve().parents[1]
EXAMPLE_SOURCE: Final = ROOT / "examples" / "logistic_scorecard"
EXAMPLE_PACKAGE: Final = "creditscore_scorecard"
EXAMPLE_DISTRIBUTION: Final = "logistic-scorecard"
SCORECARD: Final = "logistic-scorecard"
ARTIFACT: Final = "scorecard.json"
FEATURES: Final = tuple(names(APPLICATION))
EXISTING_MODELS: Final = ("pytorch-traditional", "extratrees-social")
SCORE_KEY: Final = "cs_test-scorecard-key"
HEADERS: Final = {"X-API-Key": SCORE_KEY}
# The demo's applicant, and the form fields the service derives the application features from.
APPLICANT: Final = DEMO_APPLICANT
FORM: Final = {
    "income": [25e6],
    "savings": [40e6],
    "debt": [10e6],
    "has_dependents": [1.0],
    "has_mortgage": [0.0],
    "has_savings_account": [1.0],
    "has_credit_card": [0.0],
}

ClientFactory = Callable[..., Any]


# --- installing the package ------------------------------------------------------------------------------


def pip_install(source: Path, work: Path) -> Path:
    """``pip install`` the package at ``source`` into a fresh directory under ``work`` and return it.

    Offline and without build isolation (the test machine reaches no package index): setuptools comes
    from the virtualenv. Built from a copy, because setuptools writes build metadata next to the sources.
    """
    copy, target = work / "source", work / "site"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(copy),
        ],
        check=True,
    )
    return target


def _forget_example() -> None:
    for module in [name for name in sys.modules if name.split(".")[0] == EXAMPLE_PACKAGE]:
        del sys.modules[module]
    importlib.invalidate_caches()
    # The service and the CLI discover scorers once per process; make them look again.
    manager.installed.cache_clear()


@contextmanager
def example_installed(work: Path) -> Iterator[ModuleType]:
    """The example package installed under ``work`` and on ``sys.path``; gone again afterwards."""
    target = str(pip_install(EXAMPLE_SOURCE, work))
    sys.path.insert(0, target)
    _forget_example()
    try:
        yield importlib.import_module(EXAMPLE_PACKAGE)
    finally:
        sys.path.remove(target)
        _forget_example()


@pytest.fixture(scope="module")
def scorecard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The installed package ``creditscore_scorecard`` (its classes are typed Any here: mypy does not see
    the examples folder as a package of this project)."""
    with example_installed(tmp_path_factory.mktemp("scorecard")) as package:
        yield package


# --- data ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    features: Matrix
    labels: Labels

    def part(self, start: int, stop: int | None = None) -> tuple[Matrix, Labels]:
        return self.features[start:stop], self.labels[start:stop]


def with_missing_savings(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``frame`` with savings left blank by 30 % of the defaulters and 10 % of the others."""
    rng = np.random.default_rng(seed)
    share = np.where(frame[LABEL] == 1, 0.3, 0.1)
    blanked = frame.copy()
    blanked.loc[rng.random(len(frame)) < share, "savings"] = np.nan
    return blanked


@pytest.fixture(scope="module")
def data() -> Data:
    frame = with_missing_savings(customers(5000, seed=21), seed=22)
    return Data(frame[list(FEATURES)].to_numpy(np.float64), frame[LABEL].to_numpy(np.int64))


@pytest.fixture(scope="module")
def model(scorecard: ModuleType, data: Data) -> Any:
    """The scorecard trained on the first 3,500 rows, as loaded from its artifact."""
    scorer = scorecard.LogisticScorecard()
    return scorer.load(scorer.fit(*data.part(0, 3500), {"seed": 1}))


def logit(pd: Any) -> Any:
    return np.log(pd / (1 - pd))


# --- the model -------------------------------------------------------------------------------------------


def test_fitting_is_deterministic_and_the_artifact_reloads_the_same_model(
    scorecard: ModuleType, data: Data
) -> None:
    scorer = scorecard.LogisticScorecard()
    rows, labels = data.part(0, 3500)
    test_rows = data.part(3500)[0]
    steps: list[tuple[int, int]] = []

    files = scorer.fit(rows, labels, {"seed": 1}, progress=lambda step, total: steps.append((step, total)))
    in_memory = scorer.train(rows, labels, {"seed": 1})
    loaded = scorer.load(files)

    assert set(files) == {ARTIFACT}
    assert scorer.fit(rows, labels, {"seed": 1}) == files
    assert np.array_equal(loaded.predict_pd(test_rows), in_memory.predict_pd(test_rows))
    assert np.array_equal(loaded.explain(test_rows), in_memory.explain(test_rows))
    assert steps == [(step, len(FEATURES) + 1) for step in range(1, len(FEATURES) + 2)]
    document = json.loads(files[ARTIFACT])
    assert document["features"] == list(FEATURES)
    assert document["params"] == {"seed": 1, "bins": 10, "smoothing": 0.5, "C": 1.0, "max_iter": 1000}


def test_the_scorecard_ranks_risk_and_its_woe_follows_the_planted_risk(model: Any, data: Data) -> None:
    rows, labels = data.part(3500)
    pd = model.predict_pd(rows)

    assert pd.dtype == np.float64 and pd.shape == (len(rows),)
    assert np.all((pd > 0) & (pd < 1))
    assert roc_auc_score(labels, pd) > 0.68
    # Risk rises with debt-to-income in the data: the WoE (log of goods' share over bads' share) of its
    # low-ratio bins is positive (safer than average), of its high-ratio bins negative, least in the last.
    dti = model.binnings[FEATURES.index("debt_to_income")]
    woe = dti.woe[:-1]
    assert len(dti.edges) == 9 and dti.goods.sum() + dti.bads.sum() == 3500
    assert woe[:3].mean() > 0.2 and woe[-3:].mean() < -0.2
    assert np.argmin(woe) == len(woe) - 1


def test_explanations_are_coefficient_times_woe_and_add_up_to_the_log_odds(model: Any, data: Data) -> None:
    rows = data.part(3500, 3700)[0]
    pd, contributions = model.predict_pd(rows), model.explain(rows)
    document = json.loads(model.to_json())

    assert contributions.dtype == np.float64 and contributions.shape == (len(rows), len(FEATURES))
    np.testing.assert_allclose(contributions.sum(axis=1) + document["intercept"], logit(pd), atol=1e-9)
    # The same contributions, read off the artifact by hand.
    for i in (0, 1, 2, 50, 199):
        for j, (coefficient, bins) in enumerate(zip(document["coefficients"], document["bins"], strict=True)):
            value = rows[i, j]
            where = -1 if math.isnan(value) else bisect.bisect_right(bins["edges"], value)
            assert contributions[i, j] == pytest.approx(coefficient * bins["woe"][where], abs=1e-12)


def test_missing_values_have_a_bin_of_their_own(model: Any, data: Data) -> None:
    savings = FEATURES.index("savings")
    missing = np.isnan(data.part(0, 3500)[0][:, savings])
    assert 0.1 < missing.mean() < 0.2
    # Blank savings were three times as common among defaulters: WoE ≈ ln(0.1 / 0.3).
    assert model.binnings[savings].woe[-1] == pytest.approx(math.log(0.1 / 0.3), abs=0.2)

    row = data.part(3500, 3501)[0].copy()
    row[0, savings] = 1e6
    blank = row.copy()
    blank[0, savings] = np.nan
    # Missing savings push the risk up; a blank where training had none (income) is neutral.
    assert model.explain(blank)[0, savings] > 0
    assert model.predict_pd(blank)[0] > model.predict_pd(row)[0]
    income = FEATURES.index("income")
    blank[0, income] = np.nan
    assert model.explain(blank)[0, income] == 0.0
    nothing = np.full((1, len(FEATURES)), np.nan)
    assert np.count_nonzero(model.explain(nothing)) == 1
    assert 0 < model.predict_pd(nothing)[0] < 1


def test_predictions_do_not_depend_on_the_batch_or_on_other_threads(model: Any, data: Data) -> None:
    rows = data.part(3500, 3980)[0]
    batches = [rows[i * 60 : i * 60 + (1 if i % 2 else 60)] for i in range(8)]
    sequential = [(model.predict_pd(batch), model.explain(batch)) for batch in batches]
    one_by_one = np.concatenate([model.predict_pd(rows[i : i + 1]) for i in range(40)])

    assert np.array_equal(model.predict_pd(rows[:40]), one_by_one)

    def both(batch: Matrix) -> tuple[Any, Any]:
        return model.predict_pd(batch), model.explain(batch)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            concurrent = list(pool.map(both, batches))
            for (pd, explained), (expected_pd, expected) in zip(concurrent, sequential, strict=True):
                assert np.array_equal(pd, expected_pd) and np.array_equal(explained, expected)


def test_artifacts_that_do_not_fit_are_refused_naming_why(scorecard: ModuleType, data: Data) -> None:
    scorer = scorecard.LogisticScorecard()
    subset = scorer.with_features(FEATURES[-4:])
    rows, labels = data.part(0, 1000)
    files = scorer.fit(rows, labels, {})
    document = json.loads(files[ARTIFACT])

    assert subset.load(subset.fit(rows[:, -4:], labels, {})).predict_pd(rows[:5, -4:]).shape == (5,)
    with pytest.raises(ValueError, match="trained on"):
        scorer.load(subset.fit(rows[:, -4:], labels, {}))
    with pytest.raises(ValueError, match="not valid JSON"):
        scorer.load({ARTIFACT: b"\x80\x04\x95 not json"})
    unordered = json.loads(files[ARTIFACT])
    unordered["bins"][0]["edges"].reverse()
    with pytest.raises(ValueError, match="increase strictly"):
        scorer.load({ARTIFACT: json.dumps(unordered).encode()})
    infinite = {**document, "intercept": math.inf}
    with pytest.raises(ValueError, match="finite numbers"):
        scorer.load({ARTIFACT: json.dumps(infinite).encode()})
    with pytest.raises(ValueError, match="both defaults and non-defaults"):
        scorer.fit(rows, np.zeros(len(rows), dtype=np.int64), {})


def test_the_points_table_adds_up_to_the_platforms_score(model: Any, data: Data) -> None:
    rows = data.part(3500, 3800)[0]
    scaling, calibration = Scaling(), Calibration(a=1.3, b=-0.2, rows=500)
    served_pd = CalibratedModel(model, calibration).predict_pd(rows)

    table = model.points(scaling, calibration)
    total = table.total(model.bins(rows))

    np.testing.assert_allclose(total, scaling.offset + scaling.factor * np.log((1 - served_pd) / served_pd))
    assert np.array_equal(np.clip(np.rint(total), 300, 850).astype(np.int64), scaling.scores(served_pd))
    income = table.features.index("income")
    assert table.labels[income][0].startswith("[-inf, ") and table.labels[income][-1] == "missing"
    assert [len(labels) for labels in table.labels] == [len(points) for points in table.points]


# --- trained, published and served -----------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    settings: Settings
    report: dict[str, Any]


def use_settings(patch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in endpoint_environment(settings).items():
        patch.setenv(name, value)
    patch.setenv("CREDITSCORE_PROJECT", settings.project)
    patch.setenv("CREDITSCORE_ENV", settings.env)


def copy_models(source: Settings, target: Settings, models: tuple[str, ...]) -> None:
    """Every version and the pointer of ``models`` from one models bucket to another."""
    s3 = aws.client("s3", target)
    for model in models:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=source.models_bucket, Prefix=f"{model}/")
        for page in pages:
            for item in page.get("Contents", []):
                s3.copy_object(
                    Bucket=target.models_bucket,
                    Key=item["Key"],
                    CopySource={"Bucket": source.models_bucket, "Key": item["Key"]},
                )


@pytest.fixture(scope="module")
def published(
    scorecard: ModuleType,
    local_aws: LocalAws,
    published_models: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Published:
    """``creditscore train --model logistic-scorecard --publish`` on synthetic customers, in buckets and
    tables of their own that also hold the built-in existing-customer models, with the service configured
    to score new applicants with the scorecard."""
    settings = settings_for(local_aws, "scorecard", new_customer_model=SCORECARD)
    aws.bootstrap(settings)
    copy_models(published_models, settings, EXISTING_MODELS)
    work = tmp_path_factory.mktemp("train")
    snapshot = work / "customers.parquet"
    with_missing_savings(customers(4000, seed=31), seed=32).to_parquet(snapshot, index=False)
    with pytest.MonkeyPatch.context() as patch:
        use_settings(patch, settings)
        code = main(
            ["train", "--model", SCORECARD, "--data", str(snapshot), "--publish", "--out", str(work / "out")]
        )
    assert code == 0
    return Published(settings, json.loads((work / "out" / "report.json").read_text()))


def test_training_publishes_a_version_that_passes_the_gate(published: Published) -> None:
    registry = Registry.from_settings(published.settings)
    version = published.report["version"]
    manifest = registry.manifest(SCORECARD, version)

    assert published.report["metrics"]["test"]["auc"] > 0.68
    assert published.settings.gate_min_auc == 0.6
    pointer = registry.pointer(SCORECARD)
    assert pointer is not None and pointer.version == version
    assert set(manifest.files) == {ARTIFACT, "calibration.json"}
    assert manifest.plugin == {
        "distribution": EXAMPLE_DISTRIBUTION,
        "module": f"{EXAMPLE_PACKAGE}.scorecard",
        "version": "0.1.0",
    }
    assert (manifest.segment, manifest.features, manifest.groups) == ("new", FEATURES, (APPLICATION,))


def test_models_commands_show_the_published_scorecard(
    published: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_settings(monkeypatch, published.settings)
    version, auc = published.report["version"], published.report["metrics"]["test"]["auc"]

    assert main(["models", "list"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["*", SCORECARD, version, f"{auc:.4f}"] in [line[:4] for line in listed]
    assert main(["models", "show", SCORECARD]) == 0
    shown = capsys.readouterr().out
    assert f"{version} (current)" in shown
    assert f"{EXAMPLE_PACKAGE}.scorecard from {EXAMPLE_DISTRIBUTION} 0.1.0" in shown
    assert ARTIFACT in shown


async def test_the_service_scores_new_applicants_with_the_scorecard(
    aiohttp_client: ClientFactory, published: Published
) -> None:
    settings = replace(published.settings, api_keys=(ApiKey(hash_key(SCORE_KEY), frozenset({"score"})),))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    version = published.report["version"]

    ready = await client.get("/ready")
    assert ready.status == 200, await ready.json()
    response = await client.post("/api/v1/predict-new-customer", json=APPLICANT, headers=HEADERS)
    body = await response.json()

    assert response.status == 200, body
    assert body["model"] == {"name": SCORECARD, "version": version, "role": "champion"}
    assert 300 <= body["predicted_score"] <= 850
    assert body["predicted_group"] == band(body["predicted_score"])
    # The answer is the published scorecard's, as the registry loads it (calibration included).
    _, served = Registry.from_settings(settings).load(manager.scorer(SCORECARD))
    row = np.column_stack([application_features(FORM)[name] for name in FEATURES])
    pd = float(served.predict_pd(row)[0])
    assert body["probability_of_default"] == pytest.approx(pd, rel=1e-9)
    assert body["predicted_score"] == Scaling().score(pd)
    # The registry's rules first (citable, unprotected, never a value at its best end), then the ranking.
    allowed = screen(served.explain(row), row, FEATURES, TOP_REASONS).allowed[0]
    raising = [FEATURES[j] for j in np.argsort(-allowed) if allowed[j] > 0]
    assert [reason["feature"] for reason in body["reasons"]] == raising[:TOP_REASONS]

    models = await client.get("/api/v1/models", headers=HEADERS)
    listed = {entry["name"]: entry for entry in (await models.json())["models"]}
    assert models.status == 200
    assert set(listed) == {SCORECARD, *EXISTING_MODELS}
    assert listed[SCORECARD]["version"] == version
    assert listed[SCORECARD]["segment"] == "new"
    assert listed[SCORECARD]["features"] == list(FEATURES)
    assert listed[SCORECARD]["metrics"]["auc"] == published.report["metrics"]["test"]["auc"]
