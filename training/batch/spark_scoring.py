"""Batch scoring on Spark: a DataFrame of raw rows scored as ``creditscore score`` scores a file.

:func:`score_dataframe` takes a DataFrame (a column per model input, raw values, and an ID column) and a
model version loaded on the driver (:func:`training.batch.source.load_model`: from the registry or a
directory, every file verified), and returns a DataFrame with one row per input row: the ID,
``probability_of_default``, ``score``, ``band`` and, when asked, ``reason_1`` .. ``reason_N``; a row that
cannot be scored keeps its place with those empty and ``reject_reason``, ``reject_column`` and
``reject_value`` saying why — the reasons and columns ``creditscore score`` writes to its rejects file.
Nothing is dropped: rows out = rows in.

The version travels as data: its manifest and files (bytes, already verified) in a broadcast variable.
Each Python worker rebuilds the model from them once, through :func:`plugins.artifacts.load_verified`
(verified again, the scorer's own ``load``, no pickle), and keeps it for every later task. A batch of
rows (``mapInPandas``, one Arrow batch at a time) goes through the very functions a file's chunk does:
:func:`training.batch.values.convert` (each value checked, the first bad one named) and
:class:`training.batch.scoring.ChunkScorer` (PD, the version's scaling, band, reasons), so a row gets the
same answer here, from a file and from the API.

:func:`score_with_spark` is ``creditscore score --engine spark``: a local session (AWS Glue supplies its
own, with the same function), the file read by Spark (CSV columns as text, as a bank's export holds them;
Parquet as typed), the scores and the rejects written as Spark writes: a directory of part files each.
Both it and the Glue job (:mod:`training.batch.glue_score_job`) go through :func:`score_to`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Final

import numpy as np
import pandas as pd
from pyspark.broadcast import Broadcast
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from creditscore.config import Settings
from creditscore.domain.scores import Scaling
from plugins.artifacts import Manifest, load_verified
from plugins.manager import scorer
from training.batch import BatchScoringError
from training.batch.reader import Chunk, find_id_column, require_columns
from training.batch.run import ROW, ScoringJob, Summary, rejects_beside
from training.batch.scoring import ChunkScorer
from training.batch.source import LoadedModel, load_model
from training.batch.values import convert

REJECT_REASON: Final = "reject_reason"
REJECT_COLUMN: Final = "reject_column"
REJECT_VALUE: Final = "reject_value"


@dataclass(frozen=True)
class ShippedVersion:
    """What the executors receive: a version as data (the manifest's JSON, the files' bytes), never a
    pickled model."""

    manifest: bytes
    files: Mapping[str, bytes]
    scaling: Scaling

    @classmethod
    def of(cls, loaded: LoadedModel) -> ShippedVersion:
        return cls(loaded.manifest.to_json(), dict(loaded.files), loaded.scaling)


# Per Python worker process: the models rebuilt from shipped versions, by manifest. Spark reuses its
# workers between tasks, so a version is loaded once per worker, not once per task or batch.
_MODELS: dict[bytes, tuple[Manifest, ChunkScorer]] = {}
_MODELS_LOCK: Final = threading.Lock()
# ChunkScorer splits a call between threads only above its MIN_ROWS_PER_THREAD per thread; one thread
# per Python worker here (Spark runs a worker per core), so the pool is never used.
_NO_POOL: Final = ThreadPoolExecutor(1, thread_name_prefix="spark-score")


def _scorer_for(shipped: ShippedVersion, reasons: int) -> tuple[Manifest, ChunkScorer]:
    key = shipped.manifest + reasons.to_bytes(2, "big")
    with _MODELS_LOCK:
        if key not in _MODELS:
            manifest = Manifest.from_json(shipped.manifest)
            model = load_verified(scorer(manifest.model), manifest, shipped.files)
            _MODELS[key] = (
                manifest,
                ChunkScorer(model, manifest.inputs, shipped.scaling, reasons, _NO_POOL, 1),
            )
        return _MODELS[key]


def result_schema(id_field: StructField, reasons: int) -> StructType:
    return StructType(
        [
            id_field,
            StructField("probability_of_default", DoubleType()),
            StructField("score", LongType()),
            StructField("band", StringType()),
            *(StructField(f"reason_{rank + 1}", StringType()) for rank in range(reasons)),
            StructField(REJECT_REASON, StringType()),
            StructField(REJECT_COLUMN, StringType()),
            StructField(REJECT_VALUE, StringType()),
        ]
    )


def _score_batches(
    frames: Iterator[pd.DataFrame], version: Broadcast[ShippedVersion], ids: str, numbered: bool, reasons: int
) -> Iterator[pd.DataFrame]:
    manifest, chunk_scorer = _scorer_for(version.value, reasons)
    for frame in frames:
        yield _score_frame(frame.reset_index(drop=True), manifest, chunk_scorer, ids, numbered)


def _score_frame(
    frame: pd.DataFrame, manifest: Manifest, chunk_scorer: ChunkScorer, ids: str, numbered: bool
) -> pd.DataFrame:
    rows = len(frame)
    converted = convert(frame, manifest.inputs, manifest.encoding)
    usable = np.flatnonzero(converted.usable)
    scored = chunk_scorer.score(converted.values[usable])
    kept = usable[scored.kept]
    refused = converted.refused
    not_scored = usable[~scored.kept]

    def column(values: object, at: np.ndarray, dtype: str = "object") -> pd.Series:
        series = pd.Series(pd.NA, index=range(rows), dtype=dtype)
        series.iloc[at] = values
        return series

    result = {
        ids: frame[ids].astype("int64") if numbered else pd.Series(Chunk(0, frame, 0).ids(ids)),
        "probability_of_default": column(scored.pd, kept, "Float64"),
        "score": column(scored.scores, kept, "Int64"),
        "band": column(scored.bands, kept),
        **{f"reason_{rank + 1}": column(names, kept) for rank, names in enumerate(scored.reasons)},
        REJECT_REASON: column(
            [*refused.reasons, *scored.refusals], np.concatenate([refused.positions, not_scored])
        ),
        REJECT_COLUMN: column(refused.columns, refused.positions),
        REJECT_VALUE: column(refused.values, refused.positions),
    }
    return pd.DataFrame(result)


def score_dataframe(
    rows: DataFrame, loaded: LoadedModel, *, id_column: str | None = None, reasons: int = 0
) -> DataFrame:
    """``rows`` scored with ``loaded``: one result row per input row, rejects flagged (module docstring).

    The ID column is ``id_column``, else found as ``creditscore score`` finds it; a DataFrame without one
    gets ``row``, each row's 1-based number in the DataFrame's order (a file's order when read from one).
    """
    manifest = loaded.manifest
    inputs = list(manifest.inputs)
    source = f"the DataFrame ({manifest.model} {manifest.version})"
    require_columns(rows.columns, source, inputs, manifest.model)
    ids = find_id_column(rows.columns, source, inputs, id_column)
    reasons = min(reasons, len(inputs))
    if ids is None:
        rows = _numbered(rows)
        id_field = StructField(ROW, LongType())
    else:
        id_field = StructField(ids, StringType())
    version = rows.sparkSession.sparkContext.broadcast(ShippedVersion.of(loaded))
    selected = rows.select(*dict.fromkeys([id_field.name, *inputs]))
    batches = partial(
        _score_batches, version=version, ids=id_field.name, numbered=ids is None, reasons=reasons
    )
    return selected.mapInPandas(batches, result_schema(id_field, reasons))


def _numbered(rows: DataFrame) -> DataFrame:
    """``rows`` with ``row``: 1, 2, ... in the DataFrame's order (zipWithIndex keeps partition order)."""
    schema = StructType([*rows.schema.fields, StructField(ROW, LongType(), nullable=False)])
    pairs = rows.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1))
    return rows.sparkSession.createDataFrame(pairs, schema)


def read_rows(spark: SparkSession, data: str) -> DataFrame:
    """A CSV file (header row; every column as text, as :mod:`training.batch.values` reads text) or a
    Parquet file, local or wherever Spark reads from (``s3://`` on Glue)."""
    suffix = PurePosixPath(data.rstrip("/")).suffix.lower()
    try:
        if suffix == ".csv":
            return spark.read.csv(data, header=True, inferSchema=False, enforceSchema=False)
        if suffix == ".parquet":
            return spark.read.parquet(data)
    except AnalysisException as error:
        raise BatchScoringError(f"cannot read {data}: {str(error).splitlines()[0]}") from None
    raise BatchScoringError(f"{data}: expected a .csv or .parquet file or directory")


def write_rows(rows: DataFrame, out: str | Path) -> None:
    """``rows`` as Parquet when ``out`` ends with .parquet, else CSV: local, or ``s3://`` on Glue."""
    writer = rows.write.mode("overwrite")
    if PurePosixPath(str(out)).suffix.lower() == ".parquet":
        writer.parquet(str(out))
    else:
        writer.csv(str(out), header=True, emptyValue="")


def score_to(
    spark: SparkSession,
    loaded: LoadedModel,
    data: str,
    out: str | Path,
    rejects: str | Path,
    *,
    id_column: str | None = None,
    reasons: int = 0,
) -> dict[str | None, int]:
    """``data`` scored with ``loaded``: the scores to ``out``, the rejects to ``rejects`` (each a directory
    of part files); the rows counted by reject reason, ``None`` for the rows scored. The one path of
    ``creditscore score --engine spark`` and of the Glue job (training/batch/glue_score_job.py)."""
    rows = read_rows(spark, data)
    result = score_dataframe(rows, loaded, id_column=id_column, reasons=reasons).persist()
    try:
        ids = result.columns[0]
        scored = result.where(F.col(REJECT_REASON).isNull())
        write_rows(scored.drop(REJECT_REASON, REJECT_COLUMN, REJECT_VALUE), out)
        refused = result.where(F.col(REJECT_REASON).isNotNull()).select(
            ids,
            F.col(REJECT_REASON).alias("reason"),
            F.col(REJECT_COLUMN).alias("column"),
            F.col(REJECT_VALUE).alias("value"),
        )
        write_rows(refused, rejects)
        return {
            row[REJECT_REASON]: int(row["count"]) for row in result.groupBy(REJECT_REASON).count().collect()
        }
    finally:
        result.unpersist()


def score_with_spark(settings: Settings, job: ScoringJob, spark: SparkSession | None = None) -> Summary:
    """``creditscore score --engine spark``: ``job.data`` scored on Spark, the scores to ``job.out`` and
    the rejects to ``job.rejects`` (each a directory of part files), counted as :class:`Summary`."""
    started = time.perf_counter()
    rejects = job.rejects or rejects_beside(job.out)
    outputs = {job.out.resolve(), rejects.resolve()}
    if len(outputs) < 2:
        raise BatchScoringError(f"--rejects {rejects} is the scores file itself")
    if "://" not in job.data and Path(job.data).resolve() in outputs:
        # Spark replaces an output directory before it has read its input.
        raise BatchScoringError(
            f"{job.data} would be overwritten by the outputs: choose another --out or --rejects"
        )
    loaded = load_model(job.model, settings)
    if spark is None:
        from etl.spark import local_session

        spark = local_session("creditscore-score")
    counted = score_to(
        spark, loaded, job.data, job.out, rejects, id_column=job.id_column, reasons=job.reasons
    )
    manifest = loaded.manifest
    summary = Summary(manifest.model, manifest.version, loaded.origin, job.data, job.out, rejects)
    summary.scored = counted.pop(None, 0)
    summary.rejected = Counter({str(reason): count for reason, count in counted.items()})
    summary.read = summary.scored + summary.rejected.total()
    summary.seconds = time.perf_counter() - started
    return summary
