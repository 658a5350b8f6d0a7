from __future__ import annotations

import math

import numpy as np
import pytest

from creditscore.config import load_settings
from creditscore.domain.scores import BAND_NAMES, MAX_SCORE, MIN_SCORE, Scaling, band, combine


def test_scores_fall_as_pd_rises_and_stay_within_300_850() -> None:
    pds = np.linspace(0.0, 1.0, 10_001)
    scores = Scaling().scores(pds)
    assert (np.diff(scores) <= 0).all()
    assert (scores[0], scores[-1]) == (MAX_SCORE, MIN_SCORE)
    assert scores.min() >= MIN_SCORE and scores.max() <= MAX_SCORE


def test_scaling_follows_the_scorecard_formula() -> None:
    scaling = Scaling(target=600, target_odds=50, pdo=20)
    assert scaling.score(1 / 51) == 600, "odds of 50:1 get the target score"
    assert scaling.score(1 / 101) == 620, "doubling the odds adds PDO points"
    assert scaling.factor == pytest.approx(20 / math.log(2))


def test_one_score_equals_the_array_scores_everywhere() -> None:
    scaling = Scaling()
    pds = np.concatenate([np.linspace(0.0, 1.0, 20_001), [1e-12, 1 - 1e-12, 0.5, 1 / 31]])
    assert [scaling.score(float(pd)) for pd in pds] == scaling.scores(pds).tolist()
    with pytest.raises(ValueError, match="NaN"):
        scaling.score(math.nan)


def test_scaling_comes_from_settings() -> None:
    settings = load_settings({"CREDITSCORE_SCORE_TARGET": "650", "CREDITSCORE_SCORE_PDO": "25"})
    assert Scaling.from_settings(settings) == Scaling(target=650, target_odds=30, pdo=25)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (300, "Poor"),
        (579, "Poor"),
        (580, "Fair"),
        (669, "Fair"),
        (670, "Good"),
        (739, "Good"),
        (740, "Very Good"),
        (799, "Very Good"),
        (800, "Exceptional"),
        (850, "Exceptional"),
    ],
)
def test_fico_band_edges(score: int, expected: str) -> None:
    assert band(score) == expected


def test_band_names_run_from_worst_to_best() -> None:
    assert BAND_NAMES == ("Poor", "Fair", "Good", "Very Good", "Exceptional")


def test_combining_averages_scores_with_weights() -> None:
    assert combine({"a": 700, "b": 600}, {}) == 650, "the seed's (A + B) / 2"
    assert combine({"a": 700, "b": 600}, {"a": 3, "b": 1}) == 675
    with pytest.raises(ValueError, match="no scores"):
        combine({}, {})
    with pytest.raises(ValueError, match="more than 0"):
        combine({"a": 700}, {"a": 0})
