"""One request of each predict route, top to bottom: a new applicant scored and stored as a customer, a
stored customer scored again and the score recorded.

Each flow answers a retried request with its first answer (:mod:`server.idempotency`), scores, builds the
answer and the records of the score, writes them in one conditional transaction with the idempotency
record, and answers. What the write refuses decides the answer: a copy of the request that wrote first gives
its answer; an applicant whose national ID, email or phone number another customer holds is refused (409);
a stored customer another request updated meanwhile is read and scored again, :data:`UPDATE_ATTEMPTS` times
at most (then 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from creditscore.domain import identity
from creditscore.domain.scores import band
from creditscore.domain.storage import HISTORY_SORT_KEY
from server import challengers, idempotency, metrics
from server.batching import UnscorableRows
from server.problems import ProblemError, unscorable
from server.repository import AmbiguousLookup, Item, LookupField, Refused, decimals
from server.request_context import API_KEY_ID, log_customer
from server.schemas import (
    Aggregation,
    ChallengerScore,
    CustomerInfo,
    ExistingCustomerConflict,
    ExistingCustomerRequest,
    ExistingCustomerResponse,
    FieldProblem,
    HistoryEntry,
    ModelRef,
    ModelScore,
    NewCustomerRequest,
    NewCustomerResponse,
    now_iso,
)
from server.scoring import APPLICATION, MissingFeatures, application_row, reasons
from server.service import Service, service

NEW_CUSTOMER_PATH: Final = "/api/v1/predict-new-customer"
EXISTING_CUSTOMER_PATH: Final = "/api/v1/predict-existing-customer"
# Read-score-write rounds an existing customer's score gets when other requests update it meanwhile.
UPDATE_ATTEMPTS: Final = 3
CUSTOMER_FIELDS: Final = ("full_name", "national_id", "email", "phone_number")


async def score_new_customer(request: web.Request, form: NewCustomerRequest) -> web.Response:
    """Score an applicant's form and store them as a customer, with the score as their first."""
    svc = service(request)
    caller = request[API_KEY_ID]
    once = idempotency.of(request, NEW_CUSTOMER_PATH, form, caller)
    if (earlier := await idempotency.earlier_answer(svc.repository, once)) is not None:
        return earlier
    features = application_row(form)
    # The champion, or its split challenger for the customers the split gives it; a shadow one beside it.
    champion = svc.scoring.new_customer_model()
    try:
        scored = await svc.scoring.predict(svc.scoring.pick(champion, form.national_id), [features], True)
    except MissingFeatures as error:
        raise ProblemError(
            503,
            "model-unavailable",
            f"{champion.name} takes features an application does not give: {error}",
        ) from None
    except UnscorableRows as error:
        raise unscorable(error, "body") from None
    pick, rows, prediction = scored.pick, scored.rows, scored.prediction
    served = pick.served
    request["models"] = {served.name: served.version}
    assert prediction.contributions is not None
    pd = float(prediction.pd[0])
    score = svc.scoring.scaling_of(served).score(pd)
    shadowed = challengers.collect(scored.shadow, [score])
    entry = _beside(
        HistoryEntry(
            scored_at=now_iso(),
            request_id=request["request_id"],
            segment="new",
            predicted_score=score,
            predicted_group=band(score),
            basis=APPLICATION,
            models={
                served.name: ModelScore(
                    score=score, probability_of_default=pd, version=served.version, role=pick.role
                )
            },
            api_key_id=caller,
        ),
        {served.name: shadowed[0]} if shadowed else {},
    )
    info = CustomerInfo.model_validate(form.model_dump(include=set(CUSTOMER_FIELDS)))
    customer = {
        **info.model_dump(),
        "application": decimals(features),
        "created_at": entry.scored_at,
        "created_by": caller,
        "source": "api",
        "score_version": 1,
        "last_score": _stored(entry),
    }
    answer = _json(
        NewCustomerResponse(
            predicted_score=score,
            predicted_group=entry.predicted_group,
            probability_of_default=pd,
            customer_info=info,
            model=ModelRef(name=served.name, version=served.version, role=pick.role),
            reasons=reasons([svc.scoring.explained(served, rows[0], prediction.contributions[0])]),
            request_id=entry.request_id,
            timestamp=entry.scored_at,
        )
    )
    refused = await svc.repository.create(
        customer, _history_item(form.national_id, entry), once.record(answer, caller) if once else None
    )
    if refused is not None:
        if (earlier := await _answer_again(svc, once, refused)) is not None:
            return earlier
        raise _not_created(refused, form.national_id)
    _count_score(svc, "new", APPLICATION, entry.predicted_group, score)
    return _answer(answer)


async def score_existing_customer(request: web.Request, body: ExistingCustomerRequest) -> web.Response:
    """Score a stored customer, found by any of their identifiers, and record the score."""
    lookup, value = body.lookup
    svc = service(request)
    caller = request[API_KEY_ID]
    once = idempotency.of(request, EXISTING_CUSTOMER_PATH, body, caller)
    if (earlier := await idempotency.earlier_answer(svc.repository, once)) is not None:
        return earlier
    customer = await _find(svc, lookup, value)
    log_customer(request, str(customer["national_id"]))
    for _ in range(UPDATE_ATTEMPTS):
        combined = await svc.scoring.stored_customer(customer)
        request["models"] = {name: r.version for name, r in combined.results.items()}
        national_id = str(customer["national_id"])
        entry = _beside(
            HistoryEntry(
                scored_at=now_iso(),
                request_id=request["request_id"],
                segment="existing",
                predicted_score=combined.score,
                predicted_group=combined.band,
                basis=combined.basis,
                models=combined.model_scores(),
                missing_models=sorted(combined.missing),
                missing_reasons=combined.missing,
                api_key_id=caller,
            ),
            combined.challengers,
        )
        answer = _json(
            ExistingCustomerResponse(
                predicted_score=combined.score,
                predicted_group=combined.band,
                basis=combined.basis,
                model_scores=entry.models,
                aggregation=Aggregation(
                    method="weighted_mean",
                    weights=combined.weights,
                    missing_models=entry.missing_models,
                    missing_reasons=entry.missing_reasons,
                ),
                degraded=bool(combined.missing),
                reasons=combined.reasons,
                customer_info=_customer_info(customer),
                request_id=entry.request_id,
                timestamp=entry.scored_at,
            )
        )
        version = customer.get("score_version")
        refused = await svc.repository.record_score(
            national_id,
            None if version is None else int(version),
            _stored(entry),
            _history_item(national_id, entry),
            once.record(answer, caller) if once else None,
            holding=None if lookup == "national_id" else (lookup, str(customer[lookup])),
        )
        if refused is None:
            break
        if (earlier := await _answer_again(svc, once, refused)) is not None:
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
    return _answer(answer)


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


def _holds(customer: Item, lookup: LookupField, value: str) -> bool:
    held = customer.get(lookup)
    if lookup == "national_id" or not isinstance(held, str):
        return held == value
    return identity.normal_form(lookup, held) == identity.normal_form(lookup, value)


def _customer_info(item: Mapping[str, Any]) -> CustomerInfo:
    return CustomerInfo.model_validate({name: str(item.get(name, "")) for name in CUSTOMER_FIELDS})


def _beside(entry: HistoryEntry, shadowed: Mapping[str, ChallengerScore]) -> HistoryEntry:
    """``entry`` with the shadow challengers' scores, when there are any: a record scored without one stays
    as it always was."""
    return entry.model_copy(update={"challengers": dict(shadowed)}) if shadowed else entry


def _stored(entry: HistoryEntry) -> Item:
    """The score as a customer's ``last_score`` holds it. Only the fields given: an applicant's score was
    never stored with the missing models of an existing customer's."""
    stored: Item = decimals(entry.model_dump(exclude_unset=True))
    return stored


def _history_item(national_id: str, entry: HistoryEntry) -> Item:
    key = {"national_id": national_id, HISTORY_SORT_KEY: f"{entry.scored_at}#{entry.request_id}"}
    return key | _stored(entry)


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
    svc: Service, once: idempotency.Idempotency | None, refused: Refused
) -> web.Response | None:
    """The earlier answer when a request with the same idempotency key wrote first, else None."""
    if not refused.replayed:
        return None
    return await idempotency.earlier_answer(svc.repository, once)


def _count_score(svc: Service, segment: str, basis: str, band_name: str, score: int) -> None:
    """A score given to a customer: in the metrics (this process) and the dashboard's counts (all)."""
    metrics.SCORES.labels(segment=segment, band=band_name, basis=basis).inc()
    svc.stats.record(segment, band_name, score)


def _json(body: NewCustomerResponse | ExistingCustomerResponse) -> bytes:
    """The answer as sent, and as the idempotency record keeps it for a retry."""
    return body.model_dump_json().encode()


def _answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")
