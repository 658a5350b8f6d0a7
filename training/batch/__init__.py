"""Batch scoring: ``creditscore score`` scores a file of rows with one model version, as the service would.

- :mod:`training.batch.source`: the model, from the registry or from a directory ``creditscore train --out``
  wrote, loaded through :func:`plugins.artifacts.load_verified` as the service loads it (every file
  verified; the manifest's encoding and transforms in front, the calibration behind);
- :mod:`training.batch.reader`: the file, CSV or Parquet, local or in S3, a chunk at a time;
- :mod:`training.batch.values`: each chunk's input columns as numbers (codes and numbers written as text
  decoded as training decoded them), and why a row cannot be scored;
- :mod:`training.batch.scoring`: PD, score (the model's recorded scaling), band and reasons, on threads;
- :mod:`training.batch.writer`: the scores and the rejects, written as they come;
- :mod:`training.batch.run`: the run, where every row read is scored or rejected with why.
- :mod:`training.batch.spark_scoring`: the same checks and scoring on a Spark DataFrame (``--engine spark``;
  a Glue job), the version broadcast as its verified files.
- :mod:`training.batch.glue_score_job`: that Spark scoring as AWS Glue runs it, on ``s3://`` paths
  (modules/ml's ``{prefix}-score-book``); :mod:`training.batch.s3_staging` stages those paths where Spark has
  no S3 connector (local mode).

It lives beside training because it is an offline job on the same stack (pandas, pyarrow: the ``train``
extra).
"""

from __future__ import annotations

from creditscore.errors import JobError


class BatchScoringError(JobError):
    """The model, the input or the output of a scoring run is unusable; the message names which and why."""
