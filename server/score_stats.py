"""Counts of the scores the service gives, per UTC minute, for the managers' dashboard.

Several workers on several hosts serve the scores, and the dashboard must show all of them and survive
restarts, so the counts live in DynamoDB. Writing them as each score is given would add a call to every
scoring request and make one hot item per minute that every worker updates at once; instead each worker
counts in memory (:meth:`ScoreStats.record`: a few dict increments, no await, so no lock is needed in one
event loop) and a background task writes what it counted every ``CREDITSCORE_STATS_FLUSH_SECONDS`` (write
behind), with one ``UpdateItem ... ADD`` per minute that had scores. ``ADD`` is commutative, so any number
of workers add into the same minute without reading it first or conflicting.

``record()`` costs about 1 µs (``.venv/bin/python -m timeit -s "from server.score_stats import ScoreStats;
s = ScoreStats(None, 't')" "s.record('new', 'Good', 700)"``), next to the ~600 µs of CPU a scored request
takes.

Storage: the score-history table (no new table to deploy), under partition keys that can never be a
national ID (those are 9 or 12 digits, checked by every route that takes one)::

    national_id          = "#stats#YYYY-MM-DD"   (the UTC day)
    scored_at_request_id = "HH:MM"               (the UTC minute; the table's sort key)
    total                = N                     scores given in that minute
    "band:<band>"        = N                     per FICO band (Poor, Fair, Good, Very Good, Exceptional)
    "bin:<lower>"        = N                     per 50-point score bin, 300 ... 800 (800-850 holds 850)
    "segment:<segment>"  = N                     per segment (new, existing)

A window of hours is read back with one Query per UTC day it touches (a day holds at most 1,440 small
items), never a Scan. Attribute names go through ExpressionAttributeNames since they hold ``:`` and spaces.

Delivery is at least once: a failed write keeps its counts in memory to be added again at the next flush
(nothing is lost while the worker lives; the error is logged and counted in
``creditscore_dynamodb_errors_total{operation="UpdateItem"}``), and the last counts are written when the
worker stops. A write that timed out after DynamoDB applied it is counted twice: these are dashboard
figures, not the books (the history records are).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from creditscore.domain.scores import BAND_NAMES, MIN_SCORE, SCORE_BIN_EDGES, SCORE_BIN_WIDTH
from creditscore.domain.storage import HISTORY_SORT_KEY
from server.repository import RepositoryError

log = structlog.get_logger(__name__)

#: Partition-key prefix of the counts; ``#`` never occurs in a national ID.
KEY_PREFIX: Final = "#stats#"
TOTAL: Final = "total"
#: Lower edges of the score bins: 300, 350, ... 800 (the last one also holds 850), the domain's.
BIN_EDGES: Final = SCORE_BIN_EDGES
SEGMENTS: Final = ("new", "existing")
BAND_PREFIX: Final = "band:"
BIN_PREFIX: Final = "bin:"
SEGMENT_PREFIX: Final = "segment:"

_BAND_ATTRS: Final = {name: BAND_PREFIX + name for name in BAND_NAMES}
_BIN_ATTRS: Final = tuple(f"{BIN_PREFIX}{edge}" for edge in BIN_EDGES)
_SEGMENT_ATTRS: Final = {name: SEGMENT_PREFIX + name for name in SEGMENTS}
_LAST_BIN: Final = len(BIN_EDGES) - 1

#: One DynamoDB call (operation name, request) → response, e.g. :meth:`CustomerRepository.call`.
Call = Callable[..., Awaitable[dict[str, Any]]]
Counts = dict[str, int]


def is_stats_key(national_id: str) -> bool:
    """True for the partition key of a counts item rather than a customer's."""
    return national_id.startswith(KEY_PREFIX)


def minute_key(minute: int) -> tuple[str, str]:
    """(partition key, sort key) of the counts of a minute since the epoch."""
    at = datetime.fromtimestamp(minute * 60, UTC)
    return f"{KEY_PREFIX}{at:%Y-%m-%d}", f"{at:%H:%M}"


def bin_of(score: int) -> int:
    """Index in :data:`BIN_EDGES` of the bin holding ``score`` (clamped to 300-850)."""
    return min(max(score - MIN_SCORE, 0) // SCORE_BIN_WIDTH, _LAST_BIN)


def _new_counts() -> defaultdict[str, int]:
    return defaultdict(int)


class ScoreStats:
    """This worker's counts not yet written, and their reading and writing."""

    def __init__(self, call: Call, table: str) -> None:
        self._call = call
        #: The table the counts go to (the score-history table).
        self.table = table
        self._pending: defaultdict[int, defaultdict[str, int]] = defaultdict(_new_counts)

    def record(self, segment: str, band: str, score: int, at: float | None = None) -> None:
        """Count one score given at ``at`` (Unix time; now by default). Runs on every scoring request:
        kept to a few dict operations."""
        counts = self._pending[int((time.time() if at is None else at) // 60)]
        counts[TOTAL] += 1
        counts[_BAND_ATTRS.get(band) or BAND_PREFIX + band] += 1
        counts[_BIN_ATTRS[bin_of(score)]] += 1
        counts[_SEGMENT_ATTRS.get(segment) or SEGMENT_PREFIX + segment] += 1

    def pending(self) -> int:
        """Scores counted here and not yet written."""
        return sum(counts[TOTAL] for counts in self._pending.values())

    async def flush(self) -> bool:
        """Write every pending minute; True when all were written. On a failure the counts not written
        stay pending, to be added at the next flush."""
        # Taken as a whole before the first await: scores recorded meanwhile start a fresh dict.
        pending, self._pending = self._pending, defaultdict(_new_counts)
        written: set[int] = set()
        try:
            for minute in sorted(pending):
                await self._add(minute, pending[minute])
                written.add(minute)
        except RepositoryError as error:
            kept = self._keep(pending, written)
            log.warning("score_stats_flush_failed", error=str(error), scores_kept=kept)
            return False
        except BaseException:
            # Cancelled mid-write: whether that minute landed is unknown; keep it rather than lose it.
            self._keep(pending, written)
            raise
        return True

    def _keep(self, pending: dict[int, defaultdict[str, int]], written: set[int]) -> int:
        """Add the minutes of ``pending`` not ``written`` back to the pending counts; the scores kept."""
        kept = 0
        for minute, counts in pending.items():
            if minute in written:
                continue
            target = self._pending[minute]
            for name, value in counts.items():
                target[name] += value
            kept += counts[TOTAL]
        return kept

    async def run(self, interval: float, stopping: asyncio.Event) -> None:
        """Flush every ``interval`` seconds until ``stopping`` is set, then once more.

        Stopped by the event rather than cancelled, so a write is never cut off halfway."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)
            try:
                await self.flush()
            except Exception:
                # The flusher must outlive any surprise: the counts are kept for the next round.
                log.exception("score_stats_flush_crashed")

    async def read(self, first: int, last: int) -> dict[int, Counts]:
        """Every minute from ``first`` to ``last`` (minutes since the epoch, both included) that has counts,
        with its counts, as all workers have written them. RepositoryError when DynamoDB fails."""
        days: dict[str, tuple[str, str]] = {}
        for minute in _day_starts(first, last):
            partition, low = minute_key(minute)
            days[partition] = (low, minute_key(min(last, _day_end(minute)))[1])
        pages = await asyncio.gather(*(self._query(p, low, high) for p, (low, high) in days.items()))
        found: dict[int, Counts] = {}
        for partition, items in zip(days, pages, strict=True):
            day = datetime.strptime(partition[len(KEY_PREFIX) :], "%Y-%m-%d").replace(tzinfo=UTC)
            base = int(day.timestamp()) // 60
            for item in items:
                hours, minutes = item[HISTORY_SORT_KEY]["S"].split(":")
                found[base + int(hours) * 60 + int(minutes)] = {
                    name: int(value["N"]) for name, value in item.items() if "N" in value
                }
        return found

    async def _query(self, partition: str, low: str, high: str) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": "national_id", "#sk": HISTORY_SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":low": {"S": low}, ":high": {"S": high}},
        }
        items: list[dict[str, Any]] = []
        while True:
            response = await self._call("Query", **request)
            items += response["Items"]
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def _add(self, minute: int, counts: Counts) -> None:
        partition, sort_key = minute_key(minute)
        names = {f"#a{i}": name for i, name in enumerate(counts)}
        values = {f":a{i}": {"N": str(value)} for i, value in enumerate(counts.values())}
        await self._call(
            "UpdateItem",
            TableName=self.table,
            Key={"national_id": {"S": partition}, HISTORY_SORT_KEY: {"S": sort_key}},
            UpdateExpression="ADD " + ", ".join(f"{name} :{name[1:]}" for name in names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def _day_end(minute: int) -> int:
    return (minute // 1440 + 1) * 1440 - 1


def _day_starts(first: int, last: int) -> Iterator[int]:
    """``first``, then the first minute of every later UTC day up to ``last``."""
    minute = first
    while minute <= last:
        yield minute
        minute = _day_end(minute) + 1
