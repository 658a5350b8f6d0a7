"""The training pipeline, through a small honest scorer (numpy logistic regression) and the built-ins."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from matplotlib.image import imread

from creditscore import aws
from creditscore.cli import main
from creditscore.config import Settings, endpoint_environment
from creditscore.domain.calibration import CALIBRATION_FILE, Calibration, CalibrationError
from creditscore.domain.features import APPLICATION, LABEL, TRADITIONAL
from creditscore.domain.scores import BAND_NAMES, BANDS, Scaling, band
from creditscore.plugin import Artifacts, Labels, Matrix, Progress, Scorer, Segment, Vector
from plugins.artifacts import (
    ArtifactError,
    Manifest,
    Transform,
    fingerprint,
    load_verified,
    transform_rows,
    verify,
)
from plugins.calibration import fit_platt
from plugins.manager import installed
from tests.factories import customers
from training import data, pipeline
from training.data import DataError, TrainingTable
from training.mapping import MappingError, load_mapping, parse_mapping
from training.plots import CALIBRATION_FILE as CALIBRATION_PNG
from training.plots import ROC_FILE, SCORES_FILE
from training.report import REPORT_FILE
from training.split import Shares, split

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = "2026-11-27"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODEL_FILE = "model.json"


# --- a small honest scorer -------------------------------------------------------------------------------


class LogisticModel:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.mean = np.asarray(document["mean"], dtype=np.float64)
        self.std = np.asarray(document["std"], dtype=np.float64)
        self.weights = np.asarray(document["weights"], dtype=np.float64)
        self.bias = float(document["bias"])
        # Deliberate miscalibration (tests of the calibration): log-odds scaled and shifted after fitting.
        self.scale = float(document["logit_scale"])
        self.shift = float(document["logit_shift"])

    def _standard(self, rows: Matrix) -> Matrix:
        return (rows - self.mean) / self.std

    def predict_pd(self, rows: Matrix) -> Vector:
        z = self.scale * (self._standard(rows) @ self.weights + self.bias) + self.shift
        return 1.0 / (1.0 + np.exp(-z))

    def explain(self, rows: Matrix) -> Matrix:
        return self.scale * self._standard(rows) * self.weights


class LogisticScorer(Scorer):
    """Logistic regression by full-batch gradient descent from a seeded start; artifacts are JSON."""

    name: ClassVar[str] = "logistic-test"
    segment: ClassVar[Segment] = "new"
    groups: ClassVar[tuple[str, ...]] = (APPLICATION, TRADITIONAL)
    features: tuple[str, ...] = (
        "income",
        "debt_to_income",
        "num_past_due_90_plus",
        "credit_utilization",
        "age",
    )
    default_params: ClassVar[Mapping[str, Any]] = {
        "seed": 0,
        "iterations": 150,
        "learning_rate": 0.5,
        "logit_scale": 1.0,
        "logit_shift": 0.0,
    }

    def fit(
        self,
        features: Matrix,
        labels: Labels,
        params: Mapping[str, Any],
        validation: tuple[Matrix, Labels] | None = None,
        progress: Progress | None = None,
    ) -> Artifacts:
        merged = {**self.default_params, **params}
        assert features.shape[1] == len(self.features)
        mean = features.mean(axis=0)
        std = np.where(features.std(axis=0) > 0, features.std(axis=0), 1.0)
        x = (features - mean) / std
        rng = np.random.default_rng(int(merged["seed"]))
        weights = rng.normal(0, 0.01, x.shape[1])
        bias = 0.0
        iterations = int(merged["iterations"])
        for step in range(iterations):
            error = 1.0 / (1.0 + np.exp(-(x @ weights + bias))) - labels
            weights -= float(merged["learning_rate"]) * (x.T @ error) / len(labels)
            bias -= float(merged["learning_rate"]) * float(error.mean())
            if progress:
                progress(step + 1, iterations)
        document = {
            "features": list(self.features),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "weights": weights.tolist(),
            "bias": bias,
            "logit_scale": float(merged["logit_scale"]),
            "logit_shift": float(merged["logit_shift"]),
        }
        return {MODEL_FILE: json.dumps(document).encode()}

    def load(self, files: Mapping[str, bytes]) -> LogisticModel:
        document = json.loads(files[MODEL_FILE])
        if tuple(document["features"]) != self.features:
            raise ValueError(f"trained on {document['features']}, not {self.features}")
        return LogisticModel(document)


class OtherScorer(LogisticScorer):
    name: ClassVar[str] = "other"


# --- data ------------------------------------------------------------------------------------------------


def put_snapshot(settings: Settings, frame: pd.DataFrame, snapshot: str = SNAPSHOT, parts: int = 2) -> None:
    s3 = aws.client("s3", settings)
    for part, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame.iloc[chunk], preserve_index=False), buffer)
        key = f"features/snapshot={snapshot}/part-{part:05d}-c000.snappy.parquet"
        s3.put_object(Bucket=settings.cleaned_bucket, Key=key, Body=buffer.getvalue())


def table_of(frame: pd.DataFrame, scorer: Scorer) -> TrainingTable:
    return data.table_from_frame(frame, "test frame", scorer.features, None)


def quiet_train(
    scorer: Scorer, table: TrainingTable, params: Mapping[str, Any] | None = None
) -> pipeline.TrainingResult:
    return pipeline.train(scorer, table, params, progress=False)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return customers(4000)


@pytest.fixture(scope="module")
def trained(frame: pd.DataFrame) -> pipeline.TrainingResult:
    return quiet_train(LogisticScorer(), table_of(frame, LogisticScorer()))


# --- the pipeline ----------------------------------------------------------------------------------------


def test_trains_on_the_latest_snapshot_and_writes_report_and_valid_pngs(
    settings: Settings, tmp_path: Path, frame: pd.DataFrame
) -> None:
    put_snapshot(settings, frame.iloc[:500], snapshot="2026-10-01")
    put_snapshot(settings, frame)
    scorer = LogisticScorer()
    table = data.load_table(settings, None, scorer.features, None)
    assert table.source == f"s3://{settings.cleaned_bucket}/features/snapshot={SNAPSHOT}/"
    assert len(table.labels) == len(frame)

    result = quiet_train(scorer, table)
    written = pipeline.write_outputs(result, tmp_path / "out")

    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert {path.name for path in written} == {REPORT_FILE, ROC_FILE, CALIBRATION_PNG, SCORES_FILE}
    for split_name in ("train", "validation", "test"):
        assert {"auc", "gini", "ks", "brier", "brier_uncalibrated", "rows"} <= set(
            report["metrics"][split_name]
        )
    test = report["metrics"]["test"]
    assert 0.7 < test["auc"] < 0.95
    assert test["gini"] == pytest.approx(2 * test["auc"] - 1)
    assert 0 < test["ks"] < 1
    assert sum(row["rows"] for row in report["calibration_table"]) == test["rows"] == 600
    assert [row["decile"] for row in report["calibration_table"]] == list(range(1, 11))
    assert report["version"] == result.manifest.version
    assert result.manifest.metrics["test"]["auc"] == test["auc"]
    for name in (ROC_FILE, CALIBRATION_PNG, SCORES_FILE):
        path = tmp_path / "out" / name
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        height, width, _ = imread(path).shape
        assert height > 100 and width > 100


def test_split_is_stratified_seeded_and_keeps_the_test_rows_whatever_the_validation_share() -> None:
    labels = (np.random.default_rng(1).uniform(size=2000) < 0.1).astype(np.int64)
    parts = split(labels, Shares(), seed=42)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (1400, 300, 300)
    assert len(np.unique(np.concatenate([parts.train, parts.validation, parts.test]))) == 2000
    for part in (parts.train, parts.validation, parts.test):
        assert labels[part].mean() == pytest.approx(labels.mean(), abs=0.01)
    assert np.array_equal(split(labels, Shares(), seed=42).test, parts.test)
    assert not np.array_equal(split(labels, Shares(), seed=43).test, parts.test)
    assert np.array_equal(split(labels, Shares(validation=0.1, test=0.15), seed=42).test, parts.test)


def test_the_same_seed_gives_the_same_files_and_predictions(
    frame: pd.DataFrame, trained: pipeline.TrainingResult
) -> None:
    again = quiet_train(LogisticScorer(), table_of(frame, LogisticScorer()))
    other_seed = quiet_train(LogisticScorer(), table_of(frame, LogisticScorer()), {"seed": 3})
    rows = table_of(frame, LogisticScorer()).features
    assert again.files == trained.files
    assert again.manifest.files == trained.manifest.files
    assert np.array_equal(again.model.predict_pd(rows), trained.model.predict_pd(rows))
    assert trained.manifest.params["seed"] == 42
    assert other_seed.manifest.params["seed"] == 3
    assert other_seed.files != trained.files


def test_manifest_records_the_model_and_its_origin(
    frame: pd.DataFrame, trained: pipeline.TrainingResult
) -> None:
    manifest = trained.manifest
    table = table_of(frame, LogisticScorer())
    assert manifest.model == "logistic-test"
    assert manifest.plugin["module"] == __name__
    assert manifest.features == LogisticScorer.features
    assert manifest.segment == "new"
    assert manifest.training_data_fingerprint == fingerprint(table.features, table.labels, table.names)
    assert set(manifest.files) == {MODEL_FILE, CALIBRATION_FILE}
    assert manifest.version.endswith("-" + manifest.training_data_fingerprint[:8])
    assert manifest.code_version.startswith(importlib.metadata.version("creditscore"))
    assert manifest.scaling == Scaling()
    assert Manifest.from_json(manifest.to_json()) == manifest


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        ({"target": 700, "target_odds": 30}, "must hold exactly target, target_odds, pdo"),
        ({"target": 700, "target_odds": 30, "pdo": "40"}, "must hold numbers"),
        ({"target": 700, "target_odds": 30, "pdo": True}, "must hold numbers"),
        ({"target": 700, "target_odds": 0, "pdo": 40}, "target_odds and pdo above 0"),
        ({"target": 1e309, "target_odds": 30, "pdo": 40}, "finite numbers"),
    ],
)
def test_a_manifest_with_a_malformed_scaling_is_refused(
    trained: pipeline.TrainingResult, scaling: dict[str, Any], message: str
) -> None:
    document = json.loads(trained.manifest.to_json())
    document["scaling"] = scaling
    with pytest.raises(ArtifactError, match=message):
        Manifest.from_json(json.dumps(document).encode())
    # A version published before scaling was recorded has none, and is still read.
    del document["scaling"]
    assert Manifest.from_json(json.dumps(document).encode()).scaling is None


def test_fingerprint_changes_with_any_value_and_ignores_how_nan_was_made() -> None:
    rows = np.array([[1.0, np.nan], [0.0, 2.0]])
    labels = np.array([0, 1])
    base = fingerprint(rows, labels, ("a", "b"))
    assert fingerprint(np.array([[1.0, -np.nan], [-0.0, 2.0]]), labels, ("a", "b")) == base
    assert fingerprint(rows, np.array([1, 1]), ("a", "b")) != base
    assert fingerprint(rows, labels, ("a", "c")) != base
    assert fingerprint(rows[::-1], labels[::-1], ("a", "b")) != base


def test_calibration_improves_the_brier_score_of_a_miscalibrated_model(frame: pd.DataFrame) -> None:
    skewed = quiet_train(
        LogisticScorer(), table_of(frame, LogisticScorer()), {"logit_scale": 2.5, "logit_shift": 1.5}
    )
    test = skewed.manifest.metrics["test"]
    assert test["brier"] < test["brier_uncalibrated"] - 0.01
    assert skewed.report["calibration"]["a"] == pytest.approx(1 / 2.5, rel=0.2)
    # Platt scaling keeps the ranking: the AUC is the uncalibrated model's.
    plain = LogisticScorer().load(skewed.files)
    rows = table_of(frame, LogisticScorer()).features
    assert np.array_equal(np.argsort(plain.predict_pd(rows)), np.argsort(skewed.model.predict_pd(rows)))


def test_calibration_keeps_a_calibrated_model_and_refuses_a_reversed_one() -> None:
    rng = np.random.default_rng(5)
    pd_true = rng.uniform(0.01, 0.5, 20_000)
    labels = (rng.uniform(size=20_000) < pd_true).astype(np.int64)
    calibration = fit_platt(pd_true, labels)
    assert calibration.a == pytest.approx(1, abs=0.1)
    assert calibration.b == pytest.approx(0, abs=0.15)
    assert Calibration.from_json(calibration.to_json()) == calibration
    with pytest.raises(CalibrationError, match="no better than chance"):
        fit_platt(1 - pd_true, labels)


def test_score_bands_come_from_plugins_scores(trained: pipeline.TrainingResult) -> None:
    bands = trained.report["bands"]
    assert [row["band"] for row in bands] == list(BAND_NAMES)
    assert {row["band"]: row["min_score"] for row in bands} == dict(BANDS)
    scores = Scaling().scores(trained.test.pd)
    for row in bands:
        assert row["rows"] == sum(band(score) == row["band"] for score in scores)
    assert sum(row["rows"] for row in bands) == len(trained.test.labels)


def test_progress_is_reported_through_the_scorers_callback(
    frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.train(LogisticScorer(), table_of(frame.iloc[:800], LogisticScorer()), {"iterations": 20})
    assert "fit logistic-test" in capsys.readouterr().err


# --- artifacts -------------------------------------------------------------------------------------------


def test_verify_names_every_changed_missing_or_unlisted_file(trained: pipeline.TrainingResult) -> None:
    files = dict(trained.files)
    verify(trained.manifest, files)
    with pytest.raises(ArtifactError, match=rf"{MODEL_FILE}: sha256 .* differs"):
        verify(trained.manifest, {**files, MODEL_FILE: files[MODEL_FILE] + b" "})
    with pytest.raises(ArtifactError, match=f"{CALIBRATION_FILE}: missing"):
        verify(trained.manifest, {MODEL_FILE: files[MODEL_FILE]})
    with pytest.raises(ArtifactError, match=r"extra\.bin: not listed"):
        verify(trained.manifest, {**files, "extra.bin": b"x"})


def test_load_verified_rebuilds_the_served_model(
    frame: pd.DataFrame, trained: pipeline.TrainingResult
) -> None:
    rows = table_of(frame, LogisticScorer()).features
    model = load_verified(LogisticScorer(), trained.manifest, trained.files)
    assert np.array_equal(model.predict_pd(rows), trained.model.predict_pd(rows))
    calibration = Calibration.from_json(trained.files[CALIBRATION_FILE])
    raw = LogisticScorer().load(trained.files)
    assert np.allclose(model.explain(rows), calibration.a * raw.explain(rows))
    with pytest.raises(ArtifactError, match="not 'other'"):
        load_verified(OtherScorer(), trained.manifest, trained.files)


def test_transforms_parse_apply_and_round_trip() -> None:
    steps = [
        Transform.from_spec(spec, "t") for spec in ({"replace": {96: None, 98: None}}, {"fillna": 0}, "log1p")
    ]
    values = np.array([[3.0], [96.0], [np.nan], [98.0]])
    out = transform_rows(values, ["x"], {"x": tuple(steps)})
    assert np.allclose(out[:, 0], [np.log1p(3.0), 0.0, 0.0, 0.0])
    assert [Transform.from_spec(step.to_spec(), "t") for step in steps] == steps
    clip = Transform.from_spec({"clip": [0, None]}, "t")
    assert np.array_equal(clip.apply(np.array([-1.0, 5.0])), [0.0, 5.0])
    with pytest.raises(ArtifactError, match="unknown transform 'sqrt'"):
        Transform.from_spec({"sqrt": True}, "t")
    with pytest.raises(ValueError, match="log1p needs values above -1"):
        Transform("log1p").apply(np.array([-2.0]), strict=True)


# --- mappings --------------------------------------------------------------------------------------------

FOREIGN = {
    "einkommen": "income",
    "schuldenquote": "debt_to_income",
    "verzug_90": "num_past_due_90_plus",
    "auslastung": "credit_utilization",
}


def foreign_csv(frame: pd.DataFrame, path: Path) -> Path:
    renamed = frame[[*FOREIGN.values(), LABEL]].rename(columns={v: k for k, v in FOREIGN.items()})
    renamed["ausfall"] = np.where(frame[LABEL] == 1, "ja", "nein")
    renamed.drop(columns=[LABEL]).to_csv(path, index=False)
    return path


def write_mapping(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(document) if path.suffix == ".json" else _yaml(document))
    return path


def _yaml(document: Mapping[str, Any]) -> str:
    import yaml  # type: ignore[import-untyped]

    return str(yaml.safe_dump(dict(document), sort_keys=False))


FOREIGN_MAPPING: dict[str, Any] = {
    "label": "ausfall",
    "label_positive": "ja",
    "features": {
        "monthly_income": {"column": "einkommen", "transform": ["log1p"]},
        "dti": "schuldenquote",
        "late_90": "verzug_90",
        "utilisation": {"column": "auslastung", "transform": [{"clip": [0, 1]}]},
    },
    "params": {"iterations": 120},
}


def test_a_mapping_trains_on_foreign_column_names_and_label(
    settings: Settings, tmp_path: Path, frame: pd.DataFrame
) -> None:
    csv = foreign_csv(frame, tmp_path / "kunden.csv")
    mapping = load_mapping(write_mapping(tmp_path / "mapping.yaml", FOREIGN_MAPPING))
    table = data.load_table(settings, str(csv), mapping.feature_names, mapping)
    assert table.names == ("monthly_income", "dti", "late_90", "utilisation")
    assert np.array_equal(table.labels, frame[LABEL].to_numpy())

    result = pipeline.train(LogisticScorer(), table, mapping.params, progress=False)
    assert result.scorer.features == table.names
    assert result.manifest.features == table.names
    assert result.manifest.params["iterations"] == 120
    assert result.manifest.transforms["monthly_income"] == (Transform("log1p"),)
    assert result.manifest.metrics["test"]["auc"] > 0.7
    # The served model takes raw values and applies the transforms itself.
    loaded = load_verified(LogisticScorer(), Manifest.from_json(result.manifest.to_json()), result.files)
    assert np.array_equal(loaded.predict_pd(table.features), result.model.predict_pd(table.features))
    fitted_on_logs = result.scorer.load(result.files)
    logged = table.features.copy()
    logged[:, 0] = np.log1p(logged[:, 0])
    calibration = Calibration.from_json(result.files[CALIBRATION_FILE])
    assert np.allclose(
        loaded.predict_pd(table.features), calibration.apply(fitted_on_logs.predict_pd(logged))
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": {"dti": "debt_ratio"}}, "the data has no column 'debt_ratio'"),
        ({"label": "outcome"}, "the data has no column 'outcome'"),
        ({"label_positive": "yes"}, "label_positive ['yes'] matches no row of column 'ausfall'"),
        ({"features": {"name": "kunde"}}, "column 'kunde' is not numeric"),
    ],
)
def test_a_mapping_that_does_not_fit_the_data_is_refused_naming_the_column(
    settings: Settings, tmp_path: Path, frame: pd.DataFrame, change: dict[str, Any], message: str
) -> None:
    csv = foreign_csv(frame.iloc[:50], tmp_path / "kunden.csv")
    with_names = pd.read_csv(csv).assign(kunde="Nguyễn")
    with_names.to_csv(csv, index=False)
    mapping = parse_mapping({**FOREIGN_MAPPING, **change}, "m.yaml")
    with pytest.raises(DataError) as caught:
        data.load_table(settings, str(csv), mapping.feature_names, mapping)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"label": "y", "features": {"a": "b"}}, "'label_positive' must give"),
        ({"label": "y", "label_positive": 1, "features": {}}, "'features' must map"),
        (
            {"label": "y", "label_positive": 1, "features": {"a": {"col": "b"}}},
            "feature 'a': expected a column",
        ),
        ({"label": "y", "label_positive": 1, "features": {"a": "b"}, "lable": 2}, "unknown keys ['lable']"),
        (
            {"label": "y", "label_positive": 1, "features": {"a": {"column": "b", "transform": ["sqrt"]}}},
            "a transform is one of",
        ),
        (
            {"label": "y", "label_positive": 1, "features": {"a": "b"}, "csv": {"engine": "python"}},
            "csv options",
        ),
    ],
)
def test_a_malformed_mapping_is_refused_naming_the_key(document: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(document, "bank.yaml")
    assert "bank.yaml" in str(caught.value)
    assert message in str(caught.value)


def test_an_unreadable_mapping_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"cannot read mapping file .*missing\.yaml"):
        load_mapping(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("label: [unclosed\n")
    with pytest.raises(MappingError, match=r"broken\.yaml is not valid yaml"):
        load_mapping(broken)


@pytest.mark.parametrize("dataset", ["gmsc", "heloc", "taiwan", "german"])
def test_the_benchmark_mappings_name_columns_of_their_data_sets(dataset: str) -> None:
    from bench.model_quality import DATASETS, data_path

    path = data_path(ROOT / ".." / "shared" / "data", dataset)
    if not path.exists():
        pytest.skip(f"{path} is absent (see ../shared/data/README.md)")
    mapping = load_mapping(ROOT / "bench" / "mappings" / f"{dataset}.yaml")
    frame = pd.read_csv(path, nrows=200, **mapping.csv)
    table = data.table_from_frame(frame, str(path), mapping.feature_names, mapping)
    assert table.features.shape == (200, len(mapping.features))
    assert set(DATASETS) == {"gmsc", "heloc", "taiwan", "german"}


# --- the command line ------------------------------------------------------------------------------------


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in endpoint_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CREDITSCORE_PROJECT", settings.project)
    monkeypatch.setenv("CREDITSCORE_ENV", settings.env)


def test_a_mapping_naming_a_missing_column_fails_naming_it(
    tmp_path: Path, frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = foreign_csv(frame.iloc[:100], tmp_path / "kunden.csv")
    document = {**FOREIGN_MAPPING, "features": {"income": "salary"}}
    mapping = write_mapping(tmp_path / "m.json", document)
    code = main(["train", "--model", "xgboost-new-customer", "--data", str(csv), "--mapping", str(mapping)])
    assert code == 1
    assert "the data has no column 'salary'" in capsys.readouterr().err


# --- the built-in scorers --------------------------------------------------------------------------------

# Few rounds, epochs and trees: these check that each built-in goes through the pipeline, not its quality.
QUICK = {
    "xgboost-new-customer": {"num_boost_round": 40},
    "pytorch-traditional": {"max_epochs": 3},
    "extratrees-social": {"n_estimators": 20},
}


@pytest.mark.parametrize("name", sorted(QUICK))
def test_each_built_in_scorer_trains_through_the_pipeline(name: str, frame: pd.DataFrame) -> None:
    scorer = installed()[name]
    result = pipeline.train(scorer, table_of(frame.iloc[:1500], scorer), QUICK[name], progress=False)
    rows = table_of(frame.iloc[:50], scorer).features
    loaded = load_verified(scorer, Manifest.from_json(result.manifest.to_json()), result.files)
    assert np.array_equal(loaded.predict_pd(rows), result.model.predict_pd(rows))
    assert loaded.explain(rows).shape == rows.shape
    assert result.manifest.plugin == {
        "distribution": "creditscore",
        "module": type(scorer).__module__,
        "version": importlib.metadata.version("creditscore"),
    }


def test_train_command_writes_the_report_and_prints_the_summary(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    frame: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, settings)
    put_snapshot(settings, frame.iloc[:1500])
    out = tmp_path / "reports"
    code = main(
        ["train", "--model", "xgboost-new-customer", "--params", '{"num_boost_round": 30}', "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "split" in printed and "test" in printed and "AUC" in printed
    assert (out / REPORT_FILE).is_file() and (out / ROC_FILE).is_file()


# --- SageMaker script mode -------------------------------------------------------------------------------


def _sagemaker_dirs(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """The training channel, model, input-config and output folders of a SageMaker container."""
    dirs = tuple(tmp_path / name for name in ("train", "model", "config", "output"))
    for directory in dirs:
        directory.mkdir()
    return dirs[0], dirs[1], dirs[2], dirs[3]


def _run_sagemaker(
    channel: Path, model_dir: Path, config: Path, output: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_MODEL_DIR": str(model_dir),
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
        "SM_OUTPUT_DIR": str(output),
    }
    return subprocess.run(
        [sys.executable, "-m", "training.sagemaker"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sagemaker_entry_point_writes_the_model_dir(tmp_path: Path, frame: pd.DataFrame) -> None:
    channel, model_dir, config, output = _sagemaker_dirs(tmp_path)
    snapshot = frame.iloc[:1200]
    for part, chunk in enumerate(np.array_split(np.arange(len(snapshot)), 2)):
        snapshot.iloc[chunk].to_parquet(channel / f"part-{part:05d}.parquet", index=False)
    # As the SageMaker SDK writes them: every value a JSON-encoded string.
    hyperparameters = {"model": '"xgboost-new-customer"', "num_boost_round": "25", "eta": "0.1"}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    done = _run_sagemaker(channel, model_dir, config, output)
    assert done.returncode == 0, done.stderr
    manifest = Manifest.from_json((model_dir / "manifest.json").read_bytes())
    assert manifest.model == "xgboost-new-customer"
    assert manifest.params["num_boost_round"] == 25
    assert manifest.params["eta"] == 0.1
    files = {name: (model_dir / name).read_bytes() for name in manifest.files}
    verify(manifest, files)
    assert json.loads((model_dir / REPORT_FILE).read_text())["version"] == manifest.version
    assert (output / "data" / ROC_FILE).read_bytes().startswith(PNG_SIGNATURE)
    assert "AUC" in done.stdout


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"max_depth": "3"}, "the hyperparameter 'model' must name the scorer"),
        (
            {"model": '"xgboost-new-customer"', "publish": '"shadow"'},
            "the hyperparameter 'publish' must be true, false or challenger, got 'shadow'",
        ),
    ],
)
def test_sagemaker_entry_point_explains_a_failure_in_the_failure_file(
    tmp_path: Path, hyperparameters: dict[str, str], message: str
) -> None:
    channel, model_dir, config, output = _sagemaker_dirs(tmp_path)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    done = _run_sagemaker(channel, model_dir, config, output)
    assert done.returncode == 1
    assert message in (output / "failure").read_text()
    assert not list(model_dir.iterdir())


def test_created_at_makes_the_version_sort_by_time(frame: pd.DataFrame) -> None:
    table = table_of(frame.iloc[:600], LogisticScorer())
    early = pipeline.train(
        LogisticScorer(), table, progress=False, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    assert early.manifest.version.startswith("20260102T030405Z-")
    assert early.manifest.created_at == "2026-01-02T03:04:05Z"
