"""Requests a careless or hostile client sends, through a real HTTP client: each is answered 4xx with a
short problem naming what was wrong, nothing is written, and clients sending good requests beside them are
answered as if alone."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from creditscore.config import Settings
from creditscore.domain.features import names
from tests.factories import customers
from tests.test_server_api import HEADERS, NEW, applicant, table_items

SCORE = "/api/v1/score"
JSON = {**HEADERS, "Content-Type": "application/json"}
DEEP = 5000
EXISTING_GROUPS = ("traditional_features", "transaction_features", "social_features")


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await make_client()
    return result


def new_rows(count: int) -> list[dict[str, float]]:
    frame = customers(count, seed=9)
    return [{name: float(frame.iloc[i][name]) for name in names("application")} for i in range(count)]


def assert_nothing_written(settings: Settings) -> None:
    assert table_items(settings, settings.customers_table) == []
    assert table_items(settings, settings.score_history_table) == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("[" * DEEP + "]" * DEEP, "nested too deeply"),
        ('{"a":' * DEEP + "1" + "}" * DEEP, "nested too deeply"),
        (json.dumps(applicant())[:-1] + ', "income": 1}', "repeats the key 'income'"),
        ('{"national_id": "001234567890", "national_id": "079123456789"}', "repeats the key 'national_id'"),
        (json.dumps(applicant()).replace("25000000", "NaN"), "NaN, which is not a JSON number"),
        (json.dumps(applicant()).replace("25000000", "Infinity"), "Infinity"),
        ('{"\\u00e9\\u00e9": 1, "\\u00e9\\u00e9": 2}', "repeats a key"),
    ],
    ids=["deep-array", "deep-object", "repeated-field", "repeated-id", "nan", "infinity", "repeated-other"],
)
async def test_bodies_that_are_not_strict_json_are_400_saying_why(
    client: TestClient[Any, Any], service_settings: Settings, raw: str, why: str
) -> None:
    answer = await client.post(NEW, data=raw.encode(), headers=JSON)
    problem = await answer.json()

    assert answer.status == 400, problem
    assert problem["type"].endswith("/malformed-json")
    assert why in problem["detail"]
    assert "079123456789" not in problem["detail"]
    assert_nothing_written(service_settings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"income": 1e-200}, "income"),
        ({"savings": 5e-324}, "savings"),
        ({"debt": 1e300}, "debt"),
        ({"income": 1e-120, "savings": 1e15}, "income"),
        ({"income": 1000.005}, "income"),
        ({"savings": 1e15 + 1e3}, "savings"),
    ],
)
async def test_money_outside_what_a_ledger_holds_is_422_naming_it(
    client: TestClient[Any, Any], service_settings: Settings, changes: dict[str, float], field: str
) -> None:
    answer = await client.post(NEW, json=applicant(**changes), headers=HEADERS)
    problem = await answer.json()

    assert answer.status == 422, problem
    assert [e["field"] for e in problem["errors"]] == [field]
    assert_nothing_written(service_settings)


async def test_the_extremes_a_ledger_holds_are_scored_and_stored(
    client: TestClient[Any, Any], service_settings: Settings
) -> None:
    answer = await client.post(NEW, json=applicant(income=0.01, savings=1e15, debt=0), headers=HEADERS)
    body = await answer.json()

    assert answer.status == 200, body
    [customer] = table_items(service_settings, service_settings.customers_table)
    assert float(customer["application"]["savings_to_income"]) == pytest.approx(1e17)


async def test_the_openapi_document_states_the_bounds(client: TestClient[Any, Any]) -> None:
    schemas = (await (await client.get("/api/v1/openapi.json")).json())["components"]["schemas"]
    income = schemas["NewCustomerRequest"]["properties"]["income"]
    assert (income["minimum"], income["maximum"], income["multipleOf"]) == (0, 1e15, 0.01)
    number, text = schemas["ScoreRequest"]["properties"]["rows"]["items"]["additionalProperties"]["anyOf"]
    assert (number["type"], number["minimum"], number["maximum"]) == ("number", -1e15, 1e15)
    # Text: the codes of a model trained through a mapping that declares them (test_mapping_codes.py).
    assert (text["type"], text["minLength"], text["maxLength"]) == ("string", 1, 100)


async def test_huge_feature_values_are_422_and_the_requests_beside_them_are_scored(
    client: TestClient[Any, Any],
) -> None:
    good = {"segment": "new", "rows": new_rows(2)}
    huge = {"segment": "new", "rows": [dict.fromkeys(names("application"), 1e308)]}
    answers = await asyncio.gather(
        *(client.post(SCORE, json=huge if n % 3 == 0 else good, headers=HEADERS) for n in range(12))
    )

    for n, answer in enumerate(answers):
        body = await answer.json()
        if n % 3 == 0:
            assert answer.status == 422, body
            assert {e["field"] for e in body["errors"]} == {
                f"rows[0].{name}" for name in names("application")
            }
        else:
            assert answer.status == 200, body
            assert len(body["results"]) == 2


@pytest.mark.parametrize("segment", ["new", "existing"])
async def test_a_thousand_empty_rows_get_a_short_answer(client: TestClient[Any, Any], segment: str) -> None:
    answer = await client.post(SCORE, json={"segment": segment, "rows": [{}] * 1000}, headers=HEADERS)
    raw = await answer.read()
    problem = json.loads(raw)

    assert answer.status == 422
    assert len(problem["errors"]) == 50
    groups = ("application",) if segment == "new" else EXISTING_GROUPS
    per_row = sum(len(names(group)) for group in groups)
    assert problem["more_errors"] == 1000 * per_row - 50
    assert len(problem["detail"]) < 300
    assert len(raw) < 8_000


async def test_a_thousand_invalid_values_get_a_short_answer(client: TestClient[Any, Any]) -> None:
    rows = [dict.fromkeys(names("application"), "x")] * 1000
    answer = await client.post(SCORE, json={"segment": "new", "rows": rows}, headers=HEADERS)
    raw = await answer.read()
    problem = json.loads(raw)

    assert answer.status == 422
    assert len(problem["errors"]) == 50
    assert problem["more_errors"] == 10_000 - 50
    assert len(raw) < 8_000


async def test_a_deeply_nested_history_cursor_is_422_on_the_cursor(client: TestClient[Any, Any]) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("=")
    answer = await client.get(
        "/api/v1/customers/001234567890/scores", params={"cursor": cursor}, headers=HEADERS
    )
    problem = await answer.json()

    assert answer.status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["cursor"]
