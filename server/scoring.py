"""From request or stored customer to scores: feature rows, model calls, combination and reason codes.

Application features come from :func:`etl.features.application_features`, the very function the Spark job
ran, so a form scored here gets the features its training rows got. Existing customers are scored from
their stored item: the feature-group maps hold every feature by name, and each model takes the ones its
manifest lists, in that order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import numpy as np

from etl.features import FEATURES, GROUPS, application_features
from plugins.contract import Matrix
from plugins.scores import Scaling, band, combine
from server.model_registry import ModelRegistry, ServedModel
from server.problems import ProblemError
from server.schemas import NewCustomerRequest

#: Reason codes given with a new applicant's score.
TOP_REASONS: Final = 3
_MEANINGS: Final = {feature.name: feature.meaning for feature in FEATURES}
# The seed's form field for each application flag.
FORM_FLAGS: Final = {
    "has_dependents": "cat_dependents",
    "has_mortgage": "cat_mortgage",
    "has_savings_account": "cat_savings_account",
    "has_credit_card": "cat_credit_card",
}


class MissingFeatures(LookupError):
    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = list(missing)


@dataclass(frozen=True)
class ModelResult:
    name: str
    version: str
    pd: float
    score: int


@dataclass(frozen=True)
class Combined:
    score: int
    band: str
    results: dict[str, ModelResult]
    weights: dict[str, float]
    #: Configured models that could not score, with why.
    missing: dict[str, str]


def application_row(form: NewCustomerRequest) -> dict[str, float]:
    """The ten application features of one form."""
    fields: dict[str, list[float]] = {name: [getattr(form, name)] for name in ("income", "savings", "debt")}
    fields |= {feature: [float(getattr(form, field))] for feature, field in FORM_FLAGS.items()}
    return {name: float(values[0]) for name, values in application_features(fields).items()}


def stored_features(item: Mapping[str, Any]) -> dict[str, float]:
    """Every feature of a stored customer, from its feature-group maps."""
    values: dict[str, float] = {}
    for group in GROUPS:
        for name, value in (item.get(group) or {}).items():
            if isinstance(value, Decimal | int | float):
                values[name] = float(value)
    return values


def matrix(rows: Sequence[Mapping[str, float]], features: Sequence[str]) -> Matrix:
    """Rows in the model's column order; :class:`MissingFeatures` names what the first short row lacks."""
    for row in rows:
        missing = [name for name in features if name not in row]
        if missing:
            raise MissingFeatures(missing)
    return np.array([[row[name] for name in features] for row in rows], dtype=np.float64).reshape(
        len(rows), len(features)
    )


def reasons(contributions: Sequence[float], features: Sequence[str]) -> list[dict[str, Any]]:
    """The features that raised the risk most (positive contributions), largest first."""
    order = np.argsort(-np.asarray(contributions, dtype=np.float64))
    return [
        {"feature": features[i], "meaning": _MEANINGS.get(features[i], features[i]), "contribution": value}
        for i in order[:TOP_REASONS]
        if (value := float(contributions[i])) > 0
    ]


class Scoring:
    """The service's scoring rules over the model registry."""

    def __init__(
        self,
        registry: ModelRegistry,
        scaling: Scaling,
        new_model: str,
        existing_models: Sequence[tuple[str, float]],
        allow_degraded: bool,
    ) -> None:
        self.registry = registry
        self.scaling = scaling
        self.new_model = new_model
        self.weights = dict(existing_models)
        self.allow_degraded = allow_degraded

    def new_customer_model(self) -> ServedModel:
        served = self.registry.get(self.new_model)
        if served is None:
            raise ProblemError(
                503, "model-unavailable", f"The new-customer model {self.new_model} is not loaded"
            )
        return served

    def existing_features(self) -> set[str]:
        return {name for model in self.weights if (s := self.registry.get(model)) for name in s.features}

    async def combined(self, rows: Sequence[Mapping[str, float]]) -> list[Combined]:
        """Each row scored by every existing-customer model that can, concurrently, then combined.

        A model that is not loaded, lacks a feature or fails is missing: 503 naming it, unless degraded
        answers are allowed (and at least one model scored), when the answer lists it instead.
        """
        missing: dict[str, str] = {}
        calls = {}
        for name in self.weights:
            served = self.registry.get(name)
            if served is None:
                missing[name] = "not loaded"
                continue
            try:
                calls[name] = (served, matrix(rows, served.features))
            except MissingFeatures as error:
                missing[name] = f"missing features: {error}"
        outcomes = await asyncio.gather(
            *(served.batcher.predict(data) for served, data in calls.values()), return_exceptions=True
        )
        pds = {}
        for (name, (served, _)), outcome in zip(calls.items(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                missing[name] = f"inference failed: {type(outcome).__name__}"
            else:
                pds[name] = (served.version, outcome.pd)
        if missing and (not self.allow_degraded or not pds):
            detail = "; ".join(f"{name}: {why}" for name, why in missing.items())
            raise ProblemError(503, "model-unavailable", f"Existing-customer models cannot score: {detail}")
        combined = []
        for row in range(len(rows)):
            results = {
                name: ModelResult(name, version, float(pd[row]), self.scaling.score(float(pd[row])))
                for name, (version, pd) in pds.items()
            }
            score = combine({n: r.score for n, r in results.items()}, self.weights)
            weights = {name: self.weights[name] for name in results}
            combined.append(Combined(score, band(score), results, weights, dict(missing)))
        return combined
