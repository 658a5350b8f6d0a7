"""The cloud's pipeline run locally, step by step, through each step's own entry point (issue 17).

In AWS (modules/ml): the ETL job, then the Glue workflow's conditional trigger starts the load job
(``etl/glue_load_job.py``), whose success starts the retraining state machine; it reads the newest-snapshot
pointer the load wrote and runs a SageMaker training job per model (``training/sagemaker.py`` with
``publish=true``, or ``challenger``), which publishes through the registry's gate; the service's pointer
watch serves it.

Here: the same entry points as processes of their own, with the job arguments and the ``SM_*`` environment
and channel folder the cloud gives them, against the local endpoints; the ETL is ``creditscore etl``'s local
runner (the same pipeline; Spark here has no S3 connector); the channel is filled from the pointer's
snapshot as SageMaker's File mode fills it. It ends with a running service answering with the new version.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from creditscore import aws
from creditscore.config import Settings, endpoint_environment
from creditscore.local_aws import LocalAws
from etl import ingest
from etl.load_record import LATEST_SNAPSHOT_KEY, load_report_key
from etl.local_runner import run_local
from etl.synthetic import generate
from plugins.registry import REPORT_FOLDER, Registry
from server.app import create_app
from tests.conftest import SCORE_KEY, settings_for, with_keys
from tests.factories import customers, publish_builtins
from training.plots import CALIBRATION_FILE, ROC_FILE, SCORES_FILE
from training.report import REPORT_FILE

ROOT = Path(__file__).resolve().parent.parent
MODEL = "xgboost-new-customer"
INGEST_DAY = date(2026, 11, 2)


def _job_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """A job's environment: none of the test's CREDITSCORE_*, only the endpoints and what the cloud sets."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("CREDITSCORE_")}
    return {**inherited, **endpoint_environment(settings), **extra}


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _sagemaker_job(
    settings: Settings, work: Path, snapshot: str, publish: str = "true", **env: str
) -> subprocess.CompletedProcess[str]:
    """A training job as the state machine starts it: the pointer's snapshot in the train channel, the
    hyperparameters as the SDK encodes them, CREDITSCORE_MODELS_BUCKET in the environment."""
    channel, model_dir, config, output = (work / name for name in ("train", "model", "config", "output"))
    for directory in (channel, model_dir, config, output):
        directory.mkdir(parents=True)
    s3 = aws.client("s3", settings)
    prefix = f"features/snapshot={snapshot}/"
    for key, _ in ingest.list_objects(s3, settings.cleaned_bucket):
        if key.startswith(prefix) and key.endswith(".parquet"):
            s3.download_file(settings.cleaned_bucket, key, str(channel / key.rsplit("/", 1)[1]))
    hyperparameters = {"model": json.dumps(MODEL), "publish": json.dumps(publish), "num_boost_round": "30"}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    sm = {
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_MODEL_DIR": str(model_dir),
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
        "SM_OUTPUT_DIR": str(output),
        "CREDITSCORE_MODELS_BUCKET": settings.models_bucket,
    }
    return _run([sys.executable, "-m", "training.sagemaker"], _job_environment(settings, **sm, **env))


async def _served_version(client: Any) -> str:
    listing = await (await client.get("/api/v1/models", headers={"X-API-Key": SCORE_KEY})).json()
    return str({m["name"]: m for m in listing["models"]}[MODEL]["version"])


async def test_a_raw_upload_reaches_the_served_model_through_each_cloud_entry_point(
    local_aws: LocalAws, aiohttp_client: Callable[..., Any], tmp_path: Path
) -> None:
    settings = settings_for(local_aws, "pipeline")
    aws.bootstrap(settings)
    # The service runs before the pipeline, on versions trained earlier, watching the pointers.
    first = publish_builtins(settings, customers(1500, seed=3))[MODEL].manifest.version
    client = await aiohttp_client(create_app(with_keys(settings, model_poll_seconds=0.2)))
    assert await _served_version(client) == first

    generate(tmp_path / "raw", customers=1500, seed=17, dirty_share=0.0, progress=False)
    s3 = aws.client("s3", settings)
    for path in ingest.source_files(tmp_path / "raw"):
        ingest.upload(s3, settings.raw_bucket, ingest.describe(path, ingest.check_file(path)), INGEST_DAY)
    snapshot = (await asyncio.to_thread(run_local, settings, ingest_date=None, snapshot=None)).snapshot

    # The load job, with the arguments modules/ml gives it (no SNAPSHOT: the newest one).
    load_args = ["--JOB_NAME", "load", "--CLEANED_BUCKET", settings.cleaned_bucket]
    load_args += [
        "--CUSTOMERS_TABLE",
        settings.customers_table,
        "--job-bookmark-option",
        "job-bookmark-disable",
    ]
    loaded = await asyncio.to_thread(
        _run, [sys.executable, "-m", "etl.glue_load_job", *load_args], _job_environment(settings)
    )
    assert loaded.returncode == 0, loaded.stderr
    accounting = json.loads(
        s3.get_object(Bucket=settings.cleaned_bucket, Key=load_report_key(snapshot))["Body"].read()
    )
    assert accounting["snapshot"] == snapshot and accounting["rows"] == 1500
    assert accounting["items_written"] + accounting["rows_rejected"] == accounting["rows"]
    assert accounting["items_in_table"] == accounting["items_written"]
    pointer = json.loads(
        s3.get_object(Bucket=settings.cleaned_bucket, Key=LATEST_SNAPSHOT_KEY)["Body"].read()
    )
    assert pointer["snapshot"] == snapshot and pointer["features"] == f"features/snapshot={snapshot}/"

    # A run the gate refuses: stored for review with its report, never current, and the job fails so that
    # the state machine's catch raises the alarm.
    gated = await asyncio.to_thread(
        _sagemaker_job, settings, tmp_path / "gated", pointer["snapshot"], CREDITSCORE_GATE_MIN_AUC="0.9999"
    )
    assert gated.returncode == 1
    failure = (tmp_path / "gated" / "output" / "failure").read_text()
    assert failure.startswith(f"gated: {MODEL} version ") and "CREDITSCORE_GATE_MIN_AUC" in failure
    registry = Registry.from_settings(settings)
    held = failure.split()[3]
    assert held in registry.versions(MODEL) and registry.current_version(MODEL) == first

    # A run that passes: published, current, its report and charts beside it, and served by the watch.
    passed = await asyncio.to_thread(_sagemaker_job, settings, tmp_path / "passed", pointer["snapshot"])
    assert passed.returncode == 0, passed.stderr
    new = registry.current_version(MODEL)
    assert new not in (first, held)
    report_prefix = f"{MODEL}/{new}/{REPORT_FOLDER}/"
    stored = {
        key.removeprefix(report_prefix)
        for key, _ in ingest.list_objects(s3, settings.models_bucket)
        if key.startswith(report_prefix)
    }
    assert {REPORT_FILE, ROC_FILE, CALIBRATION_FILE, SCORES_FILE} <= stored
    report = json.loads(
        s3.get_object(Bucket=settings.models_bucket, Key=report_prefix + REPORT_FILE)["Body"].read()
    )
    assert report["version"] == new
    for _ in range(100):
        if await _served_version(client) == new:
            break
        await asyncio.sleep(0.1)
    assert await _served_version(client) == new

    # modules/ml's retraining_publish = "challenger": a version the gate lets in shadows the current one.
    shadowed = await asyncio.to_thread(
        _sagemaker_job, settings, tmp_path / "challenger", pointer["snapshot"], publish="challenger"
    )
    assert shadowed.returncode == 0, shadowed.stderr
    challenger = registry.challenger(MODEL)
    assert challenger is not None and challenger.mode == "shadow"
    assert challenger.version not in (first, held, new)
    assert f"{MODEL} version {challenger.version} published as the shadow challenger" in shadowed.stdout
    assert registry.current_version(MODEL) == new
    # ... and the running service follows it: scored in shadow beside the version that answers.
    shadowing: list[dict[str, Any]] = []
    for _ in range(100):
        dashboard = await (await client.get("/api/v1/dashboard", headers={"X-API-Key": SCORE_KEY})).json()
        if shadowing := [c for c in dashboard["challengers"] if c["version"] == challenger.version]:
            break
        await asyncio.sleep(0.1)
    assert shadowing and shadowing[0]["mode"] == "shadow"
    assert await _served_version(client) == new


@pytest.mark.parametrize("older_first", [True, False])
def test_the_newest_snapshot_pointer_only_moves_forward(settings: Settings, older_first: bool) -> None:
    from etl.load_customers import LoadSummary
    from etl.load_record import latest_loaded, record_load

    s3 = aws.client("s3", settings)
    order = ["2026-11-01", "2026-11-02"] if older_first else ["2026-11-02", "2026-11-01"]
    moved = [
        record_load(
            s3, settings.cleaned_bucket, LoadSummary(s, 3, 3, 3, {}, 0.1, 0), "now", f"features/snapshot={s}/"
        )
        for s in order
    ]
    assert moved == ([True, True] if older_first else [True, False])
    assert latest_loaded(s3, settings.cleaned_bucket) == "2026-11-02"
    # Each load leaves its own report whether the pointer moved or not.
    for snapshot in order:
        s3.head_object(Bucket=settings.cleaned_bucket, Key=load_report_key(snapshot))
