"""The seed's scenario end to end, as a bank's client and its data team live it: an applicant created and
scored through the API, scored again as an existing customer, then the bank's batch (raw CSV → ingest →
Spark ETL → load-customers) brings the same person's bureau, transaction and social data, and the next
score uses it. A reload of the snapshot wipes nothing the service wrote.

Real parts only: the moto server over HTTP, Spark in local mode, the aiohttp app through a real client."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain.features import names
from etl import ingest
from etl.load_customers import load_customers
from etl.local_runner import run_local
from etl.sources import CUSTOMERS, SOCIAL, TRANSACTIONS
from etl.synthetic import generate
from tests.test_server_api import EXISTING, HEADERS, NEW, applicant, table_items

INGEST_DAY = date(2026, 11, 30)
# The bank's own record of the applicant: other form values than the applicant typed into the API.
BANK_FORM = {"income": "31000000", "savings": "5000000", "debt": "2000000"}


def _bank_files_holding(raw_dir: Path, form: dict[str, Any]) -> None:
    """Generated raw files in which the first customer is the API's applicant: their national ID,
    identity and the bank's own form values, with that customer's transactions and social row."""
    rows = list(csv.DictReader((raw_dir / CUSTOMERS.file_name).open(newline="")))
    replaced = rows[0]["national_id"]
    identity = {name: form[name] for name in ("national_id", "full_name", "email", "phone_number")}
    rows[0] |= identity | BANK_FORM
    _write(raw_dir / CUSTOMERS.file_name, CUSTOMERS.columns, rows)
    for source in (TRANSACTIONS, SOCIAL):
        path = raw_dir / source.file_name
        others = list(csv.DictReader(path.open(newline="")))
        for row in others:
            if row["national_id"] == replaced:
                row["national_id"] = form["national_id"]
        _write(path, source.columns, others)


def _write(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _bank_batch(settings: Settings, raw_dir: Path) -> str:
    """The bank's batch run: ingest the raw files, the Spark ETL, the DynamoDB load; the snapshot id."""
    s3 = aws.client("s3", settings)
    for path in ingest.source_files(raw_dir):
        ingest.upload(s3, settings.raw_bucket, ingest.describe(path, ingest.check_file(path)), INGEST_DAY)
    report = run_local(settings, ingest_date=None, snapshot=None)
    loaded = load_customers(settings, report.snapshot, progress=False)
    assert loaded.items_written == report.sources["customers"].written
    return report.snapshot


async def test_the_seed_scenario_from_application_to_batch_data(
    make_client: Callable[..., Any], service_settings: Settings, tmp_path: Path
) -> None:
    client: TestClient[Any, Any] = await make_client()
    form = applicant()
    national_id = form["national_id"]

    created = await client.post(NEW, json=form, headers=HEADERS)
    assert created.status == 200, await created.text()
    assert (await client.post(NEW, json=form, headers=HEADERS)).status == 409
    for lookup in ("national_id", "email", "phone_number"):
        answer = await client.post(EXISTING, json={lookup: form[lookup]}, headers=HEADERS)
        body = await answer.json()
        assert answer.status == 200, body
        assert body["basis"] == "application-only"
        assert body["customer_info"]["national_id"] == national_id
    [before_batch] = table_items(service_settings, service_settings.customers_table)

    generate(tmp_path, customers=80, seed=17, dirty_share=0.0, as_of=INGEST_DAY, progress=False)
    _bank_files_holding(tmp_path, form)
    snapshot = _bank_batch(service_settings, tmp_path)

    answer = await client.post(EXISTING, json={"national_id": national_id}, headers=HEADERS)
    body = await answer.json()
    assert answer.status == 200, body
    assert body["basis"] == "existing-models"
    assert set(body["model_scores"]) == {"pytorch-traditional", "extratrees-social"}
    assert body["aggregation"]["missing_models"] == []
    assert body["degraded"] is False

    customers = {c["national_id"]: c for c in table_items(service_settings, service_settings.customers_table)}
    assert len(customers) == 80
    customer = customers[national_id]
    # The service's fields survived the load, and so did the application the applicant gave the API.
    for field in ("created_at", "created_by", "source", "application"):
        assert customer[field] == before_batch[field], field
    assert customer["application"]["income"] == form["income"] != int(BANK_FORM["income"])
    assert customer["snapshot"] == snapshot
    assert set(names("traditional_features")) <= set(customer["traditional_features"])
    assert customer["score_version"] == 5
    assert customer["last_score"]["request_id"] == body["request_id"]

    url = f"/api/v1/customers/{national_id}/scores"
    listed = await (await client.get(url, headers=HEADERS)).json()
    assert [s["basis"] for s in listed["scores"]] == [
        "existing-models",
        "application-only",
        "application-only",
        "application-only",
        "application",
    ]
    assert [s["segment"] for s in listed["scores"]][-1] == "new"

    # The bank reloads the snapshot: nothing the service wrote is wiped.
    load_customers(service_settings, snapshot, progress=False)
    [reloaded] = [
        c
        for c in table_items(service_settings, service_settings.customers_table)
        if c["national_id"] == national_id
    ]
    for field in ("last_score", "score_version", "created_at", "created_by", "source", "application"):
        assert reloaded[field] == customer[field], field
    again = await (await client.get(url, headers=HEADERS)).json()
    assert again["scores"] == listed["scores"]
