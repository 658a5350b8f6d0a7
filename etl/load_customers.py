"""Load one cleaned snapshot's customers into the DynamoDB online store, one item per customer.

Reads ``s3://{cleaned}/features/snapshot=S/*.parquet`` and ``identity/snapshot=S/*.parquet``, validates
every row before the first write (so a bad snapshot leaves the table untouched), writes full puts keyed by
``national_id`` (re-running a snapshot rewrites the same items) and finally counts the table's items of
snapshot S and compares that with the snapshot's customers.

An item holds the identity attributes, one map per feature group (``application``,
``traditional_features``, ``transaction_features``, ``social_features``) with that group's features as
Decimals, ``features_as_of``, ``snapshot`` and ``loaded_at``; the training label is never loaded.
Error messages and logs name a customer by row (0-based, counting through the parts in key order), never
by national ID, email or phone number.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import structlog
from boto3.dynamodb.types import TypeSerializer
from tqdm import tqdm

from creditscore import aws
from creditscore.config import Settings
from creditscore.errors import JobError
from etl.features import FEATURES, GROUPS, names

log = structlog.get_logger(__name__)

IDENTITY_COLUMNS: Final = ("full_name", "email", "phone_number")
FEATURE_NAMES: Final = tuple(f.name for f in FEATURES)
GROUP_FEATURES: Final = {group: tuple(names(group)) for group in GROUPS}

BATCH_SIZE: Final = 25  # BatchWriteItem's maximum
# Measured with bench/load_customers.py: against moto, 1, 2, 4 and 8 workers all land within run-to-run noise
# (the one moto process and this one's serialisation are both CPU-bound). Against DynamoDB a batch waits on
# the network, and 4 in flight cover that wait; more would also exceed botocore's 10 pooled connections
# once the count scan's segments run beside them.
DEFAULT_WORKERS: Final = 4
MAX_RETRIES: Final = 8
BACKOFF_BASE_SECONDS: Final = 0.05
BACKOFF_CAP_SECONDS: Final = 5.0
COUNT_SEGMENTS: Final = 4
# Rows turned into items at a time: bounds memory to a few batches per worker, not the whole snapshot.
_CHUNK_ROWS: Final = BATCH_SIZE * 40
_SNAPSHOT_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DATE_RE: Final = r"^\d{4}-\d{2}-\d{2}$"
# DynamoDB numbers hold magnitudes from 1e-130 up to (not including) 1e126.
_MIN_MAGNITUDE: Final = 1e-130
_MAX_MAGNITUDE: Final = 1e126
# A stateless serializer whose Decimal context rejects anything DynamoDB would (inexact, out of range).
_SERIALIZER: Final = TypeSerializer()

WriteRequest = dict[str, Any]


class LoadError(JobError):
    """The snapshot cannot be loaded, or was not loaded completely; the message says which and why."""


@dataclass(frozen=True)
class LoadSummary:
    snapshot: str
    items_written: int
    items_in_table: int
    seconds: float
    retries: int


def features_prefix(snapshot: str) -> str:
    return f"features/snapshot={snapshot}/"


def identity_prefix(snapshot: str) -> str:
    return f"identity/snapshot={snapshot}/"


def _listing(s3: Any, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
    """The keys directly under ``prefix`` and its sub-folders; the delimiter keeps deeper keys out."""
    keys: list[str] = []
    folders: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        keys.extend(str(item["Key"]) for item in page.get("Contents", []))
        folders.extend(str(common["Prefix"]) for common in page.get("CommonPrefixes", []))
    return keys, folders


def latest_snapshot(s3: Any, bucket: str) -> str:
    """The newest snapshot id under ``features/``; ids are ISO dates, so the newest sorts last."""
    _, folders = _listing(s3, bucket, "features/")
    found = [
        folder.removeprefix("features/snapshot=").rstrip("/")
        for folder in folders
        if folder.startswith("features/snapshot=")
    ]
    if not found:
        raise LoadError(f"no snapshots under s3://{bucket}/features/")
    return max(found)


def _part_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    # Only direct children (Spark's _temporary/ attempt folders are not parts) that are not _SUCCESS or .crc.
    keys, _ = _listing(s3, bucket, prefix)
    return sorted(
        key for key in keys if key.endswith(".parquet") and not key.rsplit("/", 1)[-1].startswith(("_", "."))
    )


def read_parts(s3: Any, bucket: str, prefix: str, pool: ThreadPoolExecutor) -> pa.Table:
    keys = _part_keys(s3, bucket, prefix)
    if not keys:
        raise LoadError(f"no such snapshot: no parquet parts under s3://{bucket}/{prefix}")

    def read(key: str) -> pa.Table:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return pq.read_table(pa.BufferReader(body))
        except pa.ArrowInvalid as error:
            raise LoadError(f"s3://{bucket}/{key} is not a readable parquet file: {error}") from None

    parts = list(pool.map(read, keys))
    try:
        return pa.concat_tables(parts)
    except pa.ArrowInvalid as error:
        raise LoadError(f"the parts under s3://{bucket}/{prefix} do not share one schema: {error}") from None


def _require_columns(table: pa.Table, required: tuple[str, ...], where: str) -> None:
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise LoadError(f"{where} lacks columns {missing}")


def _first(mask: Any) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _require_text(column: pa.ChunkedArray, name: str, where: str) -> None:
    """Every value present and non-empty: DynamoDB refuses empty strings as key or index-key values."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise LoadError(f"{where}: column {name!r} is {column.type}, expected strings")
    blank = pc.fill_null(pc.equal(pc.utf8_length(column), 0), True).to_numpy(zero_copy_only=False)
    if blank.any():
        raise LoadError(f"{where}: row {_first(blank)} has no {name} ({int(blank.sum())} such rows in all)")


def _require_unique_ids(table: pa.Table, where: str) -> None:
    duplicates = table.num_rows - pc.count_distinct(table.column("national_id")).as_py()
    if duplicates:
        raise LoadError(f"{where}: {duplicates} rows repeat a national_id already seen")


def _numeric(table: pa.Table, name: str, where: str) -> pa.ChunkedArray:
    """The feature column as int64 or float64, refusing nulls, NaN, infinities and out-of-range values."""
    column = table.column(name)
    kind = column.type
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        column = column.cast(pa.int64())
    elif pa.types.is_floating(kind):
        column = column.cast(pa.float64())
    else:
        raise LoadError(f"{where}: feature {name!r} is {kind}, expected a number")
    values = column.to_numpy(zero_copy_only=False)
    null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    problems = [(null, "is null")]
    if pa.types.is_floating(column.type):
        magnitude = np.abs(values)
        problems.append((~null & ~np.isfinite(values), "is NaN or infinite"))
        outside = (magnitude != 0) & ((magnitude < _MIN_MAGNITUDE) | (magnitude >= _MAX_MAGNITUDE))
        problems.append((outside, "is outside DynamoDB's number range (1e-130 to 1e126)"))
    for mask, problem in problems:
        if mask.any():
            raise LoadError(
                f"{where}: customer at row {_first(mask)}: feature {name!r} {problem} "
                f"({int(mask.sum())} such rows in all)"
            )
    return column


def _validated_features(table: pa.Table, where: str) -> pa.Table:
    required = ("national_id", *FEATURE_NAMES, "features_as_of")
    _require_columns(table, required, where)
    _require_text(table.column("national_id"), "national_id", where)
    _require_unique_ids(table, where)
    as_of = table.column("features_as_of")
    if pa.types.is_date(as_of.type):
        as_of = as_of.cast(pa.string())
    _require_text(as_of, "features_as_of", where)
    malformed = pc.invert(pc.match_substring_regex(as_of, _DATE_RE)).to_numpy(zero_copy_only=False)
    if malformed.any():
        raise LoadError(f"{where}: row {_first(malformed)} has features_as_of not in YYYY-MM-DD form")
    columns = {name: _numeric(table, name, where) for name in FEATURE_NAMES}
    return pa.table({"national_id": table.column("national_id"), **columns, "features_as_of": as_of})


def _aligned_identity(features: pa.Table, identity: pa.Table, snapshot: str) -> pa.Table:
    """Identity rows in the features' order; every customer must appear in both tables exactly once."""
    where = f"identity of snapshot {snapshot}"
    _require_columns(identity, ("national_id", *IDENTITY_COLUMNS), where)
    for name in ("national_id", *IDENTITY_COLUMNS):
        _require_text(identity.column(name), name, where)
    _require_unique_ids(identity, where)
    positions = pc.index_in(features.column("national_id"), value_set=identity.column("national_id"))
    without_identity = positions.null_count
    without_features = identity.num_rows - (features.num_rows - without_identity)
    if without_identity or without_features:
        raise LoadError(
            f"snapshot {snapshot}: identity and features rows disagree: {without_identity} of "
            f"{features.num_rows} features rows have no identity row, {without_features} of "
            f"{identity.num_rows} identity rows have no features row"
        )
    return identity.select(list(IDENTITY_COLUMNS)).take(positions)


def read_snapshot(s3: Any, bucket: str, snapshot: str, pool: ThreadPoolExecutor) -> pa.Table:
    """One validated row per customer: national_id, identity, every feature, features_as_of."""
    if not _SNAPSHOT_RE.match(snapshot):
        raise LoadError(f"snapshot id {snapshot!r} is malformed: expected an id such as 2026-11-27")
    features = _validated_features(
        read_parts(s3, bucket, features_prefix(snapshot), pool), f"features of snapshot {snapshot}"
    )
    identity = _aligned_identity(features, read_parts(s3, bucket, identity_prefix(snapshot), pool), snapshot)
    for name in IDENTITY_COLUMNS:
        features = features.append_column(name, identity.column(name))
    return features


def _put_requests(rows: pa.Table, snapshot: str, loaded_at: str) -> list[WriteRequest]:
    data = rows.to_pydict()
    numbers = {name: [aws.to_decimal(value) for value in data[name]] for name in FEATURE_NAMES}
    requests: list[WriteRequest] = []
    for row, national_id in enumerate(data["national_id"]):
        item: dict[str, Any] = {
            "national_id": national_id,
            **{name: data[name][row] for name in IDENTITY_COLUMNS},
            **{
                group: {name: numbers[name][row] for name in features}
                for group, features in GROUP_FEATURES.items()
            },
            "features_as_of": data["features_as_of"][row],
            "snapshot": snapshot,
            "loaded_at": loaded_at,
        }
        serialized = {key: _SERIALIZER.serialize(value) for key, value in item.items()}
        requests.append({"PutRequest": {"Item": serialized}})
    return requests


def put_batches(customers: pa.Table, snapshot: str, loaded_at: str) -> Iterator[list[WriteRequest]]:
    """BatchWriteItem put requests for :func:`read_snapshot`'s rows, 25 at a time, built lazily."""
    for start in range(0, customers.num_rows, _CHUNK_ROWS):
        requests = _put_requests(customers.slice(start, _CHUNK_ROWS), snapshot, loaded_at)
        for first in range(0, len(requests), BATCH_SIZE):
            yield requests[first : first + BATCH_SIZE]


def put_with_retries(
    send: Callable[[list[WriteRequest]], list[WriteRequest]],
    requests: list[WriteRequest],
    max_retries: int = MAX_RETRIES,
    sleep: Callable[[float], object] = time.sleep,
) -> int:
    """Send until nothing comes back unprocessed; returns the retries it took.

    ``send`` returns the requests DynamoDB left unprocessed. Waits use "full jitter" (a uniform draw up to
    an exponentially growing ceiling), so writers throttled together do not retry in lockstep.
    """
    retries = 0
    while requests := send(requests):
        if retries == max_retries:
            raise LoadError(f"{len(requests)} items were still unprocessed after {max_retries} retries")
        retries += 1
        sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)))
    return retries


def _sender(dynamodb: Any, table: str) -> Callable[[list[WriteRequest]], list[WriteRequest]]:
    def send(requests: list[WriteRequest]) -> list[WriteRequest]:
        response = dynamodb.batch_write_item(RequestItems={table: requests})
        return list(response.get("UnprocessedItems", {}).get(table, []))

    return send


def _write_all(
    send: Callable[[list[WriteRequest]], list[WriteRequest]],
    batches: Iterator[list[WriteRequest]],
    pool: ThreadPoolExecutor,
    in_flight: int,
    advance: Callable[[int], object],
) -> tuple[int, int]:
    """Run the batches on ``pool``, at most ``in_flight`` at once; returns (items written, retries)."""
    written = retries = 0
    pending: dict[Future[int], int] = {}

    def settle(done: set[Future[int]]) -> None:
        nonlocal written, retries
        for future in done:
            retries += future.result()
            size = pending.pop(future)
            written += size
            advance(size)

    for batch in batches:
        if len(pending) >= in_flight:
            settle(wait(pending, return_when=FIRST_COMPLETED).done)
        pending[pool.submit(put_with_retries, send, batch)] = len(batch)
    settle(wait(pending).done)
    return written, retries


def count_snapshot_items(dynamodb: Any, table: str, snapshot: str, segments: int = COUNT_SEGMENTS) -> int:
    """Items of ``table`` whose ``snapshot`` is ``snapshot``, by a parallel, strongly consistent count scan.

    Consistent reads matter: an eventually consistent scan right after the writes may miss some of them.
    """

    def count(segment: int) -> int:
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table,
            Select="COUNT",
            FilterExpression="#snapshot = :snapshot",
            ExpressionAttributeNames={"#snapshot": "snapshot"},
            ExpressionAttributeValues={":snapshot": {"S": snapshot}},
            ConsistentRead=True,
            Segment=segment,
            TotalSegments=segments,
        )
        return sum(int(page["Count"]) for page in pages)

    with ThreadPoolExecutor(segments) as pool:
        return sum(pool.map(count, range(segments)))


def check_count(dynamodb: Any, table: str, snapshot: str, expected: int) -> int:
    """The table's item count for ``snapshot``, or :class:`LoadError` if it is not ``expected``."""
    found = count_snapshot_items(dynamodb, table, snapshot)
    if found != expected:
        raise LoadError(
            f"count check failed for snapshot {snapshot}: {found} items in table {table}, "
            f"{expected} customers in the snapshot"
        )
    return found


def load_customers(
    settings: Settings, snapshot: str, progress: bool = True, *, workers: int = DEFAULT_WORKERS
) -> LoadSummary:
    """Validate snapshot ``snapshot`` whole, write it to the customers table, and check the count."""
    started = time.perf_counter()
    s3 = aws.client("s3", settings)
    # The low-level client rather than the resource's batch_writer: clients are thread-safe (resources are
    # not), and owning the UnprocessedItems loop gives backoff with jitter, a retry limit and a retry count.
    dynamodb = aws.client("dynamodb", settings)
    loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
    with ThreadPoolExecutor(workers, thread_name_prefix="load-customers") as pool:
        customers = read_snapshot(s3, settings.cleaned_bucket, snapshot, pool)
        with tqdm(
            total=customers.num_rows,
            unit="item",
            desc=f"load {snapshot}",
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            written, retries = _write_all(
                _sender(dynamodb, settings.customers_table),
                put_batches(customers, snapshot, loaded_at),
                pool,
                in_flight=2 * workers,
                advance=bar.update,
            )
    in_table = check_count(dynamodb, settings.customers_table, snapshot, customers.num_rows)
    summary = LoadSummary(snapshot, written, in_table, time.perf_counter() - started, retries)
    log.info(
        "customers loaded",
        snapshot=snapshot,
        table=settings.customers_table,
        items_written=written,
        items_in_table=in_table,
        retries=retries,
        seconds=round(summary.seconds, 2),
        workers=workers,
    )
    return summary
