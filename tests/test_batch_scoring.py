"""A trained model one can hold: ``train --out DIR`` writes the version, ``models publish DIR`` publishes it,
and ``score`` scores a CSV or Parquet file with it — exactly as the service scores the same rows."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest
from aiohttp.test_utils import TestClient

from creditscore import aws
from creditscore.cli import main
from creditscore.config import Settings, endpoint_environment
from creditscore.domain.calibration import CALIBRATION_FILE, Calibration
from creditscore.domain.features import LABEL, names
from creditscore.domain.scores import band
from plugins.artifacts import MANIFEST_FILE, ArtifactError, load_verified
from plugins.manager import scorer
from plugins.registry import Registry
from plugins.version_dir import read_version
from server.app import create_app
from server.scoring import Explained
from server.scoring import reasons as service_reasons
from tests.conftest import SCORE_KEY, with_keys
from tests.factories import customers, trained_new_customer_dir

MODEL: Final = "xgboost-new-customer"
FEATURES: Final = tuple(names("application"))
ROWS: Final = 1500
#: Row number (1-based) -> (feature spoiled, its value, the reason expected).
SPOILED: Final[dict[int, tuple[str, Any, str]]] = {
    11: ("income", "abc", "non_numeric"),
    21: ("debt", None, "missing_value"),
    31: ("savings", math.inf, "not_finite"),
    41: ("net_worth", 1e39, "not_finite"),
    # And a debt that is not a number: the first feature in the model's order is the one named.
    51: ("income", None, "missing_value"),
}
HEADERS: Final = {"X-API-Key": SCORE_KEY}


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings, **variables: str) -> None:
    for name, value in endpoint_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CREDITSCORE_PROJECT", settings.project)
    monkeypatch.setenv("CREDITSCORE_ENV", settings.env)
    for name, value in variables.items():
        monkeypatch.setenv(f"CREDITSCORE_{name.upper()}", value)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The new-customer model trained small with ``creditscore train --out DIR``."""
    return trained_new_customer_dir(tmp_path_factory.mktemp("trained"), 2000, seed=11, rounds=40)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Rows to score, as a bank's file holds them: an ID, the features, a column the model does not take,
    and a few rows that cannot be scored (:data:`SPOILED`)."""
    frame = customers(ROWS, seed=12)[["national_id", *FEATURES]].astype({"income": object, "debt": object})
    frame["branch"] = "HN-01"
    for row, (feature, value, _) in SPOILED.items():
        frame.loc[row - 1, feature] = value
    frame.loc[50, "debt"] = "n.a."
    return frame


def good_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=[row - 1 for row in SPOILED])


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    # A Parquet column holds one type: the spoiled ones hold text, as a bank's export would.
    as_text = frame.astype({"income": str, "debt": str})
    as_text.loc[as_text["debt"] == "None", "debt"] = None
    as_text.loc[as_text["income"] == "None", "income"] = None
    as_text.to_parquet(path, index=False, row_group_size=600)
    return path


def score(*args: str) -> int:
    return main(["score", *args])


def read_scores(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"national_id": str}, float_precision="round_trip")


def expected_pd(model_dir: Path, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    version = read_version(model_dir)
    model = load_verified(scorer(MODEL), version.manifest, version.files)
    return model.predict_pd(frame[list(FEATURES)].to_numpy(dtype=np.float64))


# --- train --out -----------------------------------------------------------------------------------------


def test_train_out_writes_the_version_publishing_would_upload(model_dir: Path) -> None:
    version = read_version(model_dir)
    assert set(version.files) == set(version.manifest.files) == {"model.ubj", "meta.json", "calibration.json"}
    assert set(version.report) == {"report.json", "roc.png", "calibration.png", "score_histogram.png"}
    assert (model_dir / MANIFEST_FILE).is_file()
    model = load_verified(scorer(MODEL), version.manifest, version.files)
    assert model.predict_pd(np.zeros((1, len(FEATURES)))).shape == (1,)


@pytest.mark.parametrize(
    ("spoil", "named"),
    [
        (lambda d: (d / "model.ubj").write_bytes((d / "model.ubj").read_bytes() + b"x"), "model.ubj: sha256"),
        (lambda d: (d / "calibration.json").unlink(), "calibration.json: missing"),
        (lambda d: (d / "notes.txt").write_text("hello"), "notes.txt: not listed in the manifest"),
        (lambda d: (d / MANIFEST_FILE).unlink(), f"holds no {MANIFEST_FILE}"),
    ],
    ids=["changed", "missing", "unlisted", "no-manifest"],
)
def test_a_tampered_or_incomplete_version_is_refused_before_any_upload(
    model_dir: Path,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[Path], object],
    named: str,
) -> None:
    copy = shutil.copytree(model_dir, tmp_path / "model")
    spoil(copy)
    with pytest.raises(ArtifactError, match=named.split(":")[0]):
        read_version(copy)
    use_settings(monkeypatch, settings)
    assert main(["models", "publish", str(copy)]) == 1
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert Registry.from_settings(settings).models() == []
    assert score("--model", str(copy), "--data", "whatever.csv", "--out", str(tmp_path / "s.csv")) == 1
    assert named in capsys.readouterr().err


# --- score -----------------------------------------------------------------------------------------------


def test_scores_a_csv_file_in_chunks_and_rejects_each_bad_row_with_why(
    model_dir: Path, rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(rows, tmp_path / "applicants.csv")
    out = tmp_path / "out" / "scores.csv"
    assert (
        score("--model", str(model_dir), "--data", str(data), "--out", str(out), "--chunk-rows", "400") == 0
    )
    printed = capsys.readouterr().out

    scored = read_scores(out)
    good = good_rows(rows)
    assert list(scored.columns) == ["national_id", "probability_of_default", "score", "band"]
    assert scored["national_id"].tolist() == good["national_id"].tolist()  # zeros kept, order kept
    assert np.array_equal(scored["probability_of_default"].to_numpy(), expected_pd(model_dir, good))
    assert scored["band"].tolist() == [band(s) for s in scored["score"]]

    rejects = pd.read_csv(tmp_path / "out" / "scores.rejects.csv", dtype={"national_id": str, "value": str})
    assert list(rejects.columns) == ["row", "national_id", "reason", "column", "value"]
    assert rejects["row"].tolist() == sorted(SPOILED)
    assert rejects["reason"].tolist() == [reason for _, _, reason in SPOILED.values()]
    assert rejects["column"].tolist() == ["income", "debt", "savings", "net_worth", "income"]
    assert rejects["national_id"].tolist() == rows["national_id"].iloc[np.array(list(SPOILED)) - 1].tolist()
    assert rejects["value"].fillna("").tolist() == ["abc", "", "inf", "1e+39", ""]
    # Nothing silently dropped.
    assert len(scored) + len(rejects) == ROWS
    for line in ("read      1,500", "scored    1,495", "rejected      5", "rejected: non_numeric      1"):
        assert " ".join(line.split()) in " ".join(printed.split())
    assert "rows/s" in printed
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_parquet_file_scores_as_the_csv_file_does_and_writes_parquet(
    model_dir: Path, rows: pd.DataFrame, tmp_path: Path
) -> None:
    csv_out = tmp_path / "from-csv.csv"
    assert (
        score(
            "--model",
            str(model_dir),
            "--data",
            str(write_csv(rows, tmp_path / "r.csv")),
            "--out",
            str(csv_out),
        )
        == 0
    )
    data = write_parquet(rows, tmp_path / "r.parquet")
    out = tmp_path / "scores.parquet"
    rejects = tmp_path / "bad.csv"
    assert (
        score(
            "--model",
            str(model_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--rejects",
            str(rejects),
            "--chunk-rows",
            "250",
        )
        == 0
    )
    from_parquet = read_scores(out)
    pd.testing.assert_frame_equal(from_parquet, read_scores(csv_out))
    refused = pd.read_csv(rejects)
    assert refused["row"].tolist() == sorted(SPOILED)
    assert refused["reason"].tolist() == [reason for _, _, reason in SPOILED.values()]


def test_reasons_are_the_services_reasons(model_dir: Path, rows: pd.DataFrame, tmp_path: Path) -> None:
    good = good_rows(rows).iloc[:300]
    out = tmp_path / "scores.parquet"
    data = write_csv(good, tmp_path / "r.csv")
    assert score("--model", str(model_dir), "--data", str(data), "--out", str(out), "--reasons", "3") == 0
    scored = read_scores(out)
    version = read_version(model_dir)
    model = load_verified(scorer(MODEL), version.manifest, version.files)
    values = good[list(FEATURES)].to_numpy(dtype=np.float64)
    contributions = model.explain(values)
    for i, row in enumerate(contributions):
        explained = Explained(MODEL, 1.0, FEATURES, values[i], row)
        expected = [reason.feature for reason in service_reasons([explained])]
        given = [name for name in scored.iloc[i][["reason_1", "reason_2", "reason_3"]] if name is not None]
        assert given == expected


def test_a_model_trained_through_a_mapping_applies_its_recorded_transforms(tmp_path: Path) -> None:
    frame = customers(2000, seed=13)
    foreign = pd.DataFrame(
        {
            "einkommen": frame["income"],
            "schuldenquote": frame["debt_to_income"],
            "auslastung": frame["credit_utilization"] * 1.5,
            "ausfall": frame[LABEL],
        }
    )
    foreign.to_csv(tmp_path / "kunden.csv", index=False)
    mapping = {
        "label": "ausfall",
        "label_positive": 1,
        "features": {
            "monthly_income": {"column": "einkommen", "transform": ["log1p"]},
            "dti": "schuldenquote",
            "utilisation": {"column": "auslastung", "transform": [{"clip": [0, 1]}]},
        },
        "params": {"num_boost_round": 30},
    }
    (tmp_path / "mapping.json").write_text(json.dumps(mapping))
    out = tmp_path / "model"
    trained = ["train", "--model", MODEL, "--data", str(tmp_path / "kunden.csv")]
    assert main([*trained, "--mapping", str(tmp_path / "mapping.json"), "--out", str(out)]) == 0
    # Rows to score carry the model's features by name, raw, as the service takes them.
    raw = foreign.iloc[:200, :3].set_axis(["monthly_income", "dti", "utilisation"], axis=1)
    data = write_csv(raw, tmp_path / "raw.csv")
    assert score("--model", str(out), "--data", str(data), "--out", str(tmp_path / "s.csv")) == 0
    scored = read_scores(tmp_path / "s.csv")["probability_of_default"].to_numpy()

    version = read_version(out)
    features = version.manifest.features
    assert features == ("monthly_income", "dti", "utilisation")
    booster = scorer(MODEL).with_features(features).load(version.files)
    transformed = raw.to_numpy(dtype=np.float64, copy=True)
    transformed[:, 0] = np.log1p(transformed[:, 0])
    transformed[:, 2] = np.clip(transformed[:, 2], 0, 1)
    calibration = Calibration.from_json(version.files[CALIBRATION_FILE])
    assert np.allclose(scored, calibration.apply(booster.predict_pd(transformed)), rtol=0, atol=1e-12)


def test_rows_without_an_id_column_are_named_by_their_row_number(model_dir: Path, tmp_path: Path) -> None:
    frame = customers(30, seed=3)[list(FEATURES)]
    frame.loc[4, "income"] = np.nan
    out = tmp_path / "s.csv"
    assert (
        score(
            "--model", str(model_dir), "--data", str(write_csv(frame, tmp_path / "r.csv")), "--out", str(out)
        )
        == 0
    )
    assert read_scores(out)["row"].tolist() == [n for n in range(1, 31) if n != 5]
    rejects = pd.read_csv(tmp_path / "s.rejects.csv")
    assert list(rejects.columns) == ["row", "reason", "column", "value"]
    assert rejects["row"].tolist() == [5]


def test_an_id_column_can_be_named(model_dir: Path, tmp_path: Path) -> None:
    frame = customers(20, seed=3)[list(FEATURES)]
    frame.insert(0, "application_no", [f"A{n:03d}" for n in range(20)])
    frame.insert(0, "customer_id", range(20))
    out = tmp_path / "s.parquet"
    data = str(write_csv(frame, tmp_path / "r.csv"))
    assert (
        score("--model", str(model_dir), "--data", data, "--out", str(out), "--id-column", "application_no")
        == 0
    )
    assert read_scores(out)["application_no"].tolist() == frame["application_no"].tolist()
    assert score("--model", str(model_dir), "--data", data, "--out", str(out)) == 0
    assert read_scores(out)["customer_id"].tolist() == [str(n) for n in range(20)]


def test_scores_a_file_in_s3(
    model_dir: Path, rows: pd.DataFrame, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, settings)
    local = tmp_path / "local.csv"
    data = write_csv(rows, tmp_path / "r.csv")
    assert score("--model", str(model_dir), "--data", str(data), "--out", str(local)) == 0
    aws.client("s3", settings).upload_file(str(data), settings.raw_bucket, "batches/applicants.csv")
    remote = tmp_path / "remote.csv"
    uri = f"s3://{settings.raw_bucket}/batches/applicants.csv"
    assert score("--model", str(model_dir), "--data", uri, "--out", str(remote)) == 0
    pd.testing.assert_frame_equal(read_scores(remote), read_scores(local))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "no-such-model"], "no scorer named 'no-such-model'"),
        (
            ["--model", "xgboost-new-customer@20990101T000000Z-00000000"],
            "xgboost-new-customer has no version",
        ),
        (["--data", "missing.csv"], "no such file: missing.csv"),
        (["--data", "rows.txt"], "expected a .csv or .parquet file"),
        (["--data", "short.csv"], "has no column 'debt', which xgboost-new-customer takes"),
        (["--id-column", "nope"], "has no column 'nope' (--id-column)"),
    ],
)
def test_errors_exit_1_with_one_clear_line(
    model_dir: Path,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    use_settings(monkeypatch, settings)
    monkeypatch.chdir(tmp_path)
    customers(10, seed=1)[["national_id", *FEATURES]].to_csv("rows.csv", index=False)
    (tmp_path / "rows.txt").write_text("a,b\n")
    customers(10, seed=1)[[name for name in FEATURES if name != "debt"]].to_csv("short.csv", index=False)
    given = {"--model": str(model_dir), "--data": "rows.csv", "--out": "scores.csv"}
    given |= dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert score(*[part for pair in given.items() for part in pair]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("creditscore score: error:")]) == 1
    assert not (tmp_path / "scores.csv").exists() and not (tmp_path / "scores.csv.partial").exists()


def test_an_output_that_is_neither_csv_nor_parquet_is_a_usage_error(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        score("--model", str(model_dir), "--data", "rows.csv", "--out", "scores.xlsx")
    assert exited.value.code == 2
    assert "expected a file ending in .csv or .parquet" in capsys.readouterr().err


# --- models publish, and the service ---------------------------------------------------------------------


def test_a_published_version_scores_as_its_directory_does(
    model_dir: Path,
    rows: pd.DataFrame,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, settings)
    assert main(["models", "publish", str(model_dir)]) == 0
    manifest = read_version(model_dir).manifest
    assert f"Published s3://{settings.models_bucket}/{MODEL}/{manifest.version}/ and made it current" in (
        capsys.readouterr().out
    )
    registry = Registry.from_settings(settings)
    assert registry.current_version(MODEL) == manifest.version
    report = registry.s3.list_objects_v2(
        Bucket=settings.models_bucket, Prefix=f"{MODEL}/{manifest.version}/report/"
    )
    assert {item["Key"].rsplit("/", 1)[1] for item in report["Contents"]} == set(
        read_version(model_dir).report
    )

    data = str(write_csv(rows, tmp_path / "r.csv"))
    outs = {
        spec: tmp_path / f"{n}.csv"
        for n, spec in enumerate([str(model_dir), MODEL, f"{MODEL}@{manifest.version}"])
    }
    for spec, out in outs.items():
        assert score("--model", spec, "--data", data, "--out", str(out)) == 0
    first, *others = (read_scores(out) for out in outs.values())
    for other in others:
        pd.testing.assert_frame_equal(other, first)
    # Immutable: the same version twice is refused.
    assert main(["models", "publish", str(model_dir)]) == 1
    assert "already published" in capsys.readouterr().err


def test_models_publish_exits_3_when_the_gate_keeps_the_pointer(
    model_dir: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, settings, gate_min_auc="0.99")
    assert main(["models", "publish", str(model_dir)]) == 3
    assert "but the current version stays unset" in capsys.readouterr().err
    registry = Registry.from_settings(settings)
    assert registry.pointer(MODEL) is None
    assert registry.versions(MODEL) == [read_version(model_dir).manifest.version]


async def test_the_service_gives_the_batch_scorers_pds(
    aiohttp_client: Callable[..., Any],
    model_dir: Path,
    rows: pd.DataFrame,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_settings(monkeypatch, settings)
    assert main(["models", "publish", str(model_dir)]) == 0
    out = tmp_path / "scores.parquet"
    assert score("--model", MODEL, "--data", str(write_csv(rows, tmp_path / "r.csv")), "--out", str(out)) == 0
    batch = read_scores(out)

    client: TestClient[Any, Any] = await aiohttp_client(create_app(with_keys(settings)))
    good = good_rows(rows)
    records = [
        {name: float(value) for name, value in row.items()} for row in good[list(FEATURES)].to_dict("records")
    ]
    served = []
    for start in range(0, len(records), 1000):
        answer = await client.post(
            "/api/v1/score", json={"segment": "new", "rows": records[start : start + 1000]}, headers=HEADERS
        )
        assert answer.status == 200, await answer.text()
        served += (await answer.json())["results"]
    assert [r["probability_of_default"] for r in served] == batch["probability_of_default"].tolist()
    assert [r["score"] for r in served] == batch["score"].tolist()
    assert [r["band"] for r in served] == batch["band"].tolist()
