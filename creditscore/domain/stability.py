"""Population and characteristic stability: is the population scored today the one the model learnt from?

Training records a *reference* per model version: the shares of its training population in fixed bins of
the score, and of each input the model takes. The service counts the live population in the same bins and
compares the two with the stability index ``sum((actual - expected) * ln(actual / expected))`` over the
bins: of the score it is the population stability index (PSI), of one feature the characteristic stability
index (CSI). The usual reading: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act.

Bins: the score's are the fixed 50-point bins 300 ... 850 (:data:`SCORE_BIN_EDGES`); a feature's are cut at
the deciles of its training values, duplicates dropped, so a 0/1 flag gets two bins and a column that is
mostly zero gets few. Every variable also has a bin for missing values (NaN). A bin ``i`` holds
``cuts[i-1] <= x < cuts[i]``: the first from minus infinity, the last to plus infinity, so a live value
beyond anything seen in training still lands in a bin.

An empty bin has no logarithm: shares are floored at :data:`EMPTY_SHARE` on both sides, the common
convention, so a bin the training population never filled and the live one fills counts heavily but
finitely. The index of a sample of ``n`` drawn from the reference itself is about ``(bins - 1) / n``, so
it means little below a few hundred observations.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from creditscore.domain.scores import SCORE_BIN_EDGES

#: Where a share of 0 is taken as this instead (a bin empty on one side).
EMPTY_SHARE: Final = 1e-4
#: The reading's thresholds: below STABLE_BELOW stable, above ACT_ABOVE act, watch in between.
STABLE_BELOW: Final = 0.1
ACT_ABOVE: Final = 0.25
#: The most cuts a variable may have (the service counts bins in bytes); training makes at most 10.
MAX_CUTS: Final = 100
#: Where a feature's bins are cut: its training deciles.
CUT_QUANTILES: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The score's cuts: the upper edges of the 50-point bins but the last (800-850 holds 850).
SCORE_CUTS: Final = tuple(float(edge) for edge in SCORE_BIN_EDGES[1:])
# Shares recorded in a manifest may be off their sum by rounding, not more.
_SUM_TOLERANCE: Final = 1e-6

Reading = Literal["stable", "watch", "act"]
READINGS: Final[tuple[Reading, ...]] = ("stable", "watch", "act")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class StabilityError(ValueError):
    """A reference as recorded is malformed; the message names the field."""


def reading(index: float) -> Reading:
    """The usual reading of a PSI or CSI: stable below 0.1, watch to 0.25, act above."""
    if index < STABLE_BELOW:
        return "stable"
    return "watch" if index <= ACT_ABOVE else "act"


def stability_index(expected: npt.ArrayLike, actual_counts: npt.ArrayLike) -> float:
    """``sum((a - e) * ln(a / e))`` of the expected shares and the shares of ``actual_counts`` (same bins),
    both floored at :data:`EMPTY_SHARE`. NaN when nothing was counted."""
    counts = np.asarray(actual_counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return math.nan
    e = np.maximum(np.asarray(expected, dtype=np.float64), EMPTY_SHARE)
    a = np.maximum(counts / total, EMPTY_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Bins:
    """One variable's bins as training saw them: ``cuts`` (increasing), the share of the training values
    in each of the ``len(cuts) + 1`` bins, and the share that was missing."""

    cuts: tuple[float, ...]
    shares: tuple[float, ...]
    missing: float = 0.0

    @property
    def size(self) -> int:
        """Bins including the missing one."""
        return len(self.cuts) + 2

    def expected(self) -> FloatArray:
        """The shares of every bin, the missing one last: what :meth:`counts` is compared with."""
        return np.array([*self.shares, self.missing], dtype=np.float64)

    def indices(self, values: npt.ArrayLike) -> IntArray:
        """The bin of each value: 0 ... ``len(cuts)``, and ``len(cuts) + 1`` for a missing one."""
        x = np.asarray(values, dtype=np.float64)
        found = np.searchsorted(np.asarray(self.cuts, dtype=np.float64), x, side="right")
        return np.where(np.isnan(x), len(self.cuts) + 1, found).astype(np.int64)

    def counts(self, values: npt.ArrayLike) -> IntArray:
        """How many of ``values`` fall in each bin, the missing one last."""
        return np.bincount(self.indices(values), minlength=self.size).astype(np.int64)

    @classmethod
    def of(cls, values: npt.ArrayLike, cuts: Sequence[float]) -> Bins:
        """The shares of ``values`` in the bins ``cuts`` make."""
        bins = cls(tuple(float(c) for c in cuts), ())
        counts = bins.counts(values)
        total = max(int(counts.sum()), 1)
        shares = counts / total
        return cls(bins.cuts, tuple(float(s) for s in shares[:-1]), float(shares[-1]))

    def to_json(self) -> dict[str, Any]:
        return {"cuts": list(self.cuts), "shares": list(self.shares), "missing": self.missing}

    @classmethod
    def from_json(cls, document: object, where: str) -> Bins:
        if not isinstance(document, Mapping) or set(document) != {"cuts", "shares", "missing"}:
            raise StabilityError(f"{where} must hold exactly cuts, shares and missing")
        cuts = _numbers(document["cuts"], f"{where}.cuts")
        shares = _numbers(document["shares"], f"{where}.shares")
        missing = _numbers([document["missing"]], f"{where}.missing")[0]
        if any(b <= a for a, b in itertools.pairwise(cuts)) or len(cuts) > MAX_CUTS:
            raise StabilityError(f"{where}.cuts must increase strictly, at most {MAX_CUTS} of them")
        if len(shares) != len(cuts) + 1:
            raise StabilityError(f"{where}.shares must hold one share more than there are cuts")
        if any(s < 0 for s in (*shares, missing)) or abs(sum(shares) + missing - 1) > _SUM_TOLERANCE:
            raise StabilityError(f"{where}: the shares and missing must be at least 0 and add up to 1")
        return cls(cuts, shares, missing)


def feature_cuts(values: npt.ArrayLike) -> tuple[float, ...]:
    """The cuts of a feature: its deciles (missing values aside), each once, none at or below the
    smallest value (that bin would hold nothing)."""
    x = np.asarray(values, dtype=np.float64)
    present = x[~np.isnan(x)]
    if present.size == 0:
        return ()
    # Observed values only ("lower", not interpolated): a flag's cut is 1, never a 0.3 between its values.
    deciles = np.unique(np.quantile(present, CUT_QUANTILES, method="lower"))
    return tuple(float(c) for c in deciles[deciles > present.min()])


@dataclass(frozen=True)
class Reference:
    """A version's training population: its scores' bins and, by input name, each input's bins."""

    score: Bins
    features: dict[str, Bins]

    @classmethod
    def of(cls, scores: npt.ArrayLike, rows: npt.ArrayLike, names: Sequence[str]) -> Reference:
        """The reference of a population: its ``scores`` and ``rows`` (columns in ``names`` order)."""
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise ValueError(f"rows must be a matrix of {len(names)} columns; got shape {matrix.shape}")
        features = {
            name: Bins.of(matrix[:, column], feature_cuts(matrix[:, column]))
            for column, name in enumerate(names)
        }
        return cls(Bins.of(scores, SCORE_CUTS), features)

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score.to_json(),
            "features": {name: bins.to_json() for name, bins in self.features.items()},
        }

    @classmethod
    def from_json(cls, document: object, names: Sequence[str], where: str) -> Reference:
        """Parse and check against the inputs the model takes (``names``): every one has its bins."""
        if not isinstance(document, Mapping) or set(document) != {"score", "features"}:
            raise StabilityError(f"{where} must hold exactly score and features")
        score = Bins.from_json(document["score"], f"{where}.score")
        if score.cuts != SCORE_CUTS:
            raise StabilityError(f"{where}.score.cuts must be the 50-point score bins {list(SCORE_CUTS)}")
        features = document["features"]
        if not isinstance(features, Mapping) or set(features) != set(names):
            raise StabilityError(f"{where}.features must hold the bins of exactly the inputs {list(names)}")
        return cls(
            score, {name: Bins.from_json(features[name], f"{where}.features.{name}") for name in names}
        )


def _numbers(value: object, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in value
    ):
        raise StabilityError(f"{where} must be a list of finite numbers")
    return tuple(float(n) for n in value)
