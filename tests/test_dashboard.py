"""The dashboard's figures and page through a real HTTP client, against the moto server: scores counted by
two app instances sharing one table (two workers) add up, a failed write keeps its counts, refused requests
count nothing, the window is validated, the figures follow CREDITSCORE_METRICS_PUBLIC, the page is served
with its Content-Security-Policy, and the history routes cannot reach the counts' items."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from creditscore import aws
from creditscore.config import ConfigError, Settings, load_settings
from creditscore.domain import storage
from creditscore.domain.features import names
from creditscore.domain.scores import BAND_NAMES, band
from server.dashboard import CONTENT_SECURITY_POLICY
from server.score_stats import BIN_EDGES, KEY_PREFIX, ScoreStats, bin_of, minute_key
from server.service import SERVICE
from tests.conftest import ADMIN_KEY
from tests.test_server_api import (
    EXISTING,
    HEADERS,
    NEW,
    STORED,
    applicant,
    metric_value,
    store_customer,
)

DASHBOARD = "/api/v1/dashboard"
ADMIN = {"X-API-Key": ADMIN_KEY}
# Incomes and debts that give the small test model scores in different bands.
FORMS = (
    {"income": 40_000_000, "savings": 200_000_000, "debt": 0},
    {"income": 8_000_000, "savings": 0, "debt": 60_000_000},
    {"income": 15_000_000, "savings": 20_000_000, "debt": 5_000_000},
    {"income": 3_000_000, "savings": 0, "debt": 90_000_000},
)


def new_form(index: int) -> dict[str, Any]:
    return applicant(
        national_id=f"0012345678{index:02d}",
        email=f"applicant{index}@example.com",
        phone_number=f"09123456{index:02d}",
        **FORMS[index % len(FORMS)],
    )


def stats(client: TestClient[Any, Any]) -> ScoreStats:
    counter: ScoreStats = client.app[SERVICE].stats
    return counter


async def figures(client: TestClient[Any, Any], **params: Any) -> dict[str, Any]:
    response = await client.get(DASHBOARD, params=params)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


async def score_new(client: TestClient[Any, Any], index: int) -> int:
    response = await client.post(NEW, json=new_form(index), headers=HEADERS)
    body = await response.json()
    assert response.status == 200, body
    return int(body["predicted_score"])


async def test_scores_from_two_workers_add_up_on_the_dashboard(
    make_client: Callable[..., Any], service_settings: Settings
) -> None:
    first, second = await make_client(), await make_client()
    given: list[tuple[str, int]] = []
    for index in range(3):
        given.append(("new", await score_new(first, index)))
    given.append(("new", await score_new(second, 3)))
    store_customer(service_settings)
    existing = await second.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS)
    assert existing.status == 200
    given.append(("existing", (await existing.json())["predicted_score"]))
    assert (stats(first).pending(), stats(second).pending()) == (3, 2)

    # Nothing is shown before a flush: the figures are what the workers have written.
    assert (await figures(first))["total"] == 0
    assert await stats(first).flush()
    assert await stats(second).flush()
    assert stats(first).pending() == stats(second).pending() == 0

    body = await figures(first)
    assert body == {**await figures(second), "generated_at": body["generated_at"]}
    assert body["total"] == len(given)
    assert body["segments"] == {"new": 4, "existing": 1}
    bands = Counter(band(score) for _, score in given)
    assert [(b["band"], b["count"]) for b in body["bands"]] == [(name, bands[name]) for name in BAND_NAMES]
    assert [(b["min_score"], b["max_score"]) for b in body["bands"]] == [
        (300, 579),
        (580, 669),
        (670, 739),
        (740, 799),
        (800, 850),
    ]
    bins = Counter(BIN_EDGES[bin_of(score)] for _, score in given)
    assert [b["min_score"] for b in body["distribution"]] == list(range(300, 850, 50))
    assert body["distribution"][-1]["max_score"] == 850
    assert [b["count"] for b in body["distribution"]] == [bins[edge] for edge in BIN_EDGES]
    assert len(body["volume"]) == 24
    assert sum(v["count"] for v in body["volume"]) == len(given)
    assert body["volume"][-1]["count"] == len(given)  # the current hour
    assert [(m["name"], m["segment"]) for m in body["models"]] == [
        ("xgboost-new-customer", "new"),
        ("pytorch-traditional", "existing"),
        ("extratrees-social", "existing"),
    ]
    assert body["hours"] == 24
    assert body["bucket_minutes"] == 60

    # The storage layout: one item per minute, under a key no national ID can take.
    dynamodb = aws.client("dynamodb", service_settings)
    items = dynamodb.scan(TableName=service_settings.score_history_table)["Items"]
    counts = [item for item in items if item["national_id"]["S"].startswith(KEY_PREFIX)]
    assert counts
    for item in counts:
        assert re.fullmatch(r"#stats#\d{4}-\d{2}-\d{2}", item["national_id"]["S"])
        assert re.fullmatch(r"\d{2}:\d{2}", item[storage.HISTORY_SORT_KEY]["S"])
    assert sum(int(item["total"]["N"]) for item in counts) == len(given)
    assert sum(int(item.get("band:Good", {"N": "0"})["N"]) for item in counts) == bands["Good"]


async def test_a_failed_flush_keeps_the_counts_until_it_succeeds(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    await score_new(client, 0)
    await score_new(client, 1)
    counter = stats(client)
    table = counter.table
    before = await (await client.get("/metrics")).text()
    counter.table = "cs-no-such-table"
    assert not await counter.flush()
    assert counter.pending() == 2
    after = await (await client.get("/metrics")).text()
    name = "creditscore_dynamodb_errors_total"
    assert metric_value(after, name, operation="UpdateItem") > metric_value(
        before, name, operation="UpdateItem"
    )
    await score_new(client, 2)  # counted meanwhile: added to what was kept
    assert counter.pending() == 3

    counter.table = table
    assert (await figures(client))["total"] == 0
    assert await counter.flush()
    assert counter.pending() == 0
    body = await figures(client)
    assert body["total"] == 3
    assert body["segments"]["new"] == 3
    assert await counter.flush()  # nothing left: nothing counted twice
    assert (await figures(client))["total"] == 3


async def test_refused_requests_count_nothing(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    await score_new(client, 0)
    refusals = [
        await client.post(NEW, json=new_form(0), headers=HEADERS),  # 409: the ID is taken
        await client.post(NEW, json=applicant(income=-1), headers=HEADERS),  # 422
        await client.post(NEW, json=new_form(1)),  # 401: no key
        await client.post(EXISTING, json={"national_id": "079000000001"}, headers=HEADERS),  # 404
    ]
    assert [r.status for r in refusals] == [409, 422, 401, 404]
    # What-if rows are not scores given to a customer: /api/v1/score counts nothing either.
    what_if = {"segment": "new", "rows": [dict.fromkeys(names("application"), 1.0)]}
    assert (await client.post("/api/v1/score", json=what_if, headers=HEADERS)).status == 200
    assert stats(client).pending() == 1
    assert await stats(client).flush()
    assert (await figures(client))["total"] == 1


async def test_the_window_is_validated(client_hours: TestClient[Any, Any]) -> None:
    for bad in ("0", "169", "six", "1.5", ""):
        response = await client_hours.get(DASHBOARD, params={"hours": bad})
        body = await response.json()
        assert response.status == 422, bad
        assert [e["field"] for e in body["errors"]] == ["hours"]
        assert "hours" in body["detail"]
    unknown = await client_hours.get(DASHBOARD, params={"days": "2"})
    assert unknown.status == 422
    assert [e["field"] for e in (await unknown.json())["errors"]] == ["days"]

    short = await figures(client_hours, hours="1")
    assert (short["bucket_minutes"], len(short["volume"])) == (10, 6)
    week = await figures(client_hours, hours="168")
    assert (week["bucket_minutes"], len(week["volume"])) == (60, 168)
    start = datetime.fromisoformat(week["window_start"])
    end = datetime.fromisoformat(week["window_end"])
    assert (end - start).total_seconds() == 168 * 3600
    assert end.minute == 0
    assert datetime.fromisoformat(week["volume"][0]["start"]) == start


@pytest.fixture
async def client_hours(make_client: Callable[..., Any]) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await make_client()
    return result


async def test_the_figures_need_the_admin_key_when_metrics_are_not_public(
    make_client: Callable[..., Any],
) -> None:
    private = await make_client(metrics_public=False)
    assert (await private.get(DASHBOARD)).status == 401
    assert (await private.get(DASHBOARD, headers=HEADERS)).status == 403
    assert (await private.get(DASHBOARD, headers=ADMIN)).status == 200
    page = await private.get("/dashboard")
    assert page.status == 200  # the page holds no data: it asks for a key itself
    public = await make_client()
    assert (await public.get(DASHBOARD)).status == 200
    spec = await (await public.get("/api/v1/openapi.json")).json()
    operation = spec["paths"][DASHBOARD]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DashboardResponse"
    )
    assert "422" in operation["responses"]
    assert "CREDITSCORE_METRICS_PUBLIC" in operation["description"]


async def test_the_page_and_its_assets_are_served_under_a_content_security_policy(
    make_client: Callable[..., Any],
) -> None:
    client = await make_client()
    page = await client.get("/dashboard")
    html = await page.text()
    assert page.status == 200
    assert page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert '<link rel="icon" href="data:,">' in html
    # Everything the page loads is its own, and nothing inline that the policy would block.
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/dashboard/dashboard.js" defer>']
    assert " style=" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org', "")
    for path, content_type in (
        ("/dashboard/dashboard.js", "text/javascript"),
        ("/dashboard/dashboard.css", "text/css"),
    ):
        asset = await client.get(path)
        assert asset.status == 200
        assert asset.content_type == content_type
        assert asset.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert len(await asset.read()) > 1000
    script = await (await client.get("/dashboard/dashboard.js")).text()
    assert "sessionStorage" in script
    assert "X-API-Key" in script
    assert "innerHTML" not in script


async def test_the_history_routes_cannot_reach_the_counts(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    await score_new(client, 0)
    assert await stats(client).flush()
    partition, _ = minute_key(int(time.time() // 60))
    response = await client.get(f"/api/v1/customers/{quote(partition, safe='')}/scores", headers=HEADERS)
    body = await response.json()
    assert response.status == 422, body
    assert [e["field"] for e in body["errors"]] == ["national_id"]


async def test_a_window_across_midnight_reads_both_days(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    counter = stats(client)
    midnight = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    for offset, (segment, grade, score) in {
        -120: ("new", "Good", 700),  # 23:58
        -60: ("existing", "Poor", 300),  # 23:59
        0: ("new", "Exceptional", 850),  # 00:00 the next day
        59: ("new", "Exceptional", 820),  # still 00:00
        3600: ("new", "Fair", 600),  # 01:00: outside the window read below
    }.items():
        counter.record(segment, grade, score, at=midnight + offset)
    assert await counter.flush()
    first = int(midnight // 60) - 2
    found = await counter.read(first, first + 3)
    assert sorted(found) == [first, first + 1, first + 2]
    assert found[first + 2]["total"] == 2
    assert found[first + 2]["band:Exceptional"] == 2
    assert found[first + 2]["bin:800"] == 2
    assert found[first + 1] == {"total": 1, "band:Poor": 1, "bin:300": 1, "segment:existing": 1}
    assert minute_key(first) == ("#stats#2026-03-01", "23:58")


def test_recording_a_score_only_counts_in_memory() -> None:
    """record() runs on every scoring request: it counts, and never waits on DynamoDB (its cost is measured
    by hand, see server/score_stats.py, not timed here)."""

    async def never(*_: Any, **__: Any) -> dict[str, Any]:
        raise AssertionError("record() must not call DynamoDB")

    counter = ScoreStats(never, "unused")
    for index in range(2_000):
        counter.record("new", BAND_NAMES[index % 5], 300 + index % 551)
    assert counter.pending() == 2_000


@pytest.mark.parametrize("value", ["0", "abc", "100000"])
def test_a_bad_flush_interval_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=f"CREDITSCORE_STATS_FLUSH_SECONDS={value!r}.*number of seconds"):
        load_settings({"CREDITSCORE_STATS_FLUSH_SECONDS": value})
    assert load_settings({}).stats_flush_seconds == 5
