"""``example-constant``: the smallest honest scorer, the training default rate for every applicant.

It stands for a bank team's own package: it depends on ``creditscore`` for the contract, registers
through its ``creditscore`` entry point, and nothing in the platform names it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from etl.features import APPLICATION, names
from plugins.contract import Artifacts, Labels, Matrix, Progress, Scorer, Segment, Vector
from plugins.hookspecs import hookimpl

RATE_FILE = "rate.json"


class ConstantModel:
    def __init__(self, rate: float, n_features: int) -> None:
        self._rate = rate
        self._n_features = n_features

    def predict_pd(self, rows: Matrix) -> Vector:
        return np.full(len(rows), self._rate)

    def explain(self, rows: Matrix) -> Matrix:
        return np.zeros((len(rows), self._n_features))


class ExampleConstant(Scorer):
    name: ClassVar[str] = "example-constant"
    segment: ClassVar[Segment] = "new"
    groups: ClassVar[tuple[str, ...]] = (APPLICATION,)
    features: tuple[str, ...] = tuple(names(APPLICATION))

    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        rate = float(np.clip(labels.mean(), 1e-6, 1 - 1e-6))
        return {RATE_FILE: json.dumps({"rate": rate}).encode()}

    def load(self, files: Mapping[str, bytes]) -> ConstantModel:
        return ConstantModel(float(json.loads(files[RATE_FILE])["rate"]), len(self.features))


@hookimpl
def creditscore_scorers() -> list[Scorer]:
    return [ExampleConstant()]
