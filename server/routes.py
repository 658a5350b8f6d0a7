"""Every route: its handler, the scope it needs and what it takes and answers.

:data:`ROUTES` is the one list the app registers and the OpenAPI document is generated from, so a route
cannot exist undocumented. Handlers raise :class:`server.problems.ProblemError` for every refusal.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from plugins.scores import band
from server import idempotency, metrics
from server.problems import ProblemError, invalid
from server.repository import AmbiguousLookup, CursorError, Item, LookupField, Refused, decimals
from server.schemas import (
    ExistingCustomerConflict,
    ExistingCustomerRequest,
    ExistingCustomerResponse,
    FieldProblem,
    Health,
    HistoryEntry,
    HistoryQuery,
    HistoryResponse,
    ModelsResponse,
    NewCustomerRequest,
    NewCustomerResponse,
    Readiness,
    ReloadResponse,
    ScoreRequest,
    ScoreResponse,
    ServedModelInfo,
)
from server.scoring import APPLICATION, Combined, MissingFeatures, application_row, matrix, reasons
from server.service import Service, service

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Body = TypeVar("Body", bound=BaseModel)

#: ``scope`` of a route whose key requirement follows ``CREDITSCORE_METRICS_PUBLIC``.
METRICS_SCOPE: Final = "metrics"
#: Where :func:`server.middleware.authenticate` leaves the accepted key's id for the records written.
API_KEY_ID: Final = "api_key_id"
NEW_CUSTOMER_PATH: Final = "/api/v1/predict-new-customer"
EXISTING_CUSTOMER_PATH: Final = "/api/v1/predict-existing-customer"
# Read-score-write rounds an existing customer's score gets when other requests update it meanwhile.
UPDATE_ATTEMPTS: Final = 3
CUSTOMER_FIELDS: Final = ("full_name", "national_id", "email", "phone_number")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    #: The API-key scope the route needs; None: open to all.
    scope: str | None
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    #: Error statuses the route can answer besides auth and 500, with when.
    errors: Mapping[int, str] = field(default_factory=dict)
    #: OpenAPI parameter objects (path and query).
    parameters: Sequence[Mapping[str, Any]] = ()
    #: Media type of a non-JSON success answer.
    produces: str = "application/json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_response(body: BaseModel, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body.model_dump_json().encode(), content_type="application/json")


async def read_body(request: web.Request, kind: type[Body]) -> Body:
    if request.content_type != "application/json":
        raise ProblemError(
            415, "unsupported-media-type", "Send the body as JSON: Content-Type: application/json"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = service(request).settings.max_body_bytes
        raise ProblemError(413, "body-too-large", f"The body is larger than {limit} bytes") from None
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "malformed-json", "The body is not valid JSON") from None
    try:
        return kind.model_validate(document)
    except ValidationError as error:
        raise invalid(error) from None


def _count_score(svc: Service, segment: str, basis: str, band_name: str, score: int) -> None:
    """A score given to a customer: in the metrics (this process) and the dashboard's counts (all)."""
    metrics.SCORES.labels(segment=segment, band=band_name, basis=basis).inc()
    svc.stats.record(segment, band_name, score)


def _customer_info(item: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(item.get(name, "")) for name in CUSTOMER_FIELDS}


def _not_created(refused: Refused, national_id: str) -> ProblemError:
    """The 409 of a create that met another customer's data: what is taken, never whose it is."""
    if refused.customer_exists:
        return ProblemError(
            409,
            "customer-exists",
            "A customer with this national_id already exists; score it as an existing customer",
            existing_customer=ExistingCustomerConflict(national_id=national_id),
        )
    fields = " and ".join(refused.contacts)
    return ProblemError(
        409,
        "contact-in-use",
        f"Another customer already holds this {fields}; an email or phone number belongs to one customer",
        [FieldProblem(field=name, message="is held by another customer") for name in refused.contacts],
    )


async def _answer_again(
    request: web.Request, once: idempotency.Idempotency | None, refused: Refused
) -> web.Response | None:
    """The earlier answer when a request with the same idempotency key wrote first, else None."""
    if not refused.replayed:
        return None
    return await idempotency.earlier_answer(service(request).repository, once)


def _json_answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def _model_scores(combined: Combined) -> dict[str, dict[str, Any]]:
    return {
        name: {"score": r.score, "probability_of_default": r.pd, "version": r.version}
        for name, r in combined.results.items()
    }


def _history_item(national_id: str, request_id: str, scored_at: str, segment: str, body: Item) -> Item:
    item: Item = decimals(
        {
            "national_id": national_id,
            "scored_at_request_id": f"{scored_at}#{request_id}",
            "scored_at": scored_at,
            "request_id": request_id,
            "segment": segment,
            **body,
        }
    )
    return item


# --- handlers --------------------------------------------------------------------------------------------


async def health(_: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


async def ready(request: web.Request) -> web.Response:
    svc = service(request)
    problems = svc.registry.problems()
    models = {name: problems.get(name, "loaded") for name in svc.settings.models}
    dynamodb = await svc.dynamodb_status()
    is_ready = not problems and dynamodb == "ok"
    body = Readiness(status="ready" if is_ready else "not ready", models=models, dynamodb=dynamodb)
    return json_response(body, 200 if is_ready else 503)


async def predict_new_customer(request: web.Request) -> web.Response:
    form = await read_body(request, NewCustomerRequest)
    svc = service(request)
    caller = request[API_KEY_ID]
    once = idempotency.of(request, NEW_CUSTOMER_PATH, form, caller)
    if (earlier := await idempotency.earlier_answer(svc.repository, once)) is not None:
        return earlier
    served = svc.scoring.new_customer_model()
    request["models"] = {served.name: served.version}
    features = application_row(form)
    try:
        rows = matrix([features], served.features)
    except MissingFeatures as error:
        raise ProblemError(
            503, "model-unavailable", f"{served.name} takes features an application does not give: {error}"
        ) from None
    prediction = await served.batcher.predict(rows, explain=True)
    pd = float(prediction.pd[0])
    score = svc.scoring.scaling.score(pd)
    grade = band(score)
    assert prediction.contributions is not None
    request_id, scored_at = request["request_id"], now_iso()
    model_scores = {served.name: {"score": score, "probability_of_default": pd, "version": served.version}}
    summary = {
        "predicted_score": score,
        "predicted_group": grade,
        "basis": APPLICATION,
        "models": model_scores,
        "api_key_id": caller,
    }
    customer = decimals(
        {
            **form.model_dump(include=set(CUSTOMER_FIELDS)),
            "application": features,
            "created_at": scored_at,
            "created_by": caller,
            "source": "api",
            "score_version": 1,
            "last_score": {"scored_at": scored_at, "request_id": request_id, "segment": "new", **summary},
        }
    )
    answer = (
        NewCustomerResponse(
            predicted_score=score,
            predicted_group=grade,
            probability_of_default=pd,
            customer_info=_customer_info(customer),  # type: ignore[arg-type]
            model={"name": served.name, "version": served.version},  # type: ignore[arg-type]
            reasons=reasons(prediction.contributions[0], served.features),  # type: ignore[arg-type]
            request_id=request_id,
            timestamp=scored_at,
        )
        .model_dump_json()
        .encode()
    )
    history = _history_item(form.national_id, request_id, scored_at, "new", summary)
    record = once.record(answer, caller) if once else None
    refused = await svc.repository.create(customer, history, record)
    if refused is not None:
        if (earlier := await _answer_again(request, once, refused)) is not None:
            return earlier
        raise _not_created(refused, form.national_id)
    _count_score(svc, "new", APPLICATION, grade, score)
    return _json_answer(answer)


async def _find(svc: Service, lookup: LookupField, value: str) -> Item:
    try:
        customer = await svc.repository.find(lookup, value)
    except AmbiguousLookup:
        raise ProblemError(
            409,
            "ambiguous-lookup",
            f"More than one customer has this {lookup}; look the customer up by national_id",
        ) from None
    if customer is None:
        raise ProblemError(404, "customer-not-found", f"No customer has this {lookup}")
    return customer


async def predict_existing_customer(request: web.Request) -> web.Response:
    body = await read_body(request, ExistingCustomerRequest)
    lookup, value = body.lookup
    svc = service(request)
    caller = request[API_KEY_ID]
    once = idempotency.of(request, EXISTING_CUSTOMER_PATH, body, caller)
    if (earlier := await idempotency.earlier_answer(svc.repository, once)) is not None:
        return earlier
    customer = await _find(svc, lookup, value)
    for _ in range(UPDATE_ATTEMPTS):
        combined = await svc.scoring.stored_customer(customer)
        request["models"] = {name: r.version for name, r in combined.results.items()}
        request_id, scored_at = request["request_id"], now_iso()
        summary = {
            "predicted_score": combined.score,
            "predicted_group": combined.band,
            "basis": combined.basis,
            "models": _model_scores(combined),
            "missing_models": sorted(combined.missing),
            "missing_reasons": combined.missing,
            "api_key_id": caller,
        }
        national_id = str(customer["national_id"])
        answer = _existing_answer(customer, combined, request_id, scored_at)
        last_score = {"scored_at": scored_at, "request_id": request_id, "segment": "existing", **summary}
        version = customer.get("score_version")
        refused = await svc.repository.record_score(
            national_id,
            None if version is None else int(version),
            decimals(last_score),
            _history_item(national_id, request_id, scored_at, "existing", summary),
            once.record(answer, caller) if once else None,
        )
        if refused is None:
            break
        if (earlier := await _answer_again(request, once, refused)) is not None:
            return earlier
        found = await svc.repository.get(national_id)
        if found is None:
            raise ProblemError(404, "customer-not-found", f"No customer has this {lookup}")
        customer = found
    else:
        raise ProblemError(
            409, "concurrent-update", "Other requests kept updating this customer meanwhile; try again"
        )
    _count_score(svc, "existing", combined.basis, combined.band, combined.score)
    return _json_answer(answer)


def _existing_answer(customer: Item, combined: Combined, request_id: str, scored_at: str) -> bytes:
    return (
        ExistingCustomerResponse(
            predicted_score=combined.score,
            predicted_group=combined.band,
            basis=combined.basis,  # type: ignore[arg-type]
            model_scores=_model_scores(combined),  # type: ignore[arg-type]
            aggregation={  # type: ignore[arg-type]
                "method": "weighted_mean",
                "weights": combined.weights,
                "missing_models": sorted(combined.missing),
                "missing_reasons": combined.missing,
            },
            degraded=bool(combined.missing),
            customer_info=_customer_info(customer),  # type: ignore[arg-type]
            request_id=request_id,
            timestamp=scored_at,
        )
        .model_dump_json()
        .encode()
    )


def _row_problems(
    rows: Sequence[Mapping[str, float]], required: set[str], allowed: set[str]
) -> list[FieldProblem]:
    problems = []
    for index, row in enumerate(rows):
        problems += [
            FieldProblem(field=f"rows[{index}].{name}", message="is not a feature of this segment's models")
            for name in sorted(set(row) - allowed)
        ]
        problems += [
            FieldProblem(field=f"rows[{index}].{name}", message="is required")
            for name in sorted(required - set(row))
        ]
    return problems


async def score(request: web.Request) -> web.Response:
    body = await read_body(request, ScoreRequest)
    svc = service(request)
    if body.segment == "new":
        served = svc.scoring.new_customer_model()
        features = set(served.features)
        allowed = features
    else:
        features = allowed = svc.scoring.existing_features()
    problems = _row_problems(body.rows, features, allowed)
    if problems:
        fields = ", ".join(p.field for p in problems[:10])
        raise ProblemError(422, "invalid-input", f"The rows have invalid fields: {fields}", problems)
    results: list[dict[str, Any]] = []
    if body.segment == "new":
        request["models"] = {served.name: served.version}
        pds = (await served.batcher.predict(matrix(body.rows, served.features))).pd
        for pd in map(float, pds):
            points = svc.scoring.scaling.score(pd)
            model_score = {"score": points, "probability_of_default": pd, "version": served.version}
            results.append(
                {
                    "score": points,
                    "band": band(points),
                    "probability_of_default": pd,
                    "model_scores": {served.name: model_score},
                }
            )
    else:
        for combined in await svc.scoring.combined(body.rows):
            request["models"] = {name: r.version for name, r in combined.results.items()}
            results.append(
                {
                    "score": combined.score,
                    "band": combined.band,
                    "probability_of_default": None,
                    "model_scores": _model_scores(combined),
                }
            )
    response = ScoreResponse(segment=body.segment, results=results, request_id=request["request_id"])  # type: ignore[arg-type]
    return json_response(response)


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


async def score_history(request: web.Request) -> web.Response:
    try:
        query = HistoryQuery.model_validate(
            {**request.query, "national_id": request.match_info["national_id"]}
        )
    except ValidationError as error:
        raise invalid(error, "request") from None
    repository = service(request).repository
    try:
        items, cursor = await repository.history(query.national_id, query.limit, query.cursor)
    except CursorError as error:
        problem = FieldProblem(field="cursor", message=str(error))
        raise ProblemError(
            422, "invalid-input", "The request has invalid fields: cursor", [problem]
        ) from None
    if not items and query.cursor is None and await repository.get(query.national_id) is None:
        raise ProblemError(404, "customer-not-found", "No customer has this national_id")
    entries = [
        HistoryEntry.model_validate(_plain({k: item[k] for k in HISTORY_FIELDS if k in item}))
        for item in items
    ]
    return json_response(HistoryResponse(national_id=query.national_id, scores=entries, next_cursor=cursor))


HISTORY_FIELDS: Final = tuple(HistoryEntry.model_fields)


async def models(request: web.Request) -> web.Response:
    served = service(request).registry.served()
    infos = [
        ServedModelInfo(
            name=s.name,
            version=s.version,
            segment=s.segment,
            features=list(s.features),
            metrics=s.manifest.metrics.get("test", {}),
            created_at=s.manifest.created_at,
        )
        for s in served.values()
    ]
    return json_response(ModelsResponse(models=infos))


async def reload_models(request: web.Request) -> web.Response:
    results = await service(request).registry.check()
    return json_response(ReloadResponse(results=results))


async def prometheus(_: web.Request) -> web.Response:
    body, content_type = metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})
