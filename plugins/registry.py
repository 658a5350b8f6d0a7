"""The model registry in the models bucket: publish versions, move the current-version pointer, load.
The one reader and writer of the bucket: training and the command line call it, and the service calls it
from a thread (:mod:`server.model_registry`).

Layout (formats in :mod:`plugins.artifacts`)::

    s3://{models}/{model}/{version}/{file}          the scorer's files and calibration.json
    s3://{models}/{model}/{version}/report/{file}   the training run's report.json and charts (optional)
    s3://{models}/{model}/{version}/manifest.json   written after every file
    s3://{models}/{model}/current.json              {"version", "previous", "updated_at"}, moved last
    s3://{models}/{model}/challenger.json           an optional challenger (plugins.challengers)
    s3://{models}/{model}/decisions/{time}.json     each promotion of a challenger, written once

A reader that follows the pointer therefore always finds a complete version. A version is immutable: the
manifest is written with ``If-None-Match: *`` and a version whose manifest exists is never re-uploaded.
The pointer moves by compare-and-swap (``If-Match`` on the ETag read), so two concurrent promotions cannot
silently overwrite each other; the loser gets an error and can run again.

Publishing applies the quality gate: the pointer stays where it is when the new version's test AUC is below
``CREDITSCORE_GATE_MIN_AUC`` or more than ``CREDITSCORE_GATE_MAX_AUC_DROP`` below the current version's.
The version stays published either way, so it can be inspected and promoted by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain.challenger import MODES, Mode
from creditscore.errors import JobError
from creditscore.plugin import Model, Scorer
from plugins.artifacts import (
    MANIFEST_FILE,
    MODEL_NAME_RE,
    VERSION_RE,
    ArtifactError,
    Manifest,
    Pointer,
    load_verified,
    pointer_key,
    verify,
    version_prefix,
)
from plugins.challengers import DECISIONS_FOLDER, Challenger, Decision, challenger_key, decision_key

REPORT_FOLDER: Final = "report"
#: A split challenger's share of customers when none is given: small, as a first exposure should be.
DEFAULT_SPLIT_SHARE: Final = 0.1
_PRECONDITION_CODES: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


class RegistryError(JobError):
    """The registry refused an operation or holds something unusable; the message says which and why."""


@dataclass(frozen=True)
class Gate:
    min_auc: float
    max_auc_drop: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Gate:
        return cls(settings.gate_min_auc, settings.gate_max_auc_drop)

    def refusal(self, auc: float, current_auc: float | None) -> str | None:
        """Why a model with test ``auc`` may not replace one with ``current_auc``; None when it may."""
        if auc < self.min_auc:
            return f"test AUC {auc:.4f} is below the minimum {self.min_auc:.4f} (CREDITSCORE_GATE_MIN_AUC)"
        if current_auc is not None and auc < current_auc - self.max_auc_drop:
            return (
                f"test AUC {auc:.4f} is more than {self.max_auc_drop:.4f} below the current version's "
                f"{current_auc:.4f} (CREDITSCORE_GATE_MAX_AUC_DROP)"
            )
        return None


@dataclass(frozen=True)
class Published:
    model: str
    version: str
    promoted: bool
    #: Why the pointer moved or stayed.
    reason: str
    #: The version the pointer names after publishing (None: the model still has none).
    current: str | None
    #: Published as the model's shadow challenger rather than made current.
    challenger: bool = False


@dataclass(frozen=True)
class VersionInfo:
    version: str
    current: bool
    #: None when the folder has no readable manifest (an interrupted publish).
    manifest: Manifest | None


def auc_of(manifest: Manifest) -> float:
    """The version's test AUC, as its manifest records it."""
    try:
        return float(manifest.metrics["test"]["auc"])
    except (KeyError, TypeError, ValueError):
        raise RegistryError(f"{manifest.model} version {manifest.version} records no test AUC") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Registry:
    """The models bucket, through a boto3 S3 client (thread-safe; one per process is enough)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(aws.client("s3", settings), settings.models_bucket)

    # --- reading ---------------------------------------------------------------------------------------

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """An object's bytes and ETag, or None when there is no such key."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if aws.error_code(error) in ("NoSuchKey", "404"):
                return None
            raise RegistryError(f"cannot read s3://{self.bucket}/{key}: {error}") from None
        except BotoCoreError as error:
            raise RegistryError(f"cannot read s3://{self.bucket}/{key}: {error}") from None
        return response["Body"].read(), str(response["ETag"])

    def _sizes(self, prefix: str) -> dict[str, int]:
        """Every key under ``prefix`` with its size in bytes."""
        return {
            str(item["Key"]): int(item["Size"])
            for page in self._pages(prefix)
            for item in page.get("Contents", [])
        }

    def _version_sizes(self, prefix: str) -> dict[str, int]:
        """The version folder's keys but its ``report/`` folder: what a reviewer reads is never loaded."""
        report = f"{prefix}{REPORT_FOLDER}/"
        return {key: size for key, size in self._sizes(prefix).items() if not key.startswith(report)}

    def _pages(self, prefix: str, **listing: str) -> list[dict[str, Any]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            return list(paginator.paginate(Bucket=self.bucket, Prefix=prefix, **listing))
        except (ClientError, BotoCoreError) as error:
            raise RegistryError(f"cannot list s3://{self.bucket}/{prefix}: {error}") from None

    def _folders(self, prefix: str) -> list[str]:
        return [
            str(common["Prefix"])[len(prefix) :].rstrip("/")
            for page in self._pages(prefix, Delimiter="/")
            for common in page.get("CommonPrefixes", [])
        ]

    def models(self) -> list[str]:
        return sorted(name for name in self._folders("") if MODEL_NAME_RE.match(name))

    def versions(self, model: str) -> list[str]:
        """The model's version folders, oldest first."""
        return sorted(name for name in self._folders(f"{model}/") if VERSION_RE.match(name))

    def _pointer(self, model: str) -> tuple[Pointer | None, str | None]:
        found = self._get(pointer_key(model))
        if found is None:
            return None, None
        data, etag = found
        return Pointer.from_json(data, f"s3://{self.bucket}/{pointer_key(model)}"), etag

    def pointer(self, model: str) -> Pointer | None:
        return self._pointer(model)[0]

    def manifest(self, model: str, version: str) -> Manifest:
        key = version_prefix(model, version) + MANIFEST_FILE
        found = self._get(key)
        if found is None:
            raise RegistryError(f"{model} has no version {version} (no s3://{self.bucket}/{key})")
        manifest = Manifest.from_json(found[0], f"s3://{self.bucket}/{key}")
        if (manifest.model, manifest.version) != (model, version):
            raise ArtifactError(f"s3://{self.bucket}/{key} describes {manifest.model} {manifest.version}")
        return manifest

    def files(self, manifest: Manifest) -> dict[str, bytes]:
        """Every object in the version's folder but the manifest and the report, by name (extra ones
        included, so that verification reports them)."""
        prefix = version_prefix(manifest.model, manifest.version)
        return self._read_all(prefix, self._version_sizes(prefix))

    def _read_all(self, prefix: str, keys: Iterable[str]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for key in keys:
            name = key[len(prefix) :]
            if name != MANIFEST_FILE and (found := self._get(key)) is not None:
                files[name] = found[0]
        return files

    def fetch(
        self, model: str, version: str, max_bytes: int, limit: str = "the size limit"
    ) -> tuple[Manifest, dict[str, bytes]]:
        """The version's manifest and files, not yet verified (:func:`load_verified` does that), refused
        before a byte is read when the folder holds more than ``max_bytes`` (named ``limit`` in the error)."""
        prefix = version_prefix(model, version)
        sizes = self._version_sizes(prefix)
        if (total := sum(sizes.values())) > max_bytes:
            raise ArtifactError(f"{model} {version} holds {total:,} bytes, above {limit} ({max_bytes:,})")
        manifest = self.manifest(model, version)
        return manifest, self._read_all(prefix, sizes)

    def verified_files(self, model: str, version: str) -> tuple[Manifest, dict[str, bytes]]:
        manifest = self.manifest(model, version)
        files = self.files(manifest)
        verify(manifest, files)
        return manifest, files

    def current_version(self, model: str) -> str:
        pointer = self.pointer(model)
        if pointer is None:
            where = f"s3://{self.bucket}/{pointer_key(model)}"
            raise RegistryError(
                f"{model} has no current version (no {where}): publish one, or promote one with a command"
            )
        return pointer.version

    def load(self, scorer: Scorer, version: str | None = None) -> tuple[Manifest, Model]:
        """The scorer's current version (or ``version``), every file verified against the manifest."""
        version = version or self.current_version(scorer.name)
        manifest = self.manifest(scorer.name, version)
        return manifest, load_verified(scorer, manifest, self.files(manifest))

    def listing(self, model: str) -> list[VersionInfo]:
        pointer = self.pointer(model)
        result = []
        for version in self.versions(model):
            try:
                manifest: Manifest | None = self.manifest(model, version)
            except JobError:
                manifest = None
            result.append(VersionInfo(version, pointer is not None and pointer.version == version, manifest))
        return result

    # --- writing ---------------------------------------------------------------------------------------

    def _put(self, key: str, data: bytes, **conditions: str) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **conditions)
        except ClientError as error:
            if aws.error_code(error) in _PRECONDITION_CODES:
                raise RegistryError(
                    f"s3://{self.bucket}/{key} was changed by someone else meanwhile; nothing was "
                    "overwritten, run the command again"
                ) from None
            raise RegistryError(f"cannot write s3://{self.bucket}/{key}: {error}") from None
        except BotoCoreError as error:
            raise RegistryError(f"cannot write s3://{self.bucket}/{key}: {error}") from None

    def _move_pointer(self, model: str, version: str, expected: tuple[Pointer | None, str | None]) -> Pointer:
        current, etag = expected
        history = (current.version, *current.previous) if current else ()
        pointer = Pointer(version, history, _now())
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        self._put(pointer_key(model), pointer.to_json(), **condition)
        return pointer

    def publish(
        self,
        manifest: Manifest,
        files: Mapping[str, bytes],
        gate: Gate,
        report: Mapping[str, bytes] | None = None,
        challenge: bool = False,
    ) -> Published:
        """Upload every file and the run's ``report`` files (``report.json``, the charts), then the manifest;
        then move the pointer if the gate lets the version in. The report is not part of the version's
        verified files: it is what a reviewer reads beside them.

        With ``challenge``, a version the gate lets in becomes the model's shadow challenger instead, the
        pointer staying where it is, so that it is tried on live traffic before it decides anything (a
        model with no current version yet has nothing to challenge: the version becomes current)."""
        if not MODEL_NAME_RE.match(manifest.model):
            raise RegistryError(f"{manifest.model!r} is not a valid model name")
        verify(manifest, files)
        model, version = manifest.model, manifest.version
        prefix = version_prefix(model, version)
        if self._get(prefix + MANIFEST_FILE) is not None:
            raise RegistryError(f"{model} version {version} is already published; versions are immutable")
        for name, data in sorted(files.items()):
            self._put(prefix + name, data)
        for name, data in sorted((report or {}).items()):
            self._put(f"{prefix}{REPORT_FOLDER}/{name}", data)
        self._put(prefix + MANIFEST_FILE, manifest.to_json(), IfNoneMatch="*")

        expected = self._pointer(model)
        current = expected[0]
        current_auc = auc_of(self.manifest(model, current.version)) if current else None
        refusal = gate.refusal(auc_of(manifest), current_auc)
        if refusal is not None:
            return Published(model, version, False, refusal, current.version if current else None)
        if challenge and current is not None:
            # The files were verified above, before upload: naming the version needs no second read.
            replaced = self._name_challenger(model, version, "shadow", 1.0)[1]
            reason = (
                f"test AUC {auc_of(manifest):.4f} passes the gate (the current version {current.version} had "
                f"{current_auc:.4f}); it is now {model}'s challenger in shadow mode"
            )
            if replaced is not None:
                reason += f", replacing {replaced.version} ({replaced.mode}, share {replaced.share:g})"
            return Published(model, version, False, reason, current.version, challenger=True)
        self._move_pointer(model, version, expected)
        reason = f"test AUC {auc_of(manifest):.4f} passes the gate"
        if current is not None and current_auc is not None:
            reason += f" (the previous version {current.version} had {current_auc:.4f})"
        return Published(model, version, True, reason, version)

    def promote(self, model: str, version: str) -> Pointer:
        """Point ``model`` at ``version`` (its files verified first); the current one goes on the history."""
        self.verified_files(model, version)
        expected = self._pointer(model)
        if expected[0] is not None and expected[0].version == version:
            return expected[0]
        return self._move_pointer(model, version, expected)

    def rollback(self, model: str) -> Pointer:
        """Point ``model`` back at the version served before the current one."""
        current, etag = self._pointer(model)
        if current is None or not current.previous:
            raise RegistryError(f"{model} has no previous version to roll back to")
        target, *older = current.previous
        self.verified_files(model, target)
        pointer = Pointer(target, tuple(older), _now())
        self._put(pointer_key(model), pointer.to_json(), IfMatch=str(etag))
        return pointer

    # --- the challenger (plugins.challengers) ----------------------------------------------------------

    def _challenger(self, model: str) -> tuple[Challenger | None, str | None]:
        found = self._get(challenger_key(model))
        if found is None:
            return None, None
        data, etag = found
        return Challenger.from_json(data, f"s3://{self.bucket}/{challenger_key(model)}"), etag

    def challenger(self, model: str) -> Challenger | None:
        """The model's challenger; None when it has none (never set, or cleared)."""
        record = self._challenger(model)[0]
        return record if record is not None and record.version is not None else None

    def _write_challenger(self, model: str, record: Challenger, etag: str | None) -> None:
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        self._put(challenger_key(model), record.to_json(), **condition)

    def set_challenger(
        self, model: str, version: str, mode: str = "shadow", share: float | None = None
    ) -> Challenger:
        """Name ``version`` (its files verified first) ``model``'s challenger, replacing any other one.

        Shadow mode takes no share (every request is scored by both); split takes a share in (0, 1],
        :data:`DEFAULT_SPLIT_SHARE` when not given."""
        if mode not in MODES:
            raise RegistryError(f"a challenger's mode is one of {', '.join(MODES)}; got {mode!r}")
        if mode == "shadow" and share is not None:
            raise RegistryError("a share applies to split mode only: in shadow mode every request is scored")
        chosen = 1.0 if mode == "shadow" else (DEFAULT_SPLIT_SHARE if share is None else share)
        if not 0 < chosen <= 1:
            raise RegistryError(f"a split's share must be above 0 and at most 1; got {chosen}")
        if self.current_version(model) == version:
            raise RegistryError(f"{model} {version} is the current version: it cannot challenge itself")
        self.verified_files(model, version)
        return self._name_challenger(model, version, mode, chosen)[0]

    def _name_challenger(
        self, model: str, version: str, mode: str, share: float
    ) -> tuple[Challenger, Challenger | None]:
        """Write ``version`` as the challenger, conditional on the record read: the record written, and the
        challenger it replaced (None when there was none)."""
        previous, etag = self._challenger(model)
        record = Challenger(version, cast(Mode, mode), share, _now())
        self._write_challenger(model, record, etag)
        return record, previous if previous is not None and previous.version is not None else None

    def clear_challenger(self, model: str) -> Challenger | None:
        """Stop challenging (the service unloads the challenger); the cleared one, None if there was none."""
        record, etag = self._challenger(model)
        if record is None or record.version is None:
            return None
        self._write_challenger(model, Challenger(None, record.mode, record.share, _now()), etag)
        return record

    def promote_challenger(self, model: str, by: str, figures: Mapping[str, Any] | None = None) -> Decision:
        """Make the challenger current (through the pointer's compare-and-swap, so the replaced version is
        on its history for a rollback), clear it, and record the decision with ``figures``.

        Run again after a failure part-way, it finishes the job: a challenger that is current already is
        only cleared and recorded."""
        record, etag = self._challenger(model)
        if record is None or record.version is None:
            raise RegistryError(f"{model} has no challenger to promote")
        self.verified_files(model, record.version)
        expected = self._pointer(model)
        current = expected[0]
        replaced = current.version if current else None
        if replaced == record.version:
            replaced = current.previous[0] if current and current.previous else None
        else:
            self._move_pointer(model, record.version, expected)
        self._write_challenger(model, Challenger(None, record.mode, record.share, _now()), etag)
        decision = Decision(model, record.version, replaced, record.mode, by, _now(), dict(figures or {}))
        self._put(decision_key(model, decision.at, record.version), decision.to_json(), IfNoneMatch="*")
        return decision

    def decisions(self, model: str) -> list[dict[str, Any]]:
        """Every recorded promotion of ``model``'s challengers, oldest first."""
        prefix = f"{model}/{DECISIONS_FOLDER}/"
        documents = []
        for key in sorted(self._sizes(prefix)):
            if (found := self._get(key)) is not None:
                documents.append(json.loads(found[0]))
        return documents
