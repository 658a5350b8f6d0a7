"""What every request goes through, outermost first: observation (request id, metrics, one log line),
error answers (problem+json, never a stack trace) within the request's deadline, shedding past the
worker's cap on requests in flight, then the API-key check with the key's rate limit
(:mod:`server.admission`).

Routes are labelled by their template (``/api/v1/customers/{national_id}/scores``), never by the path: a
path can hold a national ID, and label values per customer would also swamp Prometheus.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from creditscore.config import Settings
from server import auth, metrics
from server.admission import Admission, retry_after
from server.problems import ProblemError
from server.repository import RepositoryError
from server.request_context import API_KEY_ID
from server.routes import METRICS_SCOPE, Route

log = structlog.get_logger("server.access")

REQUEST_ID_HEADER: Final = "X-Request-ID"
UNMATCHED: Final = "unmatched"
_REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

ROUTE_TABLE: Final = web.AppKey("route_table", dict[tuple[str, str], Route])
_ROUTE: Final = "route"
ADMISSION: Final = web.AppKey("admission", Admission)
APP_SETTINGS: Final = web.AppKey("app_settings", Settings)


def route_of(request: web.Request) -> Route | None:
    """The request's entry of :data:`server.routes.ROUTES`, found once by :func:`observe`."""
    route: Route | None = request[_ROUTE]
    return route


def _find_route(request: web.Request) -> Route | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return request.app[ROUTE_TABLE].get((request.method, resource.canonical))


def _sampled(share: float) -> bool:
    return share >= 1 or random.random() < share


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request["client_request_id"] = given if _REQUEST_ID_RE.match(given) else None
    # 128 random bits, like a UUID4's 122, at a fraction of uuid4()'s cost.
    request_id = request["client_request_id"] or os.urandom(16).hex()
    request["request_id"] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    found = request[_ROUTE] = _find_route(request)
    route = found.path if found else UNMATCHED
    started = time.perf_counter()
    status = 500
    metrics.HTTP_IN_FLIGHT.inc()
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except asyncio.CancelledError:
        # The client went away; nothing was answered.
        status = 499
        raise
    finally:
        metrics.HTTP_IN_FLIGHT.dec()
        elapsed = time.perf_counter() - started
        metrics.http_requests(route, request.method, status).inc()
        metrics.http_duration(route).observe(elapsed)
        if status >= 400 or _sampled(request.app[APP_SETTINGS].access_log_sample):
            log.info(
                "request",
                route=route,
                method=request.method,
                status=status,
                latency_ms=round(elapsed * 1000, 2),
                models=request.get("models"),
                customer=request.get("customer"),
            )
        # A keep-alive connection serves its next request in the same context.
        structlog.contextvars.unbind_contextvars("request_id", API_KEY_ID)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request["request_id"]
    route = route_of(request)
    deadline = request.app[APP_SETTINGS].request_deadline_seconds if route and route.waits else None
    # Every DynamoDB call and retry of the request ends by then; what is in flight is cancelled. A route
    # that waits on nothing has no deadline (a timer per request is a cost that buys nothing there).
    budget = asyncio.timeout(deadline) if deadline else None
    try:
        if budget is None:
            return await handler(request)
        async with budget:
            return await handler(request)
    except TimeoutError:
        if budget is None or not budget.expired():
            raise
        log.warning("deadline_exceeded", deadline_seconds=deadline)
        return ProblemError(
            504, "deadline-exceeded", f"The request took longer than its {deadline:g} s deadline; try again"
        ).response(request_id)
    except ProblemError as problem:
        return problem.response(request_id)
    except RepositoryError as error:
        log.error("storage_unavailable", error=str(error))
        return ProblemError(
            503, "storage-unavailable", "The customer store does not answer; try again"
        ).response(request_id)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        slug = {404: "no-such-route", 405: "method-not-allowed", 413: "body-too-large"}.get(
            error.status, "http"
        )
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return ProblemError(error.status, slug, str(error.reason), headers=headers).response(request_id)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected_error")
        return ProblemError(
            500, "internal-error", f"Something went wrong on our side; quote request id {request_id}"
        ).response(request_id)


@web.middleware
async def shed(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_of(request)
    if route is None or route.scope in (None, METRICS_SCOPE):
        return await handler(request)
    admission = request.app[ADMISSION]
    if not admission.enter():
        metrics.SHED.labels(reason="in_flight", api_key_id="").inc()
        raise ProblemError(
            503,
            "overloaded",
            f"This worker holds {admission.max_in_flight} requests already; try again shortly",
            headers=retry_after(1),
        )
    try:
        return await handler(request)
    finally:
        admission.leave()


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_of(request)
    settings = request.app[APP_SETTINGS]
    scope = route.scope if route else None
    if scope == METRICS_SCOPE and settings.metrics_public:
        scope = None
    if scope is None:
        return await handler(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="creditscore"'}
    key = auth.presented_key(request.headers.get("X-API-Key"), request.headers.get("Authorization"))
    if key is None:
        raise ProblemError(
            401, "missing-api-key", "Send an API key in X-API-Key or Authorization: Bearer", headers=challenge
        )
    entry = auth.entry_of(key, settings.api_keys)
    if entry is None:
        raise ProblemError(401, "invalid-api-key", "The API key is not valid", headers=challenge)
    # Every later log line of the request, and every record it writes, says which client asked.
    request[API_KEY_ID] = entry.key_id
    structlog.contextvars.bind_contextvars(api_key_id=entry.key_id)
    # The admin scope reads what the metrics scope reads; a metrics key does nothing else.
    accepted = {METRICS_SCOPE, "admin"} if scope == METRICS_SCOPE else {scope}
    if not accepted & entry.scopes:
        needed = " or ".join(sorted(accepted))
        raise ProblemError(403, "insufficient-scope", f"This route needs an API key with the {needed} scope")
    # Only a request the key may make spends one of its tokens.
    wait = request.app[ADMISSION].wait_for_token(entry)
    if wait:
        metrics.SHED.labels(reason="rate_limit", api_key_id=entry.key_id).inc()
        raise ProblemError(
            429,
            "rate-limited",
            f"This key may make {entry.rate:g} requests a second (bursts of {entry.burst:g}); try again "
            "shortly",
            headers=retry_after(wait),
        )
    return await handler(request)
