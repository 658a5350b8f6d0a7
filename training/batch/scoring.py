"""Rows scored as the service scores them: the loaded model's PD, the score of the model's own recorded
scaling, the FICO band, and (when asked) the reasons, ranked as the API ranks them and under the same rules
(:func:`creditscore.domain.reasons.screen`: only citable, unprotected features, never a value at its
feature's best end).

The model is called from a few threads at once, each on a share of the rows: every plugin's model is
thread-safe (the service calls it so) and pins its framework to one thread, so threads are how a batch
uses the machine's cores. A row whose PD is not a number in [0, 1] (or, with reasons, whose contributions
are not finite) is refused alone, as the service refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from creditscore.domain.reasons import screen, top_reasons
from creditscore.domain.scores import MAX_SCORE, MIN_SCORE, Scaling, band
from creditscore.plugin import Matrix, Model, Vector
from training.batch import BatchScoringError

NO_PROBABILITY: Final = "no_probability"
NO_EXPLANATION: Final = "no_explanation"
#: Fewer rows than this per thread are not worth a thread.
MIN_ROWS_PER_THREAD: Final = 5_000
#: Each whole score's band, from the domain's own function.
_BANDS: Final = np.array([band(score) for score in range(MIN_SCORE, MAX_SCORE + 1)], dtype=object)

ObjectVector = npt.NDArray[np.object_]
BoolVector = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Scored:
    """A chunk's rows scored: the rows kept (the others refused, with why) and their results."""

    kept: BoolVector
    #: Per refused row, in row order: the reason.
    refusals: list[str]
    pd: Vector
    scores: npt.NDArray[np.int64]
    bands: ObjectVector
    #: One array per rank (reason_1, reason_2, ...): the feature name, or None when the row has fewer.
    reasons: list[ObjectVector]


class ChunkScorer:
    def __init__(
        self,
        model: Model,
        features: Sequence[str],
        scaling: Scaling,
        reasons: int,
        pool: Executor,
        threads: int,
    ) -> None:
        self.model = model
        self.features = np.array(features, dtype=object)
        self.scaling = scaling
        self.reasons = min(reasons, len(features))
        self.pool = pool
        self.threads = threads

    def score(self, rows: Matrix) -> Scored:
        if not len(rows):
            nothing = np.empty(0, dtype=object)
            return Scored(
                np.zeros(0, np.bool_),
                [],
                np.empty(0),
                np.empty(0, np.int64),
                nothing,
                [nothing] * self.reasons,
            )
        pd = self._call(self.model.predict_pd, rows)
        kept = (pd >= 0) & (pd <= 1)  # NaN compares False: refused too
        refusals = np.where(kept, "", NO_PROBABILITY)
        contributions = None
        if self.reasons:
            contributions = self._call(self._explain, rows)
            explained = np.isfinite(contributions).all(axis=1)
            refusals = np.where(kept & ~explained, NO_EXPLANATION, refusals)
            kept &= explained
        pd = pd[kept]
        scores = self.scaling.scores(pd)
        ranked: list[ObjectVector] = []
        if contributions is not None:
            screened = screen(contributions[kept], rows[kept], list(self.features), self.reasons)
            order, raised = top_reasons(screened.allowed, self.reasons)
            names = self.features[order]
            names[~raised] = None
            ranked = [names[:, rank] for rank in range(self.reasons)]
        return Scored(kept, refusals[~kept].tolist(), pd, scores, _BANDS[scores - MIN_SCORE], ranked)

    def _explain(self, rows: Matrix) -> Matrix:
        try:
            return self.model.explain(rows)
        except NotImplementedError:
            raise BatchScoringError("the model cannot explain its scores: score without --reasons") from None

    def _call(
        self, method: Callable[[Matrix], npt.NDArray[np.float64]], rows: Matrix
    ) -> npt.NDArray[np.float64]:
        """``method`` over ``rows``, split between the threads; one result, in row order."""
        parts = min(self.threads, len(rows) // MIN_ROWS_PER_THREAD)
        results = [method(rows)] if parts <= 1 else list(self.pool.map(method, np.array_split(rows, parts)))
        result = np.asarray(np.concatenate(results), dtype=np.float64)
        if len(result) != len(rows):
            raise BatchScoringError(f"the model gave {len(result):,} results for {len(rows):,} rows")
        return result
