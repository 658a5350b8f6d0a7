"""The seed's two endpoints at their seams, through a real HTTP client against the moto server: how every
stored customer is scored, one holder per email and phone number, idempotent retries, and who asked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from creditscore.config import ApiKey, Settings
from creditscore.domain.features import names
from server.auth import hash_key
from tests.conftest import SCORE_KEY
from tests.test_server_api import (
    EXISTING,
    HEADERS,
    NEW,
    STORED,
    applicant,
    contacts_of,
    metric_value,
    store_customer,
    table_items,
)

EXISTING_MODELS = {"pytorch-traditional", "extratrees-social"}
OTHER_KEY = "cs_test-other-client-key"


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await make_client()
    return result


def history(settings: Settings) -> list[dict[str, Any]]:
    return sorted(table_items(settings, settings.score_history_table), key=lambda item: item["scored_at"])


# --- every stored customer can be scored as existing ------------------------------------------------------


@pytest.mark.parametrize("lookup", ["national_id", "email", "phone_number"])
async def test_a_customer_created_through_the_api_is_scored_from_its_application(
    client: TestClient[Any, Any], service_settings: Settings, lookup: str
) -> None:
    form = applicant()
    created = await client.post(NEW, json=form, headers=HEADERS)
    assert created.status == 200
    new_score = (await created.json())["predicted_score"]

    answer = await client.post(EXISTING, json={lookup: form[lookup]}, headers=HEADERS)
    body = await answer.json()

    assert answer.status == 200, body
    assert body["basis"] == "application-only"
    assert set(body["model_scores"]) == {"xgboost-new-customer"}
    # The same model on the same application: the score it got as a new applicant.
    assert body["predicted_score"] == new_score
    assert body["aggregation"]["weights"] == {"xgboost-new-customer": 1.0}
    assert body["aggregation"]["missing_models"] == sorted(EXISTING_MODELS)
    reasons = body["aggregation"]["missing_reasons"]
    assert "traditional_features" in reasons["pytorch-traditional"]
    assert "social_features" in reasons["extratrees-social"]
    assert body["degraded"] is True
    assert body["customer_info"]["national_id"] == form["national_id"]
    records = history(service_settings)
    assert [r["basis"] for r in records] == ["application", "application-only"]
    assert records[1]["missing_reasons"] == reasons
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["score_version"] == 2
    assert customer["last_score"]["basis"] == "application-only"


async def test_a_customer_missing_one_group_is_scored_by_the_model_that_has_its_data(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    store_customer(service_settings, social_features=None)

    answer = await client.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    body = await answer.json()

    assert answer.status == 200, body
    assert body["basis"] == "existing-models"
    assert set(body["model_scores"]) == {"pytorch-traditional"}
    assert body["predicted_score"] == body["model_scores"]["pytorch-traditional"]["score"]
    assert body["aggregation"]["missing_models"] == ["extratrees-social"]
    assert "social_features" in body["aggregation"]["missing_reasons"]["extratrees-social"]


async def test_a_customer_no_model_can_score_is_409_not_503(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    store_customer(service_settings, application=None, traditional_features=None, social_features=None)

    answer = await client.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    problem = await answer.json()

    assert answer.status == 409, problem
    assert problem["type"].endswith("/customer-not-scorable")
    assert "application" in problem["detail"]
    assert history(service_settings) == []


async def test_a_model_not_loaded_is_still_503_and_degraded_answers_fall_back_to_the_application(
    make_client: Callable[..., Any], service_settings: Settings
) -> None:
    weights = (("pytorch-traditional", 1.0), ("no-such-model", 1.0))
    created = await (await make_client()).post(NEW, json=applicant(), headers=HEADERS)
    assert created.status == 200
    strict = await make_client(existing_customer_models=weights)
    refused = await strict.post(EXISTING, json={"national_id": "001234567890"}, headers=HEADERS)
    assert refused.status == 503
    assert "no-such-model: not loaded" in (await refused.json())["detail"]
    lenient = await make_client(existing_customer_models=weights, allow_degraded=True)
    answer = await lenient.post(EXISTING, json={"national_id": "001234567890"}, headers=HEADERS)
    body = await answer.json()
    assert answer.status == 200, body
    assert body["basis"] == "application-only"
    assert body["aggregation"]["missing_reasons"]["no-such-model"] == "not loaded"


# --- one holder per email and phone number ----------------------------------------------------------------


async def test_50_concurrent_creates_of_different_ids_with_one_email_give_exactly_one_200(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    forms = [
        applicant(**contacts_of(f"{700_000_000 + n}") | {"email": "shared@example.com"}, full_name=f"A {n}")
        for n in range(50)
    ]
    answers = await asyncio.gather(*(client.post(NEW, json=form, headers=HEADERS) for form in forms))

    assert sorted(a.status for a in answers) == [200] + [409] * 49
    for refused in (a for a in answers if a.status == 409):
        problem = await refused.json()
        assert problem["type"].endswith("/contact-in-use")
        assert [e["field"] for e in problem["errors"]] == ["email"]
        assert "existing_customer" not in problem
    [winner] = [a for a in answers if a.status == 200]
    winner_id = (await winner.json())["customer_info"]["national_id"]
    assert [c["national_id"] for c in table_items(service_settings, service_settings.customers_table)] == [
        winner_id
    ]
    assert [r["national_id"] for r in history(service_settings)] == [winner_id]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"email": "An.Nguyen@Example.COM"}, ["email"]),
        ({"phone_number": "+84912345678"}, ["phone_number"]),
        ({"email": "AN.NGUYEN@example.com", "phone_number": "+84912345678"}, ["email", "phone_number"]),
    ],
)
async def test_a_contact_another_customer_holds_is_refused_in_any_writing(
    client: TestClient[Any, Any], service_settings: Settings, changes: dict[str, str], fields: list[str]
) -> None:
    assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status == 200
    planted = applicant(**contacts_of("123456789"), full_name="Someone Else") | changes

    answer = await client.post(NEW, json=planted, headers=HEADERS)
    problem = await answer.json()

    assert answer.status == 409, problem
    assert [e["field"] for e in problem["errors"]] == fields
    assert "001234567890" not in json.dumps(problem)
    assert len(table_items(service_settings, service_settings.customers_table)) == 1
    # Lookups by the victim's contacts still find the victim.
    found = await client.post(EXISTING, json={"email": "an.nguyen@example.com"}, headers=HEADERS)
    assert (await found.json())["customer_info"]["national_id"] == "001234567890"


@pytest.mark.parametrize(
    ("lookup", "written", "asked"),
    [
        ("email", "An.Nguyen@Example.com", "an.nguyen@example.COM"),
        ("phone_number", "0912345678", "+84912345678"),
    ],
)
async def test_a_contact_is_found_however_it_is_written_as_it_is_one_contact_to_the_guards(
    client: TestClient[Any, Any], service_settings: Settings, lookup: str, written: str, asked: str
) -> None:
    form = applicant(**{lookup: written})
    assert (await client.post(NEW, json=form, headers=HEADERS)).status == 200

    answer = await client.post(EXISTING, json={lookup: asked}, headers=HEADERS)
    body = await answer.json()

    assert answer.status == 200, body
    assert body["customer_info"]["national_id"] == form["national_id"]
    assert [r["basis"] for r in history(service_settings)] == ["application", "application-only"]
    # Another customer still cannot take the contact in that other writing.
    other = applicant(national_id="079123456780", **{lookup: asked})
    if lookup == "email":
        other["phone_number"] = "0987654321"
    else:
        other["email"] = "other@example.com"
    refused = await client.post(NEW, json=other, headers=HEADERS)
    assert refused.status == 409
    assert (await refused.json())["type"].endswith("/contact-in-use")


async def test_a_lookup_that_finds_several_customers_is_409_without_naming_them(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    # Data written before the guards existed (a direct put) can still share a contact.
    store_customer(service_settings)
    store_customer(service_settings, national_id="079123456780")

    answer = await client.post(EXISTING, json={"email": STORED["email"]}, headers=HEADERS)
    problem = await answer.json()

    assert answer.status == 409, problem
    assert problem["type"].endswith("/ambiguous-lookup")
    assert "national_id" in problem["detail"]
    text = json.dumps(problem)
    assert STORED["national_id"] not in text
    assert "079123456780" not in text
    assert history(service_settings) == []
    by_id = await client.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    assert by_id.status == 200


# --- idempotent retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Request-ID"])
async def test_a_retried_create_gets_the_first_answer_and_writes_nothing_twice(
    client: TestClient[Any, Any], service_settings: Settings, header: str
) -> None:
    headers = {**HEADERS, header: "retry-1f0e2a"}
    replays = "creditscore_idempotent_replays_total"
    before = metric_value(await (await client.get("/metrics")).text(), replays, route=NEW)
    first = await client.post(NEW, json=applicant(), headers=headers)
    again = await client.post(NEW, json=applicant(), headers=headers)

    assert (first.status, again.status) == (200, 200)
    assert await again.read() == await first.read()
    assert metric_value(await (await client.get("/metrics")).text(), replays, route=NEW) == before + 1
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(history(service_settings)) == 1
    assert len(table_items(service_settings, service_settings.customers_table)) == 1
    # Without the key the same body is a second request: the customer exists.
    assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status == 409


async def test_a_retried_existing_customer_score_is_recorded_once(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    store_customer(service_settings)
    headers = {**HEADERS, "Idempotency-Key": "6b1f0c52-retry"}
    body = {"email": STORED["email"]}
    answers = [await client.post(EXISTING, json=body, headers=headers) for _ in range(3)]

    assert [a.status for a in answers] == [200, 200, 200]
    assert len({await a.read() for a in answers}) == 1
    assert len(history(service_settings)) == 1
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["score_version"] == 1


async def test_concurrent_copies_of_one_request_write_once_and_answer_alike(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    headers = {**HEADERS, "Idempotency-Key": "burst-7"}
    answers = await asyncio.gather(*(client.post(NEW, json=applicant(), headers=headers) for _ in range(10)))

    assert {a.status for a in answers} == {200}
    assert len({await a.read() for a in answers}) == 1
    assert len(history(service_settings)) == 1


async def test_an_idempotency_key_is_bound_to_its_request_and_its_client(
    make_client: Callable[..., Any], service_settings: Settings
) -> None:
    other = ApiKey(hash_key(OTHER_KEY), frozenset({"score"}), "branch-app")
    client = await make_client(api_keys=(ApiKey(hash_key(SCORE_KEY), frozenset({"score"})), other))
    key = {"Idempotency-Key": "k-42"}
    assert (await client.post(NEW, json=applicant(), headers={**HEADERS, **key})).status == 200

    reused = await client.post(NEW, json=applicant(income=1.0), headers={**HEADERS, **key})
    problem = await reused.json()
    assert reused.status == 422, problem
    assert problem["type"].endswith("/idempotency-key-reused")
    across = await client.post(EXISTING, json={"national_id": "001234567890"}, headers={**HEADERS, **key})
    assert across.status == 422
    # Another client's same key is its own: a fresh request, here refused as the customer exists.
    theirs = await client.post(NEW, json=applicant(), headers={"X-API-Key": OTHER_KEY, **key})
    assert theirs.status == 409
    malformed = await client.post(NEW, json=applicant(), headers={**HEADERS, "Idempotency-Key": "é"})
    assert malformed.status == 400
    assert (await malformed.json())["type"].endswith("/invalid-idempotency-key")
    assert len(history(service_settings)) == 1


# --- who asked --------------------------------------------------------------------------------------------


async def test_every_record_and_log_line_names_the_api_key_that_asked(
    make_client: Callable[..., Any],
    service_settings: Settings,
    json_logs: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    named = ApiKey(hash_key(OTHER_KEY), frozenset({"score"}), "branch-app")
    client = await make_client(api_keys=(ApiKey(hash_key(SCORE_KEY), frozenset({"score"})), named))
    assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status == 200
    other = {"X-API-Key": OTHER_KEY}
    answer = await client.post(EXISTING, json={"national_id": "001234567890"}, headers=other)
    assert answer.status == 200

    fingerprint = hash_key(SCORE_KEY)[:12]
    assert [r["api_key_id"] for r in history(service_settings)] == [fingerprint, "branch-app"]
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["created_by"] == fingerprint
    assert customer["last_score"]["api_key_id"] == "branch-app"
    url = "/api/v1/customers/001234567890/scores"
    listed = await (await client.get(url, headers=other)).json()
    assert [s["api_key_id"] for s in listed["scores"]] == ["branch-app", fingerprint]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert [line["api_key_id"] for line in requests] == [fingerprint, "branch-app", "branch-app"]
    text = "\n".join(json.dumps(line) for line in lines)
    assert SCORE_KEY not in text
    assert OTHER_KEY not in text
    assert set(names("application")) <= set(customer["application"])
