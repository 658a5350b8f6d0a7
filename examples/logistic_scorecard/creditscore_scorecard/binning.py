"""Quantile binning and weight of evidence: how a scorecard turns one raw characteristic into model input.

Why bins: a scorecard gives points per *range* of a characteristic. Risk that is not a straight line in
the raw value (income matters a lot between 5 and 15 M VND a month and hardly at all above 100 M) is
captured by a linear model, an outlier cannot dominate its characteristic, and the result is a table a
credit officer and a regulator can read and challenge. Edges are quantiles of the training values, so
each bin holds about the same number of applicants and no bin's statistics rest on a handful of rows.

Why weight of evidence: each bin is replaced by ``WoE = ln(share of the goods in the bin / share of the
bads in the bin)``, the classic convention (Siddiqi, *Credit Risk Scorecards*): 0 for a bin whose odds
equal the training population's, positive for safer bins, negative for riskier ones. The logistic
regression then needs one coefficient per characteristic instead of one per bin, and its log-odds stay
additive over characteristics, which is what makes a points table possible.

Missing values (NaN) get a bin of their own, so "not declared" is evidence like any other value. A
characteristic that had no missing value in training has no evidence about one: its missing bin, like
any bin no training row fell in, has WoE 0, i.e. it leaves the applicant at the population's odds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from creditscore.plugin import Labels, Vector

IntArray = npt.NDArray[np.intp]
# WoE of a bin no training row fell in: no evidence either way.
NO_EVIDENCE: Final = 0.0


@dataclass(frozen=True)
class Binning:
    """One characteristic's bins, their WoE and the training counts behind them.

    Bin ``i`` holds ``edges[i-1] <= x < edges[i]`` (the first bin is open below, the last open above);
    the bin after the last, index ``len(edges) + 1``, holds missing values. ``woe``, ``goods`` and
    ``bads`` have one entry per bin, the missing bin last.
    """

    edges: Vector
    woe: Vector
    goods: npt.NDArray[np.int64]
    bads: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        # Shared by every inference thread: read-only, so no call can change them for the others.
        for array in (self.edges, self.woe, self.goods, self.bads):
            array.setflags(write=False)

    @property
    def missing_bin(self) -> int:
        return len(self.edges) + 1

    def index(self, column: Vector) -> IntArray:
        """The bin of each value; ±inf fall in the end bins, NaN in the missing bin."""
        bins = np.searchsorted(self.edges, column, side="right")
        return np.where(np.isnan(column), self.missing_bin, bins).astype(np.intp)

    def encode(self, column: Vector) -> Vector:
        """Each value's WoE."""
        encoded: Vector = self.woe[self.index(column)]
        return encoded


def quantile_edges(column: Vector, bins: int) -> Vector:
    """At most ``bins - 1`` interior edges at the quantiles of the finite values of ``column``.

    Repeated quantiles (a 0/1 flag, a count that is mostly 0) collapse into one edge, and an edge at the
    minimum is dropped because the bin below it would be empty: a flag gets the two bins it needs.
    """
    finite = column[np.isfinite(column)]
    if finite.size == 0:
        return np.empty(0)
    cuts = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    unique: Vector = np.unique(cuts)
    edges: Vector = unique[unique > finite.min()]
    return edges


def fit_binning(column: Vector, labels: Labels, bins: int, smoothing: float) -> Binning:
    """Bins on the quantiles of ``column`` and the WoE of each, from 0/1 ``labels`` (1 = default).

    ``smoothing`` is added to the goods and the bads of every non-empty bin, so a bin without a single
    default gets a large finite WoE rather than an infinite one.
    """
    edges = quantile_edges(column, bins)
    empty = Binning(edges, np.zeros(len(edges) + 2), np.zeros(0, np.int64), np.zeros(0, np.int64))
    index = empty.index(column)
    size = len(edges) + 2
    bads = np.bincount(index, weights=labels, minlength=size).round().astype(np.int64)
    goods = np.bincount(index, minlength=size).astype(np.int64) - bads
    seen = (goods + bads) > 0
    smoothed_goods = np.where(seen, goods + smoothing, 0.0)
    smoothed_bads = np.where(seen, bads + smoothing, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.log(
            (smoothed_goods / smoothed_goods.sum()) / (smoothed_bads / smoothed_bads.sum()),
        )
    return Binning(edges, np.where(seen, woe, NO_EVIDENCE), goods, bads)
