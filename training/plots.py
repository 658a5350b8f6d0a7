"""The report's charts as PNG files: ROC curve, calibration curve, score histogram by outcome.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot: no global figure state, no GUI
backend, nothing to close.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from creditscore.domain.scores import BANDS, MAX_SCORE, MIN_SCORE, Scaling
from creditscore.plugin import Labels, Vector
from training.evaluate import calibration_table

ROC_FILE: Final = "roc.png"
CALIBRATION_FILE: Final = "calibration.png"
SCORES_FILE: Final = "score_histogram.png"
_DPI: Final = 110


def _figure() -> Figure:
    figure = Figure(figsize=(6, 4.5), dpi=_DPI, layout="tight")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def roc(labels: Labels, pd: Vector, title: str, path: Path) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    fpr, tpr, _ = roc_curve(labels, pd)
    axes.plot(fpr, tpr, label=f"model (AUC {roc_auc_score(labels, pd):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate (defaults caught)", title=title)
    axes.legend(loc="lower right")
    return _save(figure, path)


def calibration(labels: Labels, pd: Vector, raw_pd: Vector, title: str, path: Path) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    top = 0.0
    for name, values, marker in (("before calibration", raw_pd, "x"), ("calibrated", pd, "o")):
        table = calibration_table(labels, values)
        predicted = [row["mean_pd"] for row in table]
        observed = [row["default_rate"] for row in table]
        axes.plot(predicted, observed, marker=marker, label=name)
        top = max(top, *predicted, *observed)
    axes.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect")
    axes.set(xlabel="mean predicted PD (decile)", ylabel="observed default rate", title=title)
    axes.legend(loc="upper left")
    return _save(figure, path)


def score_histogram(labels: Labels, pd: Vector, scaling: Scaling, title: str, path: Path) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    scores = scaling.scores(pd)
    bins = list(range(MIN_SCORE, MAX_SCORE + 10, 10))
    for outcome, name in ((0, "no default"), (1, "default")):
        axes.hist(scores[labels == outcome], bins=bins, density=True, alpha=0.55, label=name)
    for band_name, edge in BANDS[:-1]:
        axes.axvline(edge, color="grey", linewidth=0.8, linestyle=":")
        axes.annotate(
            band_name, (edge, 1), xycoords=("data", "axes fraction"), fontsize=7, rotation=90, va="top"
        )
    axes.set(xlabel="score", ylabel="density", title=title)
    axes.legend(loc="upper left")
    return _save(figure, path)


def write_all(
    out_dir: Path, labels: Labels, pd: Vector, raw_pd: Vector, scaling: Scaling, model: str
) -> list[Path]:
    """Every chart of the test rows into ``out_dir``."""
    return [
        roc(labels, pd, f"{model}: ROC on the test rows", out_dir / ROC_FILE),
        calibration(labels, pd, raw_pd, f"{model}: calibration on the test rows", out_dir / CALIBRATION_FILE),
        score_histogram(labels, pd, scaling, f"{model}: scores on the test rows", out_dir / SCORES_FILE),
    ]
