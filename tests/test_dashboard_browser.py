"""The dashboard page in a real headless Chromium (Debian's, driven by Playwright): it loads without console
errors, its SVG charts draw the service's own figures, it refreshes itself, and with
CREDITSCORE_METRICS_PUBLIC=false it asks for a key and keeps it out of every URL; with a shadow challenger
and a population that drifted from the training one, it shows the challenger's agreement and the drift.
Full-page screenshots are kept in ``test-artifacts/``.

The service runs as a real HTTP server on 127.0.0.1 (aiohttp's test server, this test's event loop), with a
0.2 s flush interval so the page shows what the background flusher wrote, as in production.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, Request, ViewportSize, async_playwright

from creditscore.config import Settings
from etl.synthetic import latent
from plugins.manager import scorer
from plugins.registry import Gate, Registry
from server.app import create_app
from server.service import SERVICE
from tests.conftest import ADMIN_KEY, SCORE_KEY, with_keys
from tests.factories import copy_models
from tests.test_dashboard import new_form
from tests.test_server_api import (
    EXISTING,
    HEADERS,
    NEW,
    STORED,
    store_customer,
)
from tests.test_stability import population
from training import data, pipeline

CHROMIUM: Final = Path("/usr/bin/chromium")
ARTIFACTS: Final = Path(__file__).resolve().parents[1] / "test-artifacts"
# No GPU, no sandbox (root in CI), and nothing that phones home: the machines are offline.
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP: Final = ViewportSize(width=1366, height=900)
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed ({CHROMIUM} is missing): `make system-deps` installs it "
            "(Debian's chromium package, through apt-get)"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
def start_service(aiohttp_server: ServerFactory, service_settings: Settings) -> Callable[..., Any]:
    async def start(**changes: Any) -> TestServer:
        settings = with_keys(service_settings, stats_flush_seconds=0.2, **changes)
        return await aiohttp_server(create_app(settings), host="127.0.0.1")

    return start


class Watcher:
    """What a page reports: console errors, uncaught exceptions, failed loads, and every request."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.requests: list[Request] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.errors.append(f"request failed: {request.url}"))
        page.on("request", lambda request: self.requests.append(request))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")


async def give_scores(server: TestServer, settings: Settings) -> int:
    """Four new applicants and one existing customer scored through the API; how many scores."""
    async with aiohttp.ClientSession(str(server.make_url("/"))) as session:
        for index in range(4):
            async with session.post(NEW, json=new_form(index), headers=HEADERS) as response:
                assert response.status == 200, await response.text()
        store_customer(settings)
        async with session.post(EXISTING, json={"national_id": STORED["national_id"]}, headers=HEADERS) as r:
            assert r.status == 200, await r.text()
    return 5


async def flushed(server: TestServer) -> None:
    """Wait until the background flusher has written every score counted so far."""
    stats = server.app[SERVICE].stats
    for _ in range(100):
        if stats.pending() == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the flusher did not write the counts within 10 s")


async def api_figures(server: TestServer, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/api/v1/dashboard"), headers=headers) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def bars(page: Page, chart: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await page.eval_on_selector_all(
        f"#{chart} rect.bar",
        """rects => rects.map(r => ({
            label: r.dataset.label, band: r.dataset.band ?? null, min: r.dataset.min ?? null,
            count: Number(r.dataset.count), height: Number(r.getAttribute('height')),
            fill: r.getAttribute('fill'),
        }))""",
    )
    return result


def assert_heights_follow_counts(drawn: list[dict[str, Any]]) -> None:
    tallest = max(drawn, key=lambda bar: bar["count"])
    assert tallest["count"] > 0 and tallest["height"] > 0
    for bar in drawn:
        expected = tallest["height"] * bar["count"] / tallest["count"]
        assert bar["height"] == pytest.approx(expected, abs=0.02), bar


def assert_png(path: Path, min_width: int) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= min_width and height >= 600, (width, height)
    assert len(data) > 30_000, f"{path} is only {len(data)} bytes: a blank page?"


async def test_the_dashboard_draws_the_services_figures_and_refreshes(
    browser: Browser, start_service: Callable[..., Any], service_settings: Settings
) -> None:
    server = await start_service()
    given = await give_scores(server, service_settings)
    await flushed(server)
    page = await browser.new_page(viewport=LAPTOP)
    watcher = Watcher(page)
    await page.goto(str(server.make_url("/dashboard?refresh=1")))
    await page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    figures = await api_figures(server)
    assert figures["total"] == given

    assert await page.text_content("#total") == str(given)
    assert await page.text_content("#segment-new") == "4"
    assert await page.text_content("#segment-existing") == "1"

    drawn = await bars(page, "bands-svg")
    assert [(b["band"], b["count"]) for b in drawn] == [(b["band"], b["count"]) for b in figures["bands"]]
    assert len({b["fill"] for b in drawn}) == 5  # one colour per band
    assert_heights_follow_counts(drawn)
    label = await page.get_attribute("#bands-svg", "aria-label")
    assert label is not None
    for b in figures["bands"]:
        assert f"{b['band']} {b['count']}" in label

    histogram = await bars(page, "distribution-svg")
    assert [(int(b["min"]), b["count"]) for b in histogram] == [
        (b["min_score"], b["count"]) for b in figures["distribution"]
    ]
    assert_heights_follow_counts(histogram)

    volume = await bars(page, "volume-svg")
    assert len(volume) == len(figures["volume"]) == 24
    assert [b["count"] for b in volume] == [v["count"] for v in figures["volume"]]
    assert sum(b["count"] for b in volume) == given

    rows = await page.eval_on_selector_all(
        "#models tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    # Too few scores for a stability index yet: the PSI column says so.
    expected = [[m["name"], m["version"], m["segment"], "not enough data", "–"] for m in figures["models"]]
    assert rows == expected
    assert {row[0] for row in rows} == {"xgboost-new-customer", "pytorch-traditional", "extratrees-social"}
    assert await page.get_attribute("#updated", "data-generated-at")

    # It refreshes itself: a score given now shows without a reload.
    async with aiohttp.ClientSession() as session:
        response = await session.post(server.make_url(NEW), json=new_form(7), headers=HEADERS)
        assert response.status == 200
    await page.wait_for_function(
        "total => document.getElementById('total').textContent === String(total)",
        arg=given + 1,
        timeout=10_000,
    )

    assert watcher.errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert_png(screenshot, LAPTOP["width"])


async def test_the_dashboard_asks_for_a_key_and_keeps_it_out_of_urls(
    browser: Browser, start_service: Callable[..., Any], service_settings: Settings
) -> None:
    server = await start_service(metrics_public=False)
    await give_scores(server, service_settings)
    await flushed(server)
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    watcher = Watcher(page)
    await page.goto(str(server.make_url("/dashboard?refresh=1")))
    await page.wait_for_selector("body[data-state=key-needed]", timeout=15_000)
    assert await page.is_visible("#key-form")
    assert await page.is_hidden("#content")

    # A key without the admin scope is refused, and the form says why.
    await page.fill("#api-key", SCORE_KEY)
    await page.click("#key-form button[type=submit]")
    await page.wait_for_function("document.getElementById('key-message').textContent.includes('admin scope')")
    await page.wait_for_selector("body[data-state=key-needed]")
    assert await page.evaluate("window.sessionStorage.length") == 0  # a refused key is not kept

    await page.fill("#api-key", ADMIN_KEY)
    await page.click("#key-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    assert await page.is_hidden("#key-form")
    assert await page.text_content("#total") == "5"
    figures = await api_figures(server, {"X-API-Key": ADMIN_KEY})
    drawn = await bars(page, "bands-svg")
    assert [b["count"] for b in drawn] == [b["count"] for b in figures["bands"]]
    stored = await page.evaluate("Object.values(window.sessionStorage)")
    assert stored == [ADMIN_KEY]

    # A reload in the same tab goes straight to the figures with the kept key.
    await page.reload()
    await page.wait_for_selector("body[data-state=ready]", timeout=15_000)

    api_calls = [r for r in watcher.requests if "/api/v1/dashboard" in r.url]
    assert api_calls
    for request in watcher.requests:
        assert SCORE_KEY not in request.url and ADMIN_KEY not in request.url, request.url
    assert (await api_calls[-1].all_headers()).get("x-api-key") == ADMIN_KEY
    # The refusals (401, 403) are logged by Chromium as failed loads; nothing else may be.
    unexpected = [
        e for e in watcher.errors if not ("Failed to load resource" in e and ("401" in e or "403" in e))
    ]
    assert unexpected == []
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-with-key.png"), full_page=True)
    await context.close()


async def test_the_dashboard_shows_a_shadow_challenger_and_a_drifted_population(
    browser: Browser, aiohttp_server: ServerFactory, settings: Settings, published_models: Settings
) -> None:
    # The new-customer model trained on the synthetic generator's population (its reference recorded), a
    # second version of it as its shadow challenger, the other models as published.
    copy_models(published_models, settings)
    registry = Registry.from_settings(settings)
    model = scorer("xgboost-new-customer")
    versions = []
    for seed, rounds, gate in ((1, 40, Gate(0.0, 1.0)), (9, 15, Gate(1.0, 0.0))):
        table = data.table_from_frame(population(4000, seed=seed), "synthetic", model.features, None)
        now = datetime(2026, 12, seed, tzinfo=UTC)
        trained = pipeline.train(model, table, {"num_boost_round": rounds}, progress=False, now=now)
        registry.publish(trained.manifest, trained.files, gate)
        versions.append(trained.manifest.version)
    champion, challenger = versions
    assert registry.current_version(model.name) == champion
    registry.set_challenger(model.name, challenger, "shadow")
    changes = {"stability_flush_seconds": 0.05, "stability_min_observations": 1000}
    app = create_app(with_keys(settings, stats_flush_seconds=0.2, **changes))
    server = await aiohttp_server(app, host="127.0.0.1")

    # Applicants earning half of what the training population earned.
    drifted = population(3000, seed=3, median_income=latent.MEDIAN_INCOME / 2)
    records = drifted[list(model.features)].to_dict("records")
    async with aiohttp.ClientSession(str(server.make_url("/"))) as session:
        for start in range(0, len(records), 1000):
            body = {"segment": "new", "rows": records[start : start + 1000]}
            async with session.post("/api/v1/score", json=body, headers=HEADERS) as response:
                assert response.status == 200, await response.text()
    await give_scores(server, settings)
    await flushed(server)

    page = await browser.new_page(viewport=LAPTOP)
    watcher = Watcher(page)
    await page.goto(str(server.make_url("/dashboard?refresh=1")))
    await page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#models tbody td.reading-act')].length >= 2", timeout=15_000
    )
    figures = await api_figures(server)
    [shown] = [m for m in figures["models"] if m["name"] == model.name]
    assert shown["version"] == champion and shown["psi"] > 0.25 and shown["psi_reading"] == "act"
    assert shown["shifted_input"] == "income" and shown["shifted_csi"] > 0.25

    rows = await page.eval_on_selector_all(
        "#models tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    [row] = [r for r in rows if r[0] == model.name]
    assert row[1:3] == [champion, "new"]
    assert row[3] == f"{shown['psi']:.3f} act"
    assert row[4] == f"income {shown['shifted_csi']:.3f} act"

    assert await page.is_visible("#challengers-card")
    [listed] = figures["challengers"]
    assert (listed["model"], listed["version"], listed["mode"]) == (model.name, challenger, "shadow")
    # Every drifted applicant and each form were scored by both versions.
    assert listed["compared"] >= len(records) + 4
    cells = await page.eval_on_selector_all(
        "#challengers tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert cells == [
        [
            model.name,
            challenger,
            "shadow",
            str(listed["compared"]),
            f"{100 * listed['band_agreement']:.1f} %",
            f"{listed['mean_absolute_difference']:.1f} points",
        ]
    ]

    assert watcher.errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard-challenger-drift.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert_png(screenshot, LAPTOP["width"])
