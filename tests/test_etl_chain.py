"""The whole chain on generated data: generate → ingest → ETL (Spark, local mode) → load DynamoDB.

Everything goes through the moto server over HTTP, as it would through AWS.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain import features
from creditscore.local_aws import LocalAws
from etl import ingest, report
from etl.load_customers import LoadSummary, load_customers
from etl.local_runner import run_local
from etl.pipeline import EtlReport
from etl.sources import CUSTOMERS as CUSTOMERS_SOURCE
from etl.sources import DIRTY_ROWS_FILE, SOURCES, TRANSACTIONS, Source
from etl.synthetic import generate
from tests.conftest import settings_for

CUSTOMERS = 2_000
INGEST_DAY = date(2026, 11, 2)


@dataclass(frozen=True)
class Chain:
    settings: Settings
    raw_dir: Path
    report: EtlReport
    loaded: LoadSummary
    cleaned: dict[str, pd.DataFrame]  # output name → its parquet, read back from the cleaned bucket
    keys: list[str]


def _read_parquet_prefix(s3: Any, bucket: str, prefix: str, keys: list[str], into: Path) -> pd.DataFrame:
    frames = []
    for n, key in enumerate(k for k in keys if k.startswith(prefix) and k.endswith(".parquet")):
        target = into / f"{n}.parquet"
        s3.download_file(bucket, key, str(target))
        frame = pd.read_parquet(target)
        # Hive-style partition folders (source=…) are columns of the dataset, not of each file.
        for part in key[len(prefix) :].split("/")[:-1]:
            name, _, value = part.partition("=")
            frame[name] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def chain(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    settings = settings_for(local_aws, "chain")
    aws.bootstrap(settings)
    raw_dir = tmp_path_factory.mktemp("raw")
    generate(raw_dir, customers=CUSTOMERS, seed=11, dirty_share=0.02, progress=False)
    s3 = aws.client("s3", settings)
    for path in ingest.source_files(raw_dir):
        ingest.upload(s3, settings.raw_bucket, ingest.describe(path, ingest.check_file(path)), INGEST_DAY)

    etl_report = run_local(settings, ingest_date=None, snapshot=None)
    loaded = load_customers(settings, etl_report.snapshot, progress=False)

    keys = [key for key, _ in ingest.list_objects(s3, settings.cleaned_bucket)]
    work = tmp_path_factory.mktemp("cleaned")
    cleaned = {
        name: _read_parquet_prefix(
            s3, settings.cleaned_bucket, f"{name}/snapshot={etl_report.snapshot}/", keys, work
        )
        for name in ("features", "identity", "quarantine")
    }
    return Chain(settings, raw_dir, etl_report, loaded, cleaned, keys)


def _ledger(raw_dir: Path) -> pd.DataFrame:
    return pd.read_csv(raw_dir / DIRTY_ROWS_FILE, dtype=str)


def test_snapshot_defaults_to_the_latest_ingest_date(chain: Chain) -> None:
    assert chain.report.snapshot == INGEST_DAY.isoformat()


def test_every_row_read_is_written_quarantined_or_superseded(chain: Chain) -> None:
    quarantine = chain.cleaned["quarantine"]
    for source in SOURCES:
        counts = chain.report.sources[source.name]
        lines = (chain.raw_dir / source.file_name).read_text().count("\n") - 1
        assert counts.read == lines
        assert counts.read == counts.written + counts.quarantined + counts.superseded
        stored = int((quarantine["source"] == source.name).sum())
        assert stored == counts.quarantined + counts.superseded, "every row not written is in quarantine"
    assert chain.report.sources["customers"].written == CUSTOMERS
    assert len(chain.cleaned["features"]) == len(chain.cleaned["identity"]) == CUSTOMERS


def test_every_dirty_row_is_in_quarantine_under_its_reason_and_nothing_else_is(chain: Chain) -> None:
    ledger = _ledger(chain.raw_dir)
    quarantine = chain.cleaned["quarantine"]
    for row in ledger.itertuples():
        found = quarantine[
            (quarantine["source"] == row.source)
            & (quarantine["reason"] == row.kind)
            & quarantine["record"].str.contains(str(row.key), regex=False)
        ]
        assert len(found) >= 1, f"{row.source} line {row.line} ({row.kind}) is not in quarantine"
    by_source_reason = quarantine.groupby(["source", "reason"]).size().to_dict()
    assert by_source_reason == ledger.groupby(["source", "kind"]).size().to_dict()


def test_the_report_lands_beside_the_outputs(chain: Chain) -> None:
    snapshot = chain.report.snapshot
    for output in ("features", "identity", "transactions"):
        assert any(
            k.startswith(f"{output}/snapshot={snapshot}/") and k.endswith(".parquet") for k in chain.keys
        )
    for source in SOURCES:
        assert any(k.startswith(f"quarantine/snapshot={snapshot}/source={source.name}/") for k in chain.keys)
    assert not any(k.endswith((".crc", "_SUCCESS")) for k in chain.keys)
    body = (
        aws.client("s3", chain.settings)
        .get_object(
            Bucket=chain.settings.cleaned_bucket, Key=f"reports/snapshot={snapshot}/{report.REPORT_NAME}"
        )["Body"]
        .read()
    )
    stored = json.loads(body)
    assert stored["sources"]["transactions"]["read"] == chain.report.sources["transactions"].read
    assert all(s["balanced"] for s in stored["sources"].values())


def test_dynamodb_holds_every_customer_with_its_feature_groups(chain: Chain) -> None:
    assert chain.loaded.items_written == chain.loaded.items_in_table == CUSTOMERS
    identity = chain.cleaned["identity"].iloc[0]
    item = aws.client("dynamodb", chain.settings).get_item(
        TableName=chain.settings.customers_table, Key={"national_id": {"S": identity["national_id"]}}
    )["Item"]
    assert item["email"]["S"] == identity["email"]
    for group in (features.APPLICATION, features.TRADITIONAL, features.TRANSACTION, features.SOCIAL):
        assert set(item[group]["M"]) == set(features.names(group))
    assert features.LABEL not in item


def _clean_rows(raw_dir: Path, source: Source) -> pd.DataFrame:
    """The generator's clean rows, read by Python's csv module without the ledger's dirty lines."""
    ledger = _ledger(raw_dir)
    dirty = set(ledger.loc[ledger["source"] == source.name, "line"].astype(int))
    text = (raw_dir / source.file_name).read_text().splitlines()
    kept = [line for number, line in enumerate(text, start=1) if number == 1 or number not in dirty]
    return pd.DataFrame(list(csv.DictReader(io.StringIO("\n".join(kept)))))


def _expected(tx: pd.DataFrame, as_of: pd.Timestamp, w: int) -> dict[str, float]:
    inside = tx[(tx["timestamp"] >= as_of - pd.DateOffset(months=w)) & (tx["timestamp"] < as_of)]
    credit, debit = inside[inside["direction"] == "credit"], inside[inside["direction"] == "debit"]
    spent = debit["amount"].sum()
    salary_months = inside.loc[inside["category"] == "salary", "timestamp"].dt.to_period("M").nunique()
    balance = inside["balance_after"]
    return {
        f"inflow_mean_{w}m": credit["amount"].sum() / w,
        f"outflow_mean_{w}m": spent / w,
        f"salary_regularity_{w}m": salary_months / w,
        f"balance_mean_{w}m": balance.mean() if len(balance) else 0.0,
        f"balance_volatility_{w}m": float(np.std(balance)) if len(balance) else 0.0,
        f"balance_min_{w}m": balance.min() if len(balance) else 0.0,
        f"overdraft_days_{w}m": float(inside.loc[balance < 0, "timestamp"].dt.date.nunique()),
        f"gambling_share_{w}m": debit.loc[debit["category"] == "gambling", "amount"].sum() / spent
        if spent
        else 0.0,
        f"cash_advance_share_{w}m": (
            debit.loc[debit["category"] == "cash_advance", "amount"].sum() / spent if spent else 0.0
        ),
        f"txn_count_{w}m": float(len(inside)),
    }


def test_feature_values_match_an_independent_pandas_computation(chain: Chain) -> None:
    table = chain.cleaned["features"].set_index("national_id")
    transactions = _clean_rows(chain.raw_dir, TRANSACTIONS)
    transactions["timestamp"] = pd.to_datetime(transactions["timestamp"])
    for column in ("amount", "balance_after"):
        transactions[column] = transactions[column].astype(float)
    customers = _clean_rows(chain.raw_dir, CUSTOMERS_SOURCE).set_index("national_id")
    assert customers.index.is_unique
    as_of = pd.Timestamp(chain.report.features_as_of)
    assert (table["features_as_of"] == chain.report.features_as_of).all()
    assert as_of == transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)

    sample = table.sample(40, random_state=3).index
    grouped = dict(iter(transactions[transactions["national_id"].isin(sample)].groupby("national_id")))
    for national_id in sample:
        tx = grouped[national_id]
        for w in features.WINDOWS_MONTHS:
            for name, value in _expected(tx, as_of, w).items():
                assert table.at[national_id, name] == pytest.approx(value, rel=1e-9, abs=1e-6), name
        form = customers.loc[national_id]
        income = float(form["income"])
        assert table.at[national_id, "debt_to_income"] == pytest.approx(float(form["debt"]) / income)
        assert table.at[national_id, "net_worth"] == income - float(form["debt"])
        assert table.at[national_id, features.LABEL] == int(form["default_24m"])
