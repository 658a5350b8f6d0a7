"""Reason codes: which features raised a row's risk most, from a model's per-feature contributions.

A model's ``explain`` gives each feature's contribution to the log-odds of default (positive: it raises the
risk). :func:`top_reasons` is the one ranking: a row's reasons are its largest positive contributions,
largest first; a feature that lowered the risk (or did nothing) is never a reason, so a row may have fewer
reasons than asked for.

What may be said to the applicant is decided by the feature registry (:mod:`creditscore.domain.features`)
before the ranking, by :func:`screen`. A feature's positive contribution is withheld (never a reason) when:

- ``protected``: the feature is a protected attribute (age, dependents);
- ``not_citable``: the feature is not citable (the applicant cannot act on it, the bank may not cite it,
  its expected direction is unknown, or it is not in the registry at all);
- ``counter_intuitive``: "having something good hurt them". The judgement uses the contribution's sign,
  the feature's expected direction ``risk`` and its ``best`` value: a contribution > 0 (the model says
  this value raised the risk) is counter-intuitive when the applicant's value is at or past the feature's
  best end in its expected direction, i.e. ``value <= best`` for a ``higher``-risk feature (no debt, no
  missed payments) or ``value >= best`` for a ``lower``-risk one (has a savings account, salary every
  month). Where the registry records no ``best`` (income, savings: no value is as good as it gets) a
  positive contribution is read as "this value is on the risky side for the model" and cited with the
  risky-side wording ("Savings are low"); the registry's ``best`` is what makes a judgement possible, so a
  feature gets one wherever a natural best exists.

Such a contribution is the sign of a model that needs review. :func:`screen` reports each withheld one that
would have been among the row's reasons without the rules (ranked within the first ``count`` of the raw
contributions by :func:`top_reasons`), so the service can count them; the withheld contributions are set
to 0, so they are never ranked as reasons, and the next allowed ones take their places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from creditscore.domain.features import FEATURES, HIGHER, LOWER, Feature

Why = Literal["counter_intuitive", "protected", "not_citable"]
COUNTER_INTUITIVE: Final = "counter_intuitive"
PROTECTED: Final = "protected"
NOT_CITABLE: Final = "not_citable"
#: Each registry feature by name.
REGISTRY: Final = {feature.name: feature for feature in FEATURES}


def top_reasons(
    contributions: npt.NDArray[np.float64], count: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For each row of ``contributions`` (n, features): the column indices of its ``count`` largest
    contributions, largest first (n, count), and whether each is a reason, i.e. positive (n, count).

    Ranked as the scoring service ranks one row (``np.argsort`` of the negated contributions), so a row gets
    the same reasons in a batch as alone.
    """
    count = min(count, contributions.shape[1])
    order = np.argsort(-contributions, axis=1)[:, :count]
    raised = np.take_along_axis(contributions, order, axis=1) > 0
    return order, raised


@dataclass(frozen=True)
class Withheld:
    """A reason the rules withheld: ``row`` and ``column`` of the contributions, and why."""

    row: int
    column: int
    why: Why


@dataclass(frozen=True)
class Screened:
    #: The contributions with every withheld one set to 0: what :func:`top_reasons` may rank.
    allowed: npt.NDArray[np.float64]
    #: Withheld contributions that would have been among the first ``count`` reasons.
    withheld: list[Withheld]


def policy(feature: str) -> Why | None:
    """Why a feature is never cited, whatever its contribution; None when it may be."""
    known = REGISTRY.get(feature)
    if known is not None and known.protected:
        return PROTECTED
    if known is None or not known.citable:
        return NOT_CITABLE
    return None


def screen(
    contributions: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    features: Sequence[str],
    count: int,
) -> Screened:
    """``contributions`` (n, features) of rows ``values`` (n, features) with the withheld ones zeroed, by
    the rules of the module doc."""
    contributions = np.asarray(contributions, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    why = np.empty(contributions.shape, dtype=object)
    why[:, :] = np.array([policy(name) for name in features], dtype=object)
    known = [REGISTRY.get(name) for name in features]
    higher = np.array([_best(f, HIGHER) for f in known], dtype=np.float64)
    lower = np.array([_best(f, LOWER) for f in known], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        good = (values <= higher) | (values >= lower)  # NaN (no best) compares False
    why[(why == None) & good & (contributions > 0)] = COUNTER_INTUITIVE  # noqa: E711 (elementwise)
    blocked = why != None  # noqa: E711
    order, raised = top_reasons(contributions, count)
    withheld = [
        Withheld(int(row), int(column), why[row, column])
        for row, rank in zip(*np.nonzero(raised), strict=True)
        for column in (order[row, rank],)
        if blocked[row, column]
    ]
    return Screened(np.where(blocked, 0.0, contributions), withheld)


def _best(feature: Feature | None, risk: str) -> float:
    if feature is None or feature.risk != risk or feature.best is None:
        return float("nan")
    return float(feature.best)


def wording(feature: str) -> str:
    """The registry's plain wording of the reason ``feature`` raised the risk."""
    known = REGISTRY.get(feature)
    return (known.wording if known else None) or feature


def direction(feature: str) -> Literal["high", "low"] | None:
    """Which side of ``feature`` raised the risk: its value was high (a ``higher``-risk feature) or low."""
    known = REGISTRY.get(feature)
    if known is None or known.risk not in (HIGHER, LOWER):
        return None
    return "high" if known.risk == HIGHER else "low"
