"""Reason codes a person can act on: only citable, unprotected features, never "having something good hurt
you" (counted instead, as a sign the model needs review), worded by the registry or the model's plugin, for
new and existing customers alike."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Final

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from creditscore.config import Settings
from creditscore.domain.features import FEATURES as REGISTRY_FEATURES
from creditscore.domain.features import GROUPS, application_features, names
from creditscore.domain.reasons import COUNTER_INTUITIVE, NOT_CITABLE, PROTECTED, REGISTRY, screen
from creditscore.domain.scores import Scaling
from creditscore.plugin import Scorer
from plugins.builtin.xgboost_new_customer import XGBoostNewCustomer
from plugins.manager import scorer
from plugins.registry import Registry
from server import metrics
from server.model_registry import ModelRegistry, ServedModel
from server.scoring import TOP_REASONS, Explained, Scoring, reasons
from tests.factories import customers
from tests.test_server_api import EXISTING, HEADERS, NEW, STORED, applicant, metric_value, store_customer

NEW_MODEL: Final = "xgboost-new-customer"
APPLICATION: Final = tuple(names("application"))
SUPPRESSED: Final = "creditscore_reasons_suppressed_total"


def suppressed(text: str, model: str, feature: str, why: str) -> float:
    return metric_value(text, SUPPRESSED, model=model, feature=feature, why=why)


def local_metrics() -> str:
    return metrics.render()[0].decode()


def row_of(**values: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A row of the application features, 0 unless given."""
    return np.array([[values.get(name, 0.0) for name in APPLICATION]], dtype=np.float64)


# --- the rules, on constructed contributions -------------------------------------------------------------


def test_every_citable_feature_has_a_wording_and_protected_ones_are_never_citable() -> None:
    for feature in REGISTRY_FEATURES:
        if feature.citable:
            assert feature.wording and feature.risk in ("higher", "lower") and not feature.protected
    assert {f.name for f in REGISTRY_FEATURES if f.protected} == {"age", "has_dependents"}


def test_a_good_value_that_raised_the_risk_is_withheld_and_counted() -> None:
    # The model says having a savings account (its best value) raised the risk most: counter-intuitive.
    contributions = row_of(has_savings_account=0.9, debt_to_income=0.5, income=0.2)
    values = row_of(has_savings_account=1, debt_to_income=0.8, income=5e6)
    before = local_metrics()

    given = reasons([Explained("review-me", 1.0, APPLICATION, values[0], contributions[0])])

    assert [r.feature for r in given] == ["debt_to_income", "income"]
    assert [(r.wording, r.direction) for r in given] == [
        ("Debt is high relative to income", "high"),
        ("Income is low", "low"),
    ]
    after = local_metrics()
    assert suppressed(after, "review-me", "has_savings_account", COUNTER_INTUITIVE) == (
        suppressed(before, "review-me", "has_savings_account", COUNTER_INTUITIVE) + 1
    )


def test_lacking_the_good_thing_is_a_reason_and_none_of_a_bad_thing_is_not() -> None:
    contributions = row_of(has_savings_account=0.9, debt=0.7, num_past_due_30_59=0.1)
    # No savings account: a fair reason. No debt at all (its best) raising the risk: withheld.
    screened = screen(contributions, row_of(has_savings_account=0, debt=0), APPLICATION, TOP_REASONS)
    assert [(APPLICATION[w.column], w.why) for w in screened.withheld] == [("debt", COUNTER_INTUITIVE)]
    given = reasons([Explained("m", 1.0, APPLICATION, row_of(debt=0)[0], contributions[0])])
    assert [(r.feature, r.wording) for r in given] == [("has_savings_account", "No savings account")]


def test_protected_and_uncitable_features_are_never_cited() -> None:
    features = ("age", "has_dependents", "has_mortgage", "a_feature_no_registry_knows", "debt")
    contributions = np.array([[3.0, 2.0, 1.5, 1.2, 0.1]])
    values = np.array([[30.0, 1.0, 1.0, 7.0, 1e6]])
    before = local_metrics()

    screened = screen(contributions, values, features, TOP_REASONS)
    given = reasons([Explained("m2", 1.0, features, values[0], contributions[0])])

    # Only the first three of the raw ranking would have been reasons: those are counted.
    assert [(features[w.column], w.why) for w in screened.withheld] == [
        ("age", PROTECTED),
        ("has_dependents", PROTECTED),
        ("has_mortgage", NOT_CITABLE),
    ]
    assert [r.feature for r in given] == ["debt"]
    after = local_metrics()
    assert suppressed(after, "m2", "age", PROTECTED) == suppressed(before, "m2", "age", PROTECTED) + 1
    assert suppressed(after, "m2", "has_mortgage", NOT_CITABLE) == (
        suppressed(before, "m2", "has_mortgage", NOT_CITABLE) + 1
    )


def test_several_models_are_combined_by_weight_under_the_same_rules() -> None:
    first = Explained("a", 3.0, ("debt", "age"), (1e6, 40.0), (0.4, 5.0))
    second = Explained("b", 1.0, ("debt", "credit_utilization"), (1e6, 0.9), (0.8, 0.6))

    given = reasons([first, second])

    assert [r.feature for r in given] == ["debt", "credit_utilization"]
    assert given[0].contribution == pytest.approx(0.75 * 0.4 + 0.25 * 0.8)
    assert given[1].contribution == pytest.approx(0.25 * 0.6)


# --- a plugin's own wording ------------------------------------------------------------------------------


class WordedNewCustomer(XGBoostNewCustomer):
    reason_wording: ClassVar[dict[str, str]] = {"debt_to_income": "Your loan payments are large for your pay"}


@contextlib.asynccontextmanager
async def new_customer_model(
    settings: Settings, plugin: Scorer
) -> AsyncIterator[tuple[ServedModel, Scoring]]:
    """The published new-customer model loaded through ``plugin``, and a Scoring that serves it."""
    with ThreadPoolExecutor(1) as executor:
        store = Registry.from_settings(settings)
        registry = ModelRegistry(store, [NEW_MODEL], {NEW_MODEL: plugin}, executor, 64, 1, 1 << 30)
        try:
            assert (await registry.check())[NEW_MODEL].startswith("loaded")
            served = registry.get(NEW_MODEL)
            assert served is not None
            yield served, Scoring(registry, Scaling(), NEW_MODEL, [], allow_degraded=False)
        finally:
            await registry.close()


async def test_a_plugins_wording_overrides_the_registrys(published_models: Settings) -> None:
    async with new_customer_model(published_models, WordedNewCustomer()) as (served, scoring):
        contributions = row_of(debt_to_income=0.9, debt=0.3)[0]
        values = row_of(debt_to_income=1.2, debt=3e7)[0]
        given = reasons([scoring.explained(served, values, contributions)])

    assert [(r.feature, r.wording) for r in given] == [
        ("debt_to_income", "Your loan payments are large for your pay"),
        ("debt", REGISTRY["debt"].wording),
    ]


async def test_a_model_whose_explanation_raises_still_scores_without_its_reasons(
    published_models: Settings,
) -> None:
    async with new_customer_model(published_models, scorer(NEW_MODEL)) as (served, scoring):
        rows = row_of(debt_to_income=1.2, debt=3e7, income=5e6)
        expected = (await served.batcher.predict(rows, explain=True)).pd

        def broken(_: Any) -> Any:
            raise RuntimeError("a third-party explainer fails")

        served.batcher.model.explain = broken  # type: ignore[method-assign,assignment]
        before = metric_value(local_metrics(), "creditscore_explain_failures_total", model=NEW_MODEL)
        prediction = await served.batcher.predict(rows, explain=True)
        # The existing-customer path falls back to the application model: a score, no reasons.
        stored = await scoring.stored_customer({"application": dict(zip(APPLICATION, rows[0], strict=True))})

    assert prediction.contributions is None and np.array_equal(prediction.pd, expected)
    assert stored.reasons == [] and 300 <= stored.score <= 850
    after = metric_value(local_metrics(), "creditscore_explain_failures_total", model=NEW_MODEL)
    assert after == before + 2


# --- through the service ---------------------------------------------------------------------------------


def expected_reasons(
    settings: Settings, models: Sequence[tuple[str, float]], values: dict[str, float]
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The reasons the published models should give a row, and what they should withhold, worked out here."""
    store = Registry.from_settings(settings)
    total = sum(weight for _, weight in models)
    combined: dict[str, float] = {}
    withheld: list[tuple[str, str, str]] = []
    for name, weight in models:
        manifest, model = store.load(scorer(name))
        features = manifest.inputs
        row = np.array([[values[f] for f in features]], dtype=np.float64)
        screened = screen(model.explain(row), row, features, TOP_REASONS)
        withheld += [(name, features[w.column], w.why) for w in screened.withheld]
        for j, feature in enumerate(features):
            combined[feature] = combined.get(feature, 0.0) + weight / total * float(screened.allowed[0, j])
    ranked = sorted((f for f, c in combined.items() if c > 0), key=lambda f: -combined[f])
    return ranked[:TOP_REASONS], withheld


async def test_a_new_applicant_is_never_told_a_good_thing_hurt_them(
    make_client: Callable[..., Any], published_models: Settings
) -> None:
    client: TestClient[Any, Any] = await make_client()
    form = applicant(cat_savings_account="Yes", cat_dependents="Yes")
    flags = {"has_dependents": 1.0, "has_mortgage": 0.0, "has_savings_account": 1.0, "has_credit_card": 0.0}
    fields = {"income": [form["income"]], "savings": [form["savings"]], "debt": [form["debt"]]}
    values = {
        k: float(v[0]) for k, v in application_features(fields | {k: [v] for k, v in flags.items()}).items()
    }
    expected, withheld = expected_reasons(published_models, [(NEW_MODEL, 1.0)], values)
    # The published model (trained on synthetic data where every feature leans with the risk) says having a
    # savings account raised this applicant's risk, among its largest contributions, and so did dependents.
    assert (NEW_MODEL, "has_savings_account", COUNTER_INTUITIVE) in withheld
    assert (NEW_MODEL, "has_dependents", PROTECTED) in withheld
    before = await (await client.get("/metrics")).text()

    response = await client.post(NEW, json=form, headers=HEADERS)
    body = await response.json()

    assert response.status == 200, body
    assert [r["feature"] for r in body["reasons"]] == expected
    for reason in body["reasons"]:
        feature = REGISTRY[reason["feature"]]
        assert feature.citable and not feature.protected and reason["contribution"] > 0
        assert reason["wording"] == feature.wording
        assert reason["direction"] == ("high" if feature.risk == "higher" else "low")
    assert "has_savings_account" not in expected and "has_dependents" not in expected
    after = await (await client.get("/metrics")).text()
    for model, name, why in withheld:
        assert suppressed(after, model, name, why) == suppressed(before, model, name, why) + 1


async def test_an_existing_customer_gets_reasons_combined_from_the_models_that_scored(
    make_client: Callable[..., Any], service_settings: Settings, published_models: Settings
) -> None:
    client: TestClient[Any, Any] = await make_client()
    store_customer(service_settings)
    row = customers(1, seed=3).iloc[0]
    values = {name: float(row[name]) for group in GROUPS for name in names(group)}
    weights = [("pytorch-traditional", 0.5), ("extratrees-social", 0.5)]
    expected, _ = expected_reasons(published_models, weights, values)

    response = await client.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    body = await response.json()

    assert response.status == 200, body
    assert body["basis"] == "existing-models"
    assert [r["feature"] for r in body["reasons"]] == expected
    assert expected, "the customer's stored features raise some risk"
    for reason in body["reasons"]:
        feature = REGISTRY[reason["feature"]]
        assert feature.citable and not feature.protected and reason["contribution"] > 0
        assert reason["wording"]


async def test_a_customer_scored_from_the_stored_application_gets_its_reasons(
    make_client: Callable[..., Any],
) -> None:
    client: TestClient[Any, Any] = await make_client()
    created = await client.post(NEW, json=applicant(), headers=HEADERS)
    assert created.status == 200
    response = await client.post(EXISTING, json={"national_id": applicant()["national_id"]}, headers=HEADERS)
    body = await response.json()

    assert response.status == 200, body
    assert body["basis"] == "application-only"
    assert body["reasons"] == (await created.json())["reasons"]
