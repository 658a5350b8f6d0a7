"""The rows to score, a chunk at a time, from a local or S3 CSV or Parquet file — never whole in memory.

A CSV file is read ``chunk_rows`` rows at a time (a header row, commas); a Parquet file a batch of
``chunk_rows`` rows at a time, one row group after another. An ``s3://bucket/key`` is first copied to a
temporary file (streamed to disk, deleted afterwards). Only the columns the run needs are read: the model's
features and the ID column, which is read as text so that an ID such as ``001234567890`` keeps its zeros.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from creditscore import aws
from creditscore.config import Settings
from training.batch import BatchScoringError

DATA_SUFFIXES: Final = (".csv", ".parquet")
#: Columns taken as a row's ID unless told otherwise: the first named so (case aside) or ending in ``_id``.
ID_NAMES: Final = ("national_id", "id")
_SHOWN_COLUMNS: Final = 40

ObjectVector = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Chunk:
    #: The 1-based number of the chunk's first row in the file (the header not counted).
    first_row: int
    #: The columns read: the features, and the ID column when there is one.
    frame: pd.DataFrame
    #: How far the progress bar moves for it (rows, or bytes of a CSV file).
    advance: int

    def row_numbers(self) -> npt.NDArray[np.int64]:
        return np.arange(self.first_row, self.first_row + len(self.frame), dtype=np.int64)

    def ids(self, column: str) -> ObjectVector:
        """The ID column's values as text ("" where missing)."""
        return self.frame[column].astype("string").fillna("").to_numpy(dtype=object)


class RowFile(Protocol):
    source: str
    columns: list[str]
    #: The progress bar's total and unit.
    total: int
    unit: str

    def chunks(self, columns: Sequence[str], text_columns: Sequence[str], size: int) -> Iterator[Chunk]: ...


class CsvRows:
    unit = "B"

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self.total = path.stat().st_size
        try:
            self.columns = [str(name) for name in pd.read_csv(path, nrows=0).columns]
        except (OSError, ValueError, UnicodeDecodeError) as error:
            raise BatchScoringError(f"cannot read {source} as CSV: {error}") from None

    def chunks(self, columns: Sequence[str], text_columns: Sequence[str], size: int) -> Iterator[Chunk]:
        first = 1
        with self.path.open("rb") as handle:
            position = 0
            frames = pd.read_csv(
                handle,
                usecols=list(columns),
                dtype=dict.fromkeys(text_columns, str),
                chunksize=size,
                # Correctly rounded, as Python's float() (and so the service's JSON) reads a number.
                float_precision="round_trip",
            )
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                except (ValueError, UnicodeDecodeError) as error:
                    raise BatchScoringError(
                        f"cannot read {self.source} as CSV after row {first - 1:,}: {error}"
                    ) from None
                now = handle.tell()
                yield Chunk(first, frame, now - position)
                position = now
                first += len(frame)


class ParquetRows:
    unit = "rows"

    def __init__(self, path: Path, source: str) -> None:
        self.source = source
        try:
            self.file = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as error:
            raise BatchScoringError(f"cannot read {source} as Parquet: {error}") from None
        self.columns = list(self.file.schema_arrow.names)
        self.total = self.file.metadata.num_rows

    def chunks(self, columns: Sequence[str], text_columns: Sequence[str], size: int) -> Iterator[Chunk]:
        first = 1
        batches = self.file.iter_batches(batch_size=size, columns=list(columns))
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (OSError, pa.ArrowException) as error:
                raise BatchScoringError(
                    f"cannot read {self.source} as Parquet after row {first - 1:,}: {error}"
                ) from None
            frame = batch.to_pandas()
            yield Chunk(first, frame, len(frame))
            first += len(frame)


@contextmanager
def open_rows(data: str, settings: Settings) -> Iterator[RowFile]:
    """The rows of ``data``, a local path or ``s3://bucket/key``, by its suffix (.csv or .parquet)."""
    suffix = PurePosixPath(data).suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise BatchScoringError(f"{data}: expected a .csv or .parquet file")
    kind = CsvRows if suffix == ".csv" else ParquetRows
    if not data.startswith("s3://"):
        path = Path(data)
        if not path.is_file():
            raise BatchScoringError(f"no such file: {data}")
        yield kind(path, data)
        return
    with tempfile.TemporaryDirectory(prefix="creditscore-score-") as staging:
        path = Path(staging) / f"rows{suffix}"
        _download(data, path, settings)
        yield kind(path, data)


def _download(uri: str, path: Path, settings: Settings) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise BatchScoringError(f"{uri}: expected s3://bucket/key")
    s3: Any = aws.client("s3", settings)
    try:
        s3.download_file(bucket, key, str(path))
    except ClientError as error:
        if aws.error_code(error) in ("404", "NoSuchKey", "NoSuchBucket"):
            raise BatchScoringError(f"no such object: {uri}") from None
        raise BatchScoringError(f"cannot read {uri}: {error}") from None
    except BotoCoreError as error:
        raise BatchScoringError(f"cannot read {uri}: {error}") from None


def id_column(rows: RowFile, features: Sequence[str], wanted: str | None) -> str | None:
    """The column identifying a row: ``wanted``, else the first column named like an ID that is not a
    feature; None when there is none (rows are then identified by number)."""
    return find_id_column(rows.columns, rows.source, features, wanted)


def find_id_column(
    columns: Sequence[str], source: str, features: Sequence[str], wanted: str | None
) -> str | None:
    """:func:`id_column` of any table with these ``columns`` (a Spark DataFrame's too)."""
    if wanted is not None:
        if wanted not in columns:
            raise BatchScoringError(
                f"{source} has no column {wanted!r} (--id-column); it has: {_shown(columns)}"
            )
        return wanted
    taken = set(features)
    for name in columns:
        lower = name.lower()
        if name not in taken and (lower in ID_NAMES or lower.endswith("_id")):
            return name
    return None


def require_features(rows: RowFile, features: Sequence[str], model: str) -> None:
    require_columns(rows.columns, rows.source, features, model)


def require_columns(columns: Sequence[str], source: str, features: Sequence[str], model: str) -> None:
    """Refuse a table (a file's, a Spark DataFrame's) without a column per feature, naming the missing."""
    missing = [name for name in features if name not in columns]
    if missing:
        raise BatchScoringError(
            f"{source} has no column {', '.join(map(repr, missing))}, which {model} takes "
            f"(it has: {_shown(columns)})"
        )


def _shown(columns: Sequence[str]) -> str:
    more = len(columns) - _SHOWN_COLUMNS
    return ", ".join(columns[:_SHOWN_COLUMNS]) + (f" and {more} more" if more > 0 else "")
