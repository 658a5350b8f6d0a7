"""The app factory and the route table.

One aioboto3 DynamoDB client per worker process, made in the app's cleanup context (never per request)
with a connection pool sized to the concurrency the worker serves, explicit timeouts and standard retries;
the models bucket through :class:`plugins.registry.Registry` in a thread, with the same timeouts. Models
load before the worker accepts requests; a watcher then follows each model's current-version pointer.
Inference runs in a bounded thread pool with the frameworks' own thread pools pinned to one thread: left at
their defaults, XGBoost/OpenMP and torch start a thread per core in every worker and the workers fight over
the cores. A flusher writes the dashboard's score counts
(:mod:`server.score_stats`) every ``CREDITSCORE_STATS_FLUSH_SECONDS`` and once more when the worker stops;
another updates the models' stability indices (:mod:`server.stability`) every
``CREDITSCORE_STABILITY_FLUSH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import aioboto3
from aiobotocore.config import AioConfig
from aiohttp import web
from botocore.config import Config
from threadpoolctl import threadpool_limits

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain.identity import NATIONAL_ID_PATTERN
from creditscore.domain.scores import Scaling
from plugins.artifacts import code_version
from plugins.manager import installed
from plugins.registry import Registry
from server import dashboard, loop_lag, metrics, openapi, routes, schemas
from server.admission import Admission
from server.middleware import ADMISSION, APP_SETTINGS, ROUTE_TABLE, authenticate, observe, problems, shed
from server.model_registry import ModelRegistry
from server.repository import CustomerRepository
from server.routes import METRICS_SCOPE, Route
from server.score_stats import ScoreStats
from server.scoring import Scoring
from server.service import SERVICE, Service
from server.stability import StabilityMonitor

OPENAPI: Final = web.AppKey("openapi", dict)

_BAD_BODY: Final = {
    400: "The body is not valid JSON",
    413: "The body is larger than CREDITSCORE_MAX_BODY_BYTES",
    415: "The body is not sent as application/json",
    422: "Fields are missing, unknown or invalid; every one is named",
}
_NO_MODEL: Final = {503: "A model it needs is not loaded, or DynamoDB does not answer"}
# The two predict routes take an Idempotency-Key (or a client's X-Request-ID): server.idempotency.
_IDEMPOTENT: Final = {
    400: "The body is not valid JSON, or the Idempotency-Key header is malformed",
    422: "Fields are missing, unknown or invalid (every one is named), or the Idempotency-Key was used "
    "with another request",
}
_IDEMPOTENCY_PARAMETERS: Final = (
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Sent again with a retry, answers with the first success and writes nothing twice "
        "(24 hours, per API key); without it, a client-chosen X-Request-ID serves as the key",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    },
)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


ROUTES: Final = (
    Route(
        "GET",
        "/health",
        routes.health,
        "Liveness: the process answers (no I/O)",
        None,
        response=schemas.Health,
    ),
    Route(
        "GET",
        "/ready",
        routes.ready,
        "Readiness: every configured model loaded and DynamoDB answering; 503 with the same body saying "
        "what is missing otherwise",
        None,
        response=schemas.Readiness,
    ),
    Route(
        "POST",
        "/api/v1/predict-new-customer",
        routes.predict_new_customer,
        "Score a new applicant from the application form and store the customer",
        "score",
        request=schemas.NewCustomerRequest,
        response=schemas.NewCustomerResponse,
        errors={
            **_BAD_BODY,
            **_IDEMPOTENT,
            409: "The national_id is already a customer's, or the email or phone number another customer's",
            **_NO_MODEL,
        },
        parameters=_IDEMPOTENCY_PARAMETERS,
        waits=True,
    ),
    Route(
        "POST",
        "/api/v1/predict-existing-customer",
        routes.predict_existing_customer,
        "Score a stored customer, found by national_id, email or phone_number, with the existing-customer "
        "models that have the customer's data (or, when none has, the new-customer model on the stored "
        "application), and record the score",
        "score",
        request=schemas.ExistingCustomerRequest,
        response=schemas.ExistingCustomerResponse,
        errors={
            **_BAD_BODY,
            **_IDEMPOTENT,
            404: "No customer has this identifier",
            409: "Several customers hold the email or phone number; no model can score the stored data; "
            "or other requests kept updating the customer meanwhile",
            **_NO_MODEL,
        },
        parameters=_IDEMPOTENCY_PARAMETERS,
        waits=True,
    ),
    Route(
        "POST",
        "/api/v1/score",
        routes.score,
        "Score up to 1,000 rows of features for a segment; nothing is stored",
        "score",
        request=schemas.ScoreRequest,
        response=schemas.ScoreResponse,
        errors={**_BAD_BODY, **_NO_MODEL},
        waits=True,
    ),
    Route(
        "GET",
        "/api/v1/customers/{national_id}/scores",
        routes.score_history,
        "A customer's score history, newest first, a page at a time",
        "score",
        response=schemas.HistoryResponse,
        errors={404: "No customer has this national_id", 422: "A parameter is invalid", 503: "DynamoDB"},
        parameters=(
            {
                "name": "national_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": NATIONAL_ID_PATTERN},
            },
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
            {
                "name": "cursor",
                "in": "query",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 2048,
                    "pattern": schemas.CURSOR_PATTERN,
                },
            },
        ),
        waits=True,
    ),
    Route(
        "GET",
        "/api/v1/models",
        routes.models,
        "The models in service",
        "score",
        response=schemas.ModelsResponse,
    ),
    Route(
        "POST",
        "/admin/models/reload",
        routes.reload_models,
        "Check every model's current-version pointer now and load what changed",
        "admin",
        response=schemas.ReloadResponse,
        waits=True,
    ),
    Route(
        "GET",
        "/metrics",
        routes.prometheus,
        "Prometheus metrics, summed over the worker processes",
        METRICS_SCOPE,
        produces="text/plain",
    ),
    Route(
        "GET",
        "/api/v1/dashboard",
        dashboard.dashboard_data,
        "The dashboard's figures over the last hours: scores per FICO band, per 50-point bin, per "
        "segment and over time, from every worker (up to CREDITSCORE_STATS_FLUSH_SECONDS behind), and "
        "the models in service; aggregate counts only",
        METRICS_SCOPE,
        response=schemas.DashboardResponse,
        errors={422: "hours is not an integer from 1 to 168", 503: "DynamoDB does not answer"},
        parameters=(
            {
                "name": "hours",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": schemas.MAX_DASHBOARD_HOURS},
            },
        ),
        waits=True,
    ),
    Route(
        "GET",
        dashboard.PAGE_PATH,
        dashboard.dashboard_page,
        "The managers' dashboard page (HTML; it fetches /api/v1/dashboard and asks for a key if needed)",
        None,
        produces="text/html",
    ),
    Route(
        "GET",
        dashboard.SCRIPT_PATH,
        dashboard.dashboard_script,
        "The dashboard page's script",
        None,
        produces="text/javascript",
    ),
    Route(
        "GET",
        dashboard.STYLE_PATH,
        dashboard.dashboard_style,
        "The dashboard page's style sheet",
        None,
        produces="text/css",
    ),
    Route("GET", "/api/v1/openapi.json", openapi_json, "This OpenAPI 3.1 document", None),
)


def pin_framework_threads() -> None:
    threadpool_limits(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _limits(settings: Settings) -> dict[str, Any]:
    return {
        "connect_timeout": max(settings.dynamodb_timeout_seconds / 3, 0.1),
        "read_timeout": settings.dynamodb_timeout_seconds,
        "retries": {"max_attempts": settings.dynamodb_max_attempts, "mode": "standard"},
    }


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[APP_SETTINGS]
    scorers = installed()
    pin_framework_threads()
    executor = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="inference")
    # Models load rarely and off the event loop: the bucket is read by the registry training uses, in a
    # thread, with a boto3 client bounded like the DynamoDB one (a stuck read must not hold a worker's exit).
    store = Registry(aws.client("s3", settings, Config(**_limits(settings))), settings.models_bucket)
    # No client-side parameter validation: the repository builds every request itself and DynamoDB checks
    # each one anyway, while botocore's walk of a transaction's shapes costs 0.2-0.5 CPU-ms a call.
    dynamodb_config = AioConfig(
        max_pool_connections=settings.dynamodb_max_connections,
        parameter_validation=False,
        **_limits(settings),
    )
    async with aioboto3.Session().client(
        "dynamodb",
        config=dynamodb_config,
        **aws.client_kwargs(settings, "dynamodb"),
    ) as dynamodb:
        stability = StabilityMonitor(
            Scaling.from_settings(settings),
            settings.stability_window_seconds,
            settings.stability_min_observations,
        )
        registry = ModelRegistry(
            store,
            settings.models,
            scorers,
            executor,
            settings.max_batch_rows,
            settings.inference_threads,
            settings.model_max_bytes,
            settings.inline_rows,
            observers=stability.observer,
        )
        scoring = Scoring(
            registry,
            Scaling.from_settings(settings),
            settings.new_customer_model,
            settings.existing_customer_models,
            settings.allow_degraded,
        )
        repository = CustomerRepository(
            dynamodb, settings.customers_table, settings.score_history_table, settings.pseudonym_key
        )
        stats = ScoreStats(repository.call, settings.score_history_table)
        app[SERVICE] = Service(settings, registry, repository, scoring, stats, stability)
        # Exported so that the disagreement alert reads the configured limit, not a number of its own.
        metrics.CHALLENGER_MAX_DISAGREEMENT.set(settings.challenger_max_disagreement)
        await registry.check()
        # What start-up made (modules, the models) lives about as long as the worker: out of the
        # collector's sight, a full collection no longer walks it and stalls every request meanwhile. A
        # version replaced later is still freed: nothing of a served model sits in a reference cycle, so
        # reference counting frees it (tests/test_server_models.py holds that).
        gc.freeze()
        watchers = [
            asyncio.create_task(registry.watch(settings.model_poll_seconds)),
            asyncio.create_task(loop_lag.watch(settings.loop_lag_seconds)),
        ]
        stopping = asyncio.Event()
        flusher = asyncio.create_task(stats.run(settings.stats_flush_seconds, stopping))
        stability_updater = asyncio.create_task(stability.run(settings.stability_flush_seconds, stopping))
        try:
            yield
        finally:
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            # The flusher writes what is left before the DynamoDB client closes.
            stopping.set()
            await flusher
            await stability_updater
            await registry.close()
    executor.shutdown(wait=True)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[observe, problems, shed, authenticate], client_max_size=settings.max_body_bytes
    )
    app[APP_SETTINGS] = settings
    app[ADMISSION] = Admission(settings.max_in_flight)
    app[ROUTE_TABLE] = {}
    for route in ROUTES:
        resource = app.router.add_route(route.method, route.path, route.handler).resource
        assert resource is not None
        app[ROUTE_TABLE][(route.method, resource.canonical)] = route
    app[OPENAPI] = openapi.document(ROUTES, code_version())
    app.cleanup_ctx.append(_resources)
    return app
