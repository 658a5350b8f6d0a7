"""Grouping concurrent scoring requests into one model call.

A model call has a fixed cost (~150 µs for XGBoost) far above its cost per row (~3 µs in a batch of 256),
so requests that arrive together are scored together. Batching is opportunistic: a dispatcher takes the
first waiting request at once, with whatever else is already waiting, so an idle service adds no latency;
while a batch runs, the requests that arrive meanwhile form the next one. Inference runs in a bounded
executor, never on the event loop.

One request's rows can never fail another's: rows with a value that is not finite, or beyond float32 (what
the models compute in), are refused before they join a batch; rows whose probability comes out NaN or
infinite are refused alone after it (:class:`UnscorableRows`, naming the rows); and when a grouped call
raises, each request is scored again by itself, so only the one that breaks the model fails. Likewise a
grouped explanation that raises is retried request by request: only a request whose own explanation raises
goes without reasons.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Final

import numpy as np
import structlog

from creditscore.plugin import Matrix, Model, Vector
from server.metrics import EXPLAIN_FAILURES, MODEL_BATCH_SIZE, MODEL_INFERENCE

log = structlog.get_logger(__name__)

# float32's largest finite value: above it a model's input is already infinite.
FLOAT32_MAX: Final = float(np.finfo(np.float32).max)

#: Told of every model call that succeeded: the rows scored and their PDs (server.stability counts them).
BatchObserver = Callable[[Matrix, Vector], None]


class UnscorableRows(ValueError):
    """Rows of one request a model cannot score; ``rows`` are their indices within the request."""

    def __init__(self, rows: list[int], why: str) -> None:
        super().__init__(f"rows {rows}: {why}")
        self.rows = rows
        self.why = why


@dataclass(frozen=True)
class Prediction:
    pd: Vector
    #: The rows' per-feature contributions when they were asked for, else None.
    contributions: Matrix | None


@dataclass(frozen=True)
class _Request:
    rows: Matrix
    explain: bool
    future: asyncio.Future[Prediction]


class Batcher:
    """One model version's request queue, with at most ``concurrency`` batches in the executor at once.

    ``max_rows`` caps a batch's rows (one request larger than that goes alone, whole); 1 turns grouping
    off. ``observe`` is told of every batch scored, in the inference thread. Bound to the event loop it is
    first used on.
    """

    def __init__(
        self,
        model: Model,
        name: str,
        version: str,
        executor: Executor,
        max_rows: int,
        concurrency: int,
        inline_rows: int = 0,
        observe: BatchObserver | None = None,
    ) -> None:
        if max_rows < 1 or concurrency < 1:
            raise ValueError(f"max_rows and concurrency must be at least 1; got {max_rows}, {concurrency}")
        self.model = model
        self.name = name
        self.version = version
        self._executor = executor
        self._max_rows = max_rows
        self._inline_rows = inline_rows
        self._observe = observe
        self._queue: deque[_Request] = deque()
        # asyncio primitives bind to a loop on first use, so these may be made outside one.
        self._slots = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._closed = False

    async def predict(self, rows: Matrix, explain: bool = False) -> Prediction:
        """PDs of ``rows`` (n, features), and their contributions when ``explain``."""
        return await self.submit(rows, explain)

    def submit(self, rows: Matrix, explain: bool = False) -> asyncio.Future[Prediction]:
        """:meth:`predict` queued now, its result to come in the future: for a caller that queues rows
        behind others without waiting for them (a shadow challenger's, server.challengers)."""
        if self._closed:
            raise RuntimeError(f"the batcher of {self.name} {self.version} is closed")
        if rows.ndim != 2:
            raise ValueError(f"rows must be a matrix (n, features); got shape {rows.shape}")
        outside = ~(np.abs(rows) <= FLOAT32_MAX).all(axis=1)  # NaN compares False: outside too
        if outside.any():
            raise UnscorableRows(np.flatnonzero(outside).tolist(), "a value is not finite in float32")
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(rows, explain, future))
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch(), name=f"batcher {self.name}")
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Refuse new requests, score every queued one, then return."""
        self._closed = True
        self._wakeup.set()
        if self._dispatcher is not None:
            await self._dispatcher
        if self._batches:
            await asyncio.gather(*self._batches)

    async def _dispatch(self) -> None:
        while True:
            # A slot first: requests keep piling up while every slot is busy, and go out together.
            await self._slots.acquire()
            while not self._queue:
                if self._closed:
                    self._slots.release()
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = self._take()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._run(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _take(self) -> list[_Request]:
        """The waiting requests up to ``max_rows`` rows, in order; those whose caller gave up are dropped."""
        batch: list[_Request] = []
        rows = 0
        while self._queue:
            request = self._queue[0]
            if request.future.done():
                self._queue.popleft()
                continue
            if batch and (
                rows + len(request.rows) > self._max_rows
                # Only rows of one width share a call, so a malformed request cannot fail the others.
                or request.rows.shape[1] != batch[0].rows.shape[1]
            ):
                break
            batch.append(self._queue.popleft())
            rows += len(request.rows)
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        try:
            rows = batch[0].rows if len(batch) == 1 else np.concatenate([r.rows for r in batch])
            explain_parts = [r.rows for r in batch if r.explain]
            loop = asyncio.get_running_loop()
            try:
                if len(rows) <= self._inline_rows and len(self._batches) <= 1:
                    # A few rows and no other batch in flight: the thread handoff (and the GIL passed back
                    # and forth with the loop) would cost more than the model call itself.
                    pd, contributions = self._call(rows, explain_parts)
                else:
                    pd, contributions = await loop.run_in_executor(
                        self._executor, self._call, rows, explain_parts
                    )
            except Exception as error:
                if len(batch) == 1:
                    _settle(batch[0], error)
                else:
                    # Which request broke the call is unknown: each is scored alone, so only it fails.
                    for request in batch:
                        await self._run_alone(request)
                return
            start = 0
            explained = iter(contributions)
            for request in batch:
                end = start + len(request.rows)
                _settle(request, _checked(pd[start:end], next(explained) if request.explain else None))
                start = end
        finally:
            self._slots.release()
            # Reached only when this task itself was cancelled: no caller may wait forever.
            for request in batch:
                if not request.future.done():
                    request.future.cancel()

    async def _run_alone(self, request: _Request) -> None:
        explain_parts = [request.rows] if request.explain else []
        loop = asyncio.get_running_loop()
        try:
            pd, contributions = await loop.run_in_executor(
                self._executor, self._call, request.rows, explain_parts
            )
        except Exception as error:
            _settle(request, error)
        else:
            _settle(request, _checked(pd, contributions[0] if request.explain else None))

    def _call(self, rows: Matrix, explain_parts: list[Matrix]) -> tuple[Vector, list[Matrix | None]]:
        """The PDs of ``rows``, and the contributions of each of ``explain_parts`` (one per request that
        asks for them; None for a part whose explanation raises)."""
        started = time.perf_counter()
        pd = self.model.predict_pd(rows)
        contributions: list[Matrix | None] = []
        if explain_parts:
            # Every request asks (the usual case): the batch's rows are the parts, already together.
            every = sum(len(part) for part in explain_parts) == len(rows)
            contributions = self._explain(explain_parts, rows if every else None)
        MODEL_INFERENCE.labels(model=self.name, version=self.version).observe(time.perf_counter() - started)
        MODEL_BATCH_SIZE.labels(model=self.name).observe(len(rows))
        # A plugin's miscount would otherwise hand requests each other's results.
        if len(pd) != len(rows):
            raise RuntimeError(f"{self.name} {self.version} returned results for another number of rows")
        if self._observe is not None:
            try:
                self._observe(rows, pd)
            except Exception:
                # Monitoring must never cost a client its score.
                log.exception("batch_observer_failed", model=self.name, version=self.version)
        return pd, contributions

    def _explain(self, parts: list[Matrix], together: Matrix | None = None) -> list[Matrix | None]:
        """Each part's contributions, explained in one call (on ``together``, the parts' rows in one matrix,
        when given). When the plugin's explanation raises, each part is explained alone, and a part whose
        own explanation raises gets None: its scores stand without this model's reasons, and the requests
        beside it keep theirs."""
        rows = together if together is not None else parts[0] if len(parts) == 1 else np.concatenate(parts)
        try:
            contributions = self.model.explain(rows)
        except Exception:
            if len(parts) > 1:
                return [self._explain([part])[0] for part in parts]
            EXPLAIN_FAILURES.labels(model=self.name, version=self.version).inc()
            log.exception("explain_failed", model=self.name, version=self.version)
            return [None]
        if len(contributions) != len(rows):
            raise RuntimeError(f"{self.name} {self.version} returned results for another number of rows")
        if len(parts) == 1:
            return [contributions]
        each: list[Matrix | None] = []
        start = 0
        for part in parts:  # slices are views: np.split would cost ~1 µs a part
            each.append(contributions[start : start + len(part)])
            start += len(part)
        return each


def _checked(pd: Vector, contributions: Matrix | None) -> Prediction | UnscorableRows:
    """The request's prediction, or the rows whose probability is not a number in [0, 1] or whose
    contributions are not finite."""
    bad = ~((pd >= 0) & (pd <= 1))  # NaN compares False: bad too
    if contributions is not None:
        bad |= ~np.isfinite(contributions).all(axis=1)
    if bad.any():
        return UnscorableRows(np.flatnonzero(bad).tolist(), "the model gave no finite probability")
    return Prediction(pd, contributions)


def _settle(request: _Request, outcome: Prediction | BaseException) -> None:
    if request.future.done():  # the caller gave up
        return
    if isinstance(outcome, BaseException):
        request.future.set_exception(outcome)
    else:
        request.future.set_result(outcome)
