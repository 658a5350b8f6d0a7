"""The models the service scores with: loaded from the models bucket, verified, and hot-swapped.

The bucket layout is :mod:`training.registry`'s: ``{model}/current.json`` names the version to serve and
``{model}/{version}/`` holds its files and ``manifest.json``. :meth:`ModelRegistry.check` follows every
configured model's pointer and, when it names a version other than the one served, loads that version
(every file's sha256 verified, nothing in the bucket executed) and swaps it in. A version that fails to load
never replaces a working one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from creditscore import aws
from creditscore.errors import JobError
from plugins.artifacts import (
    MANIFEST_FILE,
    ArtifactError,
    Manifest,
    Pointer,
    load_verified,
    pointer_key,
    version_prefix,
)
from plugins.contract import Model, Scorer
from server.batching import Batcher
from server.metrics import MODEL_INFO, MODEL_RELOADS

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
        return self.manifest.features


def _reason(error: Exception) -> str:
    # The project's errors are written to be read; anything else (a plugin's) needs its type to make sense.
    return str(error) if isinstance(error, JobError) else f"{type(error).__name__}: {error}"


class ModelRegistry:
    """The configured models in memory, each served by its own :class:`Batcher`."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        names: Sequence[str],
        scorers: Mapping[str, Scorer],
        executor: Executor,
        max_rows: int,
        concurrency: int,
        max_bytes: int,
        inline_rows: int = 0,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._names = tuple(names)
        self._scorers = scorers
        self._executor = executor
        self._max_rows = max_rows
        self._concurrency = concurrency
        self._max_bytes = max_bytes
        self._inline_rows = inline_rows
        self._served: dict[str, ServedModel] = {}
        self._problems: dict[str, str] = dict.fromkeys(self._names, "not loaded yet")
        # The watcher and an admin reload may overlap; two loads of one version would waste a swap.
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    def get(self, name: str) -> ServedModel | None:
        return self._served.get(name)

    def served(self) -> dict[str, ServedModel]:
        return dict(self._served)

    def problems(self) -> dict[str, str]:
        """Configured model → why nothing is served for it; empty when every one is served."""
        return dict(self._problems)

    async def check(self) -> dict[str, str]:
        """Load each configured model's current version unless it is served already.

        Returns model → ``unchanged``, ``loaded <version>`` or ``failed: <reason>``.
        """
        async with self._lock:
            outcomes = await asyncio.gather(*(self._check(name) for name in self._names))
        return dict(zip(self._names, outcomes, strict=True))

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

    async def _check(self, name: str) -> str:
        scorer = self._scorers.get(name)
        if scorer is None:
            installed = ", ".join(sorted(self._scorers)) or "none"
            return self._failed(name, None, f"no installed scorer named {name!r}; installed: {installed}")
        version = None
        try:
            version = await self._current_version(name)
            served = self._served.get(name)
            if served is not None and served.version == version:
                return "unchanged"
            started = time.perf_counter()
            manifest, files = await self._fetch(name, version)
            if manifest.segment != scorer.segment:
                raise ArtifactError(
                    f"the manifest's segment {manifest.segment!r} is not the scorer's {scorer.segment!r}"
                )
            # Verifying hashes and rebuilding a model is CPU work: off the event loop.
            model = await asyncio.get_running_loop().run_in_executor(
                self._executor, load_verified, scorer, manifest, files
            )
        # A broken plugin or artifact must never take the service down, whatever it raises.
        except Exception as error:
            return self._failed(name, version, _reason(error))
        self._serve(manifest, model, time.perf_counter() - started)
        return f"loaded {version}"

    def _serve(self, manifest: Manifest, model: Model, seconds: float) -> None:
        name, version = manifest.model, manifest.version
        batcher = Batcher(
            model, name, version, self._executor, self._max_rows, self._concurrency, self._inline_rows
        )
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

    # --- the bucket ------------------------------------------------------------------------------------

    def _where(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    async def _read(self, key: str) -> bytes | None:
        """An object's bytes, or None when there is no such key."""
        try:
            response = await self._s3.get_object(Bucket=self._bucket, Key=key)
            body = response["Body"]
            async with body:
                data: bytes = await body.read()
        except ClientError as error:
            if aws.error_code(error) in ("NoSuchKey", "404"):
                return None
            raise ArtifactError(f"cannot read {self._where(key)}: {error}") from None
        except BotoCoreError as error:
            raise ArtifactError(f"cannot read {self._where(key)}: {error}") from None
        return data

    async def _keys(self, prefix: str) -> dict[str, int]:
        """Every key under ``prefix`` with its size in bytes."""
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            return {
                str(item["Key"]): int(item["Size"])
                async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix)
                for item in page.get("Contents", [])
            }
        except (ClientError, BotoCoreError) as error:
            raise ArtifactError(f"cannot list {self._where(prefix)}: {error}") from None

    async def _current_version(self, name: str) -> str:
        key = pointer_key(name)
        data = await self._read(key)
        if data is None:
            raise ArtifactError(f"{name} has no current version (no {self._where(key)})")
        return Pointer.from_json(data, self._where(key)).version

    async def _fetch(self, name: str, version: str) -> tuple[Manifest, dict[str, bytes]]:
        """The version's manifest and every other object of its folder by name (extra ones included, so
        that verification reports them)."""
        prefix = version_prefix(name, version)
        sizes = await self._keys(prefix)
        # Refused before a byte is read: a version that would not fit keeps the old one serving.
        if (total := sum(sizes.values())) > self._max_bytes:
            limit = f"CREDITSCORE_MODEL_MAX_BYTES ({self._max_bytes:,})"
            raise ArtifactError(f"{name} {version} holds {total:,} bytes, above {limit}")
        keys = list(sizes)
        contents = await asyncio.gather(*(self._read(key) for key in keys))
        found = {
            key[len(prefix) :]: data for key, data in zip(keys, contents, strict=True) if data is not None
        }
        manifest_data = found.pop(MANIFEST_FILE, None)
        where = self._where(prefix + MANIFEST_FILE)
        if manifest_data is None:
            raise ArtifactError(f"{name} has no version {version} (no {where})")
        manifest = Manifest.from_json(manifest_data, where)
        if (manifest.model, manifest.version) != (name, version):
            raise ArtifactError(f"{where} describes {manifest.model} {manifest.version}")
        return manifest, found
