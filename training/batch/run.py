"""One scoring run: a file of rows in, a file of scores and a file of rejects out, and the counts.

Every row read is either scored (a line of the scores file: the row's ID, ``probability_of_default``,
``score``, ``band`` and, when asked, ``reason_1`` .. ``reason_N``) or rejected (a line of the rejects file:
``row``, the ID, ``reason``, ``column``, ``value``): rows read = scored + rejected, reason by reason. Both
files keep the input's row order. Memory stays within a few chunks, whatever the file's size.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from creditscore.config import Settings
from training.batch import BatchScoringError
from training.batch.reader import Chunk, id_column, open_rows, require_features
from training.batch.scoring import ChunkScorer
from training.batch.source import LoadedModel, load_model
from training.batch.values import convert
from training.batch.writer import TableWriter

#: The ID column of the outputs when the input has none: the row's number in the file.
ROW: Final = "row"
REJECTS_SUFFIX: Final = ".rejects.csv"


@dataclass(frozen=True)
class ScoringJob:
    #: ``NAME``, ``NAME@VERSION`` or a directory ``train --out`` wrote.
    model: str
    #: A local .csv/.parquet file or ``s3://bucket/key``.
    data: str
    out: Path
    #: Default: beside ``out``, ``{stem}.rejects.csv``.
    rejects: Path | None = None
    id_column: str | None = None
    reasons: int = 0
    chunk_rows: int = 100_000
    #: Default: one per core.
    threads: int | None = None


@dataclass
class Summary:
    model: str
    version: str
    origin: str
    data: str
    out: Path
    rejects: Path
    read: int = 0
    scored: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def rejects_beside(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(out.suffix) + REJECTS_SUFFIX)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def score_file(settings: Settings, job: ScoringJob, progress: bool = True) -> Summary:
    started = time.perf_counter()
    rejects = job.rejects or rejects_beside(job.out)
    _check_paths(job.data, job.out, rejects)
    loaded = load_model(job.model, settings)
    manifest = loaded.manifest
    features = manifest.inputs
    encoding = manifest.encoding
    summary = Summary(manifest.model, manifest.version, loaded.origin, job.data, job.out, rejects)
    threads = job.threads or cores()
    with open_rows(job.data, settings) as rows:
        require_features(rows, features, manifest.model)
        ids = id_column(rows, features, job.id_column)
        columns = list(dict.fromkeys([*([ids] if ids else []), *features]))
        reasons = min(job.reasons, len(features))
        with (
            ThreadPoolExecutor(threads, thread_name_prefix="score") as pool,
            TableWriter(job.out, _scores_schema(ids, reasons)) as scores_out,
            TableWriter(rejects, _rejects_schema(ids)) as rejects_out,
            tqdm(
                total=rows.total,
                unit=rows.unit,
                unit_scale=True,
                desc=f"score {manifest.model}",
                file=sys.stderr,
                disable=not progress,
            ) as bar,
        ):
            scorer = ChunkScorer(loaded.model, features, loaded.scaling, reasons, pool, threads)
            # Declared inputs are read as text and decoded as training decoded them.
            text = [
                *([ids] if ids else []),
                *(s.name for s in (encoding.inputs if encoding else ()) if s.takes_text),
            ]
            for chunk in rows.chunks(columns, text, job.chunk_rows):
                _score_chunk(chunk, loaded, scorer, ids, scores_out, rejects_out, summary)
                bar.set_postfix_str(f"{summary.read:,} rows", refresh=False)
                bar.update(chunk.advance)
    summary.seconds = time.perf_counter() - started
    return summary


def _score_chunk(
    chunk: Chunk,
    loaded: LoadedModel,
    scorer: ChunkScorer,
    ids: str | None,
    scores_out: TableWriter,
    rejects_out: TableWriter,
    summary: Summary,
) -> None:
    numbers = chunk.row_numbers()
    row_ids = chunk.ids(ids) if ids else numbers
    converted = convert(chunk.frame, loaded.manifest.inputs, loaded.manifest.encoding)
    usable = np.flatnonzero(converted.usable)
    scored = scorer.score(converted.values[usable])
    kept = usable[scored.kept]
    scores_out.write(
        {
            ids or ROW: pa.array(row_ids[kept]),
            "probability_of_default": pa.array(scored.pd),
            "score": pa.array(scored.scores),
            "band": pa.array(scored.bands, type=pa.string()),
            **{
                f"reason_{rank + 1}": pa.array(names, type=pa.string())
                for rank, names in enumerate(scored.reasons)
            },
        }
    )
    refused = converted.refused
    positions = np.concatenate([refused.positions, usable[~scored.kept]])
    reasons = [*refused.reasons, *scored.refusals]
    columns = [*refused.columns, *([None] * len(scored.refusals))]
    values = [*refused.values, *([None] * len(scored.refusals))]
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    rejected = {ROW: pa.array(numbers[ordered])}
    if ids and ids != ROW:
        rejected[ids] = pa.array(row_ids[ordered], type=pa.string())
    rejects_out.write(
        rejected
        | {
            "reason": pa.array([reasons[i] for i in order], type=pa.string()),
            "column": pa.array([columns[i] for i in order], type=pa.string()),
            "value": pa.array([values[i] for i in order], type=pa.string()),
        }
    )
    summary.read += len(numbers)
    summary.scored += len(kept)
    summary.rejected.update(reasons)


def _scores_schema(ids: str | None, reasons: int) -> pa.Schema:
    return pa.schema(
        [
            (ids, pa.string()) if ids else (ROW, pa.int64()),
            ("probability_of_default", pa.float64()),
            ("score", pa.int64()),
            ("band", pa.string()),
            *((f"reason_{rank + 1}", pa.string()) for rank in range(reasons)),
        ]
    )


def _rejects_schema(ids: str | None) -> pa.Schema:
    identity = [(ids, pa.string())] if ids and ids != ROW else []
    return pa.schema(
        [
            (ROW, pa.int64()),
            *identity,
            ("reason", pa.string()),
            ("column", pa.string()),
            ("value", pa.string()),
        ]
    )


def _check_paths(data: str, out: Path, rejects: Path) -> None:
    same = {str(out.resolve()), str(rejects.resolve())}
    if len(same) < 2:
        raise BatchScoringError(f"--rejects {rejects} is the scores file itself")
    if not data.startswith("s3://") and str(Path(data).resolve()) in same:
        raise BatchScoringError(
            f"{data} would be overwritten by the outputs: choose another --out or --rejects"
        )
