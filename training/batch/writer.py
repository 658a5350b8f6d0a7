"""Tables written a chunk at a time, as CSV or Parquet by the file's suffix.

Each file is written under a temporary name beside it and renamed when complete, so a run that fails or is
interrupted leaves no file that looks whole (nor half of one). CSV: a header row, commas, strings quoted,
numbers as the shortest text that reads back as the same float64. Parquet: one row group per chunk.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Final

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from training.batch import BatchScoringError

PARTIAL_SUFFIX: Final = ".partial"


class TableWriter:
    """A CSV or Parquet file of ``schema``; use as a context manager: kept when the block completes."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self.rows = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".parquet":
                self._writer: pq.ParquetWriter | pa_csv.CSVWriter = pq.ParquetWriter(self._partial, schema)
            else:
                options = pa_csv.WriteOptions(quoting_style="needed")
                self._writer = pa_csv.CSVWriter(self._partial, schema, write_options=options)
        except (OSError, pa.ArrowException) as error:
            raise BatchScoringError(f"cannot write {path}: {error}") from None

    def write(self, columns: dict[str, pa.Array]) -> None:
        table = pa.Table.from_pydict(columns, schema=self.schema)
        try:
            self._writer.write_table(table)
        except (OSError, pa.ArrowException) as error:
            raise BatchScoringError(f"cannot write {self.path}: {error}") from None
        self.rows += table.num_rows

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._writer.close()
        if kind is None:
            self._partial.replace(self.path)
        else:
            self._partial.unlink(missing_ok=True)
