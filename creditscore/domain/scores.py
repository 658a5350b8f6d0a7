"""From probability of default to a 300–850 score and its FICO band; shared by training and the service.

Scorecard scaling of the log-odds of being good: ``score = offset + factor * ln((1 - PD) / PD)`` with
``factor = PDO / ln 2`` and ``offset = target - factor * ln(target_odds)``, clamped to 300–850. With the
defaults (700 points at 30:1 odds, 40 points to double the odds) a PD of 50 % scores 504, 7.5 % scores
649, 1 % scores 769 and 0.3 % scores 839. Combining models averages their scores with weights, which
averages their log-odds (the seed's "(A + B) / 2").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from creditscore.config import Settings

MIN_SCORE: Final = 300
MAX_SCORE: Final = 850
# Lower edges, highest first: a score belongs to the first band whose edge it reaches.
BANDS: Final = (("Exceptional", 800), ("Very Good", 740), ("Good", 670), ("Fair", 580), ("Poor", MIN_SCORE))
BAND_NAMES: Final = tuple(name for name, _ in reversed(BANDS))
#: 50-point score bins, by lower edge: 300, 350, ... 800 (the last one also holds 850). The dashboard counts
#: scores in them and the population stability index compares their shares with training's.
SCORE_BIN_WIDTH: Final = 50
SCORE_BIN_EDGES: Final = tuple(range(MIN_SCORE, MAX_SCORE, SCORE_BIN_WIDTH))
# PDs are kept inside (0, 1) so a model's certainty never becomes an infinite score.
PD_EPSILON: Final = 1e-9


@dataclass(frozen=True)
class Scaling:
    """A model's scorecard scaling: recorded in its manifest when it is trained, applied to its PDs when it
    is served (so a host's settings cannot change a model's scores)."""

    target: float = 700.0
    target_odds: float = 30.0
    pdo: float = 40.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(value) for value in (self.target, self.target_odds, self.pdo)):
            raise ValueError(f"scaling values must be finite numbers, got {self}")
        if self.target_odds <= 0 or self.pdo <= 0:
            raise ValueError(f"scaling needs target_odds and pdo above 0, got {self}")

    @classmethod
    def from_settings(cls, settings: Settings) -> Scaling:
        return cls(settings.score_target, settings.score_target_odds, settings.score_pdo)

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.target - self.factor * math.log(self.target_odds)

    def scores(self, pd: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Whole-point scores for an array of PDs."""
        p = np.clip(np.asarray(pd, dtype=np.float64), PD_EPSILON, 1 - PD_EPSILON)
        raw = self.offset + self.factor * np.log((1 - p) / p)
        return np.clip(np.rint(raw), MIN_SCORE, MAX_SCORE).astype(np.int64)

    def score(self, pd: float) -> int:
        """One PD's score, as :meth:`scores` gives it; plain floats (the service calls it per request and
        numpy's per-call overhead is ~30x the arithmetic). NaN is refused, as a score of NaN means nothing."""
        if math.isnan(pd):
            raise ValueError("a probability of default of NaN has no score")
        p = min(max(pd, PD_EPSILON), 1 - PD_EPSILON)
        raw = self.offset + self.factor * math.log((1 - p) / p)
        return min(MAX_SCORE, max(MIN_SCORE, round(raw)))


def band(score: float) -> str:
    """The FICO band: Poor < 580 ≤ Fair < 670 ≤ Good < 740 ≤ Very Good < 800 ≤ Exceptional."""
    return next(name for name, edge in BANDS if score >= edge) if score >= MIN_SCORE else "Poor"


def combine(scores: Mapping[str, float], weights: Mapping[str, float]) -> int:
    """Weighted mean of the models' scores (weights need not sum to 1; missing weights count as 1)."""
    if not scores:
        raise ValueError("no scores to combine")
    total = sum(weights.get(name, 1.0) for name in scores)
    if total <= 0:
        raise ValueError("the weights of the models to combine must add up to more than 0")
    mean = sum(score * weights.get(name, 1.0) for name, score in scores.items()) / total
    return int(min(MAX_SCORE, max(MIN_SCORE, round(mean))))
