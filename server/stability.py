"""The live population of each served model version against its training reference: PSI and CSI.

A version whose manifest records a reference (:mod:`creditscore.domain.stability`) gets a
:class:`VersionTracker`, which its :class:`~server.batching.Batcher` hands every scored batch: the rows the
model took and the PDs it gave. The tracker only keeps them (under a lock: the inference threads share it)
and bins them together every :data:`BIN_EVERY_ROWS` rows or at the next flush: the score and every input
at once, one comparison per cut column and one ``bincount``, the score binned on the PD itself. Binning
one request's row alone would cost ~10 µs of numpy call overhead; kept and binned by thousands, a row
costs ~0.15 µs with the new-customer model's 10 inputs and ~0.6 µs with 39 (``VersionTracker.observe``
timed in a loop, its binning included), next to the ~200 µs of CPU a scored request takes.

Every ``CREDITSCORE_STABILITY_FLUSH_SECONDS`` each worker's :class:`StabilityMonitor` adds what it counted
to Prometheus counters per bin (write behind: no metric is touched per request), reads the counters summed
over the host's workers back (multiprocess mode, :func:`server.metrics.counter_totals`), and keeps the
totals in a ring of snapshots. The window's counts are the newest totals less the snapshot from
``CREDITSCORE_STABILITY_WINDOW_SECONDS`` ago (or the oldest one kept, while the worker is younger than
the window); from them it computes the score's PSI and each input's CSI, once at least
``CREDITSCORE_STABILITY_MIN_OBSERVATIONS`` scores were counted, and exports them as gauges. Every worker
computes the same figures from the same sums, give or take one flush; the gauges keep the latest.

A tracker's first snapshot is the host's totals at its first update, read before the worker writes its
own counts, so a worker that starts (or restarts) later does not count the scores given before it in its
window (nor, by the other workers, in the few seconds between its load and that update), while its own
scores from the load on are all in. It is read in the update's thread, not on the event loop as the
version loads: reading the counter files of every worker costs milliseconds. A version no longer served stops
counting; once its window holds too few scores its gauges read NaN, which no alert fires on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import structlog

from creditscore.domain.scores import SCORE_BIN_EDGES, Scaling
from creditscore.domain.stability import FloatArray, Reading, Reference, reading, stability_index
from creditscore.plugin import Matrix, Vector
from plugins.artifacts import Manifest
from server.metrics import (
    FEATURE_BIN_OBSERVATIONS,
    FEATURE_BINS_NAME,
    FEATURE_CSI,
    SCORE_BIN_OBSERVATIONS,
    SCORE_BINS_NAME,
    SCORE_PSI,
    STABILITY_OBSERVATIONS,
    counter_totals,
)

log = structlog.get_logger(__name__)

MISSING_BIN: Final = "missing"
#: Rows kept before a tracker bins them in the inference thread (else at the next flush): bounds the
#: memory the kept batches hold (~4k rows x inputs x 8 bytes) while sharing numpy's cost per call.
BIN_EVERY_ROWS: Final = 4096

#: Called by the batcher with the rows a model scored and the PDs it gave.
Observer = Callable[[Matrix, Vector], None]
Totals = dict[str, dict[tuple[tuple[str, str], ...], float]]


@dataclass(frozen=True)
class Figures:
    """A version's stability over the window, as last computed; the indices are None (not enough data)
    while fewer than ``min_observations`` scores were counted."""

    observations: int
    window_seconds: float
    min_observations: int
    psi: float | None
    features: dict[str, float | None]

    @property
    def psi_reading(self) -> Reading | None:
        return None if self.psi is None else reading(self.psi)


class VersionTracker:
    """One version's counts: those not yet written to the counters, and its snapshots of the host's."""

    def __init__(self, model: str, version: str, reference: Reference, scaling: Scaling, now: float) -> None:
        self.model = model
        self.version = version
        self.reference = reference
        self._features = tuple(reference.features)
        # Variable 0 is the score, binned on the PD itself: score >= cut exactly when -PD >= -(the PD that
        # scores cut - 0.5 before rounding), so no score needs computing. Then each input.
        variables = [_pd_cuts(reference, scaling)] + [reference.features[n].cuts for n in self._features]
        # One matrix of every variable's cuts, padded with +inf to the widest plus one (so every row has
        # a pad): a value is below k of its row's entries, its bin is (width - k), and NaN, below none,
        # lands in the last slot: its variable's missing bin. A pass per column of cuts bins a whole batch.
        width = max(len(cuts) for cuts in variables) + 1
        self._cut_matrix = np.full((len(variables), width), np.inf)
        for row, cuts in enumerate(variables):
            self._cut_matrix[row, : len(cuts)] = cuts
        # Slot of (variable v, bin b) = v * (width + 1) + b; bin ``width`` is the missing one.
        self._base = (width + 1) * np.arange(len(variables), dtype=np.int64) + width
        self._slots = (width + 1) * len(variables)
        self._pending = np.zeros(self._slots, dtype=np.int64)
        # Scored batches not binned yet, and their rows.
        self._batches: list[tuple[Matrix, Vector]] = []
        self._buffered = 0
        self._lock = threading.Lock()
        # Each variable's slots in the order of its Bins.expected() (its bins, then missing); the counter
        # and label set of each.
        self._variable_slots: list[list[int]] = []
        self._labels: dict[int, tuple[str, tuple[str, ...]]] = {}
        bin_names = [*(str(edge) for edge in SCORE_BIN_EDGES), MISSING_BIN]
        for variable, cuts in enumerate(variables):
            first = variable * (width + 1)
            slots = [*range(first, first + len(cuts) + 1), first + width]
            self._variable_slots.append(slots)
            name = self._features[variable - 1] if variable else ""
            for index, slot in enumerate(slots):
                if variable == 0:
                    self._labels[slot] = ("score", (model, version, bin_names[index]))
                else:
                    label = MISSING_BIN if slot == first + width else str(index)
                    self._labels[slot] = ("feature", (model, version, name, label))
        self._keys = {slot: (metric, _key(metric, labels)) for slot, (metric, labels) in self._labels.items()}
        self._snapshots: deque[tuple[float, FloatArray]] = deque([(now, np.zeros(self._slots))])
        #: Whether the window's start was taken from the host's totals (:meth:`start_at`).
        self.started = False
        self.figures: Figures | None = None
        self._exported = False

    def observe(self, rows: Matrix, pd: Vector) -> None:
        """Take a scored batch, to be counted later. Runs in the inference thread beside the model call,
        so it only keeps the arrays: they are binned together, every :data:`BIN_EVERY_ROWS` rows or at the
        next flush, where numpy's cost per call is shared by thousands of rows instead of one request's."""
        if rows.ndim != 2 or rows.shape[1] != len(self._features) or len(rows) != len(pd):
            return
        with self._lock:
            self._batches.append((rows, pd))
            self._buffered += len(rows)
            if self._buffered < BIN_EVERY_ROWS:
                return
            batches, self._batches, self._buffered = self._batches, [], 0
        self._count(batches)

    def _count(self, batches: list[tuple[Matrix, Vector]]) -> None:
        """Bin the rows and PDs of ``batches`` into the pending counts (a PD of NaN counts as the score's
        missing bin)."""
        if not batches:
            return
        rows = np.concatenate([rows for rows, _ in batches])
        pd = np.concatenate([pd for _, pd in batches])
        values = np.hstack((-pd[:, None], rows))
        # Entry by entry of the padded cuts: each pass compares the whole batch at once.
        below = np.zeros(values.shape, dtype=np.int8)  # at most 127 cuts a variable: deciles and scores
        for column in self._cut_matrix.T:
            below += values < column
        counts = np.bincount((self._base - below).ravel(), minlength=self._slots)
        with self._lock:
            self._pending += counts

    def flush(self) -> None:
        """Bin the batches kept and add the counts not yet written to the host's counters."""
        with self._lock:
            batches, self._batches, self._buffered = self._batches, [], 0
        self._count(batches)
        with self._lock:
            pending = self._pending
            self._pending = np.zeros(self._slots, dtype=np.int64)
        for slot in np.flatnonzero(pending):
            metric, labels = self._labels[int(slot)]
            counter = SCORE_BIN_OBSERVATIONS if metric == "score" else FEATURE_BIN_OBSERVATIONS
            counter.labels(*labels).inc(int(pending[slot]))

    def totals_of(self, totals: Totals) -> FloatArray:
        """This version's slots in the host's totals."""
        found = np.zeros(self._slots)
        for slot, (metric, key) in self._keys.items():
            found[slot] = totals[_METRICS[metric]].get(key, 0.0)
        return found

    def start_at(self, totals: Totals, now: float) -> None:
        """Make the host's ``totals`` the window's start: what was counted before is not this worker's."""
        self._snapshots = deque([(now, self.totals_of(totals))])
        self.started = True

    def update(self, totals: Totals, now: float, window: float, min_observations: int) -> Figures:
        """Take a snapshot of the host's totals and compute the figures of the window ending ``now``."""
        current = self.totals_of(totals)
        self._snapshots.append((now, current))
        # Keep the newest snapshot taken at or before the window's start, and every later one.
        while len(self._snapshots) > 1 and self._snapshots[1][0] <= now - window:
            self._snapshots.popleft()
        counts = current - self._snapshots[0][1]
        score_counts = counts[self._variable_slots[0]]
        observations = round(score_counts.sum())
        psi: float | None = None
        features: dict[str, float | None] = dict.fromkeys(self._features)
        if observations >= min_observations and observations > 0:
            psi = stability_index(self.reference.score.expected(), score_counts)
            for name, slots in zip(self._features, self._variable_slots[1:], strict=True):
                features[name] = stability_index(self.reference.features[name].expected(), counts[slots])
        self.figures = Figures(observations, window, min_observations, psi, features)
        self._export(self.figures)
        return self.figures

    def _export(self, figures: Figures) -> None:
        # No gauge until there is a figure (a gauge child reads 0, "stable", from its creation); after
        # that, NaN while there is none.
        if figures.psi is None and not self._exported:
            return
        self._exported = True
        STABILITY_OBSERVATIONS.labels(self.model, self.version).set(figures.observations)
        SCORE_PSI.labels(self.model, self.version).set(math.nan if figures.psi is None else figures.psi)
        for name, csi in figures.features.items():
            FEATURE_CSI.labels(self.model, self.version, name).set(math.nan if csi is None else csi)


_METRICS: Final = {"score": SCORE_BINS_NAME, "feature": FEATURE_BINS_NAME}


def _key(metric: str, labels: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    names = ("model", "version", "bin") if metric == "score" else ("model", "version", "feature", "bin")
    return tuple(sorted(zip(names, labels, strict=True)))


def _pd_cuts(reference: Reference, scaling: Scaling) -> list[float]:
    """The score's cuts as cuts of -PD: a PD scores at least ``cut`` (after rounding) when it is at most
    the PD whose unrounded score is ``cut - 0.5``."""
    logits = (np.asarray(reference.score.cuts) - 0.5 - scaling.offset) / scaling.factor
    return [float(-1.0 / (1.0 + math.exp(logit))) for logit in logits]


def host_totals() -> Totals:
    return counter_totals(SCORE_BINS_NAME, FEATURE_BINS_NAME)


class StabilityMonitor:
    """This worker's trackers, one per loaded version with a reference, and their periodic update."""

    def __init__(self, host_scaling: Scaling, window: float, min_observations: int) -> None:
        self._host_scaling = host_scaling
        self.window = window
        self.min_observations = min_observations
        self._trackers: dict[tuple[str, str], VersionTracker] = {}

    def observer(self, manifest: Manifest) -> Observer | None:
        """What the batcher of ``manifest``'s version reports its batches to; None without a reference.
        Loading the same version again keeps its tracker and counts."""
        if manifest.reference is None:
            return None
        key = (manifest.model, manifest.version)
        tracker = self._trackers.get(key)
        if tracker is None:
            # Scores are binned as the service gives them: with the version's scaling, as Scoring does.
            scaling = manifest.scaling or self._host_scaling
            now = time.monotonic()
            tracker = VersionTracker(manifest.model, manifest.version, manifest.reference, scaling, now)
            self._trackers[key] = tracker
        return tracker.observe

    def figures(self, model: str, version: str) -> Figures | None:
        """The version's latest figures; None before the first update or without a reference."""
        tracker = self._trackers.get((model, version))
        return None if tracker is None else tracker.figures

    def update(self) -> None:
        """Write every tracker's counts, read the host's totals once, and compute every version's figures."""
        trackers = list(self._trackers.values())
        if not trackers:
            return
        if fresh := [tracker for tracker in trackers if not tracker.started]:
            # Before this worker writes their first counts: what the host counted so far is not theirs.
            before, now = host_totals(), time.monotonic()
            for tracker in fresh:
                tracker.start_at(before, now)
        for tracker in trackers:
            tracker.flush()
        totals = host_totals()
        now = time.monotonic()
        for tracker in trackers:
            tracker.update(totals, now, self.window, self.min_observations)

    async def run(self, interval: float, stopping: asyncio.Event) -> None:
        """Update every ``interval`` seconds until ``stopping`` is set, then write the last counts.

        The update reads files and computes in a thread: the event loop keeps serving meanwhile."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)
            try:
                await asyncio.to_thread(self.update)
            except Exception:
                # Figures are monitoring: a surprise must not stop the counting, only be seen.
                log.exception("stability_update_crashed")
