"""The models the service scores with: loaded from the models bucket, verified, and hot-swapped.

The bucket is read through :class:`plugins.registry.Registry`, the same code training and the command line
use, in a thread: ``{model}/current.json`` names the version to serve and ``{model}/{version}/`` holds its
files and ``manifest.json``. :meth:`ModelRegistry.check` follows every
configured model's pointer and, when it names a version other than the one served, loads that version
(every file's sha256 verified, nothing in the bucket executed) and swaps it in. A version that fails to load
never replaces a working one.

It follows each model's ``{model}/challenger.json`` too (:mod:`plugins.challengers`): the challenger version
is loaded the same way, with a batcher of its own, and dropped when cleared or promoted. Whatever happens to
a challenger never touches its champion or readiness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Final

import structlog

from creditscore.domain.challenger import Mode
from creditscore.errors import JobError
from creditscore.plugin import Model, Scorer
from plugins.artifacts import (
    ArtifactError,
    Manifest,
    load_verified,
)
from plugins.registry import Registry
from server.batching import Batcher, BatchObserver
from server.metrics import CHALLENGER_INFO, MODEL_INFO, MODEL_RELOADS

log = structlog.get_logger(__name__)

# A handler may take a model, await something else (a DynamoDB read), and only then predict: the batcher
# of a replaced version keeps accepting requests this long before it is closed.
RETIRE_AFTER_SECONDS: Final = 10.0


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and the batcher that scores with it.

    Take it from :meth:`ModelRegistry.get` for each request; a replaced version is closed
    :data:`RETIRE_AFTER_SECONDS` after the swap.
    """

    manifest: Manifest
    batcher: Batcher

    @property
    def name(self) -> str:
        return self.manifest.model

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def segment(self) -> str:
        return self.manifest.segment

    @property
    def features(self) -> tuple[str, ...]:
        """What a row to score holds, by name: the model's inputs (its features, unless its manifest
        records inputs they are made from)."""
        return self.manifest.inputs


@dataclass(frozen=True)
class ServedChallenger:
    """A model's challenger version in service (``{model}/challenger.json``), with its own batcher."""

    served: ServedModel
    mode: Mode
    #: The split's share of customers; 1.0 in shadow mode.
    share: float

    @property
    def version(self) -> str:
        return self.served.version


def _reason(error: Exception) -> str:
    # The project's errors are written to be read; anything else (a plugin's) needs its type to make sense.
    return str(error) if isinstance(error, JobError) else f"{type(error).__name__}: {error}"


class ModelRegistry:
    """The configured models in memory, each served by its own :class:`Batcher`."""

    def __init__(
        self,
        store: Registry,
        names: Sequence[str],
        scorers: Mapping[str, Scorer],
        executor: Executor,
        max_rows: int,
        concurrency: int,
        max_bytes: int,
        inline_rows: int = 0,
        observers: Callable[[Manifest], BatchObserver | None] | None = None,
    ) -> None:
        self._store = store
        # Gives each served version's batcher what it reports its batches to (server.stability), if any.
        self._observers = observers
        self._names = tuple(names)
        self._scorers = scorers
        self._executor = executor
        self._max_rows = max_rows
        self._concurrency = concurrency
        self._max_bytes = max_bytes
        self._inline_rows = inline_rows
        self._served: dict[str, ServedModel] = {}
        self._challengers: dict[str, ServedChallenger] = {}
        self._problems: dict[str, str] = dict.fromkeys(self._names, "not loaded yet")
        # The watcher and an admin reload may overlap; two loads of one version would waste a swap.
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    def get(self, name: str) -> ServedModel | None:
        return self._served.get(name)

    def reason_wording(self, name: str) -> Mapping[str, str]:
        """The installed scorer's own wording of reasons (:attr:`Scorer.reason_wording`), by feature."""
        scorer = self._scorers.get(name)
        return scorer.reason_wording if scorer is not None else {}

    def served(self) -> dict[str, ServedModel]:
        return dict(self._served)

    def challenger(self, name: str) -> ServedChallenger | None:
        return self._challengers.get(name)

    def challengers(self) -> dict[str, ServedChallenger]:
        return dict(self._challengers)

    def problems(self) -> dict[str, str]:
        """Configured model → why nothing is served for it; empty when every one is served."""
        return dict(self._problems)

    async def check(self) -> dict[str, str]:
        """Load each configured model's current version unless it is served already.

        Returns model → ``unchanged``, ``loaded <version>`` or ``failed: <reason>``, and
        ``{model} challenger`` → the same or ``cleared`` for each model that has or had a challenger.
        """
        async with self._lock:
            outcomes = await asyncio.gather(*(self._check(name) for name in self._names))
            # After the champions: a challenger that has just been promoted is the champion, not a challenger.
            challenged = await asyncio.gather(*(self._check_challenger(name) for name in self._names))
        results = dict(zip(self._names, outcomes, strict=True))
        for name, outcome in zip(self._names, challenged, strict=True):
            if outcome is not None:
                results[f"{name} challenger"] = outcome
        return results

    async def watch(self, interval: float) -> None:
        """Check every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:
                log.exception("model_check_crashed")

    async def close(self) -> None:
        """Finish the queued requests of every batcher, replaced ones included, and close them."""
        for task in self._retiring:
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await asyncio.gather(*(served.batcher.close() for served in self._served.values()))
        for served in self._served.values():
            MODEL_INFO.labels(model=served.name, version=served.version).set(0)
        await asyncio.gather(*(c.served.batcher.close() for c in self._challengers.values()))
        for name, challenger in self._challengers.items():
            CHALLENGER_INFO.labels(model=name, version=challenger.version, mode=challenger.mode).set(0)

    async def _check(self, name: str) -> str:
        scorer = self._scorers.get(name)
        if scorer is None:
            installed = ", ".join(sorted(self._scorers)) or "none"
            return self._failed(name, None, f"no installed scorer named {name!r}; installed: {installed}")
        version = None
        try:
            version = await asyncio.to_thread(self._store.current_version, name)
            served = self._served.get(name)
            if served is not None and served.version == version:
                return "unchanged"
            started = time.perf_counter()
            manifest, model = await self._load(scorer, version)
        # A broken plugin or artifact must never take the service down, whatever it raises.
        except Exception as error:
            return self._failed(name, version, _reason(error))
        self._serve(manifest, model, time.perf_counter() - started)
        return f"loaded {version}"

    async def _load(self, scorer: Scorer, version: str) -> tuple[Manifest, Model]:
        """``scorer``'s ``version`` from the bucket, every file verified: a champion's or a challenger's."""
        # Refused before a byte is read when too large: a version that would not fit keeps the old one.
        manifest, files = await asyncio.to_thread(
            self._store.fetch, scorer.name, version, self._max_bytes, "CREDITSCORE_MODEL_MAX_BYTES"
        )
        if manifest.segment != scorer.segment:
            raise ArtifactError(
                f"the manifest's segment {manifest.segment!r} is not the scorer's {scorer.segment!r}"
            )
        # Verifying hashes and rebuilding a model is CPU work: off the event loop.
        model = await asyncio.get_running_loop().run_in_executor(
            self._executor, load_verified, scorer, manifest, files
        )
        return manifest, model

    async def _check_challenger(self, name: str) -> str | None:
        """Follow ``{name}/challenger.json``: load, swap or drop the challenger. Whatever happens here never
        touches the champion or readiness. None when the model has no challenger and had none."""
        scorer = self._scorers.get(name)
        served = self._challengers.get(name)
        if scorer is None:
            return None
        version = None
        try:
            record = await asyncio.to_thread(self._store.challenger, name)
            champion = self._served.get(name)
            if record is None or record.version is None or (champion and record.version == champion.version):
                if served is None:
                    return None
                self._drop_challenger(name)
                return "cleared"
            version = record.version
            if served is not None and served.version == version:
                if (served.mode, served.share) != (record.mode, record.share):
                    self._challenge(ServedChallenger(served.served, record.mode, record.share), served)
                return "unchanged"
            manifest, model = await self._load(scorer, version)
        except Exception as error:
            log.warning("challenger_load_failed", model=name, version=version, reason=_reason(error))
            return f"failed: {_reason(error)}"
        # Inline like the champion's: a small shadow call then runs in the same turn of the loop, so its
        # scores are there when the score record is built (in the inference thread they would nearly always
        # be late, and the history, which `models compare` reads, would hold none); it costs the call's CPU.
        batcher = self._batcher(manifest, model)
        self._challenge(ServedChallenger(ServedModel(manifest, batcher), record.mode, record.share), served)
        log.info("challenger_loaded", model=name, version=version, mode=record.mode, share=record.share)
        return f"loaded {version}"

    def _challenge(self, challenger: ServedChallenger, replaced: ServedChallenger | None) -> None:
        name = challenger.served.name
        self._challengers[name] = challenger
        if replaced is not None:
            CHALLENGER_INFO.labels(model=name, version=replaced.version, mode=replaced.mode).set(0)
            if replaced.served is not challenger.served:
                self._retire(replaced.served.batcher)
        CHALLENGER_INFO.labels(model=name, version=challenger.version, mode=challenger.mode).set(
            challenger.share
        )

    def _drop_challenger(self, name: str) -> None:
        dropped = self._challengers.pop(name)
        CHALLENGER_INFO.labels(model=name, version=dropped.version, mode=dropped.mode).set(0)
        # Shadow rows may still be queued on it: retired like a replaced champion, not closed under them.
        self._retire(dropped.served.batcher)
        log.info("challenger_dropped", model=name, version=dropped.version)

    def _batcher(self, manifest: Manifest, model: Model) -> Batcher:
        """The version's batcher, reporting its batches to the stability monitor when there is one."""
        return Batcher(
            model,
            manifest.model,
            manifest.version,
            self._executor,
            self._max_rows,
            self._concurrency,
            self._inline_rows,
            observe=self._observers(manifest) if self._observers else None,
        )

    def _serve(self, manifest: Manifest, model: Model, seconds: float) -> None:
        name, version = manifest.model, manifest.version
        batcher = self._batcher(manifest, model)
        replaced = self._served.get(name)
        self._served[name] = ServedModel(manifest, batcher)
        self._problems.pop(name, None)
        MODEL_INFO.labels(model=name, version=version).set(1)
        MODEL_RELOADS.labels(model=name, result="loaded").inc()
        if replaced is not None:
            MODEL_INFO.labels(model=name, version=replaced.version).set(0)
            self._retire(replaced.batcher)
        log.info(
            "model_loaded",
            model=name,
            version=version,
            seconds=round(seconds, 3),
            replaced=replaced.version if replaced else None,
        )

    def _failed(self, name: str, version: str | None, reason: str) -> str:
        MODEL_RELOADS.labels(model=name, result="failed").inc()
        serving = self._served.get(name)
        if serving is None:
            self._problems[name] = reason
            log.error("model_load_failed", model=name, version=version, reason=reason)
        else:
            log.warning(
                "model_load_failed", model=name, version=version, reason=reason, serving=serving.version
            )
        return f"failed: {reason}"

    def _retire(self, batcher: Batcher) -> None:
        async def retire() -> None:
            try:
                await asyncio.sleep(RETIRE_AFTER_SECONDS)
            finally:
                await batcher.close()

        task = asyncio.create_task(retire(), name=f"retire {batcher.name} {batcher.version}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
