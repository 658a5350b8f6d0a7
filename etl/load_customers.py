"""Load one cleaned snapshot's customers into the DynamoDB online store, one item per customer.

Reads ``s3://{cleaned}/features/snapshot=S/*.parquet`` and ``identity/snapshot=S/*.parquet`` and validates
every row before the first write, so a bad snapshot leaves the table untouched.

The write contract (the transactions themselves are :mod:`etl.customer_writes`'s):

- Each customer is an UpdateItem keyed by ``national_id`` that SETs only the loader's attributes: the
  identity (``full_name``, ``email``, ``phone_number``), one map per feature group (``application``,
  ``traditional_features``, ``transaction_features``, ``social_features``) with that group's features as
  Decimals, ``features_as_of``, ``snapshot``, ``loaded_at``, and ``source`` = ``"batch"`` unless one is
  stored. What the scoring service writes on the same item (``last_score``, ``score_version``,
  ``created_at``, ``created_by``) survives a load, and so does the ``application`` group of a customer the
  service created (``source = "api"``). The training label is never loaded. Re-running a snapshot rewrites
  the same items.
- In the same transaction, the customer's email and phone number are claimed through the guard items of
  :mod:`creditscore.domain.identity`, and a contact the customer no longer has is released: a contact
  belongs to one national ID at a time, the service's customers included.
- A row is *rejected* — not written, quarantined with its reason, counted — when its email or phone number
  (in :func:`creditscore.domain.identity.normal_form`) appears under more than one national ID of the snapshot
  (``email_shared_in_snapshot``, ``phone_number_shared_in_snapshot``; found before any write), or when
  another customer's guard still refuses it after the rest of the snapshot is written
  (``email_held_by_another_customer``, ``phone_number_held_by_another_customer``). Rejected rows go to
  ``s3://{cleaned}/quarantine/snapshot=S/source=load/`` beside the ETL's quarantine, one parquet file
  replaced by each run: ``reason``, ``field`` and ``record`` (the row's identity as JSON) as the ETL's, plus
  ``national_id``, ``row`` and ``loaded_at``.

Finally the table's items of snapshot S are counted and compared with the snapshot's customers less the
rejected rows; only then are the load's report and the newest-snapshot pointer written
(:mod:`etl.load_record`). Error messages and logs name a customer by row (0-based, counting through the parts
in key order), never by national ID, email or phone number.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import structlog
from boto3.dynamodb.types import TypeSerializer
from tqdm import tqdm

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain import identity
from creditscore.domain.features import FEATURES, GROUPS, names
from creditscore.domain.identity import CONTACT_FIELDS, ContactField
from creditscore.errors import JobError
from etl.customer_writes import (
    CUSTOMERS_PER_TRANSACTION,
    IDENTITY,
    Customer,
    CustomerWriter,
    GroupResult,
    Target,
    transact_sender,
)
from etl.load_record import record_load

log = structlog.get_logger(__name__)

IDENTITY_COLUMNS: Final = IDENTITY
FEATURE_NAMES: Final = tuple(f.name for f in FEATURES)
GROUP_FEATURES: Final = {group: tuple(names(group)) for group in GROUPS}

# Measured with bench/load_customers.py: against moto, 1, 2, 4 and 8 workers all land within run-to-run noise
# (the one moto process and this one's serialisation are both CPU-bound). Against DynamoDB a transaction
# waits on the network, and 4 in flight cover that wait; more would also exceed botocore's 10 pooled
# connections once the count scan's segments run beside them.
DEFAULT_WORKERS: Final = 4
COUNT_SEGMENTS: Final = 4
QUARANTINE_SOURCE: Final = "load"
# Rows turned into items at a time: bounds memory to a few transactions per worker, not the whole snapshot.
_CHUNK_ROWS: Final = 1000
_SNAPSHOT_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DATE_RE: Final = r"^\d{4}-\d{2}-\d{2}$"
# DynamoDB numbers hold magnitudes from 1e-130 up to (not including) 1e126.
_MIN_MAGNITUDE: Final = 1e-130
_MAX_MAGNITUDE: Final = 1e126
# A stateless serializer whose Decimal context rejects anything DynamoDB would (inexact, out of range).
_SERIALIZER: Final = TypeSerializer()
_QUARANTINE_PART: Final = "part-00000-load.snappy.parquet"
_ROW: Final = "row"


class LoadError(JobError):
    """The snapshot cannot be loaded, or was not loaded completely; the message says which and why."""


@dataclass(frozen=True)
class Rejection:
    """A row not loaded: ``field`` is the contact that stood in the way, ``reason`` says how."""

    row: int
    field: ContactField
    reason: str


def shared_reason(field: ContactField) -> str:
    return f"{field}_shared_in_snapshot"


def held_reason(field: ContactField) -> str:
    return f"{field}_held_by_another_customer"


@dataclass(frozen=True)
class LoadSummary:
    snapshot: str
    rows: int  # the snapshot's customers: items_written + rows_rejected
    items_written: int
    items_in_table: int
    rejected: Mapping[str, int]  # rows rejected, per reason
    seconds: float
    retries: int

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())


def features_prefix(snapshot: str) -> str:
    return f"features/snapshot={snapshot}/"


def identity_prefix(snapshot: str) -> str:
    return f"identity/snapshot={snapshot}/"


def quarantine_prefix(snapshot: str) -> str:
    return f"quarantine/snapshot={snapshot}/source={QUARANTINE_SOURCE}/"


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


def _shared(values: pa.ChunkedArray, field: ContactField) -> npt.NDArray[np.bool_]:
    """Which rows hold a ``field`` that another row holds too, compared in the contacts' normal form."""
    # The normal form is identity.normal_form itself (casefold has no arrow kernel); the counting is arrow's.
    forms = pa.array([identity.normal_form(field, value) for value in values.to_pylist()], pa.string())
    counts = pa.table({"form": forms}).group_by("form").aggregate([("form", "count")])
    repeated = counts.filter(pc.greater(counts.column("form_count"), 1)).column("form")
    return np.asarray(pc.is_in(forms, value_set=repeated).to_numpy(zero_copy_only=False), dtype=bool)


def shared_contacts(customers: pa.Table) -> list[Rejection]:
    """Every row whose email or phone number another row of the snapshot holds (national IDs are unique by
    then, so another row is another customer): none of them can be told the contact's owner."""
    rejected = np.zeros(customers.num_rows, dtype=bool)
    found: list[Rejection] = []
    for field in CONTACT_FIELDS:
        shared = _shared(customers.column(field), field) & ~rejected
        found.extend(Rejection(int(row), field, shared_reason(field)) for row in np.flatnonzero(shared))
        rejected |= shared
    return sorted(found, key=lambda rejection: rejection.row)


def _customers(rows: pa.Table) -> list[Customer]:
    """The rows (with their snapshot row numbers in column ``row``) serialised for the writer."""
    data = rows.to_pydict()
    numbers = {name: [aws.to_decimal(value) for value in data[name]] for name in FEATURE_NAMES}
    built: list[Customer] = []
    for at, national_id in enumerate(data["national_id"]):
        values = {name: {"S": data[name][at]} for name in IDENTITY_COLUMNS}
        for group, features in GROUP_FEATURES.items():
            values[group] = _SERIALIZER.serialize({name: numbers[name][at] for name in features})
        values["features_as_of"] = {"S": data["features_as_of"][at]}
        held = {field: data[field][at] for field in CONTACT_FIELDS}
        built.append(Customer(data[_ROW][at], national_id, held, values))
    return built


def _groups(customers: Sequence[Customer], size: int) -> Iterator[list[Customer]]:
    for first in range(0, len(customers), size):
        yield list(customers[first : first + size])


def customer_groups(rows: pa.Table, per_transaction: int) -> Iterator[list[Customer]]:
    """The rows as groups of ``per_transaction`` customers, serialised a chunk at a time."""
    for start in range(0, rows.num_rows, _CHUNK_ROWS):
        yield from _groups(_customers(rows.slice(start, _CHUNK_ROWS)), per_transaction)


def _write_pass(
    writer: CustomerWriter,
    groups: Iterable[list[Customer]],
    pool: ThreadPoolExecutor,
    in_flight: int,
    advance: Callable[[int], object],
) -> GroupResult:
    """Write the groups on ``pool``, at most ``in_flight`` at once; the results added up."""
    total = GroupResult()
    pending: set[Future[GroupResult]] = set()

    def settle(done: set[Future[GroupResult]]) -> None:
        for future in done:
            result = future.result()
            total.written += result.written
            total.retries += result.retries
            total.refused.extend(result.refused)
            advance(result.written)

    for group in groups:
        if len(pending) >= in_flight:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            settle(done)
        pending.add(pool.submit(writer.write, group))
    settle(wait(pending).done)
    return total


def _write_all(
    writer: CustomerWriter,
    rows: pa.Table,
    per_transaction: int,
    pool: ThreadPoolExecutor,
    in_flight: int,
    advance: Callable[[int], object],
) -> GroupResult:
    """Write every row; a customer a guard refused is tried again after the others, then left refused."""
    total = _write_pass(writer, customer_groups(rows, per_transaction), pool, in_flight, advance)
    refused = total.refused
    # A refusing guard may since have been released by a later row of the snapshot (a customer whose
    # contact changed). Each pass that writes someone may free a contact for another, so passes go on
    # while they make progress; chains of changes resolve, a swap of two contacts cannot.
    while refused:
        again = _write_pass(
            writer, _groups([r.customer for r in refused], per_transaction), pool, in_flight, advance
        )
        total.written += again.written
        total.retries += again.retries
        refused = again.refused
        if not again.written:
            break
    total.refused = refused
    return total


def write_quarantine(
    s3: Any, bucket: str, snapshot: str, customers: pa.Table, rejected: Sequence[Rejection], loaded_at: str
) -> None:
    """Replace the load's quarantine of ``snapshot`` with ``rejected`` (none: no file)."""
    prefix = quarantine_prefix(snapshot)
    written = f"{prefix}{_QUARANTINE_PART}" if rejected else None
    if rejected:
        rows = customers.take([rejection.row for rejection in rejected]).select(
            ["national_id", *IDENTITY_COLUMNS]
        )
        table = pa.table(
            {
                "national_id": rows.column("national_id"),
                _ROW: pa.array([rejection.row for rejection in rejected], pa.int64()),
                "reason": [rejection.reason for rejection in rejected],
                "field": [rejection.field for rejection in rejected],
                "record": [json.dumps(record, ensure_ascii=False) for record in rows.to_pylist()],
                "loaded_at": [loaded_at] * len(rejected),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        s3.put_object(Bucket=bucket, Key=written, Body=buffer.getvalue())
    keys, _ = _listing(s3, bucket, prefix)
    for key in keys:
        if key != written:
            s3.delete_object(Bucket=bucket, Key=key)


def count_snapshot_items(dynamodb: Any, table: str, snapshot: str, segments: int = COUNT_SEGMENTS) -> int:
    """Items of ``table`` whose ``snapshot`` is ``snapshot``, by a parallel, strongly consistent count scan.

    Consistent reads matter: an eventually consistent scan right after the writes may miss some of them.
    Guard items carry no ``snapshot``, so only customers count.
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
            f"{expected} expected (the snapshot's customers less its rejected rows)"
        )
    return found


def numbered(customers: pa.Table) -> pa.Table:
    """``customers`` with each row's 0-based number, the only name logs and messages give a row."""
    return customers.append_column(_ROW, pa.array(np.arange(customers.num_rows, dtype=np.int64)))


def _without(customers: pa.Table, rejected: Sequence[Rejection]) -> pa.Table:
    keep = np.ones(customers.num_rows, dtype=bool)
    keep[[rejection.row for rejection in rejected]] = False
    return customers.filter(pa.array(keep))


def _reason_counts(rejected: Iterable[Rejection]) -> dict[str, int]:
    return dict(sorted(Counter(rejection.reason for rejection in rejected).items()))


def load_customers(
    settings: Settings,
    snapshot: str,
    progress: bool = True,
    *,
    workers: int = DEFAULT_WORKERS,
    per_transaction: int = CUSTOMERS_PER_TRANSACTION,
) -> LoadSummary:
    """Validate snapshot ``snapshot`` whole, write it to the customers table (rejecting the rows whose
    contacts belong to someone else), quarantine the rejected rows and check the count."""
    started = time.perf_counter()
    s3 = aws.client("s3", settings)
    # The low-level client: clients are thread-safe (resources are not).
    dynamodb = aws.client("dynamodb", settings)
    loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
    writer = CustomerWriter(transact_sender(dynamodb), Target(settings.customers_table, snapshot, loaded_at))
    with ThreadPoolExecutor(workers, thread_name_prefix="load-customers") as pool:
        customers = numbered(read_snapshot(s3, settings.cleaned_bucket, snapshot, pool))
        rejected = shared_contacts(customers)
        with tqdm(
            total=customers.num_rows,
            unit="item",
            desc=f"load {snapshot}",
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            bar.update(len(rejected))
            result = _write_all(
                writer, _without(customers, rejected), per_transaction, pool, 2 * workers, bar.update
            )
            held = [Rejection(r.customer.row, r.field, held_reason(r.field)) for r in result.refused]
            bar.update(len(held))
    rejected = sorted(rejected + held, key=lambda rejection: rejection.row)
    write_quarantine(s3, settings.cleaned_bucket, snapshot, customers, rejected, loaded_at)
    expected = customers.num_rows - len(rejected)
    in_table = check_count(dynamodb, settings.customers_table, snapshot, expected)
    summary = LoadSummary(
        snapshot=snapshot,
        rows=customers.num_rows,
        items_written=result.written,
        items_in_table=in_table,
        rejected=_reason_counts(rejected),
        seconds=time.perf_counter() - started,
        retries=result.retries,
    )
    pointer_moved = record_load(s3, settings.cleaned_bucket, summary, loaded_at, features_prefix(snapshot))
    log.info(
        "customers loaded",
        snapshot=snapshot,
        table=settings.customers_table,
        items_written=result.written,
        items_in_table=in_table,
        rows_rejected=summary.rows_rejected,
        rejected=dict(summary.rejected),
        retries=result.retries,
        seconds=round(summary.seconds, 2),
        workers=workers,
        latest_snapshot_moved=pointer_moved,
    )
    return summary
