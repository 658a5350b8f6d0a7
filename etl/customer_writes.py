"""The loader's writes: customers as Updates of the loader's own attributes, their contacts guarded.

A customer's item is shared: the loader owns its identity, feature groups and snapshot attributes, the
scoring service owns ``last_score``, ``score_version``, ``created_at``, ``created_by`` and, for a customer
it created (``source = "api"``), the ``application`` group taken from the form. So the loader never puts a
whole item: it sends an ``Update`` that SETs only its attributes, with ``source`` set to ``"batch"`` only
where none is stored yet.

Emails and phone numbers are unique through the guard items of :mod:`creditscore.domain.identity`. Each
customer is one :class:`Attempt`, written as the entries of one TransactWriteItems (several customers share
one call):

- the Update, conditioned on what the attempt assumes of the stored item;
- a claim of the customer's email and one of its phone number;
- for an *exact* attempt only, a release of each contact the stored item holds and the snapshot no longer
  does, so the guards always match the items.

A *plain* attempt assumes the common case without reading: the item is absent, or holds the same email and
phone number, and was not created by the service. When that assumption fails, the cancellation reason of the
Update carries the stored item (``ReturnValuesOnConditionCheckFailure = ALL_OLD``: read atomically with the
failed check, no extra call), and the customer is tried again as an *exact* attempt: conditioned on the
values just seen, releasing the contacts that changed, leaving ``application`` alone when the service
created the customer. A refused claim means another national ID holds that contact: the customer is
handed back as a :class:`Refusal` (the caller tries it again later, then rejects it). Customers of a
cancelled transaction that nothing refused are simply sent again, and a concurrent writer
(``TransactionConflict``) or throttling is waited out with jittered, capped, exponential backoff. A customer
sent again for its own sake more than :data:`MAX_RETRIES` times stops the load (:class:`WriteError`).

No two entries of one call may touch the same item (DynamoDB refuses the whole call): an attempt that would
(one customer releasing the contact another claims) waits for the next call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, NamedTuple

from botocore.exceptions import ClientError

from creditscore import aws
from creditscore.domain import identity
from creditscore.domain.features import APPLICATION, GROUPS
from creditscore.domain.identity import CONTACT_FIELDS, ContactField
from creditscore.errors import JobError

AttributeValue = dict[str, Any]
Request = dict[str, Any]
Reason = dict[str, Any]
#: Sends one TransactWriteItems; None when it landed, else its CancellationReasons, one per entry.
Send = Callable[[list[Request]], list[Reason] | None]

# Customers (3 entries each, 5 at most) per TransactWriteItems. Measured with bench/load_customers.py on
# 20,000 customers against DynamoDB Local, 4 workers: 32 per call loaded 485 items/s (reload 421), 8 per
# call 330 (320); the cost is per call. 32 keeps under the 100-entry limit; what one refused claim or one
# concurrent writer cancels is sent again, which only clashing snapshots pay.
CUSTOMERS_PER_TRANSACTION: Final = 32
MAX_ENTRIES: Final = 100  # TransactWriteItems' limit
MAX_RETRIES: Final = 8
BACKOFF_BASE_SECONDS: Final = 0.05
BACKOFF_CAP_SECONDS: Final = 5.0

SOURCE_BATCH: Final = "batch"
SOURCE_API: Final = "api"
#: The loader's attributes (besides snapshot, loaded_at and source), also the keys of Customer.values.
IDENTITY: Final = ("full_name", "email", "phone_number")
LOADED: Final = (*IDENTITY, *GROUPS, "features_as_of")
# The stored attributes a plain attempt assumes and an exact attempt pins: the contacts and the source.
_PINNED: Final = ("email", "phone_number", "source")
_NAMES: Final = {"#source": "source", "#snapshot": "snapshot"}
_PLAIN_CONDITION: Final = (
    "(attribute_not_exists(email) OR email = :email) "
    "AND (attribute_not_exists(phone_number) OR phone_number = :phone_number) "
    "AND (attribute_not_exists(#source) OR #source <> :api)"
)
_CONDITION_FAILED: Final = "ConditionalCheckFailed"
# Reasons that decide nothing about the customer: another writer or the capacity was in the way.
_TRANSIENT: Final = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_UNTOUCHED: Final = "None"

Role = Literal["update", "claim", "release"]


class WriteError(JobError):
    """A customer could not be written; the message names it by row, never by an identifier."""


@dataclass(frozen=True)
class Customer:
    """One snapshot row ready to write: ``values`` holds each attribute of :data:`LOADED`, serialised."""

    row: int
    national_id: str
    contacts: Mapping[ContactField, str]
    values: Mapping[str, AttributeValue]


@dataclass(frozen=True)
class Attempt:
    customer: Customer
    # None: plain. Otherwise the pinned attributes of the stored item as last seen (absent ones left out).
    stored: Mapping[str, AttributeValue] | None = None
    # Old contacts whose guard another national ID holds: nothing of this customer's to release.
    foreign: frozenset[ContactField] = frozenset()
    retries: int = 0


@dataclass(frozen=True)
class Refusal:
    """A customer not written because another national ID holds its ``field``."""

    customer: Customer
    field: ContactField


@dataclass
class GroupResult:
    written: int = 0
    retries: int = 0
    refused: list[Refusal] = field(default_factory=list)


class Entry(NamedTuple):
    role: Role
    field: ContactField | None
    key: str  # the item it touches: no two entries of one transaction may touch the same item
    request: Request


def _set_expression(names: Sequence[str]) -> str:
    assignments = [f"{name} = :{name}" for name in names]
    assignments += [
        "#snapshot = :snapshot",
        "loaded_at = :loaded_at",
        "#source = if_not_exists(#source, :batch)",
    ]
    return "SET " + ", ".join(assignments)


_NOT_APPLICATION: Final = tuple(name for name in LOADED if name != APPLICATION)
_SET_ALL: Final = _set_expression(LOADED)
_SET_BUT_APPLICATION: Final = _set_expression(_NOT_APPLICATION)


@dataclass(frozen=True)
class Target:
    """Where and as what the customers are written: the table, and the snapshot attributes of this load."""

    table: str
    snapshot: str
    loaded_at: str

    def entries(self, attempt: Attempt) -> list[Entry]:
        customer = attempt.customer
        owner = customer.national_id
        found = [Entry("update", None, owner, {"Update": self._update(attempt)})]
        for name in CONTACT_FIELDS:
            claim = identity.claim(self.table, name, customer.contacts[name], owner)
            found.append(Entry("claim", name, identity.guard_key(name, customer.contacts[name]), claim))
        for name, old in _released(attempt):
            release = identity.release(self.table, name, old, owner)
            found.append(Entry("release", name, identity.guard_key(name, old), release))
        return found

    def _update(self, attempt: Attempt) -> Request:
        customer = attempt.customer
        stored = attempt.stored
        # The service took the application group from the customer's own form: it stays.
        keep_application = stored is not None and _text(stored.get("source")) == SOURCE_API
        written = _NOT_APPLICATION if keep_application else LOADED
        values = {f":{name}": customer.values[name] for name in written}
        values |= {":snapshot": {"S": self.snapshot}, ":loaded_at": {"S": self.loaded_at}}
        values[":batch"] = {"S": SOURCE_BATCH}
        if stored is None:
            # Compares the stored contacts with :email and :phone_number, the values being SET.
            condition = _PLAIN_CONDITION
            values[":api"] = {"S": SOURCE_API}
        else:
            condition, pinned = _exact_condition(stored)
            values |= pinned
        return {
            "TableName": self.table,
            "Key": {"national_id": {"S": customer.national_id}},
            "UpdateExpression": _SET_BUT_APPLICATION if keep_application else _SET_ALL,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": values,
            # A failed condition hands back the stored item, read atomically with the check.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }


def _text(value: AttributeValue | None) -> str | None:
    return None if value is None else value.get("S")


def _exact_condition(stored: Mapping[str, AttributeValue]) -> tuple[str, dict[str, AttributeValue]]:
    """Each pinned attribute equal to the value seen, or absent where none was."""
    clauses: list[str] = []
    values: dict[str, AttributeValue] = {}
    for name in _PINNED:
        path = "#source" if name == "source" else name
        if name in stored:
            clauses.append(f"{path} = :was_{name}")
            values[f":was_{name}"] = stored[name]
        else:
            clauses.append(f"attribute_not_exists({path})")
    return " AND ".join(clauses), values


def _released(attempt: Attempt) -> Iterable[tuple[ContactField, str]]:
    """The stored contacts the customer gives up: held before, another contact in the snapshot."""
    if attempt.stored is None:
        return
    for name in CONTACT_FIELDS:
        old = _text(attempt.stored.get(name))
        new = attempt.customer.contacts[name]
        if (
            old
            and name not in attempt.foreign
            and identity.guard_key(name, old) != identity.guard_key(name, new)
        ):
            yield name, old


def _pinned(item: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    return {name: item[name] for name in _PINNED if name in item}


def _pack(
    planned: Sequence[tuple[Attempt, list[Entry]]],
) -> tuple[list[tuple[Attempt, list[Entry]]], list[Attempt]]:
    """As many attempts as one transaction takes (no item touched twice, at most 100 entries); the rest.

    Only exact attempts can collide (one customer releasing the contact another claims): the later one waits
    for the next call.
    """
    taken: list[tuple[Attempt, list[Entry]]] = []
    later: list[Attempt] = []
    touched: set[str] = set()
    size = 0
    for attempt, entries in planned:
        keys = {entry.key for entry in entries}
        if keys & touched or size + len(entries) > MAX_ENTRIES:
            later.append(attempt)
            continue
        taken.append((attempt, entries))
        touched |= keys
        size += len(entries)
    return taken, later


def backoff_seconds(retries: int) -> float:
    """A wait with "full jitter" (a uniform draw up to an exponentially growing ceiling), so writers held
    up together do not come back in lockstep."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries))


class CustomerWriter:
    """Writes groups of customers through ``send``; thread-safe (it keeps no state between calls)."""

    def __init__(
        self,
        send: Send,
        target: Target,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._send = send
        self._target = target
        self._max_retries = max_retries
        self._sleep = sleep

    def write(self, customers: Sequence[Customer]) -> GroupResult:
        """Write ``customers`` (distinct national IDs and contacts), one call each round until every one
        is written or refused."""
        result = GroupResult()
        pending = [Attempt(customer) for customer in customers]
        while pending:
            taken, later = _pack([(attempt, self._target.entries(attempt)) for attempt in pending])
            reasons = self._send([entry.request for _, entries in taken for entry in entries])
            if reasons is None:
                result.written += len(taken)
                pending = later
                continue
            result.retries += 1
            pending = self._after_cancel(taken, reasons, result) + later
        return result

    def _after_cancel(
        self, taken: list[tuple[Attempt, list[Entry]]], reasons: list[Reason], result: GroupResult
    ) -> list[Attempt]:
        """The attempts to send next (refusals go to ``result``), after a wait if another writer was in
        the way."""
        codes = [str(reason.get("Code", _UNTOUCHED)) for reason in reasons]
        if len(codes) != sum(len(entries) for _, entries in taken) or all(c == _UNTOUCHED for c in codes):
            raise WriteError(
                f"TransactWriteItems was cancelled without a reason per entry: {sorted(set(codes))}"
            )
        again: list[Attempt] = []
        transient = 0
        start = 0
        for attempt, entries in taken:
            mine = reasons[start : start + len(entries)]
            start += len(entries)
            outcome = self._next(attempt, entries, mine)
            if isinstance(outcome, Refusal):
                result.refused.append(outcome)
                continue
            again.append(outcome)
            if any(str(reason.get("Code")) in _TRANSIENT for reason in mine):
                transient = max(transient, outcome.retries)
        if transient:
            self._sleep(backoff_seconds(transient))
        return again

    def _next(self, attempt: Attempt, entries: list[Entry], reasons: list[Reason]) -> Attempt | Refusal:
        """What to try after the cancellation for one customer, from its entries' reasons."""
        row = attempt.customer.row
        codes = [str(reason.get("Code", _UNTOUCHED)) for reason in reasons]
        unexpected = sorted(set(codes) - {_UNTOUCHED, _CONDITION_FAILED} - _TRANSIENT)
        if unexpected:
            raise WriteError(f"customer at row {row}: TransactWriteItems refused it with {unexpected}")
        failed = [entry for entry, code in zip(entries, codes, strict=True) if code == _CONDITION_FAILED]
        claimed = [entry.field for entry in failed if entry.role == "claim" and entry.field is not None]
        if claimed:
            return Refusal(attempt.customer, claimed[0])
        if all(code == _UNTOUCHED for code in codes):
            return attempt  # cancelled for another customer's sake: as it was
        if attempt.retries == self._max_retries:
            raise WriteError(f"customer at row {row} was still not written after {self._max_retries} retries")
        stored, foreign = attempt.stored, attempt.foreign
        for entry, reason in zip(entries, reasons, strict=True):
            if reason.get("Code") != _CONDITION_FAILED:
                continue
            if entry.role == "update":
                # No item in the reason: the item is gone, and an exact attempt expects it absent.
                stored = _pinned(reason.get("Item", {}))
            elif entry.field is not None:
                foreign |= {entry.field}
        return replace(attempt, stored=stored, foreign=foreign, retries=attempt.retries + 1)


def transact_sender(dynamodb: Any) -> Send:
    """:data:`Send` through a boto3 DynamoDB client (thread-safe, unlike a resource)."""

    def send(requests: list[Request]) -> list[Reason] | None:
        try:
            dynamodb.transact_write_items(TransactItems=requests)
        except ClientError as error:
            code = aws.error_code(error)
            if code != "TransactionCanceledException":
                # The message is left out: it may quote a value of the request.
                raise WriteError(f"TransactWriteItems failed ({len(requests)} entries): {code}") from None
            return list(error.response.get("CancellationReasons", []))
        return None

    return send
