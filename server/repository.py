"""The service's DynamoDB access: customers (by national ID, email or phone) and their score history.

One long-lived aioboto3 DynamoDB client serves every call of a process. Writes that touch both tables are
transactions, so a customer never exists without the history record of the score that created it, and a
score is never recorded without its history record. Concurrent writers are settled by conditions: a create
refuses to overwrite an existing customer or to take an email or phone number another customer holds (the
guard items of :mod:`creditscore.domain.identity`, in the same transaction), and a score update carries the
version it was computed from. A write may also carry an idempotency record (:mod:`server.idempotency`),
put only if no request with the same key wrote before, so a retried request never writes twice.

Every call is timed into ``creditscore_dynamodb_request_duration_seconds``; failures (after the client's own
retries) raise :class:`RepositoryError` and count in ``creditscore_dynamodb_errors_total``, while a
refusal by a condition is an answer (an existing customer, ``False``), not a failure. Messages and logs
never carry a national ID, email or phone number.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

import structlog
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from creditscore.aws import error_code, to_decimal
from creditscore.domain import identity
from creditscore.domain.storage import EMAIL_INDEX, EXPIRES_AT, HISTORY_SORT_KEY, PHONE_INDEX
from creditscore.logs import mask_pii, pseudonym
from server import request_json
from server.metrics import DYNAMODB_DURATION, DYNAMODB_ERRORS

log = structlog.get_logger(__name__)

Item = dict[str, Any]
LookupField = Literal["national_id", "email", "phone_number"]

_INDEXES: Final = {"email": EMAIL_INDEX, "phone_number": PHONE_INDEX}
# Cancellation reasons that are other writers' doing: a failed condition (an answer the callers act on),
# or a concurrent transaction on one of the items (TransactionConflict), which decides nothing.
_REFUSALS: Final = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
# AWS keeps an UPDATING table (a GSI or setting being changed) available for reads and writes.
_SERVING_STATUSES: Final = frozenset({"ACTIVE", "UPDATING"})
_NEW_ITEM: Final = "attribute_not_exists(national_id)"
# An idempotency record may be written when none is there or the one there has expired (DynamoDB's TTL
# deletes expired items only eventually).
_NO_LIVE_RECORD: Final = f"attribute_not_exists(national_id) OR {EXPIRES_AT} < :now"
#: Sort key of the one item under an idempotency record's partition key.
RECORD_SORT_KEY: Final = "#"
# Attempts of a transaction that only met other transactions in flight on its items (TransactionConflict):
# nothing was decided, so it is tried again after a short, jittered pause.
_CONFLICT_ATTEMPTS: Final = 3
_CONFLICT_PAUSE_SECONDS: Final = 0.02
_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()
_MALFORMED_CURSOR: Final = "the history cursor is malformed: pass the cursor of the previous page unchanged"


class RepositoryError(Exception):
    """DynamoDB failed (after the client's own retries); the message names the operation, no customer."""


class CursorError(ValueError):
    """A history page cursor that this repository did not produce (malformed, or another customer's)."""


class AmbiguousLookup(LookupError):
    """More than one customer holds the email or phone number looked up (never raised by national ID)."""


@dataclass(frozen=True)
class Refused:
    """Why a write landed nothing: the conditions other writers' data failed."""

    #: A create met a customer with the national ID.
    customer_exists: bool = False
    #: A create met another customer holding these contacts.
    contacts: tuple[identity.ContactField, ...] = ()
    #: A score's write met a newer score version, or no customer.
    stale: bool = False
    #: A request with the same idempotency key wrote first.
    replayed: bool = False


class _Refused(Exception):
    """A transaction cancelled only by conditions or concurrent transactions; one reason code per item."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def decimals(value: Any) -> Any:
    """``value`` with every float, also inside dicts and lists, as the Decimal DynamoDB stores."""
    if isinstance(value, float):
        return to_decimal(value)
    if isinstance(value, dict):
        return {key: decimals(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [decimals(inner) for inner in value]
    return value


class CustomerRepository:
    def __init__(self, client: Any, customers_table: str, history_table: str, pseudonym_key: bytes) -> None:
        self._client = client
        self._customers = customers_table
        self._history = history_table
        self._pseudonym_key = pseudonym_key

    async def get(self, national_id: str) -> Item | None:
        """The customer as stored now (a strongly consistent read), None when there is none."""
        response = await self.call(
            "GetItem", TableName=self._customers, Key=_key(national_id), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _deserialize(item)

    async def find(self, field: LookupField, value: str) -> Item | None:
        """The customer whose ``field`` is ``value``, None when there is none.

        By email or phone the item comes from the index (which projects whole items), one call and no
        second read: the index lags the table by a moment, so a write based on it must also check that the
        customer still holds the contact (``record_score``'s ``holding``) and re-read when it does not. A
        contact written otherwise than stored (another case, ``+84`` for ``0``) is one contact to the guards,
        so when the index has no exact match the contact's guard names its holder (two reads).

        :class:`AmbiguousLookup` when several customers hold the email or phone number: guards keep a new
        clash from being written, but data loaded before them may hold one, and picking one of the holders
        would answer for a person the caller may not mean.
        """
        if field == "national_id":
            return await self.get(value)
        found = [item for item in await self._indexed(field, value) if item.get(field) == value]
        if not found and (holder := await self._guard_holder(field, value)) is not None:
            found = [holder]
        if len(found) > 1:
            raise AmbiguousLookup(f"more than one customer has this {field}")
        return found[0] if found else None

    async def _guard_holder(self, field: identity.ContactField, value: str) -> Item | None:
        response = await self.call(
            "GetItem",
            TableName=self._customers,
            Key=_key(identity.guard_key(field, value)),
            ConsistentRead=True,
        )
        guard = response.get("Item")
        holder = None if guard is None else await self.get(guard[identity.OWNER]["S"])
        if holder is None or not isinstance(held := holder.get(field), str):
            return None
        return holder if identity.normal_form(field, held) == identity.normal_form(field, value) else None

    async def idempotency_record(self, key: str) -> Item | None:
        """The live record a request with idempotency record key ``key`` left, None when there is none."""
        response = await self.call(
            "GetItem",
            TableName=self._history,
            Key={**_key(key), HISTORY_SORT_KEY: {"S": RECORD_SORT_KEY}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None or int(item[EXPIRES_AT]["N"]) < time.time():
            return None
        return _deserialize(item)

    async def create(self, customer: Item, history: Item, record: Item | None = None) -> Refused | None:
        """Write a new customer, the guards of their email and phone number, the history record of their
        first score and, when given, the request's idempotency record: all or nothing.

        None when written; what refused it otherwise (then nothing is written).
        """
        national_id = customer["national_id"]
        _check_owner(history, national_id)
        claims = [
            identity.claim(self._customers, field, customer[field], national_id)
            for field in identity.CONTACT_FIELDS
        ]
        entries = [
            _put_new(self._customers, customer),
            *claims,
            _put_new(self._history, history),
            *self._record_entry(record),
        ]
        failed = await self._transact(entries, "a new customer")
        if failed is None:
            return None
        claimed = failed[1 : 1 + len(claims)]
        taken = tuple(field for field, code in zip(identity.CONTACT_FIELDS, claimed, strict=True) if code)
        return Refused(customer_exists=bool(failed[0]), contacts=taken, replayed=_replayed(failed, record))

    async def record_score(
        self,
        national_id: str,
        expected_version: int | None,
        last_score: Item,
        history: Item,
        record: Item | None = None,
        holding: tuple[LookupField, str] | None = None,
    ) -> Refused | None:
        """Store ``last_score``, its history record and, when given, the request's idempotency record, if
        the customer's score version is still ``expected_version`` (None: never scored by the service) and,
        when ``holding`` is given, the customer still holds that email or phone number.

        None when written; otherwise nothing is written and the answer says why: ``stale`` (the version
        moved on, or the customer is gone: re-read and try again) or ``replayed``.
        """
        _check_owner(history, national_id)
        values: dict[str, Any] = {":score": _SERIALIZER.serialize(last_score)}
        if expected_version is None:
            condition = "attribute_exists(national_id) AND attribute_not_exists(score_version)"
            values[":next"] = {"N": "1"}
        else:
            condition = "attribute_exists(national_id) AND score_version = :expected"
            values[":expected"] = {"N": str(expected_version)}
            values[":next"] = {"N": str(expected_version + 1)}
        if holding is not None:
            condition += f" AND {holding[0]} = :held"
            values[":held"] = {"S": holding[1]}
        update = {
            "TableName": self._customers,
            "Key": _key(national_id),
            "UpdateExpression": "SET last_score = :score, score_version = :next",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        entries = [{"Update": update}, _put_new(self._history, history), *self._record_entry(record)]
        failed = await self._transact(entries, "a score's write")
        if failed is None:
            return None
        return Refused(stale=bool(failed[0]), replayed=_replayed(failed, record))

    def _record_entry(self, record: Item | None) -> list[dict[str, Any]]:
        if record is None:
            return []
        now = {":now": {"N": str(int(time.time()))}}
        put = {"TableName": self._history, "Item": _serialize(record), "ConditionExpression": _NO_LIVE_RECORD}
        return [{"Put": put | {"ExpressionAttributeValues": now}}]

    async def _transact(self, entries: list[dict[str, Any]], what: str) -> list[bool] | None:
        """Run a TransactWriteItems; None when it landed, else which entries' conditions failed.

        A cancellation by concurrent transactions alone decided nothing and is tried again; after the last
        attempt, and on any other cancellation reason, :class:`RepositoryError`.
        """
        attempt = 1
        while True:
            try:
                await self.call("TransactWriteItems", TransactItems=entries)
            except _Refused as refused:
                failed = [code == "ConditionalCheckFailed" for code in refused.codes]
                if any(failed):
                    return failed
                if attempt == _CONFLICT_ATTEMPTS:
                    raise RepositoryError(f"TransactWriteItems kept conflicting for {what}") from refused
            else:
                return None
            await asyncio.sleep(random.uniform(0, _CONFLICT_PAUSE_SECONDS * attempt))
            attempt += 1

    async def history(
        self, national_id: str, limit: int, cursor: str | None = None
    ) -> tuple[list[Item], str | None]:
        """One page of the customer's scores, newest first, and the cursor of the next page (None: the
        last). ``cursor`` is the one the previous page returned; CursorError when it is not."""
        if limit < 1:
            raise ValueError(f"a history page holds at least 1 record, not {limit}")
        request: dict[str, Any] = {
            "TableName": self._history,
            "KeyConditionExpression": "national_id = :id",
            "ExpressionAttributeValues": {":id": {"S": national_id}},
            "ScanIndexForward": False,
            # One record more than the page tells whether another page follows, so the last page never
            # hands out a cursor to an empty one.
            "Limit": limit + 1,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = self._start_key(national_id, cursor)
        response = await self.call("Query", **request)
        rows = response["Items"]
        # Fewer rows than asked for with a LastEvaluatedKey: DynamoDB stopped at its 1 MB page size.
        last = rows[limit - 1] if len(rows) > limit else response.get("LastEvaluatedKey")
        next_cursor = None if last is None else self._cursor(national_id, last[HISTORY_SORT_KEY]["S"])
        return [_deserialize(row) for row in rows[:limit]], next_cursor

    async def ping(self) -> None:
        """Return when DynamoDB answers and both tables serve; RepositoryError otherwise."""
        for table in (self._customers, self._history):
            response = await self.call("DescribeTable", TableName=table)
            status = response["Table"]["TableStatus"]
            if status not in _SERVING_STATUSES:
                raise RepositoryError(f"DynamoDB table {table} is {status}")

    async def _indexed(self, field: str, value: str) -> list[Item]:
        request: dict[str, Any] = {
            "TableName": self._customers,
            "IndexName": _INDEXES[field],
            "KeyConditionExpression": f"{field} = :value",
            "ExpressionAttributeValues": {":value": {"S": value}},
        }
        items: list[Item] = []
        while True:
            response = await self.call("Query", **request)
            items += [_deserialize(row) for row in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def call(self, operation: str, **request: Any) -> dict[str, Any]:
        """One DynamoDB call, timed. Failures raise RepositoryError; a transaction cancelled only by
        refusals raises _Refused. Public for :mod:`server.score_stats`, which keeps its counts in the
        history table."""
        with DYNAMODB_DURATION.labels(operation=operation).time():
            try:
                response: dict[str, Any] = await getattr(self._client, xform_name(operation))(**request)
            except ClientError as error:
                codes = _refusal_codes(error)
                if codes is not None:
                    raise _Refused(codes) from error
                details = error.response.get("Error", {})
                raise _failed(operation, f"{details.get('Code')}: {details.get('Message')}") from error
            except BotoCoreError as error:
                raise _failed(operation, f"{type(error).__name__}: {error}") from error
        return response

    def _cursor(self, national_id: str, sort_key: str) -> str:
        # The customer is bound by keyed pseudonym: a cursor travels in URLs and must not carry the
        # national ID, nor a plain hash of it (9 or 12 digits are quickly tried).
        customer = pseudonym(national_id, self._pseudonym_key)
        body = json.dumps({"customer": customer, "after": sort_key}, separators=(",", ":"))
        return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    def _start_key(self, national_id: str, cursor: str) -> dict[str, Any]:
        try:
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
            body = request_json.parse(raw)
        except ValueError as error:  # binascii and request_json's errors are ValueErrors
            raise CursorError(_MALFORMED_CURSOR) from error
        after = body.get("after") if isinstance(body, dict) else None
        if not isinstance(after, str) or not after:
            raise CursorError(_MALFORMED_CURSOR)
        if body.get("customer") != pseudonym(national_id, self._pseudonym_key):
            raise CursorError("the history cursor belongs to another customer's history")
        return {**_key(national_id), HISTORY_SORT_KEY: {"S": after}}


def _failed(operation: str, reason: str) -> RepositoryError:
    DYNAMODB_ERRORS.labels(operation=operation).inc()
    message = f"DynamoDB {operation} failed: {mask_pii(reason)}"
    log.warning("dynamodb_failed", operation=operation, reason=message)
    return RepositoryError(message)


def _refusal_codes(error: ClientError) -> list[str] | None:
    if error_code(error) != "TransactionCanceledException":
        return None
    codes = [str(reason.get("Code")) for reason in error.response.get("CancellationReasons", [])]
    if codes and set(codes) <= _REFUSALS | {"None"}:
        return codes
    return None


def _replayed(failed: list[bool], record: Item | None) -> bool:
    # The idempotency record, when there is one, is the transaction's last entry.
    return record is not None and failed[-1]


def _check_owner(history: Item, national_id: str) -> None:
    if history.get("national_id") != national_id:
        raise ValueError("the history record belongs to another national_id than the customer's")


def _put_new(table: str, item: Item) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": _serialize(item), "ConditionExpression": _NEW_ITEM}}


def _key(national_id: str) -> dict[str, Any]:
    return {"national_id": {"S": national_id}}


def _serialize(item: Item) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def _deserialize(item: dict[str, Any]) -> Item:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
