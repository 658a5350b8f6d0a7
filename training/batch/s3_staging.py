"""``s3://`` inputs and outputs of a Spark scoring run staged through a local directory.

AWS Glue's Spark reads and writes ``s3://`` itself. Spark local mode here has no S3 connector (as
``creditscore etl``'s local runner, :mod:`etl.local_runner`), so the Glue scoring job run outside Glue
downloads its input from the configured endpoint, lets Spark read and write local paths, and uploads the
outputs where Glue's Spark would have written them: the same keys, the part files and ``_SUCCESS``, the
output prefix replaced as Spark's overwrite replaces it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Final

from training.batch import BatchScoringError

S3_SCHEME: Final = "s3://"


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); the key without a trailing slash, never empty."""
    bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
    key = key.rstrip("/")
    if not uri.startswith(S3_SCHEME) or not bucket or not key:
        raise BatchScoringError(f"{uri!r} is not s3://BUCKET/KEY")
    return bucket, key


def _keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def download(s3: Any, uri: str, into: Path) -> Path:
    """The object ``uri`` names, or every object under it as a folder (a directory of part files, as Spark
    writes one), into ``into``; the local path, with the name (and so the suffix) of the key."""
    bucket, key = split_uri(uri)
    target = into / PurePosixPath(key).name
    target.parent.mkdir(parents=True, exist_ok=True)
    parts = [k for k in _keys_under(s3, bucket, key + "/") if not k.endswith("/")]
    if not parts:
        try:
            s3.download_file(bucket, key, str(target))
        except Exception as error:
            raise BatchScoringError(f"cannot read {uri}: {error}") from None
        return target
    for part in parts:
        local = target / PurePosixPath(part).relative_to(key)
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, part, str(local))
    return target


def upload(s3: Any, directory: Path, uri: str) -> int:
    """Spark's output ``directory`` to the prefix ``uri``, whose earlier objects are deleted first; the
    number of objects written. Hadoop's local ``.crc`` side files stay behind: S3 has none."""
    bucket, key = split_uri(uri)
    stale = _keys_under(s3, bucket, key + "/")
    for start in range(0, len(stale), 1000):
        batch = [{"Key": k} for k in stale[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    uploaded = 0
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.name.endswith(".crc"):
            s3.upload_file(str(path), bucket, f"{key}/{path.relative_to(directory).as_posix()}")
            uploaded += 1
    return uploaded
