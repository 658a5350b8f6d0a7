"""Fitting a model's Platt calibration (``creditscore.domain.calibration``) on held-out rows, and a model
whose PDs go through one: training fits it, the loaded artifacts apply it.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from creditscore.domain.calibration import Calibration, CalibrationError, logit
from creditscore.plugin import Labels, Matrix, Model, Vector


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
