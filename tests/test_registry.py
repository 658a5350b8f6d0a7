"""The model registry against the real moto server: publish, gate, promote, rollback, verified loading."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditscore.cli import main
from creditscore.cli.models import EXIT_GATE_REFUSED
from creditscore.config import Settings
from creditscore.domain.calibration import CALIBRATION_FILE
from creditscore.plugin import Scorer
from plugins.artifacts import MANIFEST_FILE, ArtifactError, Pointer, pointer_key, version_prefix
from plugins.registry import Gate, Registry, RegistryError, auc_of
from tests.factories import customers
from tests.test_training import MODEL_FILE, LogisticScorer, put_snapshot, table_of, use_settings
from training import pipeline

GATE = Gate(min_auc=0.6, max_auc_drop=0.02)
MODEL = LogisticScorer.name
_clock = iter(datetime(2026, 11, 27, 12, 0, tzinfo=UTC) + timedelta(minutes=n) for n in range(1000))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return customers(3000, seed=11)


def train(frame: pd.DataFrame, scorer: Scorer | None = None) -> pipeline.TrainingResult:
    # Each run a minute after the last: versions are immutable, and their ids carry the time to the second.
    scorer = scorer or LogisticScorer()
    return pipeline.train(scorer, table_of(frame, scorer), progress=False, now=next(_clock))


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return Registry.from_settings(settings)


@pytest.fixture
def published(registry: Registry, frame: pd.DataFrame) -> pipeline.TrainingResult:
    result = train(frame)
    outcome = registry.publish(result.manifest, result.files, GATE)
    assert outcome.promoted
    return result


def test_publish_then_load_gives_identical_predictions(
    registry: Registry, published: pipeline.TrainingResult, frame: pd.DataFrame
) -> None:
    manifest, model = registry.load(LogisticScorer())
    rows = table_of(frame, LogisticScorer()).features
    assert manifest == published.manifest
    assert np.array_equal(model.predict_pd(rows), published.model.predict_pd(rows))
    assert np.array_equal(model.explain(rows), published.model.explain(rows))
    keys = {
        item["Key"]
        for item in registry.s3.list_objects_v2(Bucket=registry.bucket, Prefix=f"{MODEL}/")["Contents"]
    }
    prefix = version_prefix(MODEL, manifest.version)
    assert keys == {
        prefix + MODEL_FILE,
        prefix + CALIBRATION_FILE,
        prefix + MANIFEST_FILE,
        pointer_key(MODEL),
    }
    pointer = registry.pointer(MODEL)
    assert pointer is not None and pointer.version == manifest.version and pointer.previous == ()


def test_a_published_version_is_immutable(registry: Registry, published: pipeline.TrainingResult) -> None:
    with pytest.raises(RegistryError, match="already published; versions are immutable"):
        registry.publish(published.manifest, published.files, GATE)


def test_the_gate_refuses_a_worse_model_but_keeps_it_published(
    registry: Registry, published: pipeline.TrainingResult, frame: pd.DataFrame
) -> None:
    # The same algorithm on age alone: a real model, and a much weaker one.
    weak = train(frame, LogisticScorer().with_features(("age",)))
    assert auc_of(weak.manifest) < auc_of(published.manifest) - 0.02
    outcome = registry.publish(weak.manifest, weak.files, GATE)
    assert not outcome.promoted
    assert outcome.current == published.manifest.version
    assert "test AUC" in outcome.reason and (
        "below the minimum" in outcome.reason or "below the current" in outcome.reason
    )
    assert registry.current_version(MODEL) == published.manifest.version
    assert registry.versions(MODEL) == sorted([published.manifest.version, weak.manifest.version])
    assert registry.manifest(MODEL, weak.manifest.version) == weak.manifest


def test_the_gate_rules() -> None:
    assert GATE.refusal(0.59, None) is not None
    assert GATE.refusal(0.61, None) is None
    assert GATE.refusal(0.77, 0.80) is not None
    assert GATE.refusal(0.79, 0.80) is None
    assert GATE.refusal(0.85, 0.80) is None


def test_promote_and_rollback_move_the_pointer_and_keep_history(
    registry: Registry, published: pipeline.TrainingResult, frame: pd.DataFrame
) -> None:
    first = published.manifest.version
    second = train(frame.sample(frac=1.0, random_state=1))
    registry.publish(second.manifest, second.files, Gate(min_auc=0.99, max_auc_drop=0.0))
    assert registry.current_version(MODEL) == first

    pointer = registry.promote(MODEL, second.manifest.version)
    assert (pointer.version, pointer.previous) == (second.manifest.version, (first,))
    assert registry.promote(MODEL, second.manifest.version) == pointer

    back = registry.rollback(MODEL)
    assert (back.version, back.previous) == (first, ())
    assert registry.current_version(MODEL) == first
    with pytest.raises(RegistryError, match="no previous version to roll back to"):
        registry.rollback(MODEL)
    with pytest.raises(RegistryError, match="has no version 20990101T000000Z-00000000"):
        registry.promote(MODEL, "20990101T000000Z-00000000")


def test_a_pointer_changed_meanwhile_is_not_overwritten(
    registry: Registry, published: pipeline.TrainingResult, frame: pd.DataFrame
) -> None:
    other = train(frame.iloc[::-1])
    registry.publish(other.manifest, other.files, Gate(min_auc=0.99, max_auc_drop=0.0))
    stale = registry._pointer(MODEL)
    registry.promote(MODEL, other.manifest.version)
    with pytest.raises(RegistryError, match="changed by someone else meanwhile"):
        registry._move_pointer(MODEL, published.manifest.version, stale)
    assert registry.current_version(MODEL) == other.manifest.version


@pytest.mark.parametrize("tamper", ["change", "delete", "add"])
def test_a_tampered_artifact_is_refused_naming_the_file(
    registry: Registry, published: pipeline.TrainingResult, tamper: str
) -> None:
    prefix = version_prefix(MODEL, published.manifest.version)
    s3 = registry.s3
    if tamper == "change":
        document = json.loads(published.files[MODEL_FILE])
        document["bias"] += 1.0
        s3.put_object(Bucket=registry.bucket, Key=prefix + MODEL_FILE, Body=json.dumps(document).encode())
        expected = f"{MODEL_FILE}: sha256"
    elif tamper == "delete":
        s3.delete_object(Bucket=registry.bucket, Key=prefix + CALIBRATION_FILE)
        expected = f"{CALIBRATION_FILE}: missing"
    else:
        s3.put_object(Bucket=registry.bucket, Key=prefix + "loader.py", Body=b"import os")
        expected = "loader.py: not listed in the manifest"
    with pytest.raises(ArtifactError) as caught:
        registry.load(LogisticScorer())
    assert expected in str(caught.value)
    with pytest.raises(ArtifactError, match="failed verification"):
        registry.promote(MODEL, published.manifest.version)


def test_a_malformed_pointer_or_manifest_is_refused(
    registry: Registry, published: pipeline.TrainingResult
) -> None:
    registry.s3.put_object(Bucket=registry.bucket, Key=pointer_key(MODEL), Body=b'{"version": "../../etc"}')
    with pytest.raises(ArtifactError, match=r"current\.json is malformed"):
        registry.load(LogisticScorer())
    good = Pointer(published.manifest.version, (), "2026-11-27T00:00:00Z")
    registry.s3.put_object(Bucket=registry.bucket, Key=pointer_key(MODEL), Body=good.to_json())
    key = version_prefix(MODEL, published.manifest.version) + MANIFEST_FILE
    document = json.loads(published.manifest.to_json())
    document["files"] = {"../other/model.json": "0" * 64}
    registry.s3.put_object(Bucket=registry.bucket, Key=key, Body=json.dumps(document).encode())
    with pytest.raises(
        ArtifactError, match=r"'\.\./other/model\.json' is not an acceptable artifact file name"
    ):
        registry.load(LogisticScorer())


def test_a_model_without_a_pointer_cannot_be_loaded(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="logistic-test has no current version"):
        registry.load(LogisticScorer())


# --- the command line ------------------------------------------------------------------------------------


def test_models_commands_list_show_promote_and_rollback(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    registry: Registry,
    published: pipeline.TrainingResult,
    frame: pd.DataFrame,
) -> None:
    use_settings(monkeypatch, settings)
    first = published.manifest.version
    second = train(frame.iloc[:2500])
    registry.publish(second.manifest, second.files, Gate(min_auc=0.99, max_auc_drop=0.0))
    capsys.readouterr()

    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("*") and first in line for line in listed)
    assert any(second.manifest.version in line and not line.startswith("*") for line in listed)

    assert main(["models", "show", MODEL]) == 0
    shown = capsys.readouterr().out
    assert f"{first} (current)" in shown
    assert f"{auc_of(published.manifest):.4f}" in shown
    assert published.manifest.files[MODEL_FILE] in shown

    assert main(["models", "promote", MODEL, second.manifest.version]) == 0
    assert f"current version is {second.manifest.version} (before: {first})" in capsys.readouterr().out
    assert main(["models", "rollback", MODEL]) == 0
    assert f"current version is {first}" in capsys.readouterr().out
    assert main(["models", "rollback", MODEL]) == 1
    assert "no previous version to roll back to" in capsys.readouterr().err
    assert main(["models", "show", MODEL, "20990101T000000Z-00000000"]) == 1


def test_train_publish_exits_3_when_the_gate_refuses_and_0_when_it_passes(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    registry: Registry,
    frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    use_settings(monkeypatch, settings)
    put_snapshot(settings, frame)
    argv = ["train", "--model", "xgboost-new-customer", "--params", '{"num_boost_round": 30}', "--publish"]
    monkeypatch.setenv("CREDITSCORE_GATE_MIN_AUC", "0.99")
    assert main([*argv, "--out", str(tmp_path / "a")]) == EXIT_GATE_REFUSED
    err = capsys.readouterr().err
    assert "but the current version stays unset" in err and "below the minimum 0.9900" in err
    assert registry.pointer("xgboost-new-customer") is None
    assert len(registry.versions("xgboost-new-customer")) == 1

    monkeypatch.setenv("CREDITSCORE_GATE_MIN_AUC", "0.5")
    # A newer snapshot: other data, so another version even within the same second.
    put_snapshot(settings, frame.iloc[:2500], snapshot="2026-11-28")
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert "and made it current" in capsys.readouterr().out
    versions = registry.versions("xgboost-new-customer")
    assert len(versions) == 2
    manifest = registry.manifest("xgboost-new-customer", registry.current_version("xgboost-new-customer"))
    assert manifest.metrics["test"]["rows"] == 375
