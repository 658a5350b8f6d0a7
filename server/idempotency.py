"""Idempotent scoring POSTs: a client that retries with the same key gets the first answer back, and
nothing is written twice.

A client that timed out cannot know whether its request landed. Sent again with the same
``Idempotency-Key`` header (or, failing that, the same ``X-Request-ID`` it chose) within
:data:`TTL_SECONDS`, a predict request that succeeded the first time is answered with the first answer,
byte for byte, marked ``Idempotent-Replayed: true``, and writes nothing: no second customer, score or
history record.

The first answer is kept in an *idempotency record* in the score-history table, written in the same
transaction as what the request wrote, under a conditional put (no live record with that key). Two copies of
one request racing each other therefore cannot both write: the loser's transaction is cancelled as a whole
and it answers with the winner's record. Only successes are recorded: a refused request writes nothing, so
sending it again is as safe as the first time, and it is answered afresh.

Records are per API key (one client's key never reaches another's answer) and bound to the request: the
route and the validated body. The same key with another request is refused (422 ``idempotency-key-reused``).
Layout, beside the dashboard's counts (keys starting with ``#`` are never a national ID)::

    national_id          = "#idempotency#<sha256 of the API key id and the idempotency key>"
    scored_at_request_id = "#"
    fingerprint          = sha256 of the route and the canonical body
    answer               = the JSON answer, as sent
    expires_at           = epoch seconds; DynamoDB's TTL attribute on the table
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from pydantic import BaseModel

from creditscore.domain.identity import RESERVED_PREFIX
from creditscore.domain.storage import EXPIRES_AT, HISTORY_SORT_KEY
from server import metrics
from server.problems import ProblemError
from server.repository import RECORD_SORT_KEY, CustomerRepository, Item

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
TTL_SECONDS: Final = 24 * 3600
KEY_PREFIX: Final = f"{RESERVED_PREFIX}idempotency#"
# Visible ASCII: the draft standard's keys are opaque strings; UUIDs are the usual choice.
_KEY_RE: Final = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Idempotency:
    """One request's idempotency: where its record lives and what it must match."""

    route: str
    record_key: str
    fingerprint: str

    def record(self, answer: bytes, api_key_id: str) -> Item:
        """The record of a success, to write in the same transaction as the request's writes."""
        return {
            "national_id": self.record_key,
            HISTORY_SORT_KEY: RECORD_SORT_KEY,
            "fingerprint": self.fingerprint,
            "answer": answer.decode(),
            "api_key_id": api_key_id,
            EXPIRES_AT: int(time.time()) + TTL_SECONDS,
        }

    def replay(self, record: Item) -> web.Response:
        """The first answer again; 422 when the record is another request's."""
        if record["fingerprint"] != self.fingerprint:
            raise ProblemError(
                422,
                "idempotency-key-reused",
                f"This {HEADER} was sent with another request in the last 24 hours; use a new key for a new "
                "request",
            )
        metrics.IDEMPOTENT_REPLAYS.labels(route=self.route).inc()
        return web.Response(
            body=str(record["answer"]).encode(),
            content_type="application/json",
            headers={REPLAYED_HEADER: "true"},
        )


def of(request: web.Request, route: str, body: BaseModel, api_key_id: str) -> Idempotency | None:
    """The request's idempotency, None when the client sent neither header (then nothing is kept)."""
    key = request.headers.get(HEADER)
    if key is None:
        key = request.get("client_request_id")
        if key is None:
            return None
    elif not _KEY_RE.match(key):
        raise ProblemError(
            400, "invalid-idempotency-key", f"{HEADER} must be 1-255 visible ASCII characters, such as a UUID"
        )
    digest = hashlib.sha256(f"{api_key_id}\n{key}".encode()).hexdigest()
    fingerprint = hashlib.sha256(f"{route}\n{body.model_dump_json()}".encode()).hexdigest()
    return Idempotency(route, KEY_PREFIX + digest, fingerprint)


async def earlier_answer(
    repository: CustomerRepository, idempotency: Idempotency | None
) -> web.Response | None:
    """The answer a request with the same key already got, None when there is none to give."""
    if idempotency is None:
        return None
    record = await repository.idempotency_record(idempotency.record_key)
    return None if record is None else idempotency.replay(record)
