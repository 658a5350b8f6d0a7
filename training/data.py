"""The training table: where it comes from, and how its columns become a scorer's features and labels.

Sources: by default the latest snapshot in the cleaned bucket (``features/snapshot=S/part-*.parquet``, read
the way the DynamoDB loader reads it); otherwise ``--data`` as ``s3://bucket/key.parquet|.csv``,
``s3://bucket/prefix/`` (parquet parts), a local ``.parquet`` file, a local directory of parquet parts (or
else of CSV files), or any other local file, read as CSV with the mapping's ``csv`` options.
Without a mapping the table must hold the scorer's features and ``default_24m`` under those names.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain.features import LABEL
from creditscore.errors import JobError
from creditscore.plugin import Labels, Matrix
from etl.load_customers import features_prefix, latest_snapshot, read_parts
from plugins.artifacts import Transform
from plugins.encoding import OK, Encoding
from training.decoding import MEANINGS, decode_column
from training.mapping import ColumnMapping

_READ_WORKERS: Final = 4
_SHOWN_VALUES: Final = 10


class DataError(JobError):
    """The training data cannot be read or does not fit the scorer or mapping; the message says which."""


@dataclass(frozen=True)
class Rejected:
    """Rows left out of training because a column's value cannot be read: how many, why, and the first."""

    column: str
    reason: str
    rows: int
    example: str

    def describe(self) -> str:
        rows = f"{self.rows:,} row{'s' if self.rows != 1 else ''}"
        return f"column {self.column!r} {MEANINGS[self.reason]}: {rows} (e.g. {self.example!r})"


@dataclass(frozen=True)
class TrainingTable:
    """The model's raw inputs as numbers (columns in ``encoding.names`` order, else ``names``), 0/1 labels,
    and how the model makes its features (``names``) from them: the encoding and the transforms."""

    features: Matrix
    labels: Labels
    names: tuple[str, ...]
    source: str
    transforms: dict[str, tuple[Transform, ...]] = field(default_factory=dict)
    encoding: Encoding | None = None
    #: Rows of the source left out, by column and reason; ``rows_read`` counts them in.
    rejected: tuple[Rejected, ...] = ()
    rows_read: int | None = None

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.encoding.names if self.encoding else self.names

    def rows_summary(self) -> dict[str, Any]:
        """What the training report says of the rows: read, used, and the rejected by column and reason."""
        read = len(self.labels) if self.rows_read is None else self.rows_read
        return {
            "read": read,
            "used": len(self.labels),
            "rejected": [
                {"column": r.column, "reason": r.reason, "rows": r.rows, "example": r.example}
                for r in self.rejected
            ],
        }

    def model_input(self) -> Matrix:
        """The features as the scorer's ``fit`` sees them: encoded and transformed, refusing invalid
        inputs."""
        result = (
            self.encoding.features_of(self.features, self.names) if self.encoding else self.features.copy()
        )
        for column, name in enumerate(self.names):
            for step in self.transforms.get(name, ()):
                try:
                    result[:, column] = step.apply(result[:, column], strict=True)
                except ValueError as error:
                    raise DataError(f"{self.source}: feature {name!r}: {error}") from None
        return result


def read_frame(
    uri: str | None, settings: Settings, csv_options: Mapping[str, Any]
) -> tuple[pd.DataFrame, str]:
    """The raw table and a description of where it came from."""
    if uri is None or uri.startswith("s3://"):
        return _read_s3(uri, settings, csv_options)
    path = Path(uri)
    if not path.exists():
        raise DataError(f"no such file or directory: {uri}")
    files = _data_files(path) if path.is_dir() else [path]
    try:
        if files[0].suffix == ".parquet":
            frame = pa.concat_tables([pq.read_table(file) for file in files]).to_pandas()
        else:
            frame = pd.concat([pd.read_csv(file, **csv_options) for file in files], ignore_index=True)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise DataError(f"cannot read {uri}: {error}") from None
    return frame, str(path)


def _data_files(directory: Path) -> list[Path]:
    """A directory's parquet parts, or else its CSV files, in name order; ``_*`` and ``.*`` are not data."""
    visible = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    for suffix in (".parquet", ".csv"):
        if found := [p for p in visible if p.suffix == suffix]:
            return found
    raise DataError(f"{directory} holds no .parquet or .csv files")


def _read_s3(uri: str | None, settings: Settings, csv_options: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    try:
        return _read_s3_objects(aws.client("s3", settings), uri, settings.cleaned_bucket, csv_options)
    except (ClientError, BotoCoreError) as error:
        raise DataError(f"cannot read {uri or 'the latest snapshot'}: {error}") from None


def _read_s3_objects(
    s3: Any, uri: str | None, cleaned_bucket: str, csv_options: Mapping[str, Any]
) -> tuple[pd.DataFrame, str]:
    if uri is None:
        bucket = cleaned_bucket
        prefix = features_prefix(latest_snapshot(s3, bucket))
    else:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise DataError(f"{uri} names no bucket: expected s3://bucket/key")
    source = f"s3://{bucket}/{prefix}"
    if prefix.endswith((".parquet", ".csv")):
        body = s3.get_object(Bucket=bucket, Key=prefix)["Body"].read()
        try:
            if prefix.endswith(".parquet"):
                return pq.read_table(pa.BufferReader(body)).to_pandas(), source
            return pd.read_csv(io.BytesIO(body), **csv_options), source
        except (ValueError, pa.ArrowException) as error:
            raise DataError(f"cannot read {source}: {error}") from None
    prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    with ThreadPoolExecutor(_READ_WORKERS, thread_name_prefix="read-parts") as pool:
        return read_parts(s3, bucket, prefix, pool).to_pandas(), f"s3://{bucket}/{prefix}"


def _numeric(frame: pd.DataFrame, column: str, where: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = frame[column]
    if values.dtype == bool:
        return values.to_numpy(dtype=np.float64)
    try:
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError) as error:
        raise DataError(f"{where}: column {column!r} is not numeric: {error}") from None


def _require(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        shown = ", ".join(map(str, list(frame.columns)[:40]))
        raise DataError(f"{where}: the data has no column {', '.join(map(repr, missing))} (it has: {shown})")


def _labels(column: pd.Series[Any], positives: Sequence[object], name: str, where: str) -> Labels:
    if column.isna().any():
        raise DataError(f"{where}: {int(column.isna().sum())} rows have no value in label column {name!r}")
    labels = column.isin(list(positives)).to_numpy(dtype=np.int64)
    if labels.min() == labels.max():
        seen = ", ".join(map(repr, column.drop_duplicates().head(_SHOWN_VALUES).tolist()))
        what = "every row" if labels.min() else "no row"
        raise DataError(
            f"{where}: label_positive {list(positives)!r} matches {what} of column {name!r} "
            f"(values seen: {seen})"
        )
    return labels


def table_from_frame(
    frame: pd.DataFrame, source: str, features: Sequence[str], mapping: ColumnMapping | None
) -> TrainingTable:
    """Select and convert the columns: through ``mapping`` when given, else by the features' own names."""
    if mapping is None:
        where = source
        _require(frame, [*features, LABEL], where)
        label = frame[LABEL]
        if not label.isin([0, 1]).all():
            raise DataError(f"{where}: label column {LABEL!r} must hold only 0 and 1")
        labels = _labels(label, [1], LABEL, where)
        matrix = np.column_stack([_numeric(frame, name, where) for name in features])
        return TrainingTable(matrix, labels, tuple(features), source)
    where = f"{source} through mapping {mapping.source}"
    _require(frame, [mapping.label, *(s.column for s in mapping.features.values())], where)
    labels = _labels(frame[mapping.label], mapping.label_positive, mapping.label, where)
    columns, bad, rejected = [], np.zeros(len(frame), dtype=np.bool_), []
    for name, feature in mapping.features.items():
        numbers, reasons = decode_column(frame[feature.column], mapping.input_spec(name))
        columns.append(numbers)
        unread = reasons != OK
        if unread.all() and len(frame):
            first = _shown(frame[feature.column].iloc[0])
            raise DataError(
                f"{where}: column {feature.column!r} {MEANINGS[reasons[0]]}: "
                f"no row's value can be read (e.g. {first!r})"
            )
        for reason in dict.fromkeys(reasons[unread]):
            rows = reasons == reason
            example = _shown(frame[feature.column].iloc[int(np.argmax(rows))])
            rejected.append(Rejected(feature.column, str(reason), int(rows.sum()), example))
        bad |= unread
    kept = ~bad
    if not kept.any():
        raise DataError(f"{where}: no row can be read: " + "; ".join(r.describe() for r in rejected))
    matrix = np.column_stack(columns)[kept]
    return TrainingTable(
        matrix,
        labels[kept],
        mapping.feature_names,
        source,
        mapping.transforms,
        mapping.encoding,
        tuple(rejected),
        len(frame),
    )


def _shown(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)[:100]


def load_table(
    settings: Settings, uri: str | None, features: Sequence[str], mapping: ColumnMapping | None
) -> TrainingTable:
    frame, source = read_frame(uri, settings, mapping.read_options if mapping else {})
    return table_from_frame(frame, source, features, mapping)
