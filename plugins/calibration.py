"""Platt scaling of a model's PDs, fitted by training and applied by training and the scoring service alike.

A model can rank applicants well and still be off in level (a network trained with class weights, trees
that push probabilities to the extremes). Scores are read as PDs, so the level matters: the calibration
maps the model's log-odds through a line fitted on held-out validation rows,
``pd' = sigmoid(a * logit(pd) + b)``. With ``a > 0`` it keeps the ranking (and the AUC) unchanged. It is
stored beside the model as ``calibration.json``: two numbers, no code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from sklearn.linear_model import LogisticRegression

from creditscore.errors import JobError
from creditscore.plugin import Labels, Matrix, Model, Vector

CALIBRATION_FILE: Final = "calibration.json"
METHOD: Final = "platt"
# The same clamp as creditscore.domain.scores: a PD of exactly 0 or 1 has no log-odds.
_EPSILON: Final = 1e-9


class CalibrationError(JobError):
    """A calibration cannot be fitted or read; the message says why."""


def logit(pd: Vector) -> Vector:
    p = np.clip(pd, _EPSILON, 1 - _EPSILON)
    return np.log(p / (1 - p))


def sigmoid(x: Vector) -> Vector:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Calibration:
    a: float
    b: float
    rows: int

    def apply(self, pd: Vector) -> Vector:
        return sigmoid(self.a * logit(pd) + self.b)

    def to_json(self) -> bytes:
        document = {"method": METHOD, "a": self.a, "b": self.b, "fitted_on_rows": self.rows}
        return json.dumps(document, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Calibration:
        try:
            document = json.loads(data)
            a, b, rows = float(document["a"]), float(document["b"]), int(document["fitted_on_rows"])
            method = document["method"]
        except (ValueError, TypeError, KeyError) as error:
            raise CalibrationError(f"{CALIBRATION_FILE} is malformed: {error!r}") from None
        if method != METHOD or not (math.isfinite(a) and math.isfinite(b)) or a <= 0:
            raise CalibrationError(f"{CALIBRATION_FILE} is not a {METHOD} calibration with a finite a > 0")
        return cls(a, b, rows)


def fit_platt(pd: Vector, labels: Labels) -> Calibration:
    """Fit ``a`` and ``b`` by maximum likelihood (unpenalised logistic regression on the log-odds).

    The identity (a=1, b=0) is one of the candidates, so on the rows it is fitted on the calibrated
    log-loss is never worse than the model's own.
    """
    if len(np.unique(labels)) < 2:
        raise CalibrationError("calibration needs both defaults and non-defaults among the validation rows")
    regression = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000)
    regression.fit(logit(pd).reshape(-1, 1), labels)
    a, b = float(regression.coef_[0, 0]), float(regression.intercept_[0])
    if a <= 0:
        raise CalibrationError(
            f"the model ranks the validation rows no better than chance (Platt slope a={a:.3f} ≤ 0); "
            "refusing to calibrate a model that would need its ranking reversed"
        )
    return Calibration(a, b, len(labels))


class CalibratedModel:
    """A model whose PDs go through a calibration; explanations scale by ``a`` like the log-odds do."""

    def __init__(self, model: Model, calibration: Calibration) -> None:
        self.model = model
        self.calibration = calibration

    def predict_pd(self, rows: Matrix) -> Vector:
        return self.calibration.apply(self.model.predict_pd(rows))

    def explain(self, rows: Matrix) -> Matrix:
        return self.calibration.a * self.model.explain(rows)
