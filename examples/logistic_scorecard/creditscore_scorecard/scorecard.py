"""``logistic-scorecard``: the classic credit scorecard on the ten application-form features.

Each characteristic is cut into quantile bins on the training data, each bin replaced by its weight of
evidence (:mod:`creditscore_scorecard.binning`), and a logistic regression fitted on the WoE values. The
log-odds of default are ``intercept + sum(coef_j * WoE_j)``: every applicant's score is a sum of
per-characteristic terms a credit officer can read off a table (:meth:`ScorecardModel.points`).

Artifact: ``scorecard.json`` and nothing else: bin edges, WoE and training counts per characteristic,
the coefficients and the intercept. Loading parses JSON and checks every number; nothing in the file is
ever executed, and there is no pickle.

Explanations: the contribution of characteristic ``j`` is ``coef_j * WoE_j`` of the row's bin. No
baseline is subtracted because WoE already has one: a bin whose odds equal the training population's has
WoE 0, so a contribution is what that characteristic adds to the log-odds relative to an average applicant,
positive when it makes the applicant riskier. The contributions plus the intercept are exactly the row's
log-odds.

Deterministic: binning is quantiles and counts, and the regression (L-BFGS) has no randomness, so the
same rows and params give byte-identical artifacts. ``seed`` is accepted and recorded like every
scorer's, but nothing here draws random numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, Final

import numpy as np
from sklearn.linear_model import LogisticRegression

from creditscore.plugin import (
    APPLICATION,
    Artifacts,
    Calibration,
    Labels,
    Matrix,
    Progress,
    Scaling,
    Scorer,
    Segment,
    Vector,
    names,
)
from creditscore_scorecard.binning import Binning, IntArray, fit_binning

SCORECARD_FILE: Final = "scorecard.json"
FORMAT: Final = "creditscore-scorecard/1"
# The same floor as the built-ins: a PD of exactly 0 or 1 has no score.
PD_FLOOR: Final = 1e-6


def _sigmoid(log_odds: Vector) -> Vector:
    # exp(-log(1 + exp(-x))) does not overflow for any x.
    pd: Vector = np.exp(-np.logaddexp(0.0, -log_odds))
    return pd


@dataclass(frozen=True)
class PointsTable:
    """The scorecard as points: ``base`` plus, per characteristic, the points of the applicant's bin.

    ``points[j][i]`` are the points of bin ``i`` of ``features[j]`` (the missing bin last), ``labels[j][i]``
    its range as text. The sum is the platform's score before rounding and clamping to 300–850.
    """

    base: float
    features: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    points: tuple[Vector, ...]

    def total(self, bins: IntArray) -> Vector:
        """Each row's score from its bins, as given by :meth:`ScorecardModel.bins`."""
        scores: Vector = self.base + sum(
            (table[bins[:, j]] for j, table in enumerate(self.points)), np.zeros(len(bins))
        )
        return scores


def _bin_labels(edges: Vector) -> tuple[str, ...]:
    bounds = ["-inf", *(f"{edge:.6g}" for edge in edges), "inf"]
    return (*(f"[{low}, {high})" for low, high in pairwise(bounds)), "missing")


class ScorecardModel:
    """Binnings, coefficients and intercept in read-only arrays; calls share no mutable state."""

    def __init__(
        self,
        features: Sequence[str],
        binnings: Sequence[Binning],
        coefficients: Vector,
        intercept: float,
        params: Mapping[str, Any],
    ) -> None:
        if not len(features) == len(binnings) == len(coefficients):
            raise ValueError("a scorecard needs one binning and one coefficient per feature")
        self.features = tuple(features)
        self.binnings = tuple(binnings)
        self.coefficients = np.array(coefficients, dtype=np.float64)
        self.coefficients.setflags(write=False)
        self.intercept = intercept
        self.params = dict(params)

    def _check(self, rows: Matrix) -> None:
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features, got shape {rows.shape}")

    def bins(self, rows: Matrix) -> IntArray:
        """(n, features) bin index of each value."""
        self._check(rows)
        return np.column_stack([b.index(rows[:, j]) for j, b in enumerate(self.binnings)])

    def woe(self, rows: Matrix) -> Matrix:
        """(n, features) WoE of each value's bin."""
        self._check(rows)
        return np.column_stack([b.encode(rows[:, j]) for j, b in enumerate(self.binnings)])

    def explain(self, rows: Matrix) -> Matrix:
        contributions: Matrix = self.woe(rows) * self.coefficients
        return contributions

    def log_odds(self, rows: Matrix) -> Vector:
        """Log-odds of default: the intercept plus the sum of :meth:`explain`."""
        result: Vector = self.intercept + self.explain(rows).sum(axis=1)
        return result

    def predict_pd(self, rows: Matrix) -> Vector:
        return np.clip(_sigmoid(self.log_odds(rows)), PD_FLOOR, 1.0 - PD_FLOOR)

    def points(self, scaling: Scaling, calibration: Calibration | None = None) -> PointsTable:
        """The points table giving the platform's score (``scaling``) of the served, calibrated PD.

        The service scores ``offset - factor * (a * log_odds + b)`` (Platt ``a``, ``b`` from the version's
        ``calibration.json``), which splits into a base and ``-factor * a * coef_j * WoE`` per bin.
        """
        a, b = (calibration.a, calibration.b) if calibration else (1.0, 0.0)
        base = scaling.offset - scaling.factor * (a * self.intercept + b)
        points = tuple(
            -scaling.factor * a * coef * binning.woe
            for coef, binning in zip(self.coefficients, self.binnings, strict=True)
        )
        labels = tuple(_bin_labels(binning.edges) for binning in self.binnings)
        return PointsTable(base, self.features, labels, points)

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "features": list(self.features),
            "intercept": self.intercept,
            "coefficients": self.coefficients.tolist(),
            "bins": [
                {
                    "feature": name,
                    "edges": binning.edges.tolist(),
                    "woe": binning.woe.tolist(),
                    "goods": binning.goods.tolist(),
                    "bads": binning.bads.tolist(),
                }
                for name, binning in zip(self.features, self.binnings, strict=True)
            ],
            "params": self.params,
        }
        # Strict JSON: a NaN or infinity here would be a bug, never a value to write.
        return json.dumps(document, indent=2, allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes, features: Sequence[str]) -> ScorecardModel:
        """Parse and check ``scorecard.json``; ``ValueError`` says what is wrong."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{SCORECARD_FILE} is not valid JSON: {error}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"{SCORECARD_FILE} is not a {FORMAT} document")
        if document.get("features") != list(features):
            raise ValueError(
                f"{SCORECARD_FILE} was trained on {document.get('features')}, not {list(features)}"
            )
        coefficients = _numbers(document.get("coefficients"), "coefficients")
        intercept = _numbers([document.get("intercept")], "intercept")[0]
        entries = document.get("bins")
        if not isinstance(entries, list) or len(entries) != len(features):
            raise ValueError(f"{SCORECARD_FILE}: 'bins' must hold one entry per feature")
        binnings = [_binning(entry, name) for entry, name in zip(entries, features, strict=True)]
        params = document.get("params")
        if not isinstance(params, dict):
            raise ValueError(f"{SCORECARD_FILE}: 'params' must be an object")
        return cls(features, binnings, coefficients, float(intercept), params)


def _numbers(values: object, where: str, *, integers: bool = False) -> Vector:
    kinds = (int,) if integers else (int, float)
    if not isinstance(values, list) or not all(
        isinstance(v, kinds) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise ValueError(f"{SCORECARD_FILE}: {where} must be a list of finite numbers")
    array: Vector = np.array(values, dtype=np.float64)
    return array


def _binning(entry: object, feature: str) -> Binning:
    where = f"bins of {feature!r}"
    if not isinstance(entry, dict) or entry.get("feature") != feature:
        raise ValueError(f"{SCORECARD_FILE}: {where} are missing or out of order")
    edges = _numbers(entry.get("edges"), f"{where}: edges")
    woe = _numbers(entry.get("woe"), f"{where}: woe")
    goods = _numbers(entry.get("goods"), f"{where}: goods", integers=True).astype(np.int64)
    bads = _numbers(entry.get("bads"), f"{where}: bads", integers=True).astype(np.int64)
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"{SCORECARD_FILE}: {where}: edges must increase strictly")
    if not len(woe) == len(goods) == len(bads) == len(edges) + 2:
        raise ValueError(f"{SCORECARD_FILE}: {where}: woe, goods and bads need one entry per bin")
    return Binning(edges, woe, goods, bads)


class LogisticScorecard(Scorer):
    name: ClassVar[str] = "logistic-scorecard"
    segment: ClassVar[Segment] = "new"
    groups: ClassVar[tuple[str, ...]] = (APPLICATION,)
    features: tuple[str, ...] = tuple(names(APPLICATION))
    # Ten bins per characteristic is the textbook start (Siddiqi suggests 5-20 with at least 5 % of the
    # rows each); smoothing keeps the WoE of a bin without defaults finite; C is scikit-learn's inverse L2
    # strength, mild because WoE inputs are already on one scale.
    default_params: ClassVar[Mapping[str, Any]] = {
        "seed": 0,
        "bins": 10,
        "smoothing": 0.5,
        "C": 1.0,
        "max_iter": 1000,
    }

    def train(
        self, features: Matrix, labels: Labels, params: Mapping[str, Any], progress: Progress | None = None
    ) -> ScorecardModel:
        """The fitted model in memory; :meth:`fit` returns its artifact."""
        given = {key: params.get(key, default) for key, default in self.default_params.items()}
        used: dict[str, Any] = {
            "seed": int(given["seed"]),
            "bins": int(given["bins"]),
            "smoothing": float(given["smoothing"]),
            "C": float(given["C"]),
            "max_iter": int(given["max_iter"]),
        }
        bins, smoothing, strength = used["bins"], used["smoothing"], used["C"]
        if bins < 2 or smoothing <= 0 or strength <= 0:
            raise ValueError(f"{self.name}: needs bins ≥ 2, smoothing > 0 and C > 0; got {used}")
        if features.ndim != 2 or features.shape[1] != len(self.features):
            raise ValueError(
                f"{self.name}: expected {len(self.features)} feature columns, got shape {features.shape}"
            )
        if len(np.unique(labels)) != 2:
            raise ValueError(f"{self.name}: the labels need both defaults and non-defaults")
        steps = len(self.features) + 1
        binnings = []
        for j in range(len(self.features)):
            binnings.append(fit_binning(features[:, j], labels, bins, smoothing))
            if progress:
                progress(j + 1, steps)
        encoded = np.column_stack([b.encode(features[:, j]) for j, b in enumerate(binnings)])
        regression = LogisticRegression(C=strength, max_iter=used["max_iter"], random_state=used["seed"])
        regression.fit(encoded, labels)
        if progress:
            progress(steps, steps)
        coefficients = np.asarray(regression.coef_[0], dtype=np.float64)
        return ScorecardModel(self.features, binnings, coefficients, float(regression.intercept_[0]), used)

    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        # No early stopping to drive, so ``validation`` stays unused: the pipeline calibrates on it.
        return {SCORECARD_FILE: self.train(features, labels, params, progress).to_json()}

    def load(self, files: Mapping[str, bytes]) -> ScorecardModel:
        return ScorecardModel.from_json(files[SCORECARD_FILE], self.features)
