"""The service's DynamoDB access: customers (by national ID, email or phone) and their score history.

One long-lived aioboto3 DynamoDB client serves every call of a process. Writes that touch both tables are
transactions, so a customer never exists without the history record of the score that created it, and a
score is never recorded without its history record. Concurrent writers are settled by conditions: a create
refuses to overwrite an existing customer, and a score update carries the version it was computed from.

Every call is timed into ``creditscore_dynamodb_request_duration_seconds``; failures (after the client's own
retries) raise :class:`RepositoryError` and count in ``creditscore_dynamodb_errors_total``, while a
refusal by a condition is an answer (an existing customer, ``False``), not a failure. Messages and logs
never carry a national ID, email or phone number.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final, Literal

import structlog
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from creditscore.aws import EMAIL_INDEX, HISTORY_SORT_KEY, PHONE_INDEX, to_decimal
from creditscore.logs import mask_pii, pseudonym
from server.metrics import DYNAMODB_DURATION, DYNAMODB_ERRORS

log = structlog.get_logger(__name__)

Item = dict[str, Any]
LookupField = Literal["national_id", "email", "phone_number"]

_INDEXES: Final = {"email": EMAIL_INDEX, "phone_number": PHONE_INDEX}
# Cancellation reasons that mean "another writer got there first", the answers the callers act on. A
# TransactionConflict (a concurrent transaction on the same item) means the same as a failed condition.
_REFUSALS: Final = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
# AWS keeps an UPDATING table (a GSI or setting being changed) available for reads and writes.
_SERVING_STATUSES: Final = frozenset({"ACTIVE", "UPDATING"})
_NEW_ITEM: Final = "attribute_not_exists(national_id)"
_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()
_MALFORMED_CURSOR: Final = "the history cursor is malformed: pass the cursor of the previous page unchanged"


class RepositoryError(Exception):
    """DynamoDB failed (after the client's own retries); the message names the operation, no customer."""


class CursorError(ValueError):
    """A history page cursor that this repository did not produce (malformed, or another customer's)."""


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
    def __init__(self, client: Any, customers_table: str, history_table: str) -> None:
        self._client = client
        self._customers = customers_table
        self._history = history_table

    async def get(self, national_id: str) -> Item | None:
        """The customer as stored now (a strongly consistent read), None when there is none."""
        response = await self.call(
            "GetItem", TableName=self._customers, Key=_key(national_id), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _deserialize(item)

    async def find(self, field: LookupField, value: str) -> Item | None:
        """The customer whose ``field`` is ``value``; when several share an email or phone number, the
        one with the smallest national ID."""
        if field == "national_id":
            return await self.get(value)
        for national_id in sorted(await self._national_ids(field, value)):
            item = await self.get(national_id)
            # The index lags the table: a customer whose field changed since is no longer a match.
            if item is not None and item.get(field) == value:
                return item
        return None

    async def create(self, customer: Item, history: Item) -> Item | None:
        """Write a new customer and the history record of their first score, both or neither.

        None when written; the customer as stored when one with that national ID exists already (then
        nothing is written).
        """
        national_id = customer["national_id"]
        _check_owner(history, national_id)
        try:
            await self.call(
                "TransactWriteItems",
                TransactItems=[_put_new(self._customers, customer), _put_new(self._history, history)],
            )
        except _Refused as refused:
            existing = await self.get(national_id) if refused.codes[0] in _REFUSALS else None
            if existing is None:
                raise RepositoryError(f"TransactWriteItems cancelled a new customer: {refused}") from refused
            return existing
        return None

    async def record_score(
        self, national_id: str, expected_version: int | None, last_score: Item, history: Item
    ) -> bool:
        """Store ``last_score`` and its history record if the customer's score version is still
        ``expected_version`` (None: never scored by the service). False, with nothing written, when it is
        not or the customer is gone: re-read and try again."""
        _check_owner(history, national_id)
        values: dict[str, Any] = {":score": _SERIALIZER.serialize(last_score)}
        if expected_version is None:
            condition = "attribute_exists(national_id) AND attribute_not_exists(score_version)"
            values[":next"] = {"N": "1"}
        else:
            condition = "attribute_exists(national_id) AND score_version = :expected"
            values[":expected"] = {"N": str(expected_version)}
            values[":next"] = {"N": str(expected_version + 1)}
        update = {
            "TableName": self._customers,
            "Key": _key(national_id),
            "UpdateExpression": "SET last_score = :score, score_version = :next",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        try:
            await self.call(
                "TransactWriteItems",
                TransactItems=[{"Update": update}, _put_new(self._history, history)],
            )
        except _Refused as refused:
            if refused.codes[0] in _REFUSALS:
                return False
            raise RepositoryError(f"TransactWriteItems cancelled a score's write: {refused}") from refused
        return True

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
            request["ExclusiveStartKey"] = _start_key(national_id, cursor)
        response = await self.call("Query", **request)
        rows = response["Items"]
        # Fewer rows than asked for with a LastEvaluatedKey: DynamoDB stopped at its 1 MB page size.
        last = rows[limit - 1] if len(rows) > limit else response.get("LastEvaluatedKey")
        next_cursor = None if last is None else _cursor(national_id, last[HISTORY_SORT_KEY]["S"])
        return [_deserialize(row) for row in rows[:limit]], next_cursor

    async def ping(self) -> None:
        """Return when DynamoDB answers and both tables serve; RepositoryError otherwise."""
        for table in (self._customers, self._history):
            response = await self.call("DescribeTable", TableName=table)
            status = response["Table"]["TableStatus"]
            if status not in _SERVING_STATUSES:
                raise RepositoryError(f"DynamoDB table {table} is {status}")

    async def _national_ids(self, field: str, value: str) -> set[str]:
        request: dict[str, Any] = {
            "TableName": self._customers,
            "IndexName": _INDEXES[field],
            "KeyConditionExpression": f"{field} = :value",
            "ExpressionAttributeValues": {":value": {"S": value}},
            "ProjectionExpression": "national_id",
        }
        national_ids: set[str] = set()
        while True:
            response = await self.call("Query", **request)
            national_ids.update(row["national_id"]["S"] for row in response["Items"])
            if "LastEvaluatedKey" not in response:
                return national_ids
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


def _failed(operation: str, reason: str) -> RepositoryError:
    DYNAMODB_ERRORS.labels(operation=operation).inc()
    message = f"DynamoDB {operation} failed: {mask_pii(reason)}"
    log.warning("dynamodb_failed", operation=operation, reason=message)
    return RepositoryError(message)


def _refusal_codes(error: ClientError) -> list[str] | None:
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    codes = [str(reason.get("Code")) for reason in error.response.get("CancellationReasons", [])]
    if codes and set(codes) <= _REFUSALS | {"None"}:
        return codes
    return None


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


def _cursor(national_id: str, sort_key: str) -> str:
    # The customer is bound by pseudonym: a cursor travels in URLs and must not carry the national ID.
    body = json.dumps({"customer": pseudonym(national_id), "after": sort_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _start_key(national_id: str, cursor: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        body = json.loads(raw)
    except ValueError as error:  # binascii, Unicode and JSON errors all are ValueErrors
        raise CursorError(_MALFORMED_CURSOR) from error
    after = body.get("after") if isinstance(body, dict) else None
    if not isinstance(after, str) or not after:
        raise CursorError(_MALFORMED_CURSOR)
    if body.get("customer") != pseudonym(national_id):
        raise CursorError("the history cursor belongs to another customer's history")
    return {**_key(national_id), HISTORY_SORT_KEY: {"S": after}}
