"""Seeded, stratified train / validation / test split (default 70 / 15 / 15).

The test rows are drawn first and with the seed alone, so the test set for a given table and seed does not
depend on the validation share: a benchmark's 80/20 test split stays the same whatever is carved from the
80 % for early stopping and calibration. Stratifying keeps the default rate equal in all three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import train_test_split

from creditscore.errors import JobError
from creditscore.plugin import Labels

Indices = npt.NDArray[np.int64]


class SplitError(JobError):
    """The table is too small or too one-sided to split as asked."""


@dataclass(frozen=True)
class Shares:
    """Shares of the whole table held out for validation and test; training gets the rest."""

    validation: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        if not (0 < self.validation < 1 and 0 < self.test < 1 and self.validation + self.test < 1):
            raise ValueError(f"validation and test shares must be in (0, 1) and leave rows to train: {self}")


@dataclass(frozen=True)
class Split:
    train: Indices
    validation: Indices
    test: Indices


def split(labels: Labels, shares: Shares, seed: int) -> Split:
    """Row indices of each part, each sorted (so the parts keep the table's order)."""
    rows = np.arange(len(labels), dtype=np.int64)
    try:
        rest, test = train_test_split(rows, test_size=shares.test, stratify=labels, random_state=seed)
        train, validation = train_test_split(
            rest,
            test_size=shares.validation / (1 - shares.test),
            stratify=labels[rest],
            random_state=seed,
        )
    except ValueError as error:
        raise SplitError(f"cannot split {len(labels)} rows with {shares}: {error}") from None
    return Split(np.sort(train), np.sort(validation), np.sort(test))
