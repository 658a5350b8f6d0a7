"""The calibration a model version carries: Platt scaling of its PDs, as stored beside it and applied.

A model can rank applicants well and still be off in level (a network trained with class weights, trees
that push probabilities to the extremes). Scores are read as PDs, so the level matters: the calibration
maps the model's log-odds through a line fitted on held-out validation rows,
``pd' = sigmoid(a * logit(pd) + b)``. With ``a > 0`` it keeps the ranking (and the AUC) unchanged. It is
stored beside the model as ``calibration.json``: two numbers, no code. Fitting it is training's job
(``plugins/calibration.py``); reading and applying it is everyone's, plugins' points tables included.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from creditscore.domain.features import FloatArray as Vector
from creditscore.domain.scores import PD_EPSILON
from creditscore.errors import JobError

CALIBRATION_FILE: Final = "calibration.json"
METHOD: Final = "platt"


class CalibrationError(JobError):
    """A calibration cannot be fitted or read; the message says why."""


def logit(pd: Vector) -> Vector:
    p = np.clip(pd, PD_EPSILON, 1 - PD_EPSILON)
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
