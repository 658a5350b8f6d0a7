"""Champion and challenger: which customers a split sends to the challenger, and how two models' scores
are compared.

One definition for the service (which routes and counts) and the command line (which reads the score
history back), so ``creditscore models compare`` and the dashboard's figures mean the same thing.

A split is decided by a hash of the model name and the national ID, so one customer always meets the same
version, on every host and after every restart, and each model's split picks its own customers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

from creditscore.domain.scores import band

Mode = Literal["shadow", "split"]
MODES: Final[tuple[Mode, ...]] = ("shadow", "split")
Role = Literal["champion", "challenger"]
CHAMPION: Final[Role] = "champion"
CHALLENGER: Final[Role] = "challenger"
# 2**64: the first eight bytes of the digest read as a fraction in [0, 1).
_SCALE: Final = float(1 << 64)


def split_point(model: str, national_id: str) -> float:
    """Where a customer falls in [0, 1) for ``model``'s split; stable across hosts, processes and releases."""
    digest = hashlib.sha256(f"{model}\x00{national_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def goes_to_challenger(model: str, national_id: str, share: float) -> bool:
    """Whether a split of ``share`` answers this customer with ``model``'s challenger."""
    return split_point(model, national_id) < share


@dataclass
class Agreement:
    """Running figures of a champion and its challenger scoring the same customers."""

    compared: int = 0
    bands_agreeing: int = 0
    difference_sum: float = 0.0
    latency_sum: float = 0.0
    latencies: int = 0

    def add(self, champion_score: float, challenger_score: float, seconds: float | None = None) -> None:
        self.compared += 1
        self.bands_agreeing += band(champion_score) == band(challenger_score)
        self.difference_sum += abs(challenger_score - champion_score)
        if seconds is not None:
            self.latency_sum += seconds
            self.latencies += 1

    @property
    def band_agreement(self) -> float | None:
        """The share of customers both put in one FICO band; None before any comparison."""
        return self.bands_agreeing / self.compared if self.compared else None

    @property
    def mean_difference(self) -> float | None:
        """The mean of |challenger − champion| in score points."""
        return self.difference_sum / self.compared if self.compared else None

    @property
    def mean_latency(self) -> float | None:
        return self.latency_sum / self.latencies if self.latencies else None

    def figures(self) -> dict[str, float | int | None]:
        """What a promotion decision records."""
        return {
            "compared": self.compared,
            "band_agreement": self.band_agreement,
            "mean_absolute_difference": self.mean_difference,
            "mean_challenger_seconds": self.mean_latency,
        }
