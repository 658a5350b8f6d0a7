"""Every route: its handler, the scope it needs and what it takes and answers.

:data:`ROUTES` is the one list the app registers and the OpenAPI document is generated from, so a route
cannot exist undocumented. Handlers raise :class:`server.problems.ProblemError` for every refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from creditscore.domain.scores import band
from creditscore.domain.stability import reading
from plugins.artifacts import Manifest
from plugins.encoding import MISSING_VALUE, NON_NUMERIC, UNKNOWN_CODE, decode_rows
from server import challengers, customer_scoring, metrics, request_json
from server.batching import UnscorableRows
from server.model_registry import ServedModel
from server.problems import MAX_LISTED, ProblemError, invalid, invalid_fields, unscorable
from server.repository import CursorError
from server.request_context import log_customer
from server.schemas import (
    ExistingCustomerRequest,
    FeatureStability,
    FieldProblem,
    Health,
    HistoryEntry,
    HistoryQuery,
    HistoryResponse,
    ModelInput,
    ModelScore,
    ModelsResponse,
    NewCustomerRequest,
    NumberFormatInfo,
    Readiness,
    ReloadResponse,
    ScalingInfo,
    ScoreRequest,
    ScoreResponse,
    ScoreResult,
    ServedModelInfo,
    StabilityInfo,
)
from server.scoring import matrix
from server.service import Service, service

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Body = TypeVar("Body", bound=BaseModel)

#: ``scope`` of a route whose key requirement follows ``CREDITSCORE_METRICS_PUBLIC``.
METRICS_SCOPE: Final = "metrics"


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
    log_customer(request, form.national_id)
    return await customer_scoring.score_new_customer(request, form)


async def predict_existing_customer(request: web.Request) -> web.Response:
    body = await read_body(request, ExistingCustomerRequest)
    return await customer_scoring.score_existing_customer(request, body)


def _row_problems(
    rows: Sequence[Mapping[str, float | str]], features: set[str]
) -> tuple[list[FieldProblem], int]:
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


#: Why a row's value cannot be read, as the answer says it (never echoing the value).
VALUE_MESSAGES: Final = {
    NON_NUMERIC: "must be a number (this feature reads no text)",
    UNKNOWN_CODE: "is an unknown code: not one this feature's model was trained with",
    MISSING_VALUE: "is missing once read (a code this feature counts as missing), which cannot be scored",
}


def _value_problems(
    rows: Sequence[Mapping[str, float | str]], models: Sequence[ServedModel]
) -> tuple[list[FieldProblem], int]:
    """The values the models cannot read (text where a feature takes numbers, unknown codes), the first
    :data:`MAX_LISTED`, and how many there are; rows hold exactly the models' inputs by now."""
    found: dict[tuple[int, str], str] = {}
    for served in models:
        encoding = served.manifest.encoding
        if encoding is None:
            found |= {
                (i, name): NON_NUMERIC
                for i, row in enumerate(rows)
                for name in served.features
                if isinstance(row[name], str)
            }
        else:
            found |= {(i, name): why for i, name, why in decode_rows(rows, served.features, encoding)[1]}
    listed = sorted(found.items())[:MAX_LISTED]
    problems = [
        FieldProblem(field=f"rows[{i}].{name}", message=VALUE_MESSAGES[why]) for (i, name), why in listed
    ]
    return problems, len(found)


async def _scored_rows(
    svc: Service, body: ScoreRequest, served: ServedModel | None, request: web.Request
) -> list[ScoreResult]:
    """Each row's score: by the new-customer model (``served``) or by the existing-customer models."""
    results: list[ScoreResult] = []
    if served is not None:
        request["models"] = {served.name: served.version}
        rows = matrix(body.rows, served.features, served.manifest.encoding)
        queued = served.batcher.submit(rows)
        # No national ID here, so no split: a shadow challenger only (behind the champion), in the metrics.
        shadow = svc.scoring.shadow(svc.scoring.pick(served, None), body.rows)
        pds = (await queued).pd
        scaling = svc.scoring.scaling_of(served)
        for pd in map(float, pds):
            points = scaling.score(pd)
            model_score = ModelScore(score=points, probability_of_default=pd, version=served.version)
            results.append(
                ScoreResult(
                    score=points,
                    band=band(points),
                    probability_of_default=pd,
                    model_scores={served.name: model_score},
                )
            )
        challengers.collect(shadow, [result.score for result in results])
        return results
    for combined in await svc.scoring.combined(body.rows):
        request["models"] = {name: r.version for name, r in combined.results.items()}
        results.append(
            ScoreResult(
                score=combined.score,
                band=combined.band,
                probability_of_default=None,
                model_scores=combined.model_scores(),
            )
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
    problems, total = _value_problems(body.rows, [served] if served else svc.scoring.existing_models())
    if total:
        raise invalid_fields(problems, total, "request body")
    try:
        results = await _scored_rows(svc, body, served, request)
    except UnscorableRows as error:
        raise unscorable(error) from None
    response = ScoreResponse(segment=body.segment, results=results, request_id=request["request_id"])
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
    log_customer(request, query.national_id)
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
            stability=stability_info(svc, s),
            inputs=model_inputs(s.manifest),
        )
        for s in served.values()
    ]
    return json_response(ModelsResponse(models=infos))


def model_inputs(manifest: Manifest) -> list[ModelInput]:
    """How the version reads each value of a row: its mapping's codes and formats, else plain numbers."""
    if manifest.encoding is None:
        return [
            ModelInput(name=name, codes=None, unknown_code=None, missing="keep", number_format=None)
            for name in manifest.features
        ]
    return [
        ModelInput(
            name=spec.name,
            codes=[code for code, _ in spec.codes] or None,
            unknown_code=spec.unknown if spec.codes else None,
            missing=spec.missing,
            number_format=None if spec.number is None else NumberFormatInfo(**spec.number.to_json()),
        )
        for spec in manifest.encoding.inputs
    ]


def stability_info(svc: Service, served: ServedModel) -> StabilityInfo:
    """``served``'s stability figures as this worker last computed them (for the host's workers)."""
    monitor = svc.stability
    figures = monitor.figures(served.name, served.version)
    if served.manifest.reference is None or figures is None:
        return StabilityInfo(
            status="no_reference" if served.manifest.reference is None else "not_enough_data",
            window_seconds=monitor.window,
            min_observations=monitor.min_observations,
            observations=0,
            psi=None,
            reading=None,
            features={},
        )
    return StabilityInfo(
        status="not_enough_data" if figures.psi is None else "ok",
        window_seconds=figures.window_seconds,
        min_observations=figures.min_observations,
        observations=figures.observations,
        psi=figures.psi,
        reading=figures.psi_reading,
        features={
            name: FeatureStability(csi=csi, reading=None if csi is None else reading(csi))
            for name, csi in figures.features.items()
        },
    )


async def reload_models(request: web.Request) -> web.Response:
    results = await service(request).registry.check()
    return json_response(ReloadResponse(results=results))


async def prometheus(_: web.Request) -> web.Response:
    body, content_type = metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})
