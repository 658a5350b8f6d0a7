"""A shadow challenger on the request path: it scores the champion's rows beside it, and is never waited for.

:func:`start` queues the rows on the challenger's batcher right after they are queued on the champion's, so
the champion's are scored first. :func:`collect`, called once the champion's scores are known (as the score
record is built), takes the challenger's scores if they are there already (``scored``: they go into the
record) and otherwise leaves them to come (``late``: counted in the metrics only). Either way agreement is
counted when both scores are known. A challenger that raises is counted (``failed``) and logged, never
raised: an answer is never slower, nor refused, because of a challenger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import structlog

from creditscore.domain.challenger import Agreement
from creditscore.domain.scores import Scaling, band
from creditscore.plugin import Matrix
from server.batching import Prediction
from server.metrics import (
    CHALLENGER_AGREEMENT,
    CHALLENGER_DIFFERENCE,
    CHALLENGER_INFERENCE,
    CHALLENGER_SCORES,
)
from server.model_registry import ServedChallenger
from server.schemas import ChallengerScore

log = structlog.get_logger(__name__)

SCORED: Final = "scored"
LATE: Final = "late"
FAILED: Final = "failed"
#: A split sent the customer to the challenger, whose score was the answer.
DECIDED: Final = "decided"

# This worker's comparisons by (model, challenger version), for the service's own dashboard; Prometheus
# has every worker's.
_agreement: dict[tuple[str, str], Agreement] = {}


def agreement(model: str, version: str) -> Agreement:
    """This worker's shadow comparisons of ``model``'s challenger ``version`` since it started."""
    return _agreement.get((model, version), Agreement())


@dataclass
class Shadow:
    challenger: ServedChallenger
    scaling: Scaling
    future: asyncio.Future[Prediction]
    started: float
    #: From queueing the rows to their scores; set when they come.
    seconds: float | None = None

    @property
    def model(self) -> str:
        return self.challenger.served.name


def start(challenger: ServedChallenger, rows: Matrix, scaling: Scaling) -> Shadow:
    """The challenger scoring ``rows`` (in its own columns), queued now; raises what the batcher refuses."""
    shadow = Shadow(challenger, scaling, challenger.served.batcher.submit(rows), time.perf_counter())
    shadow.future.add_done_callback(lambda _: _finished(shadow))
    return shadow


def count(challenger: ServedChallenger, result: str, rows: int = 1) -> None:
    served = challenger.served
    CHALLENGER_SCORES.labels(served.name, served.version, challenger.mode, result).inc(rows)


def failed(challenger: ServedChallenger, rows: int, error: BaseException | str) -> None:
    """A challenger that could not score ``rows``: counted and logged, the answer unaffected."""
    count(challenger, FAILED, rows)
    why = error if isinstance(error, str) else type(error).__name__
    log.warning("challenger_failed", model=challenger.served.name, version=challenger.version, error=why)


def collect(shadow: Shadow | None, champion_scores: Sequence[int]) -> list[ChallengerScore] | None:
    """The challenger's scores of the rows, when they are in already; None (counted when they come) when not,
    or when the challenger failed."""
    if shadow is None:
        return None
    champion = list(champion_scores)
    if shadow.future.done():
        return _compare(shadow, champion, SCORED)
    shadow.future.add_done_callback(lambda _: _compare(shadow, champion, LATE))
    return None


def _finished(shadow: Shadow) -> None:
    shadow.seconds = time.perf_counter() - shadow.started
    # Read, so that a failure nobody collects (the champion failed first) is not reported as unretrieved.
    if not shadow.future.cancelled():
        shadow.future.exception()


def _compare(shadow: Shadow, champion: list[int], result: str) -> list[ChallengerScore] | None:
    challenger, future = shadow.challenger, shadow.future
    error = future.exception() if not future.cancelled() else asyncio.CancelledError()
    if error is not None:
        failed(challenger, len(champion), error)
        return None
    seconds = shadow.seconds if shadow.seconds is not None else time.perf_counter() - shadow.started
    CHALLENGER_INFERENCE.labels(shadow.model).observe(seconds)
    difference = CHALLENGER_DIFFERENCE.labels(shadow.model)
    figures = _agreement.setdefault((shadow.model, challenger.version), Agreement())
    scores = []
    for pd, champion_score in zip(map(float, future.result().pd), champion, strict=True):
        score = shadow.scaling.score(pd)
        scores.append(
            ChallengerScore(
                version=challenger.version,
                score=score,
                probability_of_default=pd,
                band=band(score),
                seconds=round(seconds, 6),
            )
        )
        agree = band(score) == band(champion_score)
        CHALLENGER_AGREEMENT.labels(shadow.model, "true" if agree else "false").inc()
        difference.observe(abs(score - champion_score))
        figures.add(champion_score, score, seconds)
    count(challenger, result, len(scores))
    return scores
