"""The managers' dashboard: ``GET /api/v1/dashboard`` (its figures, JSON) and ``GET /dashboard`` (the page).

The figures are :mod:`server.score_stats`' per-minute counts, written by every worker of every host, read
for a window of hours; the models in service are this worker's (every worker loads the same pointers).

The page is three static files from ``server/static/`` (package data, so the wheel carries them): HTML,
a small script that fetches the figures every few seconds and draws the charts as inline SVG, and CSS. No
build step and nothing from another origin (the bank's machines may be offline), which lets the page run
under a strict Content-Security-Policy: ``default-src 'self'``, no inline script or style. The page holds
no data, so it is open; the figures follow ``CREDITSCORE_METRICS_PUBLIC`` like ``/metrics``, and when they
need a key the page asks for one, keeps it in sessionStorage and sends it as ``X-API-Key``, never in a URL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Final

from aiohttp import web
from pydantic import ValidationError

from creditscore.domain.scores import BAND_NAMES, BANDS, MAX_SCORE
from server import challengers
from server.model_registry import ServedChallenger, ServedModel
from server.problems import invalid
from server.routes import json_response, stability_info
from server.schemas import (
    BandCount,
    BinCount,
    DashboardChallenger,
    DashboardModel,
    DashboardQuery,
    DashboardResponse,
    StabilityInfo,
    VolumeBucket,
    now_iso,
)
from server.score_stats import BAND_PREFIX, BIN_EDGES, BIN_PREFIX, SEGMENT_PREFIX, SEGMENTS, TOTAL
from server.service import service

#: Windows up to this many hours are drawn in 10-minute buckets, longer ones hourly.
SHORT_WINDOW_HOURS: Final = 6
PAGE_PATH: Final = "/dashboard"
SCRIPT_PATH: Final = "/dashboard/dashboard.js"
STYLE_PATH: Final = "/dashboard/dashboard.css"

# The page draws SVG with DOM calls and sets no inline style, so nothing inline needs allowing; the
# favicon is a data: URL (no 404 in the console).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_STATIC_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files: revalidated on every load, so a new release's page is never mixed with an old script.
    "Cache-Control": "no-cache",
}

_EDGES: Final = dict(BANDS)
_BAND_RANGES: Final = tuple(
    (name, _EDGES[name], _EDGES[BAND_NAMES[i + 1]] - 1 if i + 1 < len(BAND_NAMES) else MAX_SCORE)
    for i, name in enumerate(BAND_NAMES)
)
_BIN_RANGES: Final = tuple(
    (edge, BIN_EDGES[i + 1] - 1 if i + 1 < len(BIN_EDGES) else MAX_SCORE) for i, edge in enumerate(BIN_EDGES)
)


@cache
def _static(name: str) -> bytes:
    return (resources.files("server") / "static" / name).read_bytes()


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat().replace("+00:00", "Z")


async def dashboard_data(request: web.Request) -> web.Response:
    try:
        query = DashboardQuery.model_validate(dict(request.query))
    except ValidationError as error:
        raise invalid(error, "request") from None
    svc = service(request)
    bucket = 10 if query.hours <= SHORT_WINDOW_HOURS else 60
    # The window ends with the current bucket, so the buckets sit on round times (13:00, 13:10, ...).
    end = (int(time.time() // 60) // bucket + 1) * bucket
    start = end - query.hours * 60
    minutes = await svc.stats.read(start, end - 1)

    def total(name: str) -> int:
        return sum(counts.get(name, 0) for counts in minutes.values())

    volume = [0] * (query.hours * 60 // bucket)
    for minute, counts in minutes.items():
        volume[(minute - start) // bucket] += counts.get(TOTAL, 0)
    served = svc.registry.served()
    body = DashboardResponse(
        window_start=_iso(start),
        window_end=_iso(end),
        hours=query.hours,
        bucket_minutes=bucket,
        total=total(TOTAL),
        bands=[
            BandCount(band=name, min_score=low, max_score=high, count=total(BAND_PREFIX + name))
            for name, low, high in _BAND_RANGES
        ],
        distribution=[
            BinCount(min_score=low, max_score=high, count=total(f"{BIN_PREFIX}{low}"))
            for low, high in _BIN_RANGES
        ],
        volume=[VolumeBucket(start=_iso(start + i * bucket), count=count) for i, count in enumerate(volume)],
        segments={segment: total(SEGMENT_PREFIX + segment) for segment in SEGMENTS},
        # In the configured order (new-customer model first), not the order the loads finished in.
        models=[
            _model(s, stability_info(svc, s))
            for name in svc.settings.models
            if (s := served.get(name)) is not None
        ],
        challengers=[
            _challenger(name, c) for name in svc.settings.models if (c := svc.registry.challenger(name))
        ],
        generated_at=now_iso(),
        stats_flush_seconds=svc.settings.stats_flush_seconds,
    )
    return json_response(body)


def _model(served: ServedModel, stability: StabilityInfo) -> DashboardModel:
    known = {name: f.csi for name, f in stability.features.items() if f.csi is not None}
    shifted = max(known, key=known.__getitem__) if known else None
    return DashboardModel(
        name=served.name,
        version=served.version,
        segment=served.segment,
        stability=stability.status,
        psi=stability.psi,
        psi_reading=stability.reading,
        shifted_input=shifted,
        shifted_csi=None if shifted is None else known[shifted],
        shifted_reading=None if shifted is None else stability.features[shifted].reading,
    )


def _challenger(model: str, challenger: ServedChallenger) -> DashboardChallenger:
    figures = challengers.agreement(model, challenger.version)
    return DashboardChallenger(
        model=model,
        version=challenger.version,
        mode=challenger.mode,
        share=challenger.share,
        compared=figures.compared,
        band_agreement=figures.band_agreement,
        mean_absolute_difference=figures.mean_difference,
    )


def _asset(name: str, content_type: str) -> web.Response:
    return web.Response(
        body=_static(name), content_type=content_type, charset="utf-8", headers=_STATIC_HEADERS
    )


async def dashboard_page(_: web.Request) -> web.Response:
    return _asset("dashboard.html", "text/html")


async def dashboard_script(_: web.Request) -> web.Response:
    return _asset("dashboard.js", "text/javascript")


async def dashboard_style(_: web.Request) -> web.Response:
    return _asset("dashboard.css", "text/css")
