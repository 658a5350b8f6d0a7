"""Every route: its handler, the scope it needs and what it takes and answers.

:data:`ROUTES` is the one list the app registers and the OpenAPI document is generated from, so a route
cannot exist undocumented. Handlers raise :class:`server.problems.ProblemError` for every refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from creditscore.domain import identity
from creditscore.domain.scores import band
from creditscore.logs import pseudonym
from server import idempotency, metrics, request_json
from server.batching import UnscorableRows
from server.model_registry import ServedModel
from server.problems import MAX_LISTED, ProblemError, invalid, invalid_fields
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
    ScalingInfo,
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
    #: The route waits on DynamoDB, S3 or a model, so the request deadline applies (504).
    waits: bool = False

    def statuses(self) -> dict[int, str]:
        """Every error status the route can answer but 500, with when: its own, the API key's (when it
        needs one), admission's (scoring and admin routes) and the deadline's (routes that wait)."""
        found = dict(self.errors)
        if self.scope is not None:
            found |= {401: "No API key, or not a valid one", 403: "The key lacks the route's scope"}
        if self.scope not in (None, METRICS_SCOPE):
            found[429] = "The key's rate limit is spent; Retry-After says when to try again"
            overloaded = "the worker holds its cap of requests already (Retry-After)"
            found[503] = f"{found[503]}; or {overloaded}" if 503 in found else overloaded.capitalize()
        if self.waits:
            found[504] = "The request's deadline (CREDITSCORE_REQUEST_DEADLINE_SECONDS) passed"
        return found


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
        document = request_json.parse(raw)
    except request_json.MalformedJson as error:
        raise ProblemError(400, "malformed-json", f"The body is not accepted: {error}") from None
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


def _log_customer(request: web.Request, national_id: str) -> None:
    """The request's log line names the customer by keyed pseudonym, never by national ID."""
    request["customer"] = pseudonym(national_id, service(request).settings.pseudonym_key)


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
    _log_customer(request, form.national_id)
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
    try:
        prediction = await served.batcher.predict(rows, explain=True)
    except UnscorableRows as error:
        raise _unscorable(error, "body") from None
    pd = float(prediction.pd[0])
    score = svc.scoring.scaling_of(served).score(pd)
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
    _log_customer(request, str(customer["national_id"]))
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
            holding=None if lookup == "national_id" else (lookup, str(customer[lookup])),
        )
        if refused is None:
            break
        if (earlier := await _answer_again(request, once, refused)) is not None:
            return earlier
        # Read anew, strongly: the version moved on, or (found through the index) the contact did.
        found = await svc.repository.get(national_id)
        if found is None or not _holds(found, lookup, value):
            raise ProblemError(404, "customer-not-found", f"No customer has this {lookup}")
        customer = found
    else:
        raise ProblemError(
            409, "concurrent-update", "Other requests kept updating this customer meanwhile; try again"
        )
    _count_score(svc, "existing", combined.basis, combined.band, combined.score)
    return _json_answer(answer)


def _holds(customer: Item, lookup: LookupField, value: str) -> bool:
    held = customer.get(lookup)
    if lookup == "national_id" or not isinstance(held, str):
        return held == value
    return identity.normal_form(lookup, held) == identity.normal_form(lookup, value)


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


def _row_problems(rows: Sequence[Mapping[str, float]], features: set[str]) -> tuple[list[FieldProblem], int]:
    """The first :data:`MAX_LISTED` problems of the rows' feature names (each row must hold exactly
    ``features``), and how many there are in all: counting costs a set difference per row, listing is
    bounded."""
    problems: list[FieldProblem] = []
    total = 0
    for index, row in enumerate(rows):
        names = set(row)
        unknown, missing = names - features, features - names
        total += len(unknown) + len(missing)
        if len(problems) < MAX_LISTED:
            problems += [
                FieldProblem(
                    field=f"rows[{index}].{name}", message="is not a feature of this segment's models"
                )
                for name in sorted(unknown)
            ]
            problems += [
                FieldProblem(field=f"rows[{index}].{name}", message="is required") for name in sorted(missing)
            ]
    return problems[:MAX_LISTED], total


def _unscorable(error: UnscorableRows, field: str | None = None) -> ProblemError:
    """A 422 for rows a model cannot score (``field`` names the one row of a form, else rows[i])."""
    problems = [
        FieldProblem(field=field or f"rows[{row}]", message=f"cannot be scored: {error.why}")
        for row in error.rows
    ]
    return invalid_fields(problems, len(problems), "request body")


async def _scored_rows(
    svc: Service, body: ScoreRequest, served: ServedModel | None, request: web.Request
) -> list[dict[str, Any]]:
    """Each row's score: by the new-customer model (``served``) or by the existing-customer models."""
    results: list[dict[str, Any]] = []
    if served is not None:
        request["models"] = {served.name: served.version}
        pds = (await served.batcher.predict(matrix(body.rows, served.features))).pd
        scaling = svc.scoring.scaling_of(served)
        for pd in map(float, pds):
            points = scaling.score(pd)
            model_score = {"score": points, "probability_of_default": pd, "version": served.version}
            results.append(
                {
                    "score": points,
                    "band": band(points),
                    "probability_of_default": pd,
                    "model_scores": {served.name: model_score},
                }
            )
        return results
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
    return results


async def score(request: web.Request) -> web.Response:
    body = await read_body(request, ScoreRequest)
    svc = service(request)
    served = svc.scoring.new_customer_model() if body.segment == "new" else None
    problems, total = _row_problems(
        body.rows, set(served.features) if served else svc.scoring.existing_features()
    )
    if total:
        raise invalid_fields(problems, total, "request body")
    try:
        results = await _scored_rows(svc, body, served, request)
    except UnscorableRows as error:
        raise _unscorable(error) from None
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
    _log_customer(request, query.national_id)
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
    svc = service(request)
    served = svc.registry.served()
    infos = [
        ServedModelInfo(
            name=s.name,
            version=s.version,
            segment=s.segment,
            features=list(s.features),
            metrics=s.manifest.metrics.get("test", {}),
            created_at=s.manifest.created_at,
            scaling=ScalingInfo(**asdict(svc.scoring.scaling_of(s))),
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
