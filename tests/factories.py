"""Test data shared by several test modules: a cleaned-snapshot-like customer table, and the three
built-in models trained small on it and published to a models bucket."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain.features import FEATURES, LABEL, names
from plugins.manager import scorer
from plugins.registry import Gate, Registry
from training import data, pipeline

# Small enough to train in seconds, big enough to carry signal (and pass a permissive gate).
SMALL_PARAMS: Final[dict[str, dict[str, Any]]] = {
    "xgboost-new-customer": {"num_boost_round": 40},
    "pytorch-traditional": {"hidden": [16], "max_epochs": 15},
    "extratrees-social": {"n_estimators": 20},
}
_OPEN_GATE: Final = Gate(min_auc=0.0, max_auc_drop=1.0)


def customers(rows: int, seed: int = 7) -> pd.DataFrame:
    """A cleaned-snapshot-like table: every feature, the label, national_id and features_as_of."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"national_id": [f"{n:012d}" for n in range(rows)]})
    # A hidden risk every other feature reads with noise, so each built-in's features carry signal.
    risk = rng.normal(0, 1, rows)
    for feature in FEATURES:
        frame[feature.name] = 0.6 * risk + rng.normal(0, 1, rows)
    frame["income"] = rng.lognormal(16, 0.6, rows)
    frame["debt_to_income"] = rng.gamma(2, 0.5, rows)
    frame["num_past_due_90_plus"] = rng.poisson(0.3, rows).astype(np.float64)
    frame["credit_utilization"] = rng.beta(2, 4, rows)
    frame["age"] = rng.uniform(20, 70, rows).round()
    z = (
        -3.0
        + 0.9 * frame["debt_to_income"]
        + 0.9 * frame["num_past_due_90_plus"]
        + 2.5 * frame["credit_utilization"]
        - 0.02 * (frame["age"] - 45)
        - 0.5 * np.log(frame["income"] / 9e6)
        + 0.8 * risk
    )
    frame[LABEL] = (rng.uniform(0, 1, rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    frame["features_as_of"] = "2026-11-26"
    return frame


def publish_builtins(
    settings: Settings, frame: pd.DataFrame, now: datetime | None = None
) -> dict[str, pipeline.TrainingResult]:
    """Train each built-in scorer small on ``frame`` and make it current in ``settings``' models bucket."""
    registry = Registry.from_settings(settings)
    results = {}
    for name, params in SMALL_PARAMS.items():
        model = scorer(name)
        table = data.table_from_frame(frame, "test frame", model.features, None)
        result = pipeline.train(model, table, params, progress=False, now=now or datetime.now(UTC))
        registry.publish(result.manifest, result.files, _OPEN_GATE)
        results[name] = result
    return results


def copy_models(source: Settings, target: Settings) -> None:
    """Every object of ``source``'s models bucket into ``target``'s: a bucket of its own to change."""
    s3 = aws.client("s3", target)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source.models_bucket):
        for item in page.get("Contents", []):
            copied = {"Bucket": source.models_bucket, "Key": item["Key"]}
            s3.copy_object(Bucket=target.models_bucket, Key=item["Key"], CopySource=copied)


def trained_new_customer_dir(root: Path, rows: int, seed: int, rounds: int) -> Path:
    """``xgboost-new-customer`` trained small by ``creditscore train --out DIR``: the version's directory."""
    from creditscore.cli import main

    training = root / "train.parquet"
    table = customers(rows, seed=seed)[["national_id", *names("application"), LABEL]]
    table.to_parquet(training, index=False)
    out = root / "model"
    params = f'{{"num_boost_round": {rounds}}}'
    command = ["train", "--model", "xgboost-new-customer", "--data", str(training), "--params", params]
    assert main([*command, "--out", str(out)]) == 0
    return out
