"""Population and characteristic stability: the reference training records, the counting the service does,
and a drifted population seen through the running service (issue 19)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import math
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest
from aiohttp.test_utils import TestClient

from creditscore.config import Settings
from creditscore.domain.features import LABEL, application_features
from creditscore.domain.scores import SCORE_BIN_EDGES, Scaling
from creditscore.domain.stability import (
    SCORE_CUTS,
    Bins,
    Reference,
    feature_cuts,
    reading,
    stability_index,
)
from etl.synthetic import latent
from plugins.artifacts import ArtifactError, Manifest
from plugins.manager import scorer
from plugins.registry import Gate, Registry
from server import metrics
from server.app import create_app
from server.stability import StabilityMonitor, VersionTracker, host_totals
from tests.conftest import SCORE_KEY, with_keys
from tests.test_server_api import metric_value
from training import data, pipeline

MODEL: Final = "xgboost-new-customer"
AS_OF: Final = datetime.date(2026, 9, 30)
HEADERS: Final = {"Authorization": f"Bearer {SCORE_KEY}"}
FORM: Final = ("income", "savings", "debt", "has_dependents", "has_mortgage", "has_savings_account")


# --- the arithmetic --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "expected"),
    [(0.0, "stable"), (0.099, "stable"), (0.1, "watch"), (0.25, "watch"), (0.26, "act")],
)
def test_the_usual_reading(index: float, expected: str) -> None:
    assert reading(index) == expected


def test_the_index_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    expected = [0.25, 0.25, 0.25, 0.25]
    assert stability_index(expected, [100, 100, 100, 100]) == pytest.approx(0.0)
    # By hand: (0.4-0.25)ln(0.4/0.25) + (0.1-0.25)ln(0.1/0.25) twice over.
    by_hand = 2 * (0.15 * math.log(0.4 / 0.25) + -0.15 * math.log(0.1 / 0.25))
    assert stability_index(expected, [40, 10, 40, 10]) == pytest.approx(by_hand)
    assert stability_index(expected, [0, 0, 0, 0]) != stability_index(expected, [0, 0, 0, 0])  # NaN


def test_an_empty_bin_counts_heavily_but_finitely() -> None:
    index = stability_index([0.5, 0.5, 0.0], [40, 40, 20])
    assert math.isfinite(index) and index > 0.25


def test_a_flag_gets_two_bins_a_constant_one_and_missing_values_their_own() -> None:
    flag = np.array([0.0] * 70 + [1.0] * 30)
    assert feature_cuts(flag) == (1.0,)
    bins = Bins.of(flag, feature_cuts(flag))
    assert bins.shares == pytest.approx((0.7, 0.3)) and bins.missing == 0
    assert feature_cuts(np.full(50, 3.0)) == ()
    spread = np.arange(1000, dtype=np.float64)
    assert len(feature_cuts(spread)) == 9
    with_gaps = np.array([1.0, 2.0, math.nan, 4.0])
    assert Bins.of(with_gaps, (2.0,)).missing == pytest.approx(0.25)
    assert Bins.of(with_gaps, (2.0,)).counts([math.nan, 0.5, 2.0, 9.0]).tolist() == [1, 2, 1]


def test_the_score_bins_are_the_dashboards_50_point_bins() -> None:
    bins = Bins.of([300, 349, 350, 799, 800, 850], SCORE_CUTS)
    assert bins.size == 12
    assert bins.counts([300, 349, 350, 799, 800, 850]).tolist() == [2, 1] + [0] * 7 + [1, 2, 0]


# --- the manifest ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> pipeline.TrainingResult:
    """xgboost-new-customer trained small on a synthetic population from the generator's latent process."""
    model = scorer(MODEL)
    table = data.table_from_frame(population(4000, seed=1), "synthetic", model.features, None)
    return pipeline.train(model, table, {"num_boost_round": 40}, progress=False)


def population(rows: int, seed: int, median_income: float = latent.MEDIAN_INCOME) -> pd.DataFrame:
    """Applicants from the synthetic generator's latent-risk process, with its median income changed when
    asked: the application features and the outcome."""
    rng = np.random.default_rng(seed)
    saved = latent.MEDIAN_INCOME
    latent.MEDIAN_INCOME = int(median_income)
    try:
        customers = latent.draw_customers(rng, latent.draw_people(rng, rows, AS_OF), AS_OF)
    finally:
        latent.MEDIAN_INCOME = saved
    form = {name: getattr(customers, name) for name in (*FORM, "has_credit_card")}
    frame = pd.DataFrame(application_features(form))
    frame[LABEL] = customers.default_24m
    return frame


def test_training_records_the_reference_and_the_manifest_keeps_it(trained: pipeline.TrainingResult) -> None:
    manifest = trained.manifest
    reference = manifest.reference
    assert reference is not None
    assert set(reference.features) == set(manifest.inputs)
    assert sum(reference.score.shares) == pytest.approx(1.0)
    # Flags get two bins; amounts their deciles.
    assert len(reference.features["has_mortgage"].cuts) == 1
    assert len(reference.features["income"].cuts) >= 5
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_a_version_published_before_has_no_reference(trained: pipeline.TrainingResult) -> None:
    document = json.loads(trained.manifest.to_json())
    del document["reference"]
    older = Manifest.from_json(json.dumps(document).encode())
    assert older.reference is None
    assert "reference" not in json.loads(older.to_json())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r["score"].update(shares=[1.0, 1.0] + [0.0] * 9), "reference'.score: the shares"),
        (lambda r: r["score"].update(cuts=[400.0, 500.0], shares=[0.5, 0.5, 0.0]), "score.cuts"),
        (lambda r: r["features"]["income"].update(cuts=[2.0, 1.0]), "features.income.cuts"),
        (lambda r: r["features"].pop("income"), "reference'.features"),
        (lambda r: r["features"]["debt"].update(missing="none"), "features.debt.missing"),
        (lambda r: r.pop("score"), "field 'reference'"),
    ],
)
def test_a_malformed_reference_is_refused_naming_the_field(
    trained: pipeline.TrainingResult, change: Callable[[dict[str, Any]], object], named: str
) -> None:
    document = json.loads(trained.manifest.to_json())
    change(document["reference"])
    with pytest.raises(ArtifactError, match=named.replace(".", r"\.")):
        Manifest.from_json(json.dumps(document).encode())


# --- the counting ----------------------------------------------------------------------------------------


def test_the_counts_written_match_each_variables_own_bins() -> None:
    rng = np.random.default_rng(3)
    rows = np.column_stack(
        [rng.normal(size=500), rng.integers(0, 2, 500).astype(float), rng.gamma(2, size=500)]
    )
    rows[::50, 2] = math.nan
    names = ("a", "flag", "b")
    pds = rng.uniform(0.001, 0.5, 500)
    scaling = Scaling(target=650, target_odds=20, pdo=50)
    reference = Reference.of(scaling.scores(pds), rows, names)
    tracker = VersionTracker("count-test", "v1", reference, scaling, now=0.0)
    live = rows + 0.3
    live_pd = rng.uniform(0.001, 0.5, 500)
    for start in range(0, 500, 64):
        tracker.observe(live[start : start + 64], live_pd[start : start + 64])
    tracker.flush()

    totals = host_totals()
    labels = {"model": "count-test", "version": "v1"}

    def written(metric: str, **more: str) -> dict[str, float]:
        return {
            dict(key)["bin"]: value
            for key, value in totals[metric].items()
            if labels.items() <= dict(key).items() and more.items() <= dict(key).items()
        }

    scores = reference.score.counts(scaling.scores(live_pd))
    bins = [*(str(edge) for edge in SCORE_BIN_EDGES), "missing"]
    expected = {name: float(count) for name, count in zip(bins, scores, strict=True) if count}
    assert written("creditscore_score_bin_observations") == expected
    for column, name in enumerate(names):
        counts = reference.features[name].counts(live[:, column])
        feature_bins = [*(str(i) for i in range(len(counts) - 1)), "missing"]
        expected = {b: float(c) for b, c in zip(feature_bins, counts, strict=True) if c}
        assert written("creditscore_feature_bin_observations", feature=name) == expected, name


def test_the_window_is_the_newest_totals_less_those_from_a_window_ago() -> None:
    rows = np.linspace(0, 1, 200)[:, None]
    scaling = Scaling()
    reference = Reference.of(np.full(200, 600), rows, ("x",))
    tracker = VersionTracker("m", "w", reference, scaling, now=0.0)

    def totals(count: float) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        key = (("bin", "600"), ("model", "m"), ("version", "w"))
        feature = (("bin", "0"), ("feature", "x"), ("model", "m"), ("version", "w"))
        return {
            "creditscore_score_bin_observations": {key: count},
            "creditscore_feature_bin_observations": {feature: count},
        }

    assert tracker.update(totals(100), now=10, window=60, min_observations=150).psi is None
    figures = tracker.update(totals(300), now=50, window=60, min_observations=150)
    assert figures.observations == 300 and figures.psi == pytest.approx(0.0)
    # At 75 the window starts at 15: the snapshot of 10 (100 counted) is its start.
    assert tracker.update(totals(400), now=75, window=60, min_observations=150).observations == 300
    assert tracker.update(totals(400), now=115, window=60, min_observations=150).observations == 100


# Not importing this module, whose conftest import would give the worker a multiprocess directory of its own.
_WORKER: Final = """
import sys
import numpy as np
from creditscore.domain.scores import Scaling
from creditscore.domain.stability import Reference
from server.stability import VersionTracker

rng = np.random.default_rng(11)
rows, pds = rng.normal(size=(400, 2)), rng.uniform(0.01, 0.3, 400)
reference = Reference.of(Scaling().scores(pds), rows, ("a", "b"))
tracker = VersionTracker("workers-test", "v1", reference, Scaling(), now=0.0)
tracker.observe(rows[: int(sys.argv[1])], pds[: int(sys.argv[1])])
tracker.flush()
"""


def small_reference() -> tuple[Reference, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The worker's reference and population: the same draws as :data:`_WORKER`'s."""
    rng = np.random.default_rng(11)
    rows, pds = rng.normal(size=(400, 2)), rng.uniform(0.01, 0.3, 400)
    return Reference.of(Scaling().scores(pds), rows, ("a", "b")), rows, pds


def test_every_worker_of_the_host_counts_into_the_same_window() -> None:
    reference, rows, pds = small_reference()
    here = VersionTracker("workers-test", "v1", reference, Scaling(), now=0.0)
    here.start_at(host_totals(), now=0.0)
    # Another worker process, on the same multiprocess directory (conftest.py sets it for every process).
    subprocess.run([sys.executable, "-c", _WORKER, "300"], check=True, env=os.environ, timeout=120)
    here.observe(rows[:100], pds[:100])
    here.flush()

    figures = here.update(host_totals(), now=1.0, window=60.0, min_observations=400)
    assert figures.observations == 400
    assert figures.psi is not None and figures.psi < 0.05


def test_a_new_versions_window_holds_what_this_worker_scored_since_the_load_and_nothing_before(
    trained: pipeline.TrainingResult,
) -> None:
    from dataclasses import replace

    manifest = replace(trained.manifest, version="window-start")
    assert manifest.reference is not None
    rows = np.random.default_rng(5).normal(size=(70, len(manifest.reference.features)))
    pds = np.full(70, 0.05)
    # Another worker's scores of the version, written before this worker loads it: not its window's.
    earlier = VersionTracker(manifest.model, manifest.version, manifest.reference, Scaling(), now=0.0)
    earlier.observe(rows[:40], pds[:40])
    earlier.flush()
    monitor = StabilityMonitor(Scaling(), window=60.0, min_observations=1)
    observe = monitor.observer(manifest)
    assert observe is not None
    observe(rows[40:], pds[40:])  # this worker's, since it loaded the version: all in its window

    monitor.update()
    figures = monitor.figures(manifest.model, manifest.version)
    assert figures is not None and figures.observations == 30
    observe(rows[:5], pds[:5])
    monitor.update()
    assert monitor.figures(manifest.model, manifest.version).observations == 35  # type: ignore[union-attr]


# --- through the service ---------------------------------------------------------------------------------


@pytest.fixture
def drift_settings(settings: Settings, trained: pipeline.TrainingResult) -> Settings:
    """A models bucket whose new-customer model is the synthetic one; stability figures every 50 ms."""
    Registry.from_settings(settings).publish(
        trained.manifest, trained.files, Gate(min_auc=0.0, max_auc_drop=1.0)
    )
    return with_keys(
        settings,
        stability_flush_seconds=0.05,
        stability_min_observations=1000,
        stability_window_seconds=3600.0,
    )


async def score_all(client: TestClient[Any, Any], frame: pd.DataFrame) -> None:
    names = list(scorer(MODEL).features)
    records = frame[names].to_dict("records")
    for start in range(0, len(records), 1000):
        body = {"segment": "new", "rows": records[start : start + 1000]}
        response = await client.post("/api/v1/score", json=body, headers=HEADERS)
        assert response.status == 200, await response.text()


async def stability_of(client: TestClient[Any, Any], observations: int) -> dict[str, Any]:
    """The new-customer model's stability once it counts ``observations`` scores (5 s at most)."""
    for _ in range(100):
        body = await (await client.get("/api/v1/models", headers=HEADERS)).json()
        (model,) = [m for m in body["models"] if m["name"] == MODEL]
        if model["stability"]["observations"] >= observations:
            return dict(model["stability"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the stability figures never counted {observations} scores: {model['stability']}")


async def test_a_population_shifted_on_income_crosses_the_thresholds_and_an_unshifted_one_does_not(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    drift_settings: Settings,
    trained: pipeline.TrainingResult,
) -> None:
    version = trained.manifest.version
    client = await aiohttp_client(create_app(drift_settings))
    before = await stability_of(client, 0)
    assert before["status"] == "not_enough_data" and before["psi"] is None

    await score_all(client, population(3000, seed=2))
    same = await stability_of(client, 3000)
    assert same["status"] == "ok" and same["observations"] == 3000
    assert same["psi"] < 0.1 and same["reading"] == "stable"
    assert all(f["csi"] < 0.1 and f["reading"] == "stable" for f in same["features"].values()), same
    # The worker stops before the next one starts: one worker's figures at a time in the gauges.
    await client.close()

    # Applicants earning half of what the training population earned: a new worker's window starts now.
    client = await aiohttp_client(create_app(drift_settings))
    await score_all(client, population(3000, seed=3, median_income=latent.MEDIAN_INCOME / 2))
    shifted = await stability_of(client, 3000)
    assert shifted["psi"] > 0.25 and shifted["reading"] == "act", shifted
    assert shifted["features"]["income"]["csi"] > 0.25 and shifted["features"]["income"]["reading"] == "act"
    # The features the change does not reach stay stable.
    assert shifted["features"]["has_dependents"]["csi"] < 0.1

    text = metrics.render()[0].decode()
    assert metric_value(text, "creditscore_score_psi", model=MODEL, version=version) == pytest.approx(
        shifted["psi"], rel=0.05
    )
    income = metric_value(text, "creditscore_feature_csi", model=MODEL, version=version, feature="income")
    assert income > 0.25
    assert metric_value(text, "creditscore_stability_observations", model=MODEL, version=version) >= 3000
    counted = metric_value(text, "creditscore_score_bin_observations_total", model=MODEL, version=version)
    assert counted >= 6000
    assert host_totals()["creditscore_score_bin_observations"]


async def test_a_version_without_a_reference_is_served_and_says_it_has_no_figures(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    settings: Settings,
    trained: pipeline.TrainingResult,
) -> None:
    older = dataclasses.replace(trained.manifest, reference=None)
    Registry.from_settings(settings).publish(older, trained.files, Gate(min_auc=0.0, max_auc_drop=1.0))
    client = await aiohttp_client(create_app(with_keys(settings, stability_flush_seconds=0.05)))

    await score_all(client, population(50, seed=4))
    await asyncio.sleep(0.2)
    body = await (await client.get("/api/v1/models", headers=HEADERS)).json()
    (model,) = [m for m in body["models"] if m["name"] == MODEL]
    assert model["stability"] == {
        "status": "no_reference",
        "window_seconds": 3600.0,
        "min_observations": 1000,
        "observations": 0,
        "psi": None,
        "reading": None,
        "features": {},
    }
