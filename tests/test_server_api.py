"""The scoring service through a real HTTP client: every endpoint's answers and refusals, concurrency,
auth, metrics, the OpenAPI document and the logs, against the moto server and small real models."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from creditscore import aws
from creditscore.cli.demo import DEMO_APPLICANT
from creditscore.config import ApiKey, Settings
from creditscore.domain.features import GROUPS, names
from creditscore.domain.identity import is_customer_key
from creditscore.domain.scores import Scaling, band
from plugins.manager import scorer
from plugins.registry import Gate, Registry
from server.app import create_app
from server.auth import hash_key
from server.repository import decimals
from server.service import SERVICE
from tests.conftest import ADMIN_KEY, SCORE_KEY, with_keys
from tests.factories import SMALL_PARAMS, customers
from training import data, pipeline

HEADERS = {"X-API-Key": SCORE_KEY}
NEW = "/api/v1/predict-new-customer"
EXISTING = "/api/v1/predict-existing-customer"
STORED = {"national_id": "079123456789", "email": "binh.tran@example.com", "phone_number": "0987654321"}

ClientFactory = Callable[..., Any]
MISSING = object()


def applicant(**changes: Any) -> dict[str, Any]:
    """The demo's applicant (the seed's request body), with ``changes``."""
    return {**DEMO_APPLICANT, **changes}


def contacts_of(national_id: str) -> dict[str, str]:
    """A national ID with an email and a phone number of its own (a 9-digit ID)."""
    return {
        "national_id": national_id,
        "email": f"c{national_id}@example.com",
        "phone_number": f"0{national_id}",
    }


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await make_client()
    return result


def table_items(settings: Settings, table: str, *, reserved: bool = False) -> list[dict[str, Any]]:
    """``table``'s items, read strongly. Contact guards, idempotency records and the dashboard's counts share
    the tables under reserved keys; only with ``reserved`` are they among them."""
    pages = (
        aws.client("dynamodb", settings).get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    )
    deserializer = TypeDeserializer()
    return [
        {key: deserializer.deserialize(value) for key, value in item.items()}
        for page in pages
        for item in page["Items"]
        if reserved or is_customer_key(item["national_id"]["S"])
    ]


def store_customer(settings: Settings, **changes: Any) -> None:
    """A customer as ``load-customers`` writes it: identity plus one map of features per group, put
    directly (no contact guards); ``changes`` replace attributes, None leaves one out."""
    row = customers(1, seed=3).iloc[0]
    item = {
        **STORED,
        "full_name": "Tran Thi Binh",
        **{group: {name: float(row[name]) for name in names(group)} for group in GROUPS},
        "features_as_of": "2026-09-30",
        "snapshot": "2026-10-01",
        **changes,
    }
    serializer = TypeSerializer()
    aws.client("dynamodb", settings).put_item(
        TableName=settings.customers_table,
        Item={key: serializer.serialize(value) for key, value in decimals(item).items() if value is not None},
    )


def metric_value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


# --- health, readiness, models ---------------------------------------------------------------------------


async def test_health_and_ready_need_no_key(client: TestClient[Any, Any]) -> None:
    health = await client.get("/health")
    assert health.status == 200
    assert await health.json() == {"status": "ok"}
    ready = await client.get("/ready")
    body = await ready.json()
    assert ready.status == 200, body
    assert body["status"] == "ready"
    assert body["dynamodb"] == "ok"
    assert set(body["models"]) == {"xgboost-new-customer", "pytorch-traditional", "extratrees-social"}


async def test_ready_is_503_naming_a_model_that_is_not_loaded(make_client: Callable[..., Any]) -> None:
    client = await make_client(new_customer_model="no-such-model")
    ready = await client.get("/ready")
    body = await ready.json()
    assert ready.status == 503
    assert body["status"] == "not ready"
    assert "no-such-model" in body["models"]
    assert body["models"]["no-such-model"] != "loaded"
    refused = await client.post(NEW, json=applicant(), headers=HEADERS)
    assert refused.status == 503
    assert "no-such-model" in (await refused.json())["detail"]


async def test_models_lists_what_is_served(client: TestClient[Any, Any], published_models: Settings) -> None:
    response = await client.get("/api/v1/models", headers=HEADERS)
    assert response.status == 200
    served = {m["name"]: m for m in (await response.json())["models"]}
    assert set(served) == {"xgboost-new-customer", "pytorch-traditional", "extratrees-social"}
    assert served["xgboost-new-customer"]["segment"] == "new"
    assert served["xgboost-new-customer"]["features"] == names("application")
    assert 0.5 < served["pytorch-traditional"]["metrics"]["auc"] <= 1


# --- new customers ---------------------------------------------------------------------------------------


async def test_a_new_customer_is_scored_stored_and_recorded(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    form = applicant(cat_mortgage=True, cat_credit_card=False)  # booleans work as well as "Yes"/"No"
    response = await client.post(NEW, json=form, headers={**HEADERS, "X-Request-ID": "req-1"})
    body = await response.json()
    assert response.status == 200, body
    assert response.headers["X-Request-ID"] == "req-1"
    assert body["request_id"] == "req-1"
    assert 300 <= body["predicted_score"] <= 850
    assert body["predicted_group"] == band(body["predicted_score"])
    assert 0 < body["probability_of_default"] < 1
    assert body["customer_info"] == {
        "full_name": "Nguyen Van An",
        "national_id": "001234567890",
        "email": "an.nguyen@example.com",
        "phone_number": "0912345678",
    }
    assert body["model"]["name"] == "xgboost-new-customer"
    for reason in body["reasons"]:
        assert reason["feature"] in names("application")
        assert reason["contribution"] > 0
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["national_id"] == "001234567890"
    flags = ("has_dependents", "has_mortgage", "has_savings_account", "has_credit_card")
    assert [customer["application"][flag] for flag in flags] == [1, 1, 1, 0]
    assert float(customer["application"]["debt_to_income"]) == pytest.approx(0.4)
    assert customer["last_score"]["predicted_score"] == body["predicted_score"]
    [history] = table_items(service_settings, service_settings.score_history_table)
    assert history["request_id"] == "req-1"
    assert history["predicted_score"] == body["predicted_score"]
    assert history["models"]["xgboost-new-customer"]["version"] == body["model"]["version"]


async def test_the_same_new_customer_again_is_409_and_writes_nothing(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status == 200
    again = await client.post(NEW, json=applicant(full_name="Someone Else"), headers=HEADERS)
    body = await again.json()
    assert again.status == 409
    assert again.content_type == "application/problem+json"
    # The ID exists, nothing more: not the other person's name (the caller may not be entitled to it).
    assert body["existing_customer"] == {"national_id": "001234567890"}
    assert "Nguyen" not in json.dumps(body)
    assert len(table_items(service_settings, service_settings.score_history_table)) == 1
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["full_name"] == "Nguyen Van An"


async def test_200_concurrent_new_customers_are_all_stored_once(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    ids = [f"{900_000_000 + n}" for n in range(200)]
    answers = await asyncio.gather(
        *(
            client.post(NEW, json=applicant(**contacts_of(i), income=1e6 * (n + 1)), headers=HEADERS)
            for n, i in enumerate(ids)
        )
    )
    assert [a.status for a in answers] == [200] * 200
    stored = table_items(service_settings, service_settings.customers_table)
    assert sorted(item["national_id"] for item in stored) == sorted(ids)
    history = table_items(service_settings, service_settings.score_history_table)
    assert sorted(item["national_id"] for item in history) == sorted(ids)


async def test_50_concurrent_requests_for_one_new_id_give_one_200_and_49_409(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    answers = await asyncio.gather(
        *(client.post(NEW, json=applicant(full_name=f"Applicant {n}"), headers=HEADERS) for n in range(50))
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [409] * 49
    [winner] = [a for a in answers if a.status == 200]
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["full_name"] == (await winner.json())["customer_info"]["full_name"]
    assert len(table_items(service_settings, service_settings.score_history_table)) == 1


# --- existing customers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lookup", ["national_id", "email", "phone_number"])
async def test_an_existing_customer_is_scored_by_each_identifier(
    client: TestClient[Any, Any], service_settings: Settings, lookup: str
) -> None:
    store_customer(service_settings)
    response = await client.post(EXISTING, json={lookup: STORED[lookup]}, headers=HEADERS)
    body = await response.json()
    assert response.status == 200, body
    assert set(body["model_scores"]) == {"pytorch-traditional", "extratrees-social"}
    scores = [m["score"] for m in body["model_scores"].values()]
    assert min(scores) <= body["predicted_score"] <= max(scores)
    assert body["predicted_group"] == band(body["predicted_score"])
    assert body["aggregation"]["weights"] == {"pytorch-traditional": 0.5, "extratrees-social": 0.5}
    assert body["degraded"] is False
    assert body["customer_info"]["national_id"] == STORED["national_id"]
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["score_version"] == 1
    assert customer["last_score"]["predicted_score"] == body["predicted_score"]
    assert "traditional_features" in customer  # the features are kept, only the score is added


async def test_an_unknown_existing_customer_is_404(client: TestClient[Any, Any]) -> None:
    response = await client.post(EXISTING, json={"email": "nobody@example.com"}, headers=HEADERS)
    assert response.status == 404
    assert (await response.json())["detail"] == "No customer has this email"


async def test_concurrent_scores_of_one_customer_lose_no_update(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    store_customer(service_settings)
    answers = await asyncio.gather(
        *(
            client.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
            for _ in range(8)
        )
    )
    written = sum(a.status == 200 for a in answers)
    assert written >= 1
    assert all(a.status in (200, 409) for a in answers)
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert customer["score_version"] == written
    assert len(table_items(service_settings, service_settings.score_history_table)) == written


async def test_a_missing_model_is_503_unless_degraded_answers_are_allowed(
    make_client: Callable[..., Any], service_settings: Settings
) -> None:
    store_customer(service_settings)
    weights = (("pytorch-traditional", 1.0), ("no-such-model", 1.0))
    strict = await make_client(existing_customer_models=weights)
    refused = await strict.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    assert refused.status == 503
    assert "no-such-model" in (await refused.json())["detail"]
    assert table_items(service_settings, service_settings.score_history_table) == []
    lenient = await make_client(existing_customer_models=weights, allow_degraded=True)
    answer = await lenient.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    body = await answer.json()
    assert answer.status == 200
    assert body["degraded"] is True
    assert body["aggregation"]["missing_models"] == ["no-such-model"]
    assert set(body["model_scores"]) == {"pytorch-traditional"}


# --- history ---------------------------------------------------------------------------------------------


async def test_score_history_is_newest_first_and_paginated(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    store_customer(service_settings)
    for n in range(3):
        answer = await client.post(
            EXISTING,
            json={"national_id": STORED["national_id"]},
            headers={**HEADERS, "X-Request-ID": f"r{n}"},
        )
        assert answer.status == 200
    url = f"/api/v1/customers/{STORED['national_id']}/scores"
    first = await (await client.get(url, params={"limit": "2"}, headers=HEADERS)).json()
    assert [s["request_id"] for s in first["scores"]] == ["r2", "r1"]
    assert first["next_cursor"]
    second = await (
        await client.get(url, params={"limit": "2", "cursor": first["next_cursor"]}, headers=HEADERS)
    ).json()
    assert [s["request_id"] for s in second["scores"]] == ["r0"]
    assert second["next_cursor"] is None
    unknown = await client.get("/api/v1/customers/123456789/scores", headers=HEADERS)
    assert unknown.status == 404
    bad = await client.get(url, params={"limit": "0", "cursor": "!!"}, headers=HEADERS)
    assert bad.status == 422
    assert {e["field"] for e in (await bad.json())["errors"]} == {"limit", "cursor"}
    bad_cursor = await client.get(url, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=HEADERS)
    assert bad_cursor.status == 422
    assert [e["field"] for e in (await bad_cursor.json())["errors"]] == ["cursor"]


# --- stateless scoring -----------------------------------------------------------------------------------


async def test_score_rows_for_each_segment_writes_nothing(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    frame = customers(3, seed=9)
    new_rows = [{name: float(frame.iloc[i][name]) for name in names("application")} for i in range(3)]
    existing_names = [
        n for g in ("traditional_features", "transaction_features", "social_features") for n in names(g)
    ]
    existing_rows = [{name: float(frame.iloc[i][name]) for name in existing_names} for i in range(3)]
    new = await client.post("/api/v1/score", json={"segment": "new", "rows": new_rows}, headers=HEADERS)
    new_body = await new.json()
    assert new.status == 200, new_body
    assert len(new_body["results"]) == 3
    assert all(r["band"] == band(r["score"]) for r in new_body["results"])
    old = await client.post(
        "/api/v1/score", json={"segment": "existing", "rows": existing_rows}, headers=HEADERS
    )
    old_body = await old.json()
    assert old.status == 200, old_body
    assert all(
        set(r["model_scores"]) == {"pytorch-traditional", "extratrees-social"} for r in old_body["results"]
    )
    assert table_items(service_settings, service_settings.customers_table) == []
    assert table_items(service_settings, service_settings.score_history_table) == []
    short = [dict(new_rows[0]), {k: v for k, v in new_rows[1].items() if k != "income"}]
    short[0]["bogus"] = 1.0
    refused = await client.post("/api/v1/score", json={"segment": "new", "rows": short}, headers=HEADERS)
    fields = {e["field"] for e in (await refused.json())["errors"]}
    assert refused.status == 422
    assert fields == {"rows[0].bogus", "rows[1].income"}
    too_many = await client.post(
        "/api/v1/score", json={"segment": "new", "rows": [new_rows[0]] * 1001}, headers=HEADERS
    )
    assert too_many.status == 422


# --- bad input -------------------------------------------------------------------------------------------

BAD_NEW_CUSTOMERS = [
    ({"national_id": MISSING}, "national_id"),
    ({"national_id": "12345"}, "national_id"),
    ({"national_id": "1234567890"}, "national_id"),
    ({"national_id": "12345678a"}, "national_id"),
    ({"national_id": 123456789}, "national_id"),
    ({"email": MISSING}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": 5}, "email"),
    ({"phone_number": MISSING}, "phone_number"),
    ({"phone_number": "12345"}, "phone_number"),
    ({"phone_number": "+1555123456"}, "phone_number"),
    ({"phone_number": 912345678}, "phone_number"),
    ({"full_name": MISSING}, "full_name"),
    ({"full_name": ""}, "full_name"),
    ({"full_name": "   "}, "full_name"),
    ({"full_name": "x" * 201}, "full_name"),
    ({"income": MISSING}, "income"),
    ({"income": -1}, "income"),
    ({"income": "1000"}, "income"),
    ({"income": True}, "income"),
    ({"income": 1e16}, "income"),
    ({"savings": -0.5}, "savings"),
    ({"savings": [1]}, "savings"),
    ({"debt": MISSING}, "debt"),
    ({"debt": {"amount": 1}}, "debt"),
    ({"cat_dependents": "maybe"}, "cat_dependents"),
    ({"cat_mortgage": 1}, "cat_mortgage"),
    ({"cat_savings_account": None}, "cat_savings_account"),
    ({"cat_credit_card": "Y"}, "cat_credit_card"),
    ({"favourite_colour": "blue"}, "favourite_colour"),
    ({"segment": "new"}, "segment"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_NEW_CUSTOMERS)
async def test_a_bad_new_customer_field_is_422_naming_it_and_writes_nothing(
    client: TestClient[Any, Any], service_settings: Settings, changes: dict[str, Any], field: str
) -> None:
    body = {key: value for key, value in {**applicant(), **changes}.items() if value is not MISSING}
    response = await client.post(NEW, json=body, headers=HEADERS)
    problem = await response.json()
    assert response.status == 422, problem
    assert response.content_type == "application/problem+json"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]
    assert "001234567890" not in json.dumps(problem)  # never echoed back
    assert table_items(service_settings, service_settings.customers_table) == []
    assert table_items(service_settings, service_settings.score_history_table) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"national_id": "001234567890", "email": "an.nguyen@example.com"}, "body"),
        ({"national_id": "12"}, "national_id"),
        ({"email": "nope"}, "email"),
        ({"phone_number": "0"}, "phone_number"),
        ({"national_id": "001234567890", "extra": 1}, "extra"),
        ([], "body"),
    ],
)
async def test_a_bad_existing_customer_body_is_422_naming_the_field(
    client: TestClient[Any, Any], body: Any, field: str
) -> None:
    response = await client.post(EXISTING, json=body, headers=HEADERS)
    problem = await response.json()
    assert response.status == 422, problem
    assert field in {e["field"] for e in problem["errors"]}


async def test_bodies_that_are_not_json_or_too_big_are_refused(
    make_client: Callable[..., Any], service_settings: Settings
) -> None:
    client = await make_client(max_body_bytes=4096)
    not_json = await client.post(NEW, data="{", headers={**HEADERS, "Content-Type": "application/json"})
    assert not_json.status == 400
    assert (await not_json.json())["type"].endswith("malformed-json")
    form = await client.post(NEW, data="national_id=1", headers={**HEADERS, "Content-Type": "text/plain"})
    assert form.status == 415
    big = await client.post(NEW, json=applicant(full_name="x" * 5000), headers=HEADERS)
    assert big.status == 413
    assert big.content_type == "application/problem+json"
    assert table_items(service_settings, service_settings.customers_table) == []


async def test_unknown_routes_and_methods_answer_problems(client: TestClient[Any, Any]) -> None:
    missing = await client.get("/api/v1/nothing-here", headers=HEADERS)
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"
    wrong = await client.get(NEW, headers=HEADERS)
    assert wrong.status == 405
    assert "POST" in wrong.headers["Allow"]


async def test_an_unexpected_error_is_500_with_the_request_id_and_no_details(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = client.app[SERVICE]

    async def broken(*_: Any) -> None:
        raise RuntimeError("secret internals 001234567890")

    monkeypatch.setattr(service.repository, "create", broken)
    response = await client.post(NEW, json=applicant(), headers={**HEADERS, "X-Request-ID": "boom-1"})
    body = await response.json()
    assert response.status == 500
    assert body["request_id"] == "boom-1"
    assert "secret" not in json.dumps(body)
    assert "Traceback" not in json.dumps(body)


# --- auth ------------------------------------------------------------------------------------------------


async def test_keys_are_checked_and_scopes_enforced(client: TestClient[Any, Any]) -> None:
    none = await client.post(NEW, json=applicant())
    assert none.status == 401
    assert "WWW-Authenticate" in none.headers
    wrong = await client.post(NEW, json=applicant(), headers={"X-API-Key": "cs_wrong"})
    assert wrong.status == 401
    scope = await client.post("/admin/models/reload", headers=HEADERS)
    assert scope.status == 403
    admin_on_score = await client.post(NEW, json=applicant(), headers={"X-API-Key": ADMIN_KEY})
    assert admin_on_score.status == 403
    bearer = await client.post("/admin/models/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert bearer.status == 200
    assert set((await bearer.json())["results"].values()) == {"unchanged"}


async def test_metrics_can_require_a_metrics_key_which_can_do_nothing_else(
    make_client: Callable[..., Any], service_settings: Settings
) -> None:
    scrape = "cs_test-metrics-key"
    keys = (
        *with_keys(service_settings).api_keys,
        ApiKey(hash_key(scrape), frozenset({"metrics"}), "prometheus"),
    )
    client = await make_client(metrics_public=False, api_keys=keys)
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=HEADERS)).status == 403
    assert (await client.get("/metrics", headers={"X-API-Key": ADMIN_KEY})).status == 200
    assert (await client.get("/metrics", headers={"X-API-Key": scrape})).status == 200
    assert (await client.get("/api/v1/dashboard", headers={"X-API-Key": scrape})).status == 200
    for method, path in (("POST", NEW), ("GET", "/api/v1/models"), ("POST", "/admin/models/reload")):
        refused = await client.request(method, path, json=applicant(), headers={"X-API-Key": scrape})
        assert refused.status == 403, path


# --- metrics, OpenAPI, logs ------------------------------------------------------------------------------


async def test_a_stalled_event_loop_shows_in_the_loop_lag_metric(make_client: Callable[..., Any]) -> None:
    client = await make_client(loop_lag_seconds=0.01)
    # Start-up's objects are out of the collector's sight: a full collection cannot stall requests on them.
    assert gc.get_freeze_count() > 0

    async def lagged_over_50ms() -> float:
        text = await (await client.get("/metrics")).text()
        name = "creditscore_event_loop_lag_seconds"
        return metric_value(text, f"{name}_count") - metric_value(text, f"{name}_bucket", le="0.05")

    await asyncio.sleep(0.05)
    before = await lagged_over_50ms()
    time.sleep(0.15)  # what a blocking call on the loop does to every request of the worker
    await asyncio.sleep(0.05)
    assert await lagged_over_50ms() >= before + 1


async def test_metrics_appear_and_move(client: TestClient[Any, Any]) -> None:
    before = await (await client.get("/metrics")).text()
    assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status == 200
    assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status == 409
    after = await (await client.get("/metrics")).text()
    labels = {"route": NEW, "method": "POST"}
    for status in ("200", "409"):
        name = "creditscore_http_requests_total"
        assert (
            metric_value(after, name, status=status, **labels)
            == metric_value(before, name, status=status, **labels) + 1
        )
    name = "creditscore_http_request_duration_seconds_count"
    assert metric_value(after, name, route=NEW) == metric_value(before, name, route=NEW) + 2
    assert (
        metric_value(after, "creditscore_scores_total", segment="new")
        == metric_value(before, "creditscore_scores_total", segment="new") + 1
    )
    assert metric_value(after, "creditscore_model_info", model="xgboost-new-customer") >= 1
    assert metric_value(
        after, "creditscore_model_batch_size_count", model="xgboost-new-customer"
    ) > metric_value(before, "creditscore_model_batch_size_count", model="xgboost-new-customer")
    assert (
        metric_value(
            after, "creditscore_dynamodb_request_duration_seconds_count", operation="TransactWriteItems"
        )
        > 0
    )
    assert "creditscore_http_requests_in_flight" in after


async def test_every_route_is_in_a_valid_openapi_document(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    spec = await response.json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    registered = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert registered <= documented, registered - documented
    schemas = spec["components"]["schemas"]
    assert set(schemas["NewCustomerRequest"]["properties"]) >= {"full_name", "national_id", "cat_mortgage"}


async def test_logs_carry_request_ids_and_no_raw_personal_data(
    client: TestClient[Any, Any],
    service_settings: Settings,
    json_logs: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_customer(service_settings)
    await client.post(NEW, json=applicant(), headers={**HEADERS, "X-Request-ID": "log-1"})
    await client.post(NEW, json=applicant(), headers=HEADERS)
    await client.post(EXISTING, json={"email": STORED["email"]}, headers=HEADERS)
    await client.post(EXISTING, json={"phone_number": STORED["phone_number"]}, headers=HEADERS)
    await client.get(f"/api/v1/customers/{STORED['national_id']}/scores", headers=HEADERS)
    await client.post(NEW, json=applicant(email="bad"), headers=HEADERS)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) >= 6
    first = next(line for line in requests if line["request_id"] == "log-1")
    assert first["route"] == NEW
    assert first["status"] == 200
    assert first["models"]["xgboost-new-customer"]
    assert first["latency_ms"] > 0
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in ("001234567890", "an.nguyen@example.com", "0912345678", *STORED.values()):
        assert secret not in text


# --- scaling ---------------------------------------------------------------------------------------------

TRAINED_WITH = Scaling(target=600.0, target_odds=20.0, pdo=50.0)
HOST_SCALING = {"score_target": 750.0, "score_target_odds": 30.0, "score_pdo": 20.0}


async def _score_one_applicant(
    aiohttp_client: ClientFactory, settings: Settings, recorded: Scaling | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The new-customer model trained with :data:`TRAINED_WITH` and published recording ``recorded``, then
    served by a host configured with :data:`HOST_SCALING`: one row's model score and the model's listing."""
    model = "xgboost-new-customer"
    frame = customers(2000, seed=21)
    table = data.table_from_frame(frame, "test frame", scorer(model).features, None)
    result = pipeline.train(scorer(model), table, SMALL_PARAMS[model], scaling=TRAINED_WITH, progress=False)
    assert result.manifest.scaling == TRAINED_WITH
    manifest = replace(result.manifest, scaling=recorded)
    Registry.from_settings(settings).publish(manifest, result.files, Gate(0.0, 1.0))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(with_keys(settings, **HOST_SCALING)))
    row = {name: float(frame.iloc[0][name]) for name in names("application")}
    answer = await client.post("/api/v1/score", json={"segment": "new", "rows": [row]}, headers=HEADERS)
    assert answer.status == 200
    listing = await (await client.get("/api/v1/models", headers=HEADERS)).json()
    return (await answer.json())["results"][0]["model_scores"][model], listing["models"][0]


async def test_a_model_is_served_with_the_scaling_it_was_trained_with_whatever_the_host_says(
    aiohttp_client: ClientFactory, settings: Settings
) -> None:
    scored, listed = await _score_one_applicant(aiohttp_client, settings, TRAINED_WITH)
    pd = scored["probability_of_default"]
    host = Scaling(750.0, 30.0, 20.0)
    assert TRAINED_WITH.score(pd) != host.score(pd), "the test needs scalings that give other scores"
    assert scored["score"] == TRAINED_WITH.score(pd)
    assert listed["scaling"] == {"target": 600.0, "target_odds": 20.0, "pdo": 50.0}


async def test_a_version_that_recorded_no_scaling_is_served_with_the_hosts(
    aiohttp_client: ClientFactory, settings: Settings
) -> None:
    scored, listed = await _score_one_applicant(aiohttp_client, settings, None)
    assert scored["score"] == Scaling(750.0, 30.0, 20.0).score(scored["probability_of_default"])
    assert listed["scaling"] == {"target": 750.0, "target_odds": 30.0, "pdo": 20.0}


# --- hot reload ------------------------------------------------------------------------------------------


async def test_a_hot_reload_under_load_loses_no_request(
    aiohttp_client: ClientFactory, settings: Settings
) -> None:
    """A new version published and reloaded while eight clients keep scoring: every request answers 200,
    from one version or the other, and the new one serves once the reload has answered."""
    model = "xgboost-new-customer"
    frame = customers(2000, seed=21)
    registry = Registry.from_settings(settings)

    def publish(minute: int, seed: int) -> str:
        table = data.table_from_frame(frame, "test frame", scorer(model).features, None)
        now = datetime(2026, 11, 27, 10, minute, tzinfo=UTC)
        result = pipeline.train(
            scorer(model), table, {**SMALL_PARAMS[model], "seed": seed}, progress=False, now=now
        )
        registry.publish(result.manifest, result.files, Gate(0.0, 1.0))
        return result.manifest.version

    first = publish(0, seed=1)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(with_keys(settings)))
    row = {name: float(frame.iloc[0][name]) for name in names("application")}
    reloaded = asyncio.Event()
    answers: list[tuple[int, str, bool]] = []

    async def keep_scoring() -> None:
        after = 0
        while after < 20:
            response = await client.post(
                "/api/v1/score", json={"segment": "new", "rows": [row]}, headers=HEADERS
            )
            answer = await response.json()
            version = answer["results"][0]["model_scores"][model]["version"] if response.status == 200 else ""
            answers.append((response.status, version, reloaded.is_set()))
            after += reloaded.is_set()

    async def swap() -> str:
        await asyncio.sleep(0.1)
        second = await asyncio.to_thread(publish, 1, 2)
        answer = await client.post("/admin/models/reload", headers={"X-API-Key": ADMIN_KEY})
        assert (await answer.json())["results"][model] == f"loaded {second}"
        reloaded.set()
        return second

    second, *_ = await asyncio.gather(swap(), *(keep_scoring() for _ in range(8)))
    assert {status for status, _, _ in answers} == {200}
    assert {version for _, version, _ in answers} == {first, second}
    # Requests that began after the reload answered are served by the new version.
    assert answers[-1][1] == second


async def test_sampled_access_logs_still_log_every_refusal(
    make_client: Callable[..., Any], json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await make_client(access_log_sample=0.0)
    for _ in range(3):
        assert (await client.post(NEW, json=applicant(), headers=HEADERS)).status in (200, 409)
    assert (await client.post(NEW, json=applicant(email="bad"), headers=HEADERS)).status == 422
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert sorted(line["status"] for line in lines if line.get("event") == "request") == [409, 409, 422]
