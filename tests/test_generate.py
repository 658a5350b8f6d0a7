"""The synthetic-data generator: contract, determinism, realism of the signal, and the dirty rows."""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from creditscore.domain import features
from creditscore.domain.features import FORM_FIELDS
from etl import sources
from etl.sources import CUSTOMERS, SOCIAL, SOURCES, TRANSACTIONS, Source
from etl.synthetic import DEFAULT_AS_OF, GenerationSummary, generate
from etl.synthetic import generator as generator_module
from etl.synthetic.dirty import AMOUNT_COLUMNS, KINDS
from etl.synthetic.identity import PROVINCE_CODES

SEED = 20240917
AS_OF = pd.Timestamp(DEFAULT_AS_OF)
STATS_CUSTOMERS = 20_000
SMALL_CUSTOMERS = 3_000
SMALL_CHUNK = 1_000  # three chunks for 3,000 customers, so chunk boundaries are exercised
DIRTY_SHARE = 0.05

PHONE_PREFIXES = {
    *(f"0{p}" for p in (32, 33, 34, 35, 36, 37, 38, 39, 86, 96, 97, 98)),
    *(f"0{p}" for p in (70, 76, 77, 78, 79, 89, 90, 93, 81, 82, 83, 84, 85, 88, 91, 94)),
    *(f"0{p}" for p in (52, 56, 58, 92, 59, 99)),
}
APPLICATION_FIELDS = list(FORM_FIELDS)
BUREAU_FIELDS = features.names(features.TRADITIONAL)
SOCIAL_FIELDS = features.names(features.SOCIAL)
MONEY_FIELDS = ["income", "savings", "debt"]


def read_source(path: Path, source: Source) -> pd.DataFrame:
    # IDs keep their leading zeros only when read as text.
    frame = pd.read_csv(
        path / source.file_name,
        dtype={"national_id": str, "phone_number": str, "transaction_id": str},
        keep_default_na=False,
    )
    assert list(frame.columns) == list(source.columns)
    return frame


@dataclass(frozen=True)
class Clean:
    path: Path
    summary: GenerationSummary
    customers: pd.DataFrame
    transactions: pd.DataFrame
    social: pd.DataFrame


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Clean:
    path = tmp_path_factory.mktemp("stats")
    summary = generate(path, STATS_CUSTOMERS, SEED, dirty_share=0.0, progress=False)
    return Clean(
        path=path,
        summary=summary,
        customers=read_source(path, CUSTOMERS),
        transactions=read_source(path, TRANSACTIONS),
        social=read_source(path, SOCIAL),
    )


@dataclass(frozen=True)
class SmallRuns:
    clean: Path
    dirty: Path
    dirty_again: Path
    dirty_summary: GenerationSummary


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallRuns:
    """Three small runs with small chunks: without dirt, with dirt, and the same with dirt again."""
    root = tmp_path_factory.mktemp("small")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generator_module, "CHUNK_SIZE", SMALL_CHUNK)
        generate(root / "clean", SMALL_CUSTOMERS, SEED, dirty_share=0.0, progress=False)
        summary = generate(root / "dirty", SMALL_CUSTOMERS, SEED, dirty_share=DIRTY_SHARE, progress=False)
        generate(root / "again", SMALL_CUSTOMERS, SEED, dirty_share=DIRTY_SHARE, progress=False)
    return SmallRuns(root / "clean", root / "dirty", root / "again", summary)


# --- the contract -------------------------------------------------------------------------------------


def test_headers_match_the_source_contract(clean: Clean) -> None:
    for source in SOURCES:
        with (clean.path / source.file_name).open(encoding="utf-8", newline="") as f:
            assert f.readline() == source.header + "\n"
    ledger = (clean.path / sources.DIRTY_ROWS_FILE).read_text(encoding="utf-8")
    assert ledger == ",".join(sources.DIRTY_ROWS_COLUMNS) + "\n"


def test_one_record_per_line_and_no_quoting(clean: Clean) -> None:
    for source in SOURCES:
        data = (clean.path / source.file_name).read_bytes()
        assert b"\r" not in data
        assert b'"' not in data
        assert data.endswith(b"\n")
        assert data.count(b"\n") == clean.summary.rows[source.name] + 1


def test_summary_and_metadata(clean: Clean) -> None:
    summary = clean.summary
    assert summary.rows[CUSTOMERS.name] == STATS_CUSTOMERS
    assert summary.rows[SOCIAL.name] == STATS_CUSTOMERS
    assert summary.rows[TRANSACTIONS.name] == len(clean.transactions)
    assert summary.dirty_rows == {source.name: 0 for source in SOURCES}
    assert summary.seconds > 0
    metadata = json.loads((clean.path / sources.GENERATION_FILE).read_text(encoding="utf-8"))
    assert metadata["seed"] == SEED
    assert metadata["customers"] == STATS_CUSTOMERS
    assert metadata["months"] == 12
    assert metadata["as_of"] == DEFAULT_AS_OF.isoformat() == "2026-09-30"
    assert metadata["dirty_share"] == 0.0
    assert metadata["rows"] == summary.rows
    for name, digest in metadata["sha256"].items():
        assert hashlib.sha256((clean.path / name).read_bytes()).hexdigest() == digest
    assert set(metadata["sha256"]) == {s.file_name for s in SOURCES} | {sources.DIRTY_ROWS_FILE}
    for path in summary.files.values():
        assert path.is_file()


def test_identifiers_are_well_formed_and_unique(clean: Clean) -> None:
    customers = clean.customers
    ids = customers["national_id"]
    assert ids.str.fullmatch(r"\d{12}").all()
    assert ids.is_unique
    assert set(ids.str[:3].astype(int)) <= set(PROVINCE_CODES.tolist())
    assert ids.str[:3].nunique() > 30

    # The gender/century digit agrees with the gendered middle names and with the age.
    digit = ids.str[3].astype(int)
    middle = customers["full_name"].str.split(" ").str[1]
    assert (digit[middle == "Thị"] % 2 == 1).all()
    assert (digit[middle == "Văn"] % 2 == 0).all()
    assert set(digit) <= {0, 1, 2, 3}
    birth_year = np.where(digit >= 2, 2000, 1900) + ids.str[4:6].astype(int)
    assert ((DEFAULT_AS_OF.year - birth_year - customers["age"]).isin([0, 1])).all()

    names = customers["full_name"]
    assert names.str.fullmatch(r"\S+ \S+ \S+").all()
    assert names.str.split(" ").str[0].eq("Nguyễn").mean() == pytest.approx(0.38, abs=0.03)

    emails = customers["email"]
    assert emails.is_unique
    assert emails.str.fullmatch(r"[a-z]+(\.[a-z]+)?\d+@[a-z]+(\.[a-z]+)+").all()
    assert emails.str.endswith("@gmail.com").mean() == pytest.approx(0.6, abs=0.03)

    phones = customers["phone_number"]
    assert phones.is_unique
    assert phones.str.fullmatch(r"0\d{9}").all()
    assert set(phones.str[:3]) <= PHONE_PREFIXES

    transaction_ids = clean.transactions["transaction_id"]
    assert transaction_ids.str.fullmatch(r"t[0-9a-f]{12}").all()
    assert transaction_ids.is_unique


def test_values_are_in_range(clean: Clean) -> None:
    customers, social = clean.customers, clean.social
    assert customers["age"].between(18, 75).all()
    for name in MONEY_FIELDS:
        assert customers[name].dtype == np.int64
        assert (customers[name] >= 0).all()
    assert customers["income"].median() == pytest.approx(12_000_000, rel=0.1)
    assert customers["credit_utilization"].between(0, 1.5).all()
    assert (customers["employment_years"] <= customers["age"] - 18).all()
    assert set(customers["default_24m"]) == {0, 1}
    for frame, fields in ((customers, ["has_dependents", "has_mortgage"]), (social, ["verified_profile"])):
        for name in fields:
            assert frame[name].dtype == bool  # pandas reads only the literals true/false as booleans
    assert social["national_id"].tolist() == customers["national_id"].tolist()
    assert social["share_defaulted_connections"].between(0, 1).all()
    assert social["avg_sentiment"].between(-1, 1).all()
    assert (social[["account_age_months", "num_connections", "posts_per_month"]] >= 0).all().all()
    for frame, name in ((customers, "credit_utilization"), (social, "share_defaulted_connections")):
        assert (frame[name].round(4) == frame[name]).all()


def test_timestamps_are_before_as_of(clean: Clean) -> None:
    stamps = {
        "customers.updated_at": clean.customers["updated_at"],
        "social.updated_at": clean.social["updated_at"],
        "transactions.timestamp": clean.transactions["timestamp"],
    }
    for name, column in stamps.items():
        assert column.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all(), name
        parsed = pd.to_datetime(column, format="%Y-%m-%d %H:%M:%S")
        assert (parsed < AS_OF).all(), name
    first = pd.to_datetime(clean.transactions["timestamp"]).min()
    assert first >= AS_OF - pd.DateOffset(months=12)


def test_transactions_form_consistent_ledgers(clean: Clean) -> None:
    tx = clean.transactions
    assert set(tx["national_id"]) <= set(clean.customers["national_id"])
    # Ordered by customer (in customer order) and then by time.
    position = pd.Series(range(len(clean.customers)), index=clean.customers["national_id"])
    customer_position = position.loc[tx["national_id"]].to_numpy()
    assert (np.diff(customer_position) >= 0).all()
    same_customer = np.diff(customer_position) == 0
    assert (
        tx["timestamp"].to_numpy()[1:][same_customer] >= tx["timestamp"].to_numpy()[:-1][same_customer]
    ).all()

    assert (tx["amount"] > 0).all()
    assert set(tx["direction"]) == set(sources.DIRECTIONS)
    assert set(tx["category"]) == set(sources.CREDIT_CATEGORIES) | set(sources.DEBIT_CATEGORIES)
    is_credit = tx["category"].isin(sources.CREDIT_CATEGORIES)
    assert (is_credit == tx["direction"].eq("credit")).all()
    signed = np.where(is_credit, tx["amount"], -tx["amount"])
    change = np.diff(tx["balance_after"].to_numpy())
    assert (change[same_customer] == signed[1:][same_customer]).all()

    per_customer_month = len(tx) / (STATS_CUSTOMERS * 12)
    assert 6 <= per_customer_month <= 10
    assert (tx["balance_after"] < 0).any()


# --- determinism --------------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(small: SmallRuns) -> None:
    names = [s.file_name for s in SOURCES] + [sources.DIRTY_ROWS_FILE, sources.GENERATION_FILE]
    for name in names:
        assert (small.dirty / name).read_bytes() == (small.dirty_again / name).read_bytes(), name


def test_different_seeds_differ(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 50, 1, progress=False)
    second = generate(tmp_path / "b", 50, 2, progress=False)
    assert first.sha256 != second.sha256


def test_clean_rows_do_not_depend_on_dirty_share(small: SmallRuns) -> None:
    ledger = pd.read_csv(small.dirty / sources.DIRTY_ROWS_FILE, dtype=str, keep_default_na=False)
    for source in SOURCES:
        lines = (small.dirty / source.file_name).read_text(encoding="utf-8").split("\n")
        dirty_lines = set(ledger.loc[ledger["source"] == source.name, "line"].astype(int))
        kept = [line for number, line in enumerate(lines, start=1) if number not in dirty_lines]
        assert "\n".join(kept) == (small.clean / source.file_name).read_text(encoding="utf-8")


# --- dirty rows ---------------------------------------------------------------------------------------


def _fields(line: str) -> list[str]:
    return next(csv.reader([line], strict=True))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return math.isfinite(float(text))


@dataclass(frozen=True)
class Written:
    """A file's lines (index 0 is line 1) and the first line number at which each text appears."""

    lines: list[str]
    first_seen: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> Written:
        lines = path.read_text(encoding="utf-8").split("\n")
        first_seen: dict[str, int] = {}
        for number, line in enumerate(lines, start=1):
            first_seen.setdefault(line, number)
        return cls(lines, first_seen)


def test_dirty_rows_come_at_the_requested_share(small: SmallRuns) -> None:
    summary = small.dirty_summary
    ledger = pd.read_csv(small.dirty / sources.DIRTY_ROWS_FILE, dtype=str, keep_default_na=False)
    assert list(ledger.columns) == list(sources.DIRTY_ROWS_COLUMNS)
    for source in SOURCES:
        dirty = summary.dirty_rows[source.name]
        clean_rows = summary.rows[source.name] - dirty
        tolerance = 4 * math.sqrt(DIRTY_SHARE / clean_rows)
        assert dirty / clean_rows == pytest.approx(DIRTY_SHARE, abs=tolerance), source.name
        entries = ledger[ledger["source"] == source.name]
        assert len(entries) == dirty
        assert entries["line"].astype(int).is_monotonic_increasing
        assert entries["line"].astype(int).is_unique
        assert set(entries["kind"]) == set(KINDS[source.name])
    assert set(ledger["kind"]) <= set(sources.DIRTY_KINDS)


def test_each_dirty_row_is_bad_in_the_stated_way(small: SmallRuns) -> None:
    written = {s.name: Written.read(small.dirty / s.file_name) for s in SOURCES}
    clean_rows = {
        s.name: {line.split(",", 1)[0]: line for line in Written.read(small.clean / s.file_name).lines[1:-1]}
        for s in (CUSTOMERS, SOCIAL)
    }
    customer_ids = set(clean_rows[CUSTOMERS.name])
    as_of = datetime.datetime.combine(DEFAULT_AS_OF, datetime.time())
    by_name = {s.name: s for s in SOURCES}
    with (small.dirty / sources.DIRTY_ROWS_FILE).open(encoding="utf-8", newline="") as f:
        ledger = list(csv.DictReader(f))
    assert len(ledger) == sum(small.dirty_summary.dirty_rows.values())
    for entry in ledger:
        source, number, key, kind = by_name[entry["source"]], int(entry["line"]), entry["key"], entry["kind"]
        line = written[source.name].lines[number - 1]
        where = f"{source.name} line {number} ({kind})"
        assert key in line, where
        if kind == "malformed_record":
            with pytest.raises(csv.Error):
                _fields(line)
            assert line.startswith(key + ","), where
            continue
        fields = dict(zip(source.columns, _fields(line), strict=True))
        assert fields["transaction_id" if source is TRANSACTIONS else "national_id"] == key, where
        national_id = fields["national_id"]
        amounts = [fields[name] for name in AMOUNT_COLUMNS[source.name]]
        if kind == "malformed_id":
            assert not re.fullmatch(r"\d{9}|\d{12}", national_id), where
        elif kind == "negative_value":
            assert any(_is_number(a) and float(a) < 0 for a in amounts), where
        elif kind == "non_numeric":
            assert not all(_is_number(a) for a in amounts), where
        elif kind == "impossible_age":
            assert not 16 <= int(fields["age"]) <= 110, where
        elif kind == "future_date":
            assert datetime.datetime.fromisoformat(fields["timestamp"]) > as_of, where
        elif kind == "unknown_customer":
            assert re.fullmatch(r"\d{12}", national_id), where
            assert national_id not in customer_ids, where
        elif kind == "duplicate" and source is TRANSACTIONS:
            assert written[source.name].first_seen[line] < number, where
        elif kind == "duplicate":
            # An older version placed after the current one: only updated_at tells which wins.
            current = clean_rows[source.name][national_id]
            assert written[source.name].first_seen[current] < number, where
            current_fields = dict(zip(source.columns, current.split(","), strict=True))
            assert current_fields["updated_at"] > fields["updated_at"], where
        else:
            pytest.fail(f"unexpected kind: {where}")


# --- the signal ---------------------------------------------------------------------------------------


def _transaction_features(clean: Clean) -> pd.DataFrame:
    tx = clean.transactions
    flags = pd.DataFrame(
        {
            "national_id": tx["national_id"],
            "gambling": tx["category"].eq("gambling"),
            "cash_advance": tx["category"].eq("cash_advance"),
            "salary": tx["category"].eq("salary"),
            "loan_repayment": tx["category"].eq("loan_repayment"),
            "overdraft": tx["balance_after"] < 0,
            "balance": tx["balance_after"],
            "debit": np.where(tx["direction"] == "debit", tx["amount"], 0),
            "credit": np.where(tx["direction"] == "credit", tx["amount"], 0),
        }
    )
    grouped = flags.groupby("national_id")
    features = pd.DataFrame(
        {
            "gambling_share": grouped["gambling"].mean(),
            "cash_advance_share": grouped["cash_advance"].mean(),
            "salary_count": grouped["salary"].sum(),
            "repayment_count": grouped["loan_repayment"].sum(),
            "overdraft_count": grouped["overdraft"].sum(),
            "mean_balance": grouped["balance"].mean(),
            "min_balance": grouped["balance"].min(),
            "debit_to_credit": grouped["debit"].sum() / grouped["credit"].sum().clip(lower=1),
        }
    )
    return features.reindex(clean.customers["national_id"]).fillna(0).reset_index(drop=True)


def _signed_log(frame: pd.DataFrame) -> pd.DataFrame:
    result: pd.DataFrame = np.sign(frame) * np.log1p(frame.abs())
    return result


@pytest.fixture(scope="module")
def feature_sets(clean: Clean) -> dict[str, pd.DataFrame]:
    customers = clean.customers
    social = clean.social.set_index("national_id").loc[customers["national_id"]].reset_index(drop=True)
    application = customers[APPLICATION_FIELDS].astype(float)
    application[MONEY_FIELDS] = np.log1p(application[MONEY_FIELDS])
    social_features = social[SOCIAL_FIELDS].astype(float)
    social_features[["num_connections", "posts_per_month"]] = np.log1p(
        social_features[["num_connections", "posts_per_month"]]
    )
    transactions = _transaction_features(clean)
    transactions[["mean_balance", "min_balance"]] = _signed_log(transactions[["mean_balance", "min_balance"]])
    return {
        "application": application,
        "bureau": customers[BUREAU_FIELDS].astype(float),
        "transactions": transactions,
        "social": social_features,
    }


def _test_auc(features: pd.DataFrame, label: pd.Series[Any]) -> float:
    x_train, x_test, y_train, y_test = train_test_split(
        features.to_numpy(), label.to_numpy(), test_size=0.3, random_state=0, stratify=label.to_numpy()
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


def test_default_rate(clean: Clean) -> None:
    assert 0.05 <= clean.customers["default_24m"].mean() <= 0.10


@pytest.mark.parametrize("source", ["application", "bureau", "transactions", "social"])
def test_each_source_alone_predicts_default(
    clean: Clean, feature_sets: dict[str, pd.DataFrame], source: str
) -> None:
    assert _test_auc(feature_sets[source], clean.customers["default_24m"]) > 0.6


def test_combined_signal_is_realistic(clean: Clean, feature_sets: dict[str, pd.DataFrame]) -> None:
    combined = pd.concat(list(feature_sets.values()), axis=1)
    assert 0.75 <= _test_auc(combined, clean.customers["default_24m"]) <= 0.88


def test_no_column_gives_the_label_away(clean: Clean, feature_sets: dict[str, pd.DataFrame]) -> None:
    label = np.asarray(clean.customers["default_24m"], dtype=np.float64)
    numeric = clean.customers.drop(columns=["default_24m"]).select_dtypes(include=["number", "bool"])
    columns = pd.concat([numeric, *feature_sets.values()], axis=1)
    for name in columns.columns.unique():
        values = columns.loc[:, [name]].iloc[:, 0].astype(float).to_numpy()
        correlation = np.corrcoef(values, label)[0, 1]
        assert abs(correlation) < 0.8, name
        auc = roc_auc_score(label, values)
        assert max(auc, 1 - auc) < 0.85, name


# --- arguments and progress ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"customers": 0}, "customers"),
        ({"customers": -5}, "customers"),
        ({"customers": 10**9}, "customers"),
        ({"months": 0}, "months"),
        ({"months": 25}, "months"),
        ({"dirty_share": -0.01}, "dirty_share"),
        ({"dirty_share": 0.6}, "dirty_share"),
        ({"dirty_share": float("nan")}, "dirty_share"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise(tmp_path: Path, arguments: dict[str, Any], name: str) -> None:
    call: dict[str, Any] = {"customers": 10, "seed": 1, "progress": False, **arguments}
    with pytest.raises(ValueError, match=name):
        generate(tmp_path, **call)
    assert not any(tmp_path.iterdir())


def test_progress_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(tmp_path, 20, 1, months=1, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "20/20" in captured.err
