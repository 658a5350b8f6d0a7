"""Who a customer is: the national ID, email and phone formats every part accepts, and one customer per
email address and per phone number (the guard items that make contacts unique).

DynamoDB has no unique secondary index, and a lookup by email or phone through a GSI only finds who holds a
value, so without more any client could create a customer with a victim's email and take over lookups by
it. Every contact a customer holds is therefore claimed by a *guard item* in the customers table, written in
the same transaction as the customer (by the service's create and by ``load-customers``)::

    national_id = "#email#<sha256 of the normalised address>"     (or "#phone_number#<sha256>")
    owner_id    = the national ID of the customer holding it

A claim is a put conditioned on the guard being absent or already the claimant's, so of two concurrent
writers of one contact exactly one wins, with no scan and no read first. Keys start with ``#``, which no
national ID (9 or 12 digits) holds, so a guard can never be mistaken for a customer; they have no ``email``
or ``phone_number`` attribute, so the lookup indexes never see them; they hold a digest, so the key (which
AWS may log, in CloudTrail data events) never carries the contact itself.

Contacts are compared in a normal form: email addresses case-folded, phone numbers with ``+84`` written as
the national ``0``. ``An@Example.com`` and ``an@example.com``, or ``+84912345678`` and ``0912345678``, are
one contact, so a variant cannot be used to plant a second holder.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final, Literal

NATIONAL_ID_PATTERN: Final = r"^([0-9]{9}|[0-9]{12})$"
EMAIL_PATTERN: Final = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
# Vietnamese numbers: a leading 0 and 9 or 10 more digits, or +84 instead of the 0.
PHONE_PATTERN: Final = r"^(0|\+84)[0-9]{9,10}$"

ContactField = Literal["email", "phone_number"]
CONTACT_FIELDS: Final[tuple[ContactField, ...]] = ("email", "phone_number")
#: Partition keys that start with this are the platform's own items (guards, dashboard counts,
#: idempotency records), never a customer: national IDs are digits only.
RESERVED_PREFIX: Final = "#"
OWNER: Final = "owner_id"
# The guard is free or already this owner's: what a claim and a release both require.
_FREE_OR_MINE: Final = f"attribute_not_exists(national_id) OR {OWNER} = :owner"
_COUNTRY_CODE: Final = "+84"


def normal_form(field: ContactField, value: str) -> str:
    """The form two writings of one contact share."""
    if field == "email":
        return value.strip().casefold()
    number = value.strip()
    return "0" + number.removeprefix(_COUNTRY_CODE) if number.startswith(_COUNTRY_CODE) else number


def guard_key(field: ContactField, value: str) -> str:
    digest = hashlib.sha256(normal_form(field, value).encode()).hexdigest()
    return f"{RESERVED_PREFIX}{field}#{digest}"


def is_customer_key(national_id: str) -> bool:
    return not national_id.startswith(RESERVED_PREFIX)


def claim(table: str, field: ContactField, value: str, owner: str) -> dict[str, Any]:
    """A TransactWriteItems entry claiming ``value`` for ``owner``; refused (ConditionalCheckFailed) when
    another customer holds it, a no-op rewrite when ``owner`` does."""
    return {
        "Put": {
            "TableName": table,
            "Item": {"national_id": {"S": guard_key(field, value)}, OWNER: {"S": owner}},
            "ConditionExpression": _FREE_OR_MINE,
            "ExpressionAttributeValues": {":owner": {"S": owner}},
        }
    }


def release(table: str, field: ContactField, value: str, owner: str) -> dict[str, Any]:
    """A TransactWriteItems entry giving up ``owner``'s claim on ``value`` (when the customer's contact
    changes); it deletes nothing that another customer holds."""
    return {
        "Delete": {
            "TableName": table,
            "Key": {"national_id": {"S": guard_key(field, value)}},
            "ConditionExpression": _FREE_OR_MINE,
            "ExpressionAttributeValues": {":owner": {"S": owner}},
        }
    }
