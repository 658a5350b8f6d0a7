"""The DynamoDB repository against the real moto server over HTTP, through one aioboto3 client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aioboto3
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from creditscore import aws
from creditscore.config import Settings
from creditscore.domain import identity, storage
from creditscore.local_aws import free_port
from server import metrics
from server.repository import (
    RECORD_SORT_KEY,
    AmbiguousLookup,
    CursorError,
    CustomerRepository,
    Item,
    LookupField,
    Refused,
    RepositoryError,
    decimals,
)

NATIONAL_ID = "079201000123"
KEY = b"k" * 32
OTHER_ID = "079201000456"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@pytest.fixture
def dynamodb(settings: Settings) -> Any:
    """A synchronous client of its own, to seed and inspect the tables independently of the repository."""
    return aws.client("dynamodb", settings)


@pytest.fixture
async def repository(settings: Settings) -> AsyncIterator[CustomerRepository]:
    async with aioboto3.Session().client("dynamodb", **aws.client_kwargs(settings, "dynamodb")) as client:
        yield CustomerRepository(client, settings.customers_table, settings.score_history_table, KEY)


@pytest.fixture
def offline() -> CustomerRepository:
    """A repository without a client: for what must be refused before DynamoDB is called at all."""
    return CustomerRepository(None, "cs-offline-customers", "cs-offline-score-history", KEY)


def _loaded(national_id: str, email: str = "lan@example.com", phone: str = "+84901234567") -> Item:
    """A customer as the batch load writes one."""
    return {
        "national_id": national_id,
        "full_name": "Trần Thị Lan",
        "email": email,
        "phone_number": phone,
        "application": {"income": Decimal("25000000"), "has_mortgage": Decimal(0)},
        "traditional_features": {"credit_utilization": Decimal("0.31")},
        "transaction_features": {"avg_monthly_inflow": Decimal("1.5E+7")},
        "social_features": {"verified_profile": Decimal(1)},
        "features_as_of": "2026-11-26",
        "snapshot": "2026-11-27",
        "loaded_at": "2026-11-27T02:00:00+00:00",
    }


def _new(national_id: str, full_name: str = "Lê Văn Nam") -> Item:
    """A customer as the service creates one."""
    return {
        "national_id": national_id,
        "full_name": full_name,
        "email": "nam@example.com",
        "phone_number": "+84907654321",
        "application": {"income": Decimal("18000000"), "has_dependents": True},
        "created_at": "2026-11-27T10:00:00.000000+00:00",
        "source": "api",
        "score_version": 1,
        "last_score": {"score": 702, "band": "Good"},
    }


def _record(national_id: str, minute: int, request_id: str = "req") -> Item:
    scored_at = f"2026-11-27T10:{minute:02d}:00.000000+00:00"
    return {
        "national_id": national_id,
        storage.HISTORY_SORT_KEY: f"{scored_at}#{request_id}",
        "scored_at": scored_at,
        "request_id": request_id,
        "score": Decimal(650 + minute),
    }


def _put(dynamodb: Any, table: str, item: Item) -> None:
    dynamodb.put_item(TableName=table, Item={name: _SERIALIZER.serialize(v) for name, v in item.items()})


def _stored(dynamodb: Any, table: str, national_id: str) -> list[Item]:
    rows = dynamodb.query(
        TableName=table,
        KeyConditionExpression="national_id = :id",
        ExpressionAttributeValues={":id": {"S": national_id}},
        ConsistentRead=True,
    )["Items"]
    return [{name: _DESERIALIZER.deserialize(v) for name, v in row.items()} for row in rows]


def _count(operation: str, metric: str = "creditscore_dynamodb_request_duration_seconds") -> float:
    text = metrics.render()[0].decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in {f"{metric}_count", f"{metric}_total"} and sample.labels["operation"] == operation
    )


async def test_find_by_each_field_reads_the_customer(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    customer = _loaded(NATIONAL_ID)
    _put(dynamodb, settings.customers_table, customer)
    _put(dynamodb, settings.customers_table, _loaded(OTHER_ID, "other@example.com", "+84900000000"))

    assert await repository.get(NATIONAL_ID) == customer
    assert await repository.find("national_id", NATIONAL_ID) == customer
    assert await repository.find("email", "lan@example.com") == customer
    assert await repository.find("phone_number", "+84901234567") == customer


@pytest.mark.parametrize(
    ("field", "value"),
    [("national_id", "079201999999"), ("email", "nobody@example.com"), ("phone_number", "+84909999999")],
)
async def test_find_answers_none_for_an_unknown_customer(
    repository: CustomerRepository, dynamodb: Any, settings: Settings, field: Any, value: str
) -> None:
    _put(dynamodb, settings.customers_table, _loaded(NATIONAL_ID))

    assert await repository.find(field, value) is None


async def test_a_shared_email_or_phone_is_an_ambiguous_lookup(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    # Items put directly, as data loaded before the contact guards existed could be.
    for national_id in ("300000003", "100000001", "200000002"):
        _put(dynamodb, settings.customers_table, _loaded(national_id))

    with pytest.raises(AmbiguousLookup, match="more than one customer has this email") as caught:
        await repository.find("email", "lan@example.com")
    assert "100000001" not in str(caught.value)
    with pytest.raises(AmbiguousLookup):
        await repository.find("phone_number", "+84901234567")


async def test_create_writes_the_customer_its_contact_guards_and_the_history_record(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    customer, record = _new(NATIONAL_ID), _record(NATIONAL_ID, 0)

    assert await repository.create(customer, record) is None

    assert await repository.get(NATIONAL_ID) == customer
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == [record]
    for field in identity.CONTACT_FIELDS:
        [guard] = _stored(dynamodb, settings.customers_table, identity.guard_key(field, customer[field]))
        assert guard[identity.OWNER] == NATIONAL_ID
        assert customer[field] not in str(guard)


async def test_create_of_an_existing_customer_writes_nothing(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    existing = _loaded(NATIONAL_ID)
    _put(dynamodb, settings.customers_table, existing)

    refused = await repository.create(_new(NATIONAL_ID), _record(NATIONAL_ID, 0))

    assert refused == Refused(customer_exists=True)
    assert await repository.get(NATIONAL_ID) == existing
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == []
    assert _stored(dynamodb, settings.customers_table, identity.guard_key("email", "nam@example.com")) == []


@pytest.mark.parametrize(
    ("email", "phone", "taken"),
    [
        ("NAM@example.com", "0900000000", ("email",)),
        ("other@example.com", "0907654321", ("phone_number",)),
        ("Nam@Example.com", "0907654321", ("email", "phone_number")),
    ],
)
async def test_create_with_a_contact_another_customer_holds_writes_nothing(
    repository: CustomerRepository,
    dynamodb: Any,
    settings: Settings,
    email: str,
    phone: str,
    taken: tuple[str, ...],
) -> None:
    assert await repository.create(_new(OTHER_ID), _record(OTHER_ID, 0)) is None
    planted = _new(NATIONAL_ID) | {"email": email, "phone_number": phone}

    assert await repository.create(planted, _record(NATIONAL_ID, 0)) == Refused(contacts=taken)  # type: ignore[arg-type]

    assert await repository.get(NATIONAL_ID) is None
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == []
    for field in identity.CONTACT_FIELDS:
        [guard] = _stored(
            dynamodb, settings.customers_table, identity.guard_key(field, _new(OTHER_ID)[field])
        )
        assert guard[identity.OWNER] == OTHER_ID


async def test_concurrent_creates_of_one_customer_write_it_once(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    attempts = [(_new(NATIONAL_ID, f"Applicant {n}"), _record(NATIONAL_ID, 0, f"req-{n}")) for n in range(50)]
    results = await asyncio.gather(*(repository.create(customer, record) for customer, record in attempts))

    winners = [n for n, result in enumerate(results) if result is None]
    assert len(winners) == 1
    assert all(result and result.customer_exists for result in results if result is not None)
    stored = attempts[winners[0]][0]
    assert _stored(dynamodb, settings.customers_table, NATIONAL_ID) == [stored]
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == [attempts[winners[0]][1]]


async def test_a_write_with_an_idempotency_record_lands_once(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    key = "#idempotency#test"
    record = {
        "national_id": key,
        storage.HISTORY_SORT_KEY: RECORD_SORT_KEY,
        "answer": "{}",
        storage.EXPIRES_AT: 2**40,
    }
    _put(dynamodb, settings.customers_table, _loaded(NATIONAL_ID))

    assert (
        await repository.record_score(NATIONAL_ID, None, {"score": 640}, _record(NATIONAL_ID, 1), record)
        is None
    )
    again = await repository.record_score(NATIONAL_ID, 1, {"score": 650}, _record(NATIONAL_ID, 2), record)

    assert again == Refused(replayed=True)
    assert await repository.idempotency_record(key) == record
    assert len(_stored(dynamodb, settings.score_history_table, NATIONAL_ID)) == 1
    assert (await repository.get(NATIONAL_ID) or {})["score_version"] == 1
    expired = record | {"national_id": "#idempotency#old", storage.EXPIRES_AT: 1}
    _put(dynamodb, settings.score_history_table, expired)
    assert await repository.idempotency_record("#idempotency#old") is None


async def test_record_score_with_the_current_version_bumps_it(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    _put(dynamodb, settings.customers_table, _loaded(NATIONAL_ID))
    first, second = {"score": 640, "band": "Fair"}, {"score": 655, "band": "Fair"}

    assert await repository.record_score(NATIONAL_ID, None, first, _record(NATIONAL_ID, 1)) is None
    assert await repository.record_score(NATIONAL_ID, 1, second, _record(NATIONAL_ID, 2)) is None

    stored = await repository.get(NATIONAL_ID) or {}
    assert (stored["score_version"], stored["last_score"]) == (2, second)
    assert stored["application"] == _loaded(NATIONAL_ID)["application"]
    assert len(_stored(dynamodb, settings.score_history_table, NATIONAL_ID)) == 2


@pytest.mark.parametrize("stale", [None, 1, 3])
async def test_record_score_with_a_stale_version_writes_nothing(
    repository: CustomerRepository, dynamodb: Any, settings: Settings, stale: int | None
) -> None:
    customer = _new(NATIONAL_ID) | {"score_version": 2}
    _put(dynamodb, settings.customers_table, customer)

    refused = await repository.record_score(NATIONAL_ID, stale, {"score": 300}, _record(NATIONAL_ID, 1))
    assert refused == Refused(stale=True)

    assert await repository.get(NATIONAL_ID) == customer
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == []


async def test_record_score_of_an_absent_customer_writes_nothing(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    refused = await repository.record_score(NATIONAL_ID, None, {"score": 700}, _record(NATIONAL_ID, 1))
    assert refused == Refused(stale=True)

    assert await repository.get(NATIONAL_ID) is None
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == []


@pytest.mark.parametrize(("records", "sizes"), [(7, [3, 3, 1]), (6, [3, 3]), (1, [1]), (0, [0])])
async def test_history_pages_newest_first_without_gaps_or_an_empty_last_page(
    repository: CustomerRepository, dynamodb: Any, settings: Settings, records: int, sizes: list[int]
) -> None:
    minutes = [(n * 5) % records for n in range(records)]  # written out of time order
    for minute in minutes:
        _put(dynamodb, settings.score_history_table, _record(NATIONAL_ID, minute))
    _put(dynamodb, settings.score_history_table, _record(OTHER_ID, 30))

    pages: list[list[Item]] = []
    cursor: str | None = None
    while not pages or cursor is not None:
        page, cursor = await repository.history(NATIONAL_ID, 3, cursor)
        pages.append(page)

    assert [len(page) for page in pages] == sizes
    assert [item for page in pages for item in page] == [
        _record(NATIONAL_ID, m) for m in sorted(minutes)[::-1]
    ]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["", "not a cursor!", "é", _b64("not json"), _b64("[1, 2]"), _b64('{"after": 7}'), _b64('{"after": ""}')],
)
async def test_a_malformed_cursor_is_refused(offline: CustomerRepository, cursor: str) -> None:
    with pytest.raises(CursorError, match="malformed"):
        await offline.history(NATIONAL_ID, 3, cursor)


async def test_another_customers_cursor_is_refused(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    for minute in range(3):
        _put(dynamodb, settings.score_history_table, _record(OTHER_ID, minute))
    _, cursor = await repository.history(OTHER_ID, 2)
    assert cursor is not None

    with pytest.raises(CursorError, match="another customer"):
        await repository.history(NATIONAL_ID, 2, cursor)
    assert OTHER_ID not in base64.urlsafe_b64decode(cursor + "==").decode()


async def test_ping_answers_when_both_tables_serve(repository: CustomerRepository) -> None:
    await repository.ping()


async def test_a_missing_table_fails_without_naming_the_customer(settings: Settings) -> None:
    errors_before = _count("GetItem", "creditscore_dynamodb_errors")
    async with aioboto3.Session().client("dynamodb", **aws.client_kwargs(settings, "dynamodb")) as client:
        repository = CustomerRepository(client, "cs-missing-customers", settings.score_history_table, KEY)
        with pytest.raises(RepositoryError, match="DescribeTable"):
            await repository.ping()
        with pytest.raises(RepositoryError, match="GetItem failed: ResourceNotFoundException") as caught:
            await repository.get(NATIONAL_ID)

    assert NATIONAL_ID not in str(caught.value)
    assert _count("GetItem", "creditscore_dynamodb_errors") == errors_before + 1


async def test_an_unreachable_endpoint_is_a_repository_error(settings: Settings) -> None:
    kwargs = aws.client_kwargs(settings, "dynamodb") | {"endpoint_url": f"http://127.0.0.1:{free_port()}"}
    config = Config(retries={"max_attempts": 1}, connect_timeout=1)
    async with aioboto3.Session().client("dynamodb", config=config, **kwargs) as client:
        repository = CustomerRepository(client, settings.customers_table, settings.score_history_table, KEY)
        with pytest.raises(RepositoryError, match="GetItem failed: EndpointConnectionError"):
            await repository.get(NATIONAL_ID)


async def test_every_call_is_timed_by_operation(repository: CustomerRepository) -> None:
    before = {operation: _count(operation) for operation in ("GetItem", "Query", "TransactWriteItems")}

    await repository.get(NATIONAL_ID)
    await repository.find("email", "nobody@example.com")
    await repository.record_score(NATIONAL_ID, None, {"score": 700}, _record(NATIONAL_ID, 1))

    # The get, then the find: the index, and (no exact match there) the contact's guard.
    assert _count("GetItem") == before["GetItem"] + 2
    assert _count("Query") == before["Query"] + 1
    assert _count("TransactWriteItems") == before["TransactWriteItems"] + 1


async def test_a_refused_write_is_not_counted_as_an_error(repository: CustomerRepository) -> None:
    errors_before = _count("TransactWriteItems", "creditscore_dynamodb_errors")

    assert await repository.record_score(NATIONAL_ID, None, {"score": 700}, _record(NATIONAL_ID, 1))

    assert _count("TransactWriteItems", "creditscore_dynamodb_errors") == errors_before


async def test_history_records_belong_to_the_customer_they_are_written_with(
    offline: CustomerRepository,
) -> None:
    with pytest.raises(ValueError, match="another national_id"):
        await offline.create(_new(NATIONAL_ID), _record(OTHER_ID, 0))
    with pytest.raises(ValueError, match="another national_id"):
        await offline.record_score(NATIONAL_ID, None, {"score": 700}, _record(OTHER_ID, 0))


def test_decimals_turns_every_float_into_its_dynamodb_number() -> None:
    value = {"income": 2.5e7, "ratios": [0.1, 2.0, {"nested": 1 / 3}], "count": 3, "flag": True, "name": "x"}

    assert decimals(value) == {
        "income": Decimal(25000000),
        "ratios": [Decimal("0.1"), Decimal(2), {"nested": Decimal("0.3333333333333333")}],
        "count": 3,
        "flag": True,
        "name": "x",
    }


async def test_a_float_in_an_item_is_refused_before_any_write(offline: CustomerRepository) -> None:
    with pytest.raises(TypeError, match="Float"):
        await offline.create(_new(NATIONAL_ID) | {"last_score": {"pd": 0.1}}, _record(NATIONAL_ID, 0))
    with pytest.raises(TypeError, match="Float"):
        await offline.record_score(NATIONAL_ID, 1, {"pd": 0.1}, _record(NATIONAL_ID, 1))


async def test_a_history_page_holds_at_least_one_record(offline: CustomerRepository) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await offline.history(NATIONAL_ID, 0)


async def test_a_score_found_through_an_index_lands_only_while_the_customer_holds_the_contact(
    repository: CustomerRepository, dynamodb: Any, settings: Settings
) -> None:
    _put(dynamodb, settings.customers_table, _loaded(NATIONAL_ID))
    found = await repository.find("email", "lan@example.com")
    assert found is not None and found["national_id"] == NATIONAL_ID
    # The bank's load gives the customer another email between the lookup and the write.
    _put(dynamodb, settings.customers_table, _loaded(NATIONAL_ID, email="lan.new@example.com"))

    held: tuple[LookupField, str] = ("email", "lan@example.com")
    refused = await repository.record_score(
        NATIONAL_ID, None, {"score": 1}, _record(NATIONAL_ID, 1), holding=held
    )

    assert refused == Refused(stale=True)
    assert _stored(dynamodb, settings.score_history_table, NATIONAL_ID) == []
    still: tuple[LookupField, str] = ("email", "lan.new@example.com")
    assert (
        await repository.record_score(NATIONAL_ID, None, {"score": 1}, _record(NATIONAL_ID, 1), holding=still)
        is None
    )
