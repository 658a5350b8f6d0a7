"""Mappings that fit a bank's own table (issue #18): Vietnamese column names, text codes ("Có"/"Không",
"Yes"/"No"), a one-hot and an ordinal category, amounts written as text ("12.500.000", "1,234.5"), a
derived ratio and a derived sum — trained through ``creditscore train --mapping``, the raw file scored with
``creditscore score``, the same rows scored through the service, and bad mappings and rows refused naming
the column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest
from aiohttp.test_utils import TestClient

from creditscore.cli import main
from creditscore.config import Settings, endpoint_environment
from plugins.artifacts import Manifest, load_verified
from plugins.encoding import InputSpec, NumberFormat
from plugins.manager import scorer
from plugins.version_dir import read_version
from server.app import create_app
from tests.conftest import SCORE_KEY, with_keys
from training.mapping import MappingError, parse_mapping

MODEL: Final = "xgboost-new-customer"
HEADERS: Final = {"X-API-Key": SCORE_KEY}
ROWS: Final = 600
JOBS: Final = ("Công nhân", "Văn phòng", "Kinh doanh")
SCHOOLING: Final = ("Phổ thông", "Đại học", "Sau đại học")
INCOME, DEBT, CARD, HOME = "Thu nhập", "Dư nợ", "Có thẻ tín dụng", "Sở hữu nhà"
JOB, SCHOOL, RATIO, LABEL = "Nghề nghiệp", "Học vấn", "Tỷ lệ nợ", "Nợ xấu"
TIES: Final = "Điểm gắn bó"  # a sum of three inputs: card, home, schooling

MAPPING: Final[dict[str, Any]] = {
    "label": LABEL,
    "label_positive": "Có",
    "features": {
        INCOME: {"number": {"thousands": ".", "decimal": ","}, "transform": ["log1p"]},
        DEBT: {"number": {"thousands": ","}},
        CARD: {"codes": {"Có": 1, "Không": 0}, "missing": "refuse"},
        HOME: {"codes": {"Yes": 1, "No": 0}, "unknown": "missing", "missing": 0},
        JOB: {"onehot": list(JOBS)},
        SCHOOL: {"ordinal": list(SCHOOLING)},
    },
    "derived": {RATIO: {"ratio": [DEBT, INCOME], "zero": 0}, TIES: {"sum": [CARD, HOME, SCHOOL]}},
    "params": {"num_boost_round": 20},
}


def vnd(amount: float) -> str:
    """12500000 → "12.500.000" (Vietnamese: dots between thousands)."""
    return f"{int(amount):,}".replace(",", ".")


def bank_table(rows: int, seed: int) -> pd.DataFrame:
    """The bank's table: amounts as text, codes as text, a latent risk behind the outcome."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(16.5, 0.5, rows).round(-3)
    debt = rng.lognormal(15.5, 1.0, rows).round(1)
    card = rng.random(rows) < 0.5
    home = rng.random(rows) < 0.4
    job = rng.integers(0, len(JOBS), rows)
    school = rng.integers(0, len(SCHOOLING), rows)
    risk = 1.5 * np.log(debt / income) - 0.8 * card - 0.6 * home + 0.5 * (job == 2) - 0.4 * school
    default = rng.random(rows) < 1 / (1 + np.exp(-(risk - np.median(risk))))
    return pd.DataFrame(
        {
            INCOME: [vnd(a) for a in income],
            DEBT: [f"{a:,.1f}" for a in debt],
            CARD: np.where(card, "Có", "Không"),
            HOME: np.where(home, "Yes", "No"),
            JOB: np.array(JOBS, dtype=object)[job],
            SCHOOL: np.array(SCHOOLING, dtype=object)[school],
            LABEL: np.where(default, "Có", "Không"),
        }
    )


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in endpoint_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CREDITSCORE_PROJECT", settings.project)
    monkeypatch.setenv("CREDITSCORE_ENV", settings.env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``creditscore train --mapping`` on the bank's table, one row with an unreadable amount."""
    root = tmp_path_factory.mktemp("bank")
    table = bank_table(ROWS, seed=18)
    table.loc[7, INCOME] = "12,500,000"  # not in the column's format: left out and counted
    table.to_csv(root / "bang.csv", index=False)
    (root / "mapping.json").write_text(json.dumps(MAPPING, ensure_ascii=False))
    out = root / "model"
    code = main(
        [
            "train",
            "--model",
            MODEL,
            "--data",
            str(root / "bang.csv"),
            "--mapping",
            str(root / "mapping.json"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def raw_rows(path: Path) -> pd.DataFrame:
    """Rows to score: the bank's table itself (a fresh sample), label and all, plus rows with bad values."""
    table = bank_table(40, seed=7)
    table.loc[3, JOB] = "Nông dân"  # an unknown code under unknown: refuse
    table.loc[5, CARD] = np.nan  # missing under missing: refuse
    table.loc[8, HOME] = "Không rõ"  # unknown, counted as missing, which is 0
    table.loc[9, DEBT] = "0.0"  # no debt: the ratio is 0 / income
    table.loc[12, INCOME] = "0"  # no income: the divisor is 0, the ratio the declared 0
    table.to_csv(path, index=False)
    return table


def test_the_manifest_records_the_inputs_codes_and_derived_features(trained: Path) -> None:
    manifest = read_version(trained).manifest
    assert manifest.inputs == (INCOME, DEBT, CARD, HOME, JOB, SCHOOL)
    assert manifest.features == (
        INCOME,
        DEBT,
        CARD,
        HOME,
        *(f"{JOB}={job}" for job in JOBS),
        SCHOOL,
        RATIO,
        TIES,
    )
    assert manifest.encoding is not None
    assert manifest.encoding.spec(CARD) == InputSpec(CARD, (("Có", 1.0), ("Không", 0.0)), missing="refuse")
    assert manifest.encoding.spec(INCOME).number == NumberFormat(".", ",")
    assert dict(manifest.encoding.spec(SCHOOL).codes) == {
        label: float(i) for i, label in enumerate(SCHOOLING)
    }
    document = json.loads(manifest.to_json())
    assert document["derived"][RATIO] == {"ratio": [DEBT, INCOME], "zero": 0.0}
    assert document["derived"][TIES] == {"sum": [CARD, HOME, SCHOOL]}
    assert Manifest.from_json(manifest.to_json()) == manifest

    report = json.loads((trained / "report.json").read_text())
    assert report["rows"] == {
        "read": ROWS,
        "used": ROWS - 1,
        "rejected": [{"column": INCOME, "reason": "non_numeric", "rows": 1, "example": "12,500,000"}],
    }
    assert report["inputs"] == list(manifest.inputs)


def test_the_raw_table_scores_in_batch_with_rejects_naming_column_and_code(
    trained: Path, tmp_path: Path
) -> None:
    table = raw_rows(tmp_path / "moi.csv")
    out = tmp_path / "diem.csv"
    assert (
        main(["score", "--model", str(trained), "--data", str(tmp_path / "moi.csv"), "--out", str(out)]) == 0
    )
    scores = pd.read_csv(out, float_precision="round_trip")
    rejects = pd.read_csv(tmp_path / "diem.rejects.csv", keep_default_na=False)
    assert rejects[["row", "reason", "column", "value"]].to_dict("records") == [
        {"row": 4, "reason": "unknown_code", "column": JOB, "value": "Nông dân"},
        {"row": 6, "reason": "missing_value", "column": CARD, "value": ""},
    ]
    assert scores["row"].tolist() == [n for n in range(1, 41) if n not in (4, 6)]

    # The model the batch used is the one training measured: its PDs by hand, through the manifest.
    version = read_version(trained)
    model = load_verified(scorer(MODEL), version.manifest, version.files)
    kept = table.drop(index=[3, 5]).reset_index(drop=True)
    encoding = version.manifest.encoding
    assert encoding is not None
    decoded = np.array(
        [
            [encoding.spec(name).decode(row[name])[0] for name in encoding.names]
            for row in kept.to_dict("records")
        ]
    )
    assert decoded[7, 3] == 0  # "Không rõ": unknown, counted as missing, which the mapping makes 0
    assert np.array_equal(scores["probability_of_default"].to_numpy(), model.predict_pd(decoded))
    assert np.isfinite(scores["probability_of_default"]).all()


async def test_the_service_scores_the_raw_rows_as_the_batch_does(
    aiohttp_client: Callable[..., Any],
    trained: Path,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_settings(monkeypatch, settings)
    assert main(["models", "publish", str(trained)]) == 0
    table = raw_rows(tmp_path / "moi.csv")
    out = tmp_path / "diem.csv"
    assert main(["score", "--model", MODEL, "--data", str(tmp_path / "moi.csv"), "--out", str(out)]) == 0
    batch = pd.read_csv(out, float_precision="round_trip")

    client: TestClient[Any, Any] = await aiohttp_client(create_app(with_keys(settings)))
    inputs = list(read_version(trained).manifest.inputs)
    good = table.drop(index=[3, 5])[inputs]
    answer = await client.post(
        "/api/v1/score", json={"segment": "new", "rows": good.to_dict("records")}, headers=HEADERS
    )
    assert answer.status == 200, await answer.text()
    served = (await answer.json())["results"]
    assert [r["probability_of_default"] for r in served] == batch["probability_of_default"].tolist()
    assert [r["score"] for r in served] == batch["score"].tolist()

    models = await (await client.get("/api/v1/models", headers=HEADERS)).json()
    [model] = [m for m in models["models"] if m["name"] == MODEL]
    assert model["features"] == inputs
    # A client reads what each value may be from the listing: the codes, the missing rule, the format.
    listed = {item["name"]: item for item in model["inputs"]}
    assert list(listed) == inputs
    assert listed[CARD] | {"codes": sorted(listed[CARD]["codes"])} == {
        "name": CARD,
        "codes": ["Có", "Không"],
        "unknown_code": "refuse",
        "missing": "refuse",
        "number_format": None,
    }
    assert (listed[HOME]["unknown_code"], listed[HOME]["missing"]) == ("missing", 0)
    assert set(listed[JOB]["codes"]) == set(JOBS) and set(listed[SCHOOL]["codes"]) == set(SCHOOLING)
    assert listed[INCOME]["codes"] is None
    assert listed[INCOME]["number_format"] == {"thousands": ".", "decimal": ","}

    bad = table.iloc[[0, 3]][inputs].to_dict("records")
    bad[0][INCOME] = 12.5  # a number where the column writes text: read as the number it is
    bad[0][CARD] = 1  # a number where codes are expected: not one of them
    refused = await client.post("/api/v1/score", json={"segment": "new", "rows": bad}, headers=HEADERS)
    body = await refused.json()
    assert refused.status == 422, body
    assert body["errors"] == [
        {
            "field": f"rows[0].{CARD}",
            "message": "is an unknown code: not one this feature's model was trained with",
        },
        {
            "field": f"rows[1].{JOB}",
            "message": "is an unknown code: not one this feature's model was trained with",
        },
    ]
    assert "Nông dân" not in json.dumps(body, ensure_ascii=False)


async def test_text_for_a_model_that_reads_none_is_422_naming_the_field(
    make_client: Callable[..., Any],
) -> None:
    client: TestClient[Any, Any] = await make_client()
    models = await (await client.get("/api/v1/models", headers=HEADERS)).json()
    [new] = [m for m in models["models"] if m["segment"] == "new"]
    row: dict[str, Any] = dict.fromkeys(new["features"], 1.0)
    row[new["features"][0]] = "Có"
    answer = await client.post("/api/v1/score", json={"segment": "new", "rows": [row]}, headers=HEADERS)
    body = await answer.json()
    assert answer.status == 422, body
    assert body["errors"] == [
        {"field": f"rows[0].{new['features'][0]}", "message": "must be a number (this feature reads no text)"}
    ]


# --- bad mappings and bad tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "derived", "message"),
    [
        ({CARD: {"codes": {True: 1, False: 0}}}, {}, f"feature '{CARD}': code True is not text: quote it"),
        ({CARD: {"codes": {"Có": "một"}}}, {}, f"feature '{CARD}': code 'Có' must map to a finite number"),
        ({CARD: {"codes": {"Có": 1}, "unknown": "ignore"}}, {}, "unknown must be one of refuse, missing"),
        ({CARD: {"codes": {"Có": 1}, "missing": "drop"}}, {}, "missing must be keep, refuse or a number"),
        ({JOB: {"onehot": ["A", "A"]}}, {}, f"feature '{JOB}': onehot lists a label twice"),
        ({JOB: {"onehot": ["A"], "transform": ["log1p"]}}, {}, f"feature '{JOB}': a one-hot input takes no"),
        ({JOB: {"onehot": ["A"], "ordinal": ["A"]}}, {}, "give one of codes, onehot, ordinal, number"),
        ({INCOME: {"number": {"thousands": "x"}}}, {}, f"feature '{INCOME}': a number format's separators"),
        ({INCOME: {"number": {"thousands": ".", "decimal": "."}}}, {}, "separators must differ"),
        ({INCOME: {"unknown": "missing"}}, {}, f"feature '{INCOME}': 'unknown' applies to codes"),
        (
            {INCOME: None},
            {RATIO: {"ratio": [DEBT, INCOME], "zero": 0}},
            f"derived feature '{RATIO}' uses 'Dư nợ', which is not a key of 'features'",
        ),
        ({INCOME: None, DEBT: None}, {RATIO: {"ratio": [DEBT, INCOME]}}, "ratio needs 'zero'"),
        ({INCOME: None}, {RATIO: {"sqrt": INCOME}}, f"derived feature '{RATIO}': expected one of"),
        ({INCOME: None}, {RATIO: {"log1p": INCOME, "eval": "1"}}, "log1p takes no ['eval']"),
        ({JOB: {"onehot": ["A"]}}, {RATIO: {"log1p": JOB}}, "uses 'Nghề nghiệp', a one-hot input"),
        ({INCOME: None}, {INCOME: {"log1p": INCOME}}, "features named twice"),
        ({INCOME: None}, {RATIO: {"sum": [INCOME]}}, "sum takes [a, b, ...], two or more input names"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_column(
    features: dict[str, Any], derived: dict[str, Any], message: str
) -> None:
    document = {"label": LABEL, "label_positive": "Có", "features": features, "derived": derived}
    with pytest.raises(MappingError) as caught:
        parse_mapping(document, "bank.yaml")
    assert "bank.yaml" in str(caught.value)
    assert message in str(caught.value)


def test_unquoted_yes_no_in_a_yaml_mapping_is_refused_saying_to_quote_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        f"label: {LABEL}\nlabel_positive: Có\nfeatures:\n  {HOME}: {{codes: {{Yes: 1, No: 0}}}}\n"
    )
    with pytest.raises(SystemExit) as exited:
        main(["train", "--model", MODEL, "--data", str(tmp_path / "none.csv"), "--mapping", str(path)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"feature '{HOME}': code True is not text: quote it ('Yes', 'No')" in error


def test_a_column_no_value_of_which_can_be_read_stops_training_naming_it_and_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = bank_table(60, seed=2)
    table[CARD] = "Đúng"
    table.to_csv(tmp_path / "bang.csv", index=False)
    (tmp_path / "m.json").write_text(json.dumps(MAPPING, ensure_ascii=False))
    code = main(
        [
            "train",
            "--model",
            MODEL,
            "--data",
            str(tmp_path / "bang.csv"),
            "--mapping",
            str(tmp_path / "m.json"),
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert f"column '{CARD}' holds a code the mapping does not list" in error
    assert "'Đúng'" in error


def test_numbers_written_as_text_in_parquet_are_read_per_column(tmp_path: Path) -> None:
    from training.data import table_from_frame

    frame = bank_table(80, seed=4)
    frame.loc[2, DEBT] = "12.5"  # the column writes "1,234.5": 12.5 is fine
    frame.loc[4, DEBT] = "1.234,5"  # not in its format: counted, named
    frame.to_parquet(tmp_path / "bang.parquet")
    mapping = parse_mapping(MAPPING, "m.json")
    table = table_from_frame(pd.read_parquet(tmp_path / "bang.parquet"), "bang.parquet", (), mapping)
    assert len(table.labels) == 79
    assert table.rows_summary()["rejected"] == [
        {"column": DEBT, "reason": "non_numeric", "rows": 1, "example": "1.234,5"}
    ]
    assert table.features[2, 1] == 12.5
    assert table.features[0, 0] == float(str(frame.loc[0, INCOME]).replace(".", ""))


# --- the encoding itself ---------------------------------------------------------------------------------


class _Linear:
    """A model whose contributions are its features times fixed weights."""

    def __init__(self, weights: list[float]) -> None:
        self.weights = np.array(weights)

    def predict_pd(self, rows: Any) -> Any:
        return 1 / (1 + np.exp(-(np.nan_to_num(rows) @ self.weights)))

    def explain(self, rows: Any) -> Any:
        return np.nan_to_num(rows) * self.weights


def test_derived_features_and_contributions_go_back_to_the_inputs() -> None:
    from plugins.encoding import Derived, EncodedModel, Encoding

    encoding = Encoding(
        (InputSpec("a"), InputSpec("b"), InputSpec("job", (("x", 0.0), ("y", 1.0)))),
        {
            "a/b": Derived("ratio", ("a", "b"), -1.0),
            "a-b": Derived("difference", ("a", "b")),
            "log a": Derived("log1p", ("a",)),
            "job=y": Derived("onehot", ("job",), 1.0),
            "a+b+job": Derived("sum", ("a", "b", "job")),
        },
    )
    features = ("a", "a/b", "a-b", "log a", "job=y", "a+b+job")
    rows = np.array([[3.0, 2.0, 1.0], [-1.0, 0.0, 0.0], [1.0, 4.0, np.nan]])
    computed = encoding.features_of(rows, features)
    assert computed[0].tolist() == [3.0, 1.5, 1.0, pytest.approx(np.log1p(3.0)), 1.0, 6.0]
    assert computed[1, 1] == -1.0  # the divisor is 0: the declared result
    assert np.isnan(computed[1, 3])  # log1p of a negative value: missing
    assert np.isnan(computed[2, 4])  # one-hot of a missing value: missing
    assert np.isnan(computed[2, 5])  # a sum with a missing operand: missing
    weights = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    model = EncodedModel(_Linear(weights), features, encoding)
    contributions = model.explain(rows)
    assert contributions.shape == (3, 3)
    assert np.allclose(contributions.sum(axis=1), _Linear(weights).explain(computed).sum(axis=1))
    # The sum's contribution is shared equally among its three inputs: "job" gets a third of it.
    assert contributions[0, 2] == pytest.approx(5.0 * 1.0 + 6.0 * 6.0 / 3)


def test_a_manifest_without_inputs_takes_its_features_as_before(trained: Path) -> None:
    from dataclasses import replace

    # As published before inputs were recorded: nor was the reference (whose bins are the inputs').
    manifest = replace(read_version(trained).manifest, encoding=None, transforms={}, reference=None)
    document = json.loads(manifest.to_json())
    assert "inputs" not in document
    assert "derived" not in document
    loaded = Manifest.from_json(manifest.to_json())
    assert loaded.encoding is None
    assert loaded.inputs == loaded.features


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"inputs": [{"name": CARD, "codes": {"Có": "x"}}]},
            f"input '{CARD}': code 'Có' must map to a finite",
        ),
        ({"inputs": [{"name": CARD, "eval": "1"}]}, "unknown keys ['eval']"),
        (
            {"derived": {RATIO: {"ratio": [DEBT, "nothing"], "zero": 0}}},
            "derived from 'nothing', not an input",
        ),
    ],
)
def test_a_manifest_with_malformed_inputs_is_refused_naming_them(
    trained: Path, change: dict[str, Any], message: str
) -> None:
    from plugins.artifacts import ArtifactError

    document = json.loads(read_version(trained).manifest.to_json())
    for key, value in change.items():  # derived features are replaced one by one, inputs all at once
        document[key] = document[key] | value if isinstance(value, dict) else value
    with pytest.raises(ArtifactError) as caught:
        Manifest.from_json(json.dumps(document).encode())
    assert message in str(caught.value)
