"""Chunked CSV writing: pyarrow renders the clean rows, dirty lines are spliced in at line level, and every
byte is hashed as it is written, so nothing is read back and memory stays at one chunk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from etl.sources import DIRTY_ROWS_COLUMNS

# "none" rather than "needed": pyarrow's "needed" quotes every string value, while "none" writes values
# bare and raises if one holds a delimiter, quote or line break, so a clean row is always one plain line.
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65_536)
_NEWLINE = 10


@dataclass(frozen=True)
class Block:
    """One chunk's clean rows rendered as CSV, and the offset just past each line's ``\\n``."""

    data: memoryview
    line_ends: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.line_ends.size)

    def offset(self, gap: int) -> int:
        """Byte offset of the boundary that has ``gap`` clean lines before it."""
        return 0 if gap == 0 else int(self.line_ends[gap - 1])

    def line(self, index: int) -> str:
        """The text of clean line ``index`` (0-based), without its line ending."""
        return bytes(self.data[self.offset(index) : self.line_ends[index] - 1]).decode("utf-8")


def render(table: pa.Table) -> Block:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, _WRITE_OPTIONS)
    data = memoryview(sink.getvalue())
    line_ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE).astype(np.int64) + 1
    return Block(data=data, line_ends=line_ends)


@dataclass(frozen=True)
class DirtyLine:
    """A dirty row to splice in after ``gap`` clean rows of a block; ``key`` is its ID as written."""

    gap: int
    text: str
    key: str
    kind: str


class SourceFile:
    """One source's CSV file, written block by block, counting lines and hashing bytes as they go out."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self.rows = 0
        self.dirty_rows = 0
        self._lines = 0
        self._hash = hashlib.sha256()
        self._file = path.open("wb")
        self._write((header + "\n").encode("utf-8"))
        self._lines = 1

    def _write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self._hash.update(data)

    def append(self, block: Block, dirty: Sequence[DirtyLine]) -> list[tuple[int, DirtyLine]]:
        """Write the block with the dirty lines spliced in; return each dirty line's 1-based line number."""
        placed: list[tuple[int, DirtyLine]] = []
        position = 0
        # sorted() is stable, so dirty lines sharing a gap keep the order they were drawn in.
        for rank, line in enumerate(sorted(dirty, key=lambda d: d.gap)):
            cut = block.offset(line.gap)
            self._write(block.data[position:cut])
            self._write((line.text + "\n").encode("utf-8"))
            placed.append((self._lines + line.gap + rank + 1, line))
            position = cut
        self._write(block.data[position:])
        self._lines += len(block) + len(dirty)
        self.rows += len(block) + len(dirty)
        self.dirty_rows += len(dirty)
        return placed

    @property
    def sha256(self) -> str:
        """The sha256 of everything written so far."""
        return self._hash.hexdigest()

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


class DirtyLedger:
    """``_dirty_rows.csv``: every dirty row's source, line, key and kind, grouped by source in line order.

    Rows arrive chunk by chunk, interleaving sources; each source is spooled to its own temporary file
    and the parts are joined at the end, so the ledger never has to be held in memory.
    """

    def __init__(self, sources: Iterable[str]) -> None:
        # Closed by __exit__: the ledger is the context manager that owns them.
        self._parts: dict[str, IO[bytes]] = {name: tempfile.TemporaryFile() for name in sources}  # noqa: SIM115

    def record(self, source: str, placed: Iterable[tuple[int, DirtyLine]]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows((source, line, dirty.key, dirty.kind) for line, dirty in placed)
        self._parts[source].write(text.getvalue().encode("utf-8"))

    def write(self, path: Path) -> str:
        """Write the ledger to ``path`` from its parts and return the file's sha256."""
        digest = hashlib.sha256()
        with path.open("wb") as out:
            header = (",".join(DIRTY_ROWS_COLUMNS) + "\n").encode("utf-8")
            out.write(header)
            digest.update(header)
            for part in self._parts.values():
                part.seek(0)
                while chunk := part.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
        return digest.hexdigest()

    def __enter__(self) -> DirtyLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        for part in self._parts.values():
            part.close()
