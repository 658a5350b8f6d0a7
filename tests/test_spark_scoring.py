"""Scoring on Spark (``training/batch/spark_scoring.py``, ``creditscore score --engine spark``) gives every
row the answer ``creditscore score`` gives it: the same PD, score, band and reasons, the same rejects
with the same reason, column and value, and no row dropped. So does the Glue job that runs it on ``s3://``
paths (``training/batch/glue_score_job.py``), run as Glue runs it against the local endpoints."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Hashable
from pathlib import Path, PurePosixPath
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from creditscore import aws
from creditscore.cli import main
from creditscore.config import Settings, endpoint_environment, load_settings
from creditscore.domain.features import names
from plugins.registry import Gate, Registry
from plugins.version_dir import read_version
from tests.factories import customers, trained_new_customer_dir
from training.batch.source import load_model
from training.batch.spark_scoring import (
    REJECT_COLUMN,
    REJECT_REASON,
    REJECT_VALUE,
    read_rows,
    score_dataframe,
)

MODEL: Final = "xgboost-new-customer"
FEATURES: Final = tuple(names("application"))
ROWS: Final = 800
#: Row number (1-based) -> (feature spoiled, its value): one of each reason, as test_batch_scoring's.
SPOILED: Final[dict[int, tuple[str, Any]]] = {
    3: ("income", "abc"),
    7: ("debt", None),
    8: ("savings", math.inf),
    20: ("net_worth", 1e39),
    21: ("income", None),
    400: ("debt", "n.a."),
}
REASONS: Final = 2
ROOT: Final = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_new_customer_dir(tmp_path_factory.mktemp("spark-trained"), 1500, seed=21, rounds=30)


@pytest.fixture(scope="module")
def applicants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bank's CSV export: an ID with leading zeros, the features, a column no model takes, bad rows."""
    frame = customers(ROWS, seed=22)[["national_id", *FEATURES]].astype({"income": object, "debt": object})
    frame["branch"] = "HN-01"
    for row, (feature, value) in SPOILED.items():
        frame.loc[row - 1, feature] = value
    path = tmp_path_factory.mktemp("spark-rows") / "applicants.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def local_settings() -> Settings:
    return load_settings()


def local_engine(model_dir: Path, data: Path, out: Path, *extra: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``creditscore score``'s scores and rejects files, IDs as text."""
    assert main(["score", "--model", str(model_dir), "--data", str(data), "--out", str(out), *extra]) == 0
    text: dict[Hashable, type[str]] = {"national_id": str, "value": str}
    scores = pd.read_csv(out, dtype=text, float_precision="round_trip")
    rejects = pd.read_csv(out.with_name(out.stem + ".rejects.csv"), dtype=text, keep_default_na=False)
    return scores, rejects


def test_spark_scores_every_row_as_creditscore_score_does_rejects_included(
    spark: SparkSession, model_dir: Path, applicants: Path, local_settings: Settings, tmp_path: Path
) -> None:
    scores, rejects = local_engine(model_dir, applicants, tmp_path / "scores.csv", "--reasons", str(REASONS))

    rows = read_rows(spark, str(applicants)).repartition(3)  # several tasks, each its own batches
    result = score_dataframe(rows, load_model(str(model_dir), local_settings), reasons=REASONS).toPandas()

    assert len(result) == ROWS  # nothing dropped
    assert result["national_id"].is_unique
    flagged = result[REJECT_REASON].notna()
    got = result[~flagged].drop(columns=[REJECT_REASON, REJECT_COLUMN, REJECT_VALUE])
    got = got.sort_values("national_id").reset_index(drop=True)
    want = scores.sort_values("national_id").reset_index(drop=True)
    assert (
        list(got.columns)
        == list(want.columns)
        == [
            "national_id",
            "probability_of_default",
            "score",
            "band",
            "reason_1",
            "reason_2",
        ]
    )
    assert got["national_id"].tolist() == want["national_id"].tolist()
    assert np.array_equal(
        got["probability_of_default"].to_numpy(float), want["probability_of_default"].to_numpy()
    )
    assert got["score"].to_numpy(int).tolist() == want["score"].tolist()
    for column in ("band", "reason_1", "reason_2"):
        assert got[column].fillna("").tolist() == want[column].fillna("").tolist(), column

    refused = result[flagged].sort_values("national_id")
    expected = rejects.sort_values("national_id")
    assert refused["national_id"].tolist() == expected["national_id"].tolist()
    assert refused[REJECT_REASON].tolist() == expected["reason"].tolist()
    assert refused[REJECT_COLUMN].tolist() == expected["column"].tolist()
    assert refused[REJECT_VALUE].fillna("").tolist() == expected["value"].tolist()
    assert sorted(expected["row"]) == sorted(SPOILED)
    # A rejected row has no score.
    assert refused[["probability_of_default", "score", "band", "reason_1"]].isna().all().all()


def test_score_engine_spark_writes_the_scores_and_rejects_the_local_engine_writes(
    spark: SparkSession, model_dir: Path, applicants: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, rejects = local_engine(model_dir, applicants, tmp_path / "local" / "scores.csv")
    capsys.readouterr()
    out = tmp_path / "spark" / "scores.parquet"
    command = [
        "score",
        "--engine",
        "spark",
        "--model",
        str(model_dir),
        "--data",
        str(applicants),
        "--out",
        str(out),
    ]
    assert main(command) == 0
    printed = " ".join(capsys.readouterr().out.split())
    for line in ("read 800", "scored 794", "rejected 6", "rejected: non_numeric 2", "rejected: not_finite 2"):
        assert line in printed

    got = pd.read_parquet(out).sort_values("national_id").reset_index(drop=True)
    want = scores.sort_values("national_id").reset_index(drop=True)
    assert list(got.columns) == ["national_id", "probability_of_default", "score", "band"]
    assert got["national_id"].tolist() == want["national_id"].tolist()
    assert np.array_equal(got["probability_of_default"].to_numpy(), want["probability_of_default"].to_numpy())
    assert got["score"].tolist() == want["score"].tolist() and got["band"].tolist() == want["band"].tolist()
    parts = sorted(
        (tmp_path / "spark" / "scores.rejects.csv").glob("part-*.csv")
    )  # a directory, as Spark writes
    refused = pd.concat(pd.read_csv(part, dtype=str, keep_default_na=False) for part in parts)
    assert list(refused.columns) == ["national_id", "reason", "column", "value"]
    expected = rejects.drop(columns=["row"])
    assert (
        refused.sort_values("national_id").values.tolist()
        == expected.sort_values("national_id").values.tolist()
    )


def test_rows_without_an_id_are_numbered_as_creditscore_score_numbers_them(
    spark: SparkSession, model_dir: Path, applicants: Path, local_settings: Settings, tmp_path: Path
) -> None:
    anonymous = tmp_path / "anonymous.csv"
    pd.read_csv(applicants, dtype=str).drop(columns=["national_id"]).to_csv(anonymous, index=False)
    scores, rejects = local_engine(model_dir, anonymous, tmp_path / "scores.csv")

    result = score_dataframe(
        read_rows(spark, str(anonymous)), load_model(str(model_dir), local_settings)
    ).toPandas()

    assert result["row"].sort_values().tolist() == list(range(1, ROWS + 1))
    flagged = result[result[REJECT_REASON].notna()].sort_values("row")
    assert flagged["row"].tolist() == rejects["row"].tolist() == sorted(SPOILED)
    assert flagged[REJECT_REASON].tolist() == rejects["reason"].tolist()
    kept = result[result[REJECT_REASON].isna()].sort_values("row")
    assert kept["row"].tolist() == scores["row"].tolist()
    assert np.array_equal(
        kept["probability_of_default"].to_numpy(float), scores["probability_of_default"].to_numpy()
    )


def test_spark_refuses_outputs_that_would_replace_its_input(
    model_dir: Path, applicants: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Spark clears an output directory before reading: the input would be gone.
    command = ["score", "--engine", "spark", "--model", str(model_dir), "--data", str(applicants)]
    assert main([*command, "--out", str(applicants)]) == 1
    assert "would be overwritten by the outputs" in capsys.readouterr().err
    assert applicants.is_file()


def _glue_score_job(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The Glue job as its own process: Glue-style arguments (and one Glue adds itself), none of the
    test's CREDITSCORE_* but the local endpoints, as a Glue job's environment has none."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("CREDITSCORE_")}
    command = [sys.executable, "-m", "training.batch.glue_score_job", "--JOB_NAME", "score-book", *args]
    return subprocess.run(
        [*command, "--job-bookmark-option", "job-bookmark-disable"],
        env={**inherited, **endpoint_environment(settings)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _parts(s3: object, bucket: str, folder: str) -> list[str]:
    listing = aws_keys(s3, bucket, folder + "/")
    assert f"{folder}/_SUCCESS" in listing and not any(k.endswith(".crc") for k in listing)
    return [k for k in listing if PurePosixPath(k).name.startswith("part-")]


def aws_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_the_glue_score_job_writes_to_s3_what_creditscore_score_writes(
    settings: Settings, model_dir: Path, applicants: Path, tmp_path: Path
) -> None:
    version = read_version(model_dir)
    Registry.from_settings(settings).publish(version.manifest, version.files, Gate(0.0, 1.0))
    s3 = aws.client("s3", settings)
    bucket = settings.cleaned_bucket
    s3.upload_file(str(applicants), bucket, "books/2026-12/applicants.csv")
    scores, rejects = local_engine(model_dir, applicants, tmp_path / "scores.csv", "--reasons", str(REASONS))

    run = _glue_score_job(
        settings,
        *("--MODELS_BUCKET", settings.models_bucket, "--MODEL", MODEL, "--REASONS", str(REASONS)),
        *("--INPUT", f"s3://{bucket}/books/2026-12/applicants.csv"),
        *("--OUTPUT", f"s3://{bucket}/scores/2026-12/scores.parquet"),
    )

    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert (summary["model"], summary["version"]) == (MODEL, version.manifest.version)
    assert (summary["read"], summary["scored"]) == (ROWS, ROWS - len(SPOILED))
    assert summary["rejected"] == rejects["reason"].value_counts().to_dict()
    assert summary["rejects"] == f"s3://{bucket}/scores/2026-12/scores.rejects.csv"

    def body(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    got = pd.concat(
        pd.read_parquet(io.BytesIO(body(key))) for key in _parts(s3, bucket, "scores/2026-12/scores.parquet")
    )
    got = got.sort_values("national_id").reset_index(drop=True)
    want = scores.sort_values("national_id").reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert got["national_id"].tolist() == want["national_id"].tolist()
    assert np.array_equal(got["probability_of_default"].to_numpy(), want["probability_of_default"].to_numpy())
    assert got["score"].tolist() == want["score"].tolist()
    for column in ("band", "reason_1", "reason_2"):
        assert got[column].fillna("").tolist() == want[column].fillna("").tolist(), column

    refused = pd.concat(
        pd.read_csv(io.BytesIO(body(key)), dtype=str, keep_default_na=False)
        for key in _parts(s3, bucket, "scores/2026-12/scores.rejects.csv")
    )
    assert list(refused.columns) == ["national_id", "reason", "column", "value"]
    assert (
        refused.sort_values("national_id").values.tolist()
        == rejects.drop(columns=["row"]).sort_values("national_id").values.tolist()
    )

    # A book as a folder of part files (as a bank's Spark export writes one), the version named: scored the
    # same, and the outputs replaced as Spark's overwrite replaces them, no part of an earlier run left.
    text = applicants.read_text().splitlines(keepends=True)
    header, body_lines = text[0], text[1:]
    for number, start in enumerate((0, ROWS // 2)):
        part = "".join([header, *body_lines[start : start + ROWS // 2]])
        s3.put_object(Bucket=bucket, Key=f"books/2026-12/parts.csv/part-{number}.csv", Body=part.encode())
    stale = "scores/2026-12/scores.parquet/part-99999-stale.parquet"
    s3.put_object(Bucket=bucket, Key=stale, Body=b"left by an earlier run")
    again = _glue_score_job(
        settings,
        *("--MODELS_BUCKET", settings.models_bucket, "--MODEL", f"{MODEL}@{version.manifest.version}"),
        *("--INPUT", f"s3://{bucket}/books/2026-12/parts.csv"),
        *("--OUTPUT", f"s3://{bucket}/scores/2026-12/scores.parquet"),
    )
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout.strip().splitlines()[-1])
    assert (rerun["read"], rerun["scored"], rerun["rejected"]) == (
        ROWS,
        summary["scored"],
        summary["rejected"],
    )
    assert stale not in aws_keys(s3, bucket, "scores/2026-12/")
    rescored = pd.concat(
        pd.read_parquet(io.BytesIO(body(key))) for key in _parts(s3, bucket, "scores/2026-12/scores.parquet")
    )
    assert np.array_equal(
        rescored.sort_values("national_id")["probability_of_default"].to_numpy(),
        want["probability_of_default"].to_numpy(),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--INPUT", "s3://b/scores/x.csv", "--OUTPUT", "s3://b/scores"), "must end with .parquet or .csv"),
        (("--INPUT", "s3://b/s.parquet/p.csv", "--OUTPUT", "s3://b/s.parquet"), "would be overwritten"),
        (("--INPUT", "books/x.csv", "--OUTPUT", "s3://b/s.parquet"), "--INPUT 'books/x.csv' is not s3://"),
        (("--INPUT", "s3://b/x.csv", "--OUTPUT", "s3://b/s.csv", "--REJECTS", "s3://b/s.csv/r"), "apart"),
        (("--INPUT", "s3://b/x.csv", "--OUTPUT", "s3://b/s.csv", "--MODEL", "./model"), "published version"),
    ],
)
def test_the_glue_score_job_refuses_paths_it_cannot_keep_apart_before_reading_anything(
    settings: Settings, args: tuple[str, ...], message: str
) -> None:
    model = () if "--MODEL" in args else ("--MODEL", MODEL)
    run = _glue_score_job(settings, "--MODELS_BUCKET", settings.models_bucket, *model, *args)
    assert run.returncode == 1 and message in run.stderr, run.stderr
