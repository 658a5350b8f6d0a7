"""How good a model is: discrimination (AUC, Gini, KS), accuracy of the PDs (Brier, log-loss), the
calibration table by decile of predicted PD, and the score distribution by FICO band."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from creditscore.domain.scores import BAND_NAMES, BANDS, Scaling, band
from creditscore.plugin import Labels, Vector

DECILES: Final = 10
_EDGES: Final = dict(BANDS)


def brier(labels: Labels, pd: Vector) -> float:
    """Mean squared difference between PD and outcome: lower is better, and it rewards the PDs' level."""
    return float(brier_score_loss(labels, pd))


def metrics(labels: Labels, pd: Vector) -> dict[str, float | int]:
    """AUC, Gini (2·AUC − 1), KS (largest gap between the two classes' cumulative PD distributions),
    Brier score, log-loss, and the counts they were measured on."""
    fpr, tpr, _ = roc_curve(labels, pd)
    auc = float(roc_auc_score(labels, pd))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": float(np.max(tpr - fpr)),
        "brier": brier(labels, pd),
        "log_loss": float(log_loss(labels, pd, labels=[0, 1])),
        "rows": len(labels),
        "defaults": int(labels.sum()),
        "default_rate": float(labels.mean()),
        "mean_pd": float(pd.mean()),
    }


def calibration_table(labels: Labels, pd: Vector, groups: int = DECILES) -> list[dict[str, Any]]:
    """Rows ranked by predicted PD and cut into ``groups`` equal parts (ties may straddle a cut), lowest
    PD first: predicted against observed default rate in each."""
    order = np.argsort(pd, kind="stable")
    table = []
    for decile, part in enumerate(np.array_split(order, groups), start=1):
        if len(part) == 0:
            continue
        table.append(
            {
                "decile": decile,
                "rows": len(part),
                "pd_min": float(pd[part].min()),
                "pd_max": float(pd[part].max()),
                "mean_pd": float(pd[part].mean()),
                "default_rate": float(labels[part].mean()),
            }
        )
    return table


def band_table(labels: Labels, pd: Vector, scaling: Scaling) -> list[dict[str, Any]]:
    """For each FICO band, lowest first: its lower edge, rows, share of rows and observed default rate."""
    scores = scaling.scores(pd)
    bands = np.array([band(score) for score in scores])
    table = []
    for name in BAND_NAMES:
        inside = bands == name
        count = int(inside.sum())
        table.append(
            {
                "band": name,
                "min_score": _EDGES[name],
                "rows": count,
                "share": count / len(labels),
                "default_rate": float(labels[inside].mean()) if count else None,
            }
        )
    return table
