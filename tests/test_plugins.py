"""Scorer plugins: discovery through entry points, and the three built-ins on small planted-signal data."""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from creditscore.domain.features import (
    APPLICATION,
    SOCIAL,
    TRADITIONAL,
    TRANSACTION,
    application_features,
    names,
)
from creditscore.plugin import Artifacts, Labels, Matrix, Model, Scorer, hookimpl
from plugins.builtin import extratrees_social, pytorch_traditional, xgboost_new_customer
from plugins.builtin.extratrees_social import ExtraTreesSocial
from plugins.builtin.pytorch_traditional import PyTorchTraditional
from plugins.builtin.xgboost_new_customer import XGBoostNewCustomer
from plugins.manager import PluginError, discover, plugin_manager
from tests.test_example_scorecard import EXAMPLE_PACKAGE, SCORECARD, example_installed

ROWS, TRAIN, VALIDATION = 3_000, 2_000, 500


@dataclass(frozen=True)
class Dataset:
    features: Matrix
    labels: Labels
    #: The feature given the most signal when the labels were drawn.
    strongest: str

    def rows(self, part: slice) -> tuple[Matrix, Labels]:
        return self.features[part], self.labels[part]

    @property
    def train(self) -> tuple[Matrix, Labels]:
        return self.rows(slice(0, TRAIN))

    @property
    def validation(self) -> tuple[Matrix, Labels]:
        return self.rows(slice(TRAIN, TRAIN + VALIDATION))

    @property
    def test(self) -> tuple[Matrix, Labels]:
        return self.rows(slice(TRAIN + VALIDATION, None))


def _draw(rng: np.random.Generator, logit: Matrix) -> Labels:
    return (rng.random(logit.size) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int_)


def application_data(seed: int = 1) -> Dataset:
    """Application forms whose risk is mostly the debt-to-income ratio, a little the savings."""
    rng = np.random.default_rng(seed)
    form = {
        "income": rng.lognormal(np.log(12e6), 0.6, ROWS),
        "savings": rng.lognormal(np.log(30e6), 1.0, ROWS),
        "debt": rng.lognormal(np.log(40e6), 0.6, ROWS),
        **{
            flag: rng.random(ROWS) < 0.5
            for flag in ("has_dependents", "has_mortgage", "has_savings_account", "has_credit_card")
        },
    }
    columns = application_features(form)
    logit = -1.5 + 1.8 * np.log(columns["debt_to_income"] / 3.3) - 0.4 * np.log(columns["savings"] / 30e6)
    features = np.column_stack([columns[name] for name in names(APPLICATION)])
    return Dataset(features, _draw(rng, logit), "debt_to_income")


def profile_data(seed: int = 2) -> Dataset:
    """Bureau and transaction profiles: money columns heavy-tailed (balances signed), the rest normal."""
    rng = np.random.default_rng(seed)
    columns = [*names(TRADITIONAL), *names(TRANSACTION)]
    features = rng.standard_normal((ROWS, len(columns)))
    for j, name in enumerate(columns):
        if name in pytorch_traditional.MONEY_FEATURES:
            sign = rng.choice([-1.0, 1.0], ROWS) if name.startswith("balance_min") else 1.0
            features[:, j] = sign * rng.lognormal(14.0, 1.5, ROWS)
    balance = features[:, columns.index("balance_mean_3m")]
    logit = -1.5 + 1.8 * features[:, columns.index("num_past_due_90_plus")] - 0.5 * (np.log(balance) - 14.0)
    return Dataset(features, _draw(rng, logit), "num_past_due_90_plus")


def social_data(seed: int = 3) -> Dataset:
    """Social signals whose risk is mostly the share of defaulted connections, a little the sentiment."""
    rng = np.random.default_rng(seed)
    columns = {
        "account_age_months": rng.integers(1, 180, ROWS).astype(np.float64),
        "num_connections": rng.poisson(200, ROWS).astype(np.float64),
        "posts_per_month": rng.exponential(5.0, ROWS),
        "share_defaulted_connections": rng.random(ROWS),
        "avg_sentiment": rng.uniform(-1.0, 1.0, ROWS),
        "verified_profile": (rng.random(ROWS) < 0.5).astype(np.float64),
    }
    logit = -2.0 + 5.0 * (columns["share_defaulted_connections"] - 0.5) - 1.0 * columns["avg_sentiment"]
    features = np.column_stack([columns[name] for name in names(SOCIAL)])
    return Dataset(features, _draw(rng, logit), "share_defaulted_connections")


@dataclass(frozen=True)
class Case:
    scorer: Scorer
    data: Callable[[], Dataset]
    #: Overrides keeping the test quick; the defaults are exercised by the training pipeline.
    params: dict[str, Any]


CASES = {
    "xgboost-new-customer": Case(XGBoostNewCustomer(), application_data, {}),
    "pytorch-traditional": Case(PyTorchTraditional(), profile_data, {"max_epochs": 60}),
    "extratrees-social": Case(ExtraTreesSocial(), social_data, {"n_estimators": 100}),
}


@cache
def dataset(name: str) -> Dataset:
    return CASES[name].data()


def fit(name: str, seed: int, progress: Callable[[int, int], None] | None = None) -> Artifacts:
    case, data = CASES[name], dataset(name)
    return case.scorer.fit(*data.train, {**case.params, "seed": seed}, data.validation, progress)


@cache
def trained(name: str) -> Model:
    return CASES[name].scorer.load(fit(name, seed=0))


def test_discovery_finds_the_builtins_through_their_entry_points() -> None:
    manager = plugin_manager()
    scorers = discover(manager)

    expected = {
        "xgboost-new-customer": ("new", (APPLICATION,)),
        "pytorch-traditional": ("existing", (TRADITIONAL, TRANSACTION)),
        "extratrees-social": ("existing", (SOCIAL,)),
    }
    for name, (segment, groups) in expected.items():
        found = scorers[name]
        assert (found.segment, found.groups) == (segment, groups)
        assert list(found.features) == [feature for group in groups for feature in names(group)]
    # Registered under their entry-point names, i.e. loaded from the distribution's metadata.
    assert manager.get_plugin("xgboost-new-customer") is xgboost_new_customer
    assert manager.get_plugin("pytorch-traditional") is pytorch_traditional
    assert manager.get_plugin("extratrees-social") is extratrees_social


def test_installing_a_distribution_adds_its_scorer(tmp_path: Path) -> None:
    assert SCORECARD not in discover(), "uninstall logistic-scorecard from the environment first"

    with example_installed(tmp_path) as package:
        manager = plugin_manager()
        scorers = discover(manager)
        assert set(CASES) < set(scorers)
        # Registered under its entry-point name, imported from where pip put it, not from examples/.
        assert manager.get_plugin(SCORECARD) is package
        assert Path(str(package.__file__)).is_relative_to(tmp_path / "site")
        example = scorers[SCORECARD]
        assert type(example).__module__ == f"{EXAMPLE_PACKAGE}.scorecard"
        assert (example.segment, example.groups) == ("new", (APPLICATION,))
        assert list(example.features) == names(APPLICATION)
        data = dataset("xgboost-new-customer")
        model = example.load(example.fit(*data.train, {"seed": 0}, data.validation))
        assert roc_auc_score(data.test[1], model.predict_pd(data.test[0])) > 0.7

    assert SCORECARD not in discover()


def test_two_plugins_claiming_one_name_are_refused_naming_both() -> None:
    class Impostor:
        @hookimpl
        def creditscore_scorers(self) -> list[Scorer]:
            return [ExtraTreesSocial()]

    manager = plugin_manager()
    manager.register(Impostor(), name="impostor")
    with pytest.raises(PluginError) as error:
        discover(manager)
    claimants = r"both (extratrees-social and impostor|impostor and extratrees-social)"
    assert re.search(claimants, str(error.value))


@pytest.mark.parametrize("name", CASES)
def test_fitting_is_deterministic_and_artifacts_reload(name: str) -> None:
    scorer, test_rows = CASES[name].scorer, dataset(name).test[0]
    steps: list[tuple[int, int]] = []
    again = fit(name, seed=0, progress=lambda step, total: steps.append((step, total)))
    other_seed = fit(name, seed=1)

    expected = trained(name).predict_pd(test_rows)
    assert np.array_equal(scorer.load(again).predict_pd(test_rows), expected)
    assert np.array_equal(scorer.load(again).predict_pd(test_rows), expected)
    assert not np.array_equal(scorer.load(other_seed).predict_pd(test_rows), expected)
    assert steps and all(0 < step <= total for step, total in steps)
    assert [step for step, _ in steps] == sorted({step for step, _ in steps})


@pytest.mark.parametrize("name", CASES)
def test_model_ranks_risk_and_credits_the_planted_feature(name: str) -> None:
    model, data = trained(name), dataset(name)
    rows, labels = data.test

    pd = model.predict_pd(rows)
    contributions = model.explain(rows)

    assert pd.dtype == np.float64 and pd.shape == (len(rows),)
    assert np.all((pd > 0) & (pd < 1))
    assert roc_auc_score(labels, pd) > 0.7
    assert contributions.dtype == np.float64 and contributions.shape == rows.shape
    ranking = np.argsort(-np.abs(contributions).mean(axis=0))
    assert CASES[name].scorer.features[ranking[0]] == data.strongest


@pytest.mark.parametrize("name", CASES)
def test_predictions_do_not_depend_on_the_batch(name: str) -> None:
    model, rows = trained(name), dataset(name).test[0][:40]

    one_by_one = np.concatenate([model.predict_pd(rows[i : i + 1]) for i in range(len(rows))])

    # float32 matrix products may round differently by batch size; the trees' walks may not.
    np.testing.assert_allclose(model.predict_pd(rows), one_by_one, rtol=1e-5)
    if name == "extratrees-social":
        assert np.array_equal(model.predict_pd(rows), one_by_one)


@pytest.mark.parametrize("name", CASES)
def test_concurrent_calls_match_sequential_ones(name: str) -> None:
    model, rows = trained(name), dataset(name).test[0]
    # Batches of one row and of many take different paths in some models.
    batches = [rows[i * 60 : i * 60 + (1 if i % 2 else 60)] for i in range(8)]
    sequential_pd = [model.predict_pd(batch) for batch in batches]
    sequential_explained = [model.explain(batch) for batch in batches]

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            concurrent_pd = list(pool.map(model.predict_pd, batches))
            concurrent_explained = list(pool.map(model.explain, batches))
            assert all(map(np.array_equal, concurrent_pd, sequential_pd))
            assert all(map(np.array_equal, concurrent_explained, sequential_explained))


@pytest.mark.parametrize("name", CASES)
def test_a_scorer_on_a_subset_of_features_trains_and_loads_with_it(name: str) -> None:
    case, data = CASES[name], dataset(name)
    subset = case.scorer.with_features(case.scorer.features[-4:])

    # No validation set: the network holds out part of the training rows instead.
    artifacts = subset.fit(data.train[0][:, -4:], data.train[1], case.params)
    pd = subset.load(artifacts).predict_pd(data.test[0][:, -4:])

    assert len(subset.features) == 4 and len(case.scorer.features) > 4
    assert pd.shape == (len(data.test[0]),) and np.all((pd > 0) & (pd < 1))
    with pytest.raises(ValueError, match=r"features|trained on"):
        case.scorer.load(artifacts)


@pytest.mark.parametrize("name", ["xgboost-new-customer", "extratrees-social"])
def test_tree_explanations_account_for_the_differences_between_rows(name: str) -> None:
    model, rows = trained(name), dataset(name).test[0][:50]
    pd, contributions = model.predict_pd(rows), model.explain(rows)

    if name == "xgboost-new-customer":
        # TreeSHAP values add up to the log-odds, less a constant.
        explained, tolerance = contributions.sum(axis=1), 1e-4
        actual = np.log(pd / (1 - pd))
    else:
        # Saabas credits, back on the probability scale, add up to the PD less the base rate.
        explained, tolerance = (contributions * (pd * (1 - pd))[:, None]).sum(axis=1), 1e-12
        actual = pd
    np.testing.assert_allclose(explained - explained[0], actual - actual[0], atol=tolerance)


def test_xgboost_pd_follows_the_monotone_constraints() -> None:
    model, base = trained("xgboost-new-customer"), dataset("xgboost-new-customer").test[0][:20]
    features = XGBoostNewCustomer.features

    def sweep(feature: str, values: Matrix) -> Matrix:
        """(applicants, values) PDs with only ``feature`` changing along each row."""
        rows = np.repeat(base, len(values), axis=0)
        rows[:, features.index(feature)] = np.tile(values, len(base))
        return model.predict_pd(rows).reshape(len(base), len(values))

    assert np.all(np.diff(sweep("debt_to_income", np.linspace(0.0, 30.0, 61)), axis=1) >= 0)
    assert np.all(np.diff(sweep("savings", np.linspace(0.0, 5e8, 61)), axis=1) <= 0)


def test_extratrees_refuses_artifacts_holding_other_types() -> None:
    scorer, (rows, labels) = ExtraTreesSocial(), dataset("extratrees-social").train
    forest = ExtraTreesClassifier(n_estimators=5, random_state=0).fit(rows, labels)
    forest.provenance_ = collections.Counter(source=1)
    boosted = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(rows, labels)

    with pytest.raises(ValueError, match=r"collections\.Counter"):
        scorer.load({extratrees_social.MODEL_FILE: skops.io.dumps(forest)})
    # Every type in this one is trusted by skops, but it is not the model the scorer serves.
    with pytest.raises(ValueError, match="GradientBoostingClassifier"):
        scorer.load({extratrees_social.MODEL_FILE: skops.io.dumps(boosted)})


@pytest.mark.parametrize(
    ("hidden", "why"),
    [
        ([4096, 4096, 4096], "parameters, above the plugin's 10,000,000"),
        ([100_000], "at most 8 layers of 1 to 4096 units"),
        ([64] * 9, "at most 8 layers"),
        ([0], "at most 8 layers of 1 to 4096 units"),
        ("64", "at most 8 layers"),
    ],
)
def test_a_network_config_beyond_the_limits_is_refused_before_torch_allocates_it(
    hidden: Any, why: str
) -> None:
    files = dict(fit("pytorch-traditional", seed=0))
    config = json.loads(files[pytorch_traditional.CONFIG_FILE])
    files[pytorch_traditional.CONFIG_FILE] = json.dumps({**config, "hidden": hidden}).encode()
    with pytest.raises(ValueError, match=why):
        CASES["pytorch-traditional"].scorer.load(files)


def test_xgboost_direct_prediction_equals_xgboosts_own_for_every_batch_shape_and_missing_values() -> None:
    """The C-API call the served model makes (configuration built once) gives inplace_predict's exact floats:
    float64 and float32 rows, a non-contiguous slice, NaNs (missing), one row and many."""
    model, rows = trained("xgboost-new-customer"), dataset("xgboost-new-customer").test[0]
    booster = model._booster  # type: ignore[attr-defined]
    with_missing = rows[:64].copy()
    with_missing[::3, 1] = np.nan
    batches: list[Matrix] = [rows[:1], rows[:7], rows[:256], rows[::2, :][:33], with_missing]
    batches.append(rows[:256].astype(np.float32))
    for batch in batches:
        expected = np.clip(booster.inplace_predict(batch).astype(np.float64), 1e-6, 1 - 1e-6)
        assert np.array_equal(model.predict_pd(batch), expected), batch.shape
