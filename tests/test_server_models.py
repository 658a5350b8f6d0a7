"""The service's models: request batching, and the registry that loads, verifies and hot-swaps versions
from the models bucket on the real moto server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from creditscore.config import Settings
from creditscore.plugin import Matrix, Vector
from plugins.artifacts import Pointer, pointer_key, version_prefix
from plugins.manager import installed, scorer
from plugins.registry import Gate, Registry
from server import model_registry
from server.batching import Batcher, UnscorableRows
from server.metrics import render
from server.model_registry import ModelRegistry
from tests.factories import SMALL_PARAMS, customers
from training import data, pipeline

NAME = "xgboost-new-customer"
OPEN_GATE = Gate(min_auc=0.0, max_auc_drop=1.0)

OpenRegistry = Callable[..., Awaitable[ModelRegistry]]


# --- helpers ---------------------------------------------------------------------------------------------


def metric(sample: str, **labels: str) -> float:
    """A sample's value summed over every series carrying ``labels`` (0 when there is none)."""
    text = render()[0].decode()
    return sum(
        found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items())
    )


def batch_sizes() -> tuple[float, float, float]:
    """The batch-size histogram of NAME so far: model calls, calls of one row, rows."""
    name = "creditscore_model_batch_size"
    return (
        metric(f"{name}_count", model=NAME),
        metric(f"{name}_bucket", model=NAME, le="1.0"),
        metric(f"{name}_sum", model=NAME),
    )


def reloads(result: str) -> float:
    return metric("creditscore_model_reloads_total", model=NAME, result=result)


def model_info(version: str, name: str = NAME) -> float:
    return metric("creditscore_model_info", model=name, version=version)


def rows_for(name: str, count: int) -> Matrix:
    return customers(count, seed=99)[list(scorer(name).features)].to_numpy(np.float64)


def publish(settings: Settings, result: pipeline.TrainingResult) -> None:
    Registry.from_settings(settings).publish(result.manifest, result.files, OPEN_GATE)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


class Recording:
    """A model whose PD is each row's first value, that records its calls and can be held mid-call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.threads: list[int] = []
        self.running = 0
        self.most_running = 0
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def predict_pd(self, rows: Matrix) -> Vector:
        with self._lock:
            self.calls.append(("predict_pd", len(rows)))
            self.threads.append(threading.get_ident())
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            assert self.release.wait(10)
            if (rows[:, 0] < 0).any():
                raise ValueError("a negative row")
            return rows[:, 0].copy()
        finally:
            with self._lock:
                self.running -= 1

    def explain(self, rows: Matrix) -> Matrix:
        with self._lock:
            self.calls.append(("explain", len(rows)))
        return rows * 2

    def predicted(self) -> list[int]:
        return [rows for kind, rows in self.calls if kind == "predict_pd"]


def row(value: float) -> Matrix:
    return np.array([[value, 1.0]])


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2, thread_name_prefix="test-inference") as pool:
        yield pool


@pytest.fixture
async def open_registry(executor: ThreadPoolExecutor) -> AsyncIterator[OpenRegistry]:
    """Opens a registry over a settings' models bucket; closes it after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_registry(
            settings: Settings,
            names: Sequence[str] = (NAME,),
            max_rows: int = 256,
            concurrency: int = 2,
            max_bytes: int = 1 << 30,
        ) -> ModelRegistry:
            store = Registry.from_settings(settings)
            registry = ModelRegistry(store, names, installed(), executor, max_rows, concurrency, max_bytes)
            stack.push_async_callback(registry.close)
            return registry

        yield open_registry


@pytest.fixture(scope="module")
def versions() -> list[pipeline.TrainingResult]:
    """Three versions of NAME, each a second apart and seeded differently (so they predict differently)."""
    model = scorer(NAME)
    table = data.table_from_frame(customers(2000, seed=21), "versions", model.features, None)
    return [
        pipeline.train(
            model,
            table,
            {**SMALL_PARAMS[NAME], "seed": seed},
            progress=False,
            now=datetime(2031, 1, 1, 0, 0, seed, tzinfo=UTC),
        )
        for seed in (1, 2, 3)
    ]


# --- the batcher -----------------------------------------------------------------------------------------


def test_a_batcher_made_outside_an_event_loop_works_inside_one() -> None:
    with ThreadPoolExecutor(1) as pool:
        batcher = Batcher(Recording(), "m", "v", pool, max_rows=8, concurrency=1)

        async def use() -> Vector:
            prediction = await batcher.predict(row(0.25))
            await batcher.close()
            return prediction.pd

        assert asyncio.run(use()).tolist() == [0.25]


async def test_explain_gives_contributions_only_to_the_requests_that_ask(
    executor: ThreadPoolExecutor,
) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=1)
    a, b, c = np.full((2, 2), 0.1), np.full((3, 2), 0.2), np.full((1, 2), 0.3)
    first, second, third = await asyncio.gather(
        batcher.predict(a, explain=True), batcher.predict(b), batcher.predict(c, explain=True)
    )
    assert model.calls == [("predict_pd", 6), ("explain", 3)]
    assert first.pd.tolist() == [0.1] * 2 and second.pd.tolist() == [0.2] * 3 and third.pd.tolist() == [0.3]
    assert second.contributions is None
    assert first.contributions is not None and np.array_equal(first.contributions, a * 2)
    assert third.contributions is not None and np.array_equal(third.contributions, c * 2)
    await batcher.close()


class ExplainsUpToFloat32(Recording):
    """Explains like XGBoost's TreeSHAP on a derived feature ``2 * column 1`` (a sum or product of inputs),
    which refuses a value beyond float32: the batcher lets in 3e38, the feature is 6e38."""

    def explain(self, rows: Matrix) -> Matrix:
        contributions = super().explain(rows)  # recorded, as the call is made
        if (np.abs(2 * rows[:, 1]) > np.finfo(np.float32).max).any():
            raise ValueError("Input data contains `inf` or a value too large")
        return contributions


async def test_an_explanation_that_raises_costs_only_its_own_request_the_reasons(
    executor: ThreadPoolExecutor,
) -> None:
    model = ExplainsUpToFloat32()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=1)
    hostile = np.array([[0.2, 3e38]])
    before = metric("creditscore_explain_failures_total", model="m")
    first, bad, plain, last = await asyncio.gather(
        batcher.predict(row(0.1), explain=True),
        batcher.predict(hostile, explain=True),
        batcher.predict(row(0.3)),
        batcher.predict(np.full((2, 2), 0.4), explain=True),
    )
    # One grouped call, its explanation raised, then each part explained alone.
    assert model.calls == [("predict_pd", 5), ("explain", 4), ("explain", 1), ("explain", 1), ("explain", 2)]
    assert [p.pd.tolist() for p in (first, bad, plain, last)] == [[0.1], [0.2], [0.3], [0.4, 0.4]]
    assert bad.contributions is None and plain.contributions is None
    assert first.contributions is not None and np.array_equal(first.contributions, row(0.1) * 2)
    assert last.contributions is not None and np.array_equal(last.contributions, np.full((2, 2), 0.8))
    after = metric("creditscore_explain_failures_total", model="m")
    assert after == before + 1
    await batcher.close()


async def _grouped_after_a_running_call(batcher: Batcher, model: Recording, *rows: Matrix) -> list[Any]:
    """Outcomes (Prediction or exception) of ``rows``' requests, queued while another call runs, so they go
    out together as the next batch."""
    model.release.clear()
    running = asyncio.create_task(batcher.predict(row(0.1)))
    await until(lambda: model.running == 1)
    grouped = [asyncio.create_task(batcher.predict(r)) for r in rows]
    await asyncio.sleep(0.01)
    model.release.set()
    assert (await running).pd.tolist() == [0.1]
    return list(await asyncio.gather(*grouped, return_exceptions=True))


async def test_a_model_error_in_a_batch_fails_only_the_request_that_caused_it(
    executor: ThreadPoolExecutor,
) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=1)
    bad, innocent, other = await _grouped_after_a_running_call(batcher, model, row(-1.0), row(0.2), row(0.4))
    assert isinstance(bad, ValueError)
    assert "a negative row" in str(bad)
    assert innocent.pd.tolist() == [0.2]
    assert other.pd.tolist() == [0.4]
    # The grouped call failed, then each request was scored alone.
    assert model.predicted() == [1, 3, 1, 1, 1]
    await batcher.close()


async def test_rows_a_model_cannot_score_are_refused_alone(executor: ThreadPoolExecutor) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=1)
    with pytest.raises(UnscorableRows) as refused:
        await batcher.predict(np.array([[0.1, 0.0], [np.inf, 0.0], [0.2, 1e39], [np.nan, 0.0]]))
    assert refused.value.rows == [1, 2, 3]
    assert model.predicted() == [], "refused before any model call"
    # A NaN or out-of-range probability comes back: its rows are refused, the requests beside it answered.
    nan_pd, innocent = await _grouped_after_a_running_call(
        batcher, model, np.array([[0.3, 0.0], [1.5, 0.0]]), row(0.2)
    )
    assert isinstance(nan_pd, UnscorableRows)
    assert nan_pd.rows == [1]
    assert innocent.pd.tolist() == [0.2]
    await batcher.close()


async def test_a_cancelled_request_does_not_break_its_batch(executor: ThreadPoolExecutor) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=1)
    model.release.clear()
    in_flight = asyncio.create_task(batcher.predict(row(0.1)))
    await until(lambda: model.running == 1)
    queued = asyncio.create_task(batcher.predict(row(0.2)))
    abandoned = asyncio.create_task(batcher.predict(row(0.3)))
    await asyncio.sleep(0.01)
    in_flight.cancel()
    abandoned.cancel()
    model.release.set()
    assert (await queued).pd.tolist() == [0.2]
    assert in_flight.cancelled() and abandoned.cancelled()
    # The abandoned request was not scored at all.
    assert model.predicted() == [1, 1]
    assert (await batcher.predict(row(0.4))).pd.tolist() == [0.4]
    await batcher.close()


async def test_a_small_call_runs_on_the_event_loop_only_when_no_other_call_runs(
    executor: ThreadPoolExecutor,
) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=2, inline_rows=2)
    assert (await batcher.predict(np.full((2, 2), 0.5))).pd.tolist() == [0.5, 0.5]
    assert (await batcher.predict(np.full((3, 2), 0.6))).pd.tolist() == [0.6] * 3
    model.release.clear()
    held = asyncio.create_task(batcher.predict(np.full((3, 2), 0.1)))
    await until(lambda: model.running == 1)
    # Run inline, this call would block the loop on the held one's release: it must go to the thread.
    beside = asyncio.create_task(batcher.predict(row(0.2)))
    await until(lambda: model.running == 2)
    model.release.set()
    assert (await held).pd.tolist() == [0.1] * 3 and (await beside).pd.tolist() == [0.2]
    loop_thread = threading.get_ident()
    assert model.threads[0] == loop_thread
    assert loop_thread not in model.threads[1:] and len(model.threads) == 4
    await batcher.close()


async def test_at_most_concurrency_batches_run_at_once() -> None:
    model = Recording()
    with ThreadPoolExecutor(4) as pool:
        batcher = Batcher(model, "m", "v", pool, max_rows=1, concurrency=2)
        model.release.clear()
        tasks = [asyncio.create_task(batcher.predict(row(n / 10))) for n in range(6)]
        await until(lambda: model.running == 2)
        await asyncio.sleep(0.02)
        model.release.set()
        results = await asyncio.gather(*tasks)
        await batcher.close()
    assert [r.pd.tolist() for r in results] == [[n / 10] for n in range(6)]
    assert model.most_running == 2 and model.predicted() == [1] * 6


async def test_a_request_larger_than_max_rows_goes_alone_and_whole(executor: ThreadPoolExecutor) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=4, concurrency=1)
    sizes = (1, 2, 10, 1, 3, 1)
    results = await asyncio.gather(*(batcher.predict(np.full((n, 2), 0.5)) for n in sizes))
    assert [len(r.pd) for r in results] == list(sizes)
    assert model.predicted() == [3, 10, 4, 1]
    await batcher.close()


async def test_rows_of_another_width_never_share_a_call(executor: ThreadPoolExecutor) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=256, concurrency=1)
    widths = (2, 2, 3, 2)
    results = await asyncio.gather(*(batcher.predict(np.full((1, n), 0.5)) for n in widths))
    assert [r.pd.tolist() for r in results] == [[0.5]] * 4
    assert model.predicted() == [2, 1, 1]
    await batcher.close()


async def test_close_finishes_queued_work_and_refuses_more(executor: ThreadPoolExecutor) -> None:
    model = Recording()
    batcher = Batcher(model, "m", "v", executor, max_rows=1, concurrency=1)
    model.release.clear()
    tasks = [asyncio.create_task(batcher.predict(row(n / 10))) for n in range(4)]
    await until(lambda: model.running == 1)
    closing = asyncio.create_task(batcher.close())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.predict(row(0.9))
    assert not closing.done()
    model.release.set()
    await closing
    assert all(task.done() for task in tasks)
    assert [task.result().pd.tolist() for task in tasks] == [[n / 10] for n in range(4)]


# --- the registry ----------------------------------------------------------------------------------------


async def test_loads_every_model_and_predicts_as_the_cli_registry_does(
    published_models: Settings, open_registry: OpenRegistry
) -> None:
    names = tuple(SMALL_PARAMS)
    registry = await open_registry(published_models, names)
    assert set(registry.problems()) == set(names)
    outcome = await registry.check()
    assert all(result.startswith("loaded ") for result in outcome.values()), outcome
    assert registry.problems() == {} and set(registry.served()) == set(names)
    assert await registry.check() == dict.fromkeys(names, "unchanged")
    cli_registry = Registry.from_settings(published_models)
    for name in names:
        manifest, model = cli_registry.load(scorer(name))
        served = registry.get(name)
        assert served is not None
        assert (served.name, served.version, served.segment) == (name, manifest.version, manifest.segment)
        assert outcome[name] == f"loaded {manifest.version}"
        assert served.features == manifest.features == scorer(name).features
        assert model_info(manifest.version, name) == 1
        rows = rows_for(name, 50)
        prediction = await served.batcher.predict(rows, explain=True)
        assert np.array_equal(prediction.pd, model.predict_pd(rows))
        assert prediction.contributions is not None
        assert np.array_equal(prediction.contributions, model.explain(rows))


async def test_problems_name_what_cannot_be_served(settings: Settings, open_registry: OpenRegistry) -> None:
    missing_version = "20300101T000000Z-deadbeef"
    Registry.from_settings(settings).s3.put_object(
        Bucket=settings.models_bucket,
        Key=pointer_key("extratrees-social"),
        Body=Pointer(missing_version, (), "2030-01-01T00:00:00Z").to_json(),
    )
    registry = await open_registry(settings, (NAME, "extratrees-social", "no-such-model"))
    failed_before = reloads("failed")
    outcome = await registry.check()
    assert outcome[NAME].startswith(
        f"failed: {NAME} has no current version (no s3://{settings.models_bucket}/{NAME}/current.json)"
    )
    assert outcome["extratrees-social"].startswith(
        f"failed: extratrees-social has no version {missing_version}"
    )
    assert outcome["no-such-model"].startswith("failed: no installed scorer named 'no-such-model'")
    assert registry.problems() == {name: result.removeprefix("failed: ") for name, result in outcome.items()}
    assert registry.served() == {} and registry.get(NAME) is None
    assert reloads("failed") == failed_before + 1


@pytest.mark.parametrize("max_rows", [256, 1])
async def test_concurrent_requests_match_one_by_one_predictions(
    published_models: Settings, open_registry: OpenRegistry, max_rows: int
) -> None:
    registry = await open_registry(published_models, max_rows=max_rows, concurrency=1)
    await registry.check()
    served = registry.get(NAME)
    assert served is not None
    rows = rows_for(NAME, 64)
    one_by_one = [served.batcher.model.predict_pd(rows[n : n + 1]) for n in range(64)]
    inference = "creditscore_model_inference_seconds_count"
    timed = metric(inference, model=NAME, version=served.version)
    calls, singles, total = batch_sizes()
    results = await asyncio.gather(*(served.batcher.predict(rows[n : n + 1]) for n in range(64)))
    assert all(np.array_equal(r.pd, expected) for r, expected in zip(results, one_by_one, strict=True))
    calls_after, singles_after, total_after = batch_sizes()
    assert total_after - total == 64
    assert metric(inference, model=NAME, version=served.version) - timed == calls_after - calls
    if max_rows == 1:
        assert calls_after - calls == singles_after - singles == 64
    else:
        # Fewer calls than requests: some were grouped.
        assert calls_after - calls < 64
        assert calls_after - calls > singles_after - singles


async def test_hot_reload_swaps_versions_under_load(
    settings: Settings, versions: list[pipeline.TrainingResult], open_registry: OpenRegistry
) -> None:
    v1, v2 = versions[0], versions[1]
    publish(settings, v1)
    registry = await open_registry(settings)
    loaded_before = reloads("loaded")
    assert await registry.check() == {NAME: f"loaded {v1.manifest.version}"}
    old = registry.get(NAME)
    await asyncio.to_thread(publish, settings, v2)
    rows = rows_for(NAME, 16)
    expected = {v.manifest.version: v.model.predict_pd(rows) for v in (v1, v2)}
    assert not np.array_equal(expected[v1.manifest.version], expected[v2.manifest.version])
    seen: dict[str, int] = {}
    stop = asyncio.Event()

    async def client(n: int) -> None:
        while not stop.is_set():
            served = registry.get(NAME)
            assert served is not None
            # Holding a model across an await, as a handler that reads DynamoDB first does.
            await asyncio.sleep(0)
            prediction = await served.batcher.predict(rows[n : n + 1])
            assert np.array_equal(prediction.pd, expected[served.version][n : n + 1])
            seen[served.version] = seen.get(served.version, 0) + 1

    clients = [asyncio.create_task(client(n)) for n in range(16)]
    await until(lambda: sum(seen.values()) >= 100)
    outcome = await registry.check()
    swapped_at = sum(seen.values())
    await until(lambda: sum(seen.values()) >= swapped_at + 100)
    stop.set()
    await asyncio.gather(*clients)

    assert outcome == {NAME: f"loaded {v2.manifest.version}"}
    served = registry.get(NAME)
    assert served is not None and served.version == v2.manifest.version
    assert seen[v1.manifest.version] > 0 and seen[v2.manifest.version] > 0
    assert reloads("loaded") == loaded_before + 2
    assert model_info(v1.manifest.version) == 0 and model_info(v2.manifest.version) == 1
    # The replaced version keeps answering for a grace period; closing the registry closes it too.
    assert old is not None
    await old.batcher.predict(rows[:1])
    await registry.close()
    for batcher in (old.batcher, served.batcher):
        with pytest.raises(RuntimeError, match="closed"):
            await batcher.predict(rows[:1])


async def test_a_replaced_version_loaded_before_the_gc_freeze_is_still_freed(
    settings: Settings,
    versions: list[pipeline.TrainingResult],
    open_registry: OpenRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker freezes what start-up made, its first models included (server/app.py): the collector never
    # looks at them again, so a replaced one is freed only if nothing of it sits in a reference cycle.
    monkeypatch.setattr(model_registry, "RETIRE_AFTER_SECONDS", 0.01)
    publish(settings, versions[0])
    registry = await open_registry(settings)
    await registry.check()
    first = registry.get(NAME)
    assert first is not None
    await first.batcher.predict(rows_for(NAME, 4))
    gc.collect()
    gc.freeze()
    try:
        kept: list[weakref.ref[Any]] = [
            weakref.ref(first),
            weakref.ref(first.batcher),
            weakref.ref(first.batcher.model),
        ]
        del first
        await asyncio.to_thread(publish, settings, versions[1])
        assert await registry.check() == {NAME: f"loaded {versions[1].manifest.version}"}
        await until(lambda: all(ref() is None for ref in kept))
    finally:
        gc.unfreeze()


async def test_a_tampered_version_is_refused_and_the_old_one_keeps_serving(
    settings: Settings, versions: list[pipeline.TrainingResult], open_registry: OpenRegistry
) -> None:
    v1, v2 = versions[0], versions[2]
    publish(settings, v1)
    registry = await open_registry(settings)
    await registry.check()
    publish(settings, v2)
    Registry.from_settings(settings).s3.put_object(
        Bucket=settings.models_bucket,
        Key=version_prefix(NAME, v2.manifest.version) + "model.ubj",
        Body=b"not the published model",
    )
    failed_before = reloads("failed")
    with structlog.testing.capture_logs() as logs:
        outcome = await registry.check()
    assert outcome[NAME].startswith(f"failed: {NAME} version {v2.manifest.version} failed verification")
    assert "model.ubj: sha256" in outcome[NAME]
    served = registry.get(NAME)
    assert served is not None and served.version == v1.manifest.version
    assert registry.problems() == {}
    assert reloads("failed") == failed_before + 1
    assert model_info(v1.manifest.version) == 1 and model_info(v2.manifest.version) == 0
    assert [(log["event"], log["log_level"], log["version"], log["serving"]) for log in logs] == [
        ("model_load_failed", "warning", v2.manifest.version, v1.manifest.version)
    ]
    rows = rows_for(NAME, 8)
    assert np.array_equal((await served.batcher.predict(rows)).pd, v1.model.predict_pd(rows))


async def test_a_version_too_large_is_refused_before_it_is_read_and_the_old_one_keeps_serving(
    settings: Settings, versions: list[pipeline.TrainingResult], open_registry: OpenRegistry
) -> None:
    v1, v2 = versions[0], versions[1]
    publish(settings, v1)
    registry = await open_registry(settings, max_bytes=4 << 20)
    await registry.check()
    publish(settings, v2)
    padding = version_prefix(NAME, v2.manifest.version) + "padding.bin"
    Registry.from_settings(settings).s3.put_object(
        Bucket=settings.models_bucket, Key=padding, Body=b"\0" * (5 << 20)
    )

    outcome = await registry.check()

    assert outcome[NAME].startswith(f"failed: {NAME} {v2.manifest.version} holds 5,")
    assert "CREDITSCORE_MODEL_MAX_BYTES (4,194,304)" in outcome[NAME]
    served = registry.get(NAME)
    assert served is not None and served.version == v1.manifest.version


async def test_watch_loads_new_versions_by_itself_and_survives_errors(
    settings: Settings,
    versions: list[pipeline.TrainingResult],
    open_registry: OpenRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v1, v2 = versions[0], versions[1]
    publish(settings, v1)
    registry = await open_registry(settings)
    check = registry.check
    checks = 0

    async def crashing_once() -> dict[str, str]:
        nonlocal checks
        checks += 1
        if checks == 1:
            raise RuntimeError("the first check crashes")
        return await check()

    monkeypatch.setattr(registry, "check", crashing_once)
    watcher = asyncio.create_task(registry.watch(0.05))
    try:
        await until(lambda: registry.get(NAME) is not None)
        await asyncio.to_thread(publish, settings, v2)
        await until(lambda: getattr(registry.get(NAME), "version", None) == v2.manifest.version)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert checks >= 3
