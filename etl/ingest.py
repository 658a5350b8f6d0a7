"""Ingest: upload a directory of raw source files to ``s3://{raw}/{source}/ingest_date=YYYY-MM-DD/{file}``.

Every file is checked before anything is sent (known name, expected header) and after it lands (size, and
the server's SHA-256 — whole-object or multipart composite — against one computed here). Re-running with the
same files changes nothing; a file that fails a check is refused and nothing is left in the bucket for it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from creditscore import aws
from creditscore.errors import JobError
from etl.sources import METADATA_PREFIX, SOURCES_BY_FILE, Source

MULTIPART_CHUNK_BYTES: Final = 64 * 1024 * 1024
_READ_BYTES: Final = 1024 * 1024


class IngestError(JobError):
    """A file was refused; the message names the file and what was wrong."""


@dataclass(frozen=True)
class LocalFile:
    path: Path
    source: Source
    size: int
    sha256: str
    part_bytes: int
    # What S3 reports as ChecksumSHA256 for this file uploaded in parts of part_bytes.
    s3_checksum: str


@dataclass(frozen=True)
class Landed:
    file: str
    key: str
    size: int
    sha256: str
    status: str  # "uploaded", "replaced" or "unchanged"


def raw_key(source: Source, ingest_date: date) -> str:
    return f"{source.name}/ingest_date={ingest_date.isoformat()}/{source.file_name}"


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(_READ_BYTES):
            yield block


def describe(path: Path, source: Source, part_bytes: int = MULTIPART_CHUNK_BYTES) -> LocalFile:
    """Size, SHA-256 and the S3 checksum of ``path`` as uploaded in ``part_bytes`` parts, read once."""
    if part_bytes % _READ_BYTES:
        raise ValueError(f"part_bytes must be a multiple of {_READ_BYTES}")
    whole = hashlib.sha256()
    part = hashlib.sha256()
    part_digests: list[bytes] = []
    in_part = size = 0
    for block in _chunks(path):
        whole.update(block)
        size += len(block)
        # _READ_BYTES divides part_bytes, so a block never straddles two parts.
        part.update(block)
        in_part += len(block)
        if in_part == part_bytes:
            part_digests.append(part.digest())
            part, in_part = hashlib.sha256(), 0
    if in_part or not part_digests:
        part_digests.append(part.digest())
    # A single-part object's checksum is the whole file's; a multipart one's is the hash of its parts' hashes.
    s3_digest = whole.digest() if size < part_bytes else hashlib.sha256(b"".join(part_digests)).digest()
    return LocalFile(path, source, size, whole.hexdigest(), part_bytes, base64.b64encode(s3_digest).decode())


def check_file(path: Path) -> Source:
    """The source a file belongs to, or :class:`IngestError` saying why it is refused."""
    source = SOURCES_BY_FILE.get(path.name)
    if source is None:
        known = ", ".join(sorted(SOURCES_BY_FILE))
        raise IngestError(f"{path.name}: unknown file name (expected one of: {known})")
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    if first != source.header:
        found = [c.strip() for c in first.split(",")]
        missing = [c for c in source.columns if c not in found]
        unexpected = [c for c in found if c not in source.columns]
        detail = (
            f"missing {missing}, unexpected {unexpected}" if missing or unexpected else "columns out of order"
        )
        raise IngestError(
            f"{path.name}: header does not match the {source.name} source ({detail}); "
            f"expected: {source.header}"
        )
    return source


def source_files(directory: Path) -> list[Path]:
    """The files in ``directory`` that ingest considers: not metadata (``_*``) nor dot-files."""
    if not directory.is_dir():
        raise IngestError(f"{directory}: no such directory")
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and not p.name.startswith((METADATA_PREFIX, "."))
    )
    if not files:
        raise IngestError(f"{directory}: no files to ingest")
    return files


def _remote(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        head: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as error:
        if aws.error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head


def _matches(head: dict[str, Any] | None, local: LocalFile) -> bool:
    if head is None:
        return False
    # Real S3 suffixes a multipart checksum with "-<parts>"; moto does not.
    checksum = str(head.get("ChecksumSHA256", "")).split("-")[0]
    return bool(head.get("ContentLength") == local.size and checksum == local.s3_checksum)


def upload(
    s3: Any, bucket: str, local: LocalFile, ingest_date: date, progress: Callable[[int], object] | None = None
) -> Landed:
    """Upload one checked file unless an identical object is already there; verify what landed."""
    key = raw_key(local.source, ingest_date)
    before = _remote(s3, bucket, key)
    if _matches(before, local):
        return Landed(local.path.name, key, local.size, local.sha256, "unchanged")
    config = TransferConfig(multipart_threshold=local.part_bytes, multipart_chunksize=local.part_bytes)
    s3.upload_file(
        str(local.path),
        bucket,
        key,
        ExtraArgs={
            "ChecksumAlgorithm": "SHA256",
            "Metadata": {"sha256": local.sha256},
            "ContentType": "text/csv",
        },
        Config=config,
        Callback=progress,
    )
    if not _matches(_remote(s3, bucket, key), local):
        s3.delete_object(Bucket=bucket, Key=key)
        raise IngestError(
            f"{local.path.name}: the object at s3://{bucket}/{key} does not match the local file "
            "(size or SHA-256); it was removed"
        )
    return Landed(
        local.path.name, key, local.size, local.sha256, "uploaded" if before is None else "replaced"
    )


def list_objects(s3: Any, bucket: str) -> list[tuple[str, int]]:
    """Every key in ``bucket`` with its size, in key order."""
    found: list[tuple[str, int]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.extend((item["Key"], int(item["Size"])) for item in page.get("Contents", []))
    return found


_INGEST_DATE_RE: Final = re.compile(r"^customers/ingest_date=(\d{4}-\d{2}-\d{2})/")


def latest_ingest_date(s3: Any, bucket: str) -> date:
    """The newest raw partition's date (the ETL's default; the Glue job's when started by new objects)."""
    dates = sorted({m.group(1) for key, _ in list_objects(s3, bucket) if (m := _INGEST_DATE_RE.match(key))})
    if not dates:
        raise IngestError(
            f"s3://{bucket} holds no customers/ingest_date=…/ data: run `creditscore ingest` first"
        )
    return date.fromisoformat(dates[-1])
