"""From request or stored customer to scores: feature rows, model calls, combination and reason codes.

Application features come from :func:`creditscore.domain.features.application_features`, the very
function the Spark job ran, so a form scored here gets the features its training rows got. Existing
customers are scored from their stored item: the feature-group maps hold every feature by name, and each
model takes the ones its manifest lists, in that order.

Every stored customer can be scored as existing (:meth:`Scoring.stored_customer`):

- the existing-customer models whose features the item holds score it, combined by their weights
  (basis ``existing-models``); a model whose features the item lacks (a customer created through the API
  holds only the ``application`` group until the bank's batch load brings the others) is left out and
  named with why: that is permanent, not a failure;
- when none of them can, the new-customer model scores the stored application (basis
  ``application-only``);
- when nothing can score what is stored, 409 ``customer-not-scorable``: retrying will not help.

Reasons (:func:`reasons`) follow the rules of :mod:`creditscore.domain.reasons`: only citable, unprotected
features, never a value at its feature's best end; each withheld one is counted in
``creditscore_reasons_suppressed_total``. An existing customer's reasons combine the models that scored:
each model's allowed contributions, weighted as the score is (the weighted mean of log-odds), ranked once.

503 means "transient, retry": a configured model that is not loaded (yet) or whose inference failed, unless
``CREDITSCORE_ALLOW_DEGRADED`` lets the others answer without it.

A model with a challenger (:mod:`server.challengers`): in split mode, :meth:`Scoring.pick` gives the
customers the split's hash selects to the challenger, which then scores in its model's place (its role
named in the answer); in shadow mode the champion scores and the challenger's rows are queued right behind
its, never waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final

import numpy as np

from creditscore.domain.challenger import CHALLENGER, CHAMPION, Role, goes_to_challenger
from creditscore.domain.features import FEATURES, GROUPS, application_features
from creditscore.domain.reasons import direction, screen, top_reasons, wording
from creditscore.domain.scores import Scaling, band, combine
from creditscore.plugin import Matrix
from plugins.encoding import Encoding, decode_rows
from server import challengers, metrics
from server.batching import Prediction, UnscorableRows
from server.model_registry import ModelRegistry, ServedChallenger, ServedModel
from server.problems import ProblemError
from server.schemas import ChallengerScore, ModelScore, NewCustomerRequest, Reason, StoredBasis

#: Reason codes given with a score.
TOP_REASONS: Final = 3
#: What a score was computed from: a new applicant's form, a stored customer's existing-customer models,
#: or (when none of those has its features) a stored customer's application.
APPLICATION: Final = "application"
EXISTING_MODELS: Final = "existing-models"
APPLICATION_ONLY: Final = "application-only"
NOT_LOADED: Final = "not loaded"
_MEANINGS: Final = {feature.name: feature.meaning for feature in FEATURES}
_GROUP_OF: Final = {feature.name: feature.group for feature in FEATURES}
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
    role: Role = CHAMPION


@dataclass(frozen=True)
class Combined:
    score: int
    band: str
    results: dict[str, ModelResult]
    weights: dict[str, float]
    #: Configured existing-customer models that did not score, with why.
    missing: dict[str, str]
    basis: StoredBasis = EXISTING_MODELS
    #: The combined reasons (when the scores were explained).
    reasons: list[Reason] = field(default_factory=list)
    #: Shadow challengers' scores of this row, by model, when they were in as the champions' were.
    challengers: dict[str, ChallengerScore] = field(default_factory=dict)

    def model_scores(self) -> dict[str, ModelScore]:
        """Each model's own score, as answers and score records give it."""
        return {
            name: ModelScore(score=r.score, probability_of_default=r.pd, version=r.version, role=r.role)
            for name, r in self.results.items()
        }


@dataclass(frozen=True)
class Scored:
    """A model's prediction of some rows: who scored (:class:`Pick`), the matrix they scored, the result, and
    the shadow challenger scoring the same rows behind it."""

    pick: Pick
    rows: Matrix
    prediction: Prediction
    shadow: challengers.Shadow | None


@dataclass(frozen=True)
class Pick:
    """The version that scores a model for one request: the champion, or the challenger a split chose."""

    served: ServedModel
    role: Role
    champion: ServedModel
    #: The model's challenger in service, whatever its mode.
    challenger: ServedChallenger | None


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


def matrix(
    rows: Sequence[Mapping[str, float | str]], features: Sequence[str], encoding: Encoding | None = None
) -> Matrix:
    """Rows in the model's column order, text codes decoded through ``encoding`` (a value that cannot be
    read is NaN, which the model refuses: the score route checks them first, :func:`value_problems`);
    :class:`MissingFeatures` names what the first short row lacks."""
    for row in rows:
        missing = [name for name in features if name not in row]
        if missing:
            raise MissingFeatures(missing)
    if encoding is not None or any(isinstance(value, str) for row in rows for value in row.values()):
        return decode_rows(rows, features, encoding)[0]
    return np.array([[row[name] for name in features] for row in rows], dtype=np.float64).reshape(
        len(rows), len(features)
    )


@dataclass(frozen=True)
class Explained:
    """One model's explanation of one row: its features, the row's values and their contributions."""

    model: str
    weight: float
    features: Sequence[str]
    values: Sequence[float]
    contributions: Sequence[float]
    #: The model's own wording by feature (``Scorer.reason_wording``); the registry's otherwise.
    wording: Mapping[str, str] = field(default_factory=dict)


def reasons(explained: Sequence[Explained]) -> list[Reason]:
    """The citable features that raised the risk most, largest first, from one model or several combined.

    Each model's contributions are screened by the registry's rules (the withheld ones counted by model,
    feature and why), weighted by the model's share of the weights, summed by feature and ranked by
    :func:`top_reasons`.
    """
    names = list(dict.fromkeys(name for e in explained for name in e.features))
    column = {name: j for j, name in enumerate(names)}
    total = sum(e.weight for e in explained) or 1.0
    combined = np.zeros(len(names), dtype=np.float64)
    worded: dict[str, str] = {}
    for e in explained:
        screened = screen(
            np.asarray(e.contributions, dtype=np.float64)[np.newaxis, :],
            np.asarray(e.values, dtype=np.float64)[np.newaxis, :],
            e.features,
            TOP_REASONS,
        )
        for withheld in screened.withheld:
            feature = e.features[withheld.column]
            metrics.REASONS_SUPPRESSED.labels(model=e.model, feature=feature, why=withheld.why).inc()
        for j, name in enumerate(e.features):
            combined[column[name]] += e.weight / total * screened.allowed[0, j]
            if name in e.wording:
                worded.setdefault(name, e.wording[name])
    order, raised = top_reasons(combined[np.newaxis, :], TOP_REASONS)
    return [
        Reason(
            feature=names[i],
            meaning=_MEANINGS.get(names[i], names[i]),
            contribution=float(combined[i]),
            direction=direction(names[i]) or "high",  # a cited feature's risk is known
            wording=worded.get(names[i]) or wording(names[i]),
        )
        for i, is_reason in zip(order[0], raised[0], strict=True)
        if is_reason
    ]


class Scoring:
    """The service's scoring rules over the model registry."""

    def __init__(
        self,
        registry: ModelRegistry,
        host_scaling: Scaling,
        new_model: str,
        existing_models: Sequence[tuple[str, float]],
        allow_degraded: bool,
    ) -> None:
        self.registry = registry
        self._host_scaling = host_scaling
        self.new_model = new_model
        self.weights = dict(existing_models)
        self.allow_degraded = allow_degraded

    def scaling_of(self, served: ServedModel) -> Scaling:
        """The scaling ``served`` was trained with; the host's only for a version that did not record one."""
        return served.manifest.scaling or self._host_scaling

    def explained(
        self,
        served: ServedModel,
        values: Sequence[float],
        contributions: Sequence[float],
        weight: float = 1.0,
    ) -> Explained:
        """``served``'s explanation of one row, worded by its plugin where the plugin words reasons."""
        return Explained(
            served.name,
            weight,
            served.features,
            values,
            contributions,
            self.registry.reason_wording(served.name),
        )

    def pick(self, champion: ServedModel, national_id: str | None) -> Pick:
        """Who scores ``champion``'s model for this customer: its split challenger for the customers the
        split's hash gives it, else the champion. No national ID (the stateless batch route): no split."""
        challenger = self.registry.challenger(champion.name)
        if (
            challenger is not None
            and challenger.mode == "split"
            and national_id is not None
            and goes_to_challenger(champion.name, national_id, challenger.share)
        ):
            return Pick(challenger.served, CHALLENGER, champion, challenger)
        return Pick(champion, CHAMPION, champion, challenger)

    def shadow(self, pick: Pick, rows: Sequence[Mapping[str, float | str]]) -> challengers.Shadow | None:
        """The model's shadow challenger queued on ``rows``; None without one. Call it once the champion's
        rows are queued, so that the challenger's are scored after them."""
        challenger = pick.challenger
        if challenger is None or challenger.mode != "shadow":
            return None
        served = challenger.served
        try:
            data = matrix(rows, served.features, served.manifest.encoding)
            return challengers.start(challenger, data, self.scaling_of(served))
        except Exception as error:  # e.g. a challenger that takes a feature its champion does not
            challengers.failed(challenger, len(rows), error)
            return None

    async def predict(
        self, pick: Pick, rows: Sequence[Mapping[str, float | str]], explain: bool = False
    ) -> Scored:
        """``pick``'s prediction of ``rows``, with the model's shadow challenger queued behind it. A split
        challenger that cannot score is counted and the champion answers instead: a challenger never fails
        an answer."""
        served = pick.served
        if pick.role == CHAMPION or pick.challenger is None:
            data = matrix(rows, served.features, served.manifest.encoding)
            queued = served.batcher.submit(data, explain=explain)
            shadow = self.shadow(pick, rows)
            return Scored(pick, data, await queued, shadow)
        try:
            data = matrix(rows, served.features, served.manifest.encoding)
            prediction = await served.batcher.predict(data, explain=explain)
        except Exception as error:
            challengers.failed(pick.challenger, len(rows), error)
            return await self.predict(replace(pick, served=pick.champion, role=CHAMPION), rows, explain)
        challengers.count(pick.challenger, challengers.DECIDED, len(rows))
        return Scored(pick, data, prediction, None)

    def new_customer_model(self) -> ServedModel:
        served = self.registry.get(self.new_model)
        if served is None:
            raise ProblemError(
                503, "model-unavailable", f"The new-customer model {self.new_model} is not loaded"
            )
        return served

    def existing_models(self) -> list[ServedModel]:
        """The existing-customer models loaded now."""
        return list(self._loaded()[0].values())

    def existing_features(self) -> set[str]:
        return {name for model in self.weights if (s := self.registry.get(model)) for name in s.features}

    async def combined(self, rows: Sequence[Mapping[str, float | str]]) -> list[Combined]:
        """Rows holding every feature of the existing-customer models, each scored by all of them.

        A model that is not loaded or fails is missing: 503 naming it, unless degraded answers are allowed
        (and at least one model scored), when the answer lists it instead.
        """
        models, missing = self._loaded()
        self._refuse_transient(missing)
        return await self._combine(rows, models, missing, None)

    async def stored_customer(self, item: Mapping[str, Any]) -> Combined:
        """One stored customer scored by the policy of the module doc."""
        try:
            return await self._stored_customer(item)
        except UnscorableRows as error:
            raise ProblemError(
                409,
                "customer-not-scorable",
                f"The data stored for this customer cannot be scored: {error.why}",
            ) from None

    async def _stored_customer(self, item: Mapping[str, Any]) -> Combined:
        row = stored_features(item)
        loaded, missing = self._loaded()
        self._refuse_transient(missing)
        models = {}
        for name, served in loaded.items():
            lacking = [feature for feature in served.features if feature not in row]
            if lacking:
                missing[name] = f"the customer has no {_groups(lacking)} data"
            else:
                models[name] = served
        national_id = str(item.get("national_id", "")) or None
        if models:
            [combined] = await self._combine([row], models, missing, national_id, explain=True)
            return combined
        return await self._application_only(row, missing, national_id)

    def _loaded(self) -> tuple[dict[str, ServedModel], dict[str, str]]:
        loaded, missing = {}, {}
        for name in self.weights:
            served = self.registry.get(name)
            if served is None:
                missing[name] = NOT_LOADED
            else:
                loaded[name] = served
        return loaded, missing

    def _refuse_transient(self, missing: Mapping[str, str]) -> None:
        if missing and not self.allow_degraded:
            raise _unavailable(missing)

    async def _combine(
        self,
        rows: Sequence[Mapping[str, float | str]],
        models: Mapping[str, ServedModel],
        missing: dict[str, str],
        national_id: str | None,
        explain: bool = False,
    ) -> list[Combined]:
        """``rows`` scored by each of ``models`` concurrently (a model's split challenger instead of it for
        the customers the split gives it; its shadow challenger beside it), then combined by weight (with the
        combined reasons when ``explain``)."""
        picks = {name: self.pick(served, national_id) for name, served in models.items()}
        outcomes = await asyncio.gather(
            *(self.predict(pick, rows, explain) for pick in picks.values()), return_exceptions=True
        )
        pds = {}
        failed = {}
        for name, outcome in zip(picks, outcomes, strict=True):
            if isinstance(outcome, UnscorableRows | MissingFeatures):
                raise outcome  # the rows' values, not the model: no other model's answer makes it right
            if isinstance(outcome, BaseException):
                failed[name] = f"inference failed: {type(outcome).__name__}"
            else:
                pds[name] = outcome
        if failed and (not self.allow_degraded or not pds):
            raise _unavailable(failed)
        missing |= failed
        own = {
            name: [self.scaling_of(s.pick.served).score(float(pd)) for pd in s.prediction.pd]
            for name, s in pds.items()
        }
        shadowed = {name: challengers.collect(s.shadow, own[name]) for name, s in pds.items()}
        combined = []
        for row in range(len(rows)):
            results = {
                name: ModelResult(
                    name, s.pick.served.version, float(s.prediction.pd[row]), own[name][row], s.pick.role
                )
                for name, s in pds.items()
            }
            score = combine({n: r.score for n, r in results.items()}, self.weights)
            weights = {name: self.weights[name] for name in results}
            explained = [
                self.explained(s.pick.served, s.rows[row], s.prediction.contributions[row], weights[name])
                for name, s in pds.items()
                if s.prediction.contributions is not None
            ]
            given = reasons(explained) if explain else []
            beside = {name: scores[row] for name, scores in shadowed.items() if scores is not None}
            combined.append(
                Combined(
                    score, band(score), results, weights, dict(missing), reasons=given, challengers=beside
                )
            )
        return combined

    async def _application_only(
        self, row: Mapping[str, float], missing: dict[str, str], national_id: str | None
    ) -> Combined:
        champion = self.new_customer_model()
        lacking = [feature for feature in champion.features if feature not in row]
        if lacking:
            causes = "; ".join(f"{name}: {why}" for name, why in missing.items())
            raise ProblemError(
                409,
                "customer-not-scorable",
                f"No model can score this customer from the data stored for them ({causes}; "
                f"{champion.name}: the customer has no {_groups(lacking)} data)",
            )
        try:
            scored = await self.predict(self.pick(champion, national_id), [row], explain=True)
        except UnscorableRows:
            raise
        except Exception as error:
            raise ProblemError(
                503,
                "model-unavailable",
                f"{champion.name} cannot score: inference failed: {type(error).__name__}",
            ) from error
        served, prediction = scored.pick.served, scored.prediction
        pd = float(prediction.pd[0])
        result = ModelResult(
            served.name, served.version, pd, self.scaling_of(served).score(pd), scored.pick.role
        )
        shadowed = challengers.collect(scored.shadow, [result.score])
        return Combined(
            result.score,
            band(result.score),
            {served.name: result},
            {served.name: 1.0},
            missing,
            APPLICATION_ONLY,
            []
            if prediction.contributions is None
            else reasons([self.explained(served, scored.rows[0], prediction.contributions[0])]),
            {served.name: shadowed[0]} if shadowed else {},
        )


def _unavailable(missing: Mapping[str, str]) -> ProblemError:
    detail = "; ".join(f"{name}: {why}" for name, why in missing.items())
    return ProblemError(503, "model-unavailable", f"Existing-customer models cannot score: {detail}")


def _groups(features: Sequence[str]) -> str:
    """The feature groups ``features`` belong to, for a reason a person reads."""
    return ", ".join(dict.fromkeys(_GROUP_OF.get(feature, feature) for feature in features))
