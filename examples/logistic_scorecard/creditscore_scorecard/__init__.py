"""A logistic-regression credit scorecard as a creditscore scorer plugin.

The package's ``creditscore`` entry point names this module; the platform's plugin manager registers it
and calls :func:`creditscore_scorers`. Nothing in the platform names the package.
"""

from __future__ import annotations

from creditscore.plugin import Scorer, hookimpl
from creditscore_scorecard.scorecard import LogisticScorecard, PointsTable, ScorecardModel

__all__ = ["LogisticScorecard", "PointsTable", "ScorecardModel", "creditscore_scorers"]


@hookimpl
def creditscore_scorers() -> list[Scorer]:
    return [LogisticScorecard()]
