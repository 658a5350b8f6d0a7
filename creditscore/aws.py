"""AWS clients and the platform's storage: the three buckets and two tables, created idempotently.

Terraform's ``modules/data`` owns these resources in AWS; this bootstrap serves the local endpoint and the
tests, and mirrors the same keys and indexes so code behaves the same against both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from creditscore.config import Settings
from creditscore.domain.storage import EMAIL_INDEX, EXPIRES_AT, HISTORY_SORT_KEY, PHONE_INDEX

# The local endpoints accept any credentials; real AWS takes them from the usual chain (instance role, env,
# profile).
_LOCAL_CREDENTIALS: Final = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}

# Above 2**53 a float's integer digits are binary noise (1e23 -> 99999999999999991611392) and may exceed
# DynamoDB's 38 digits, so those values keep their shortest repr instead.
_EXACT_INT_LIMIT: Final = 2.0**53


def endpoint(settings: Settings, service: str) -> str | None:
    """The configured endpoint of ``service``: DynamoDB's own, or the one every other service shares."""
    return settings.dynamodb_endpoint_url if service == "dynamodb" else settings.aws_endpoint_url


def client_kwargs(settings: Settings, service: str) -> dict[str, Any]:
    """Keyword arguments for a boto3/aioboto3 client of ``service`` that talks to its configured endpoint."""
    kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if (url := endpoint(settings, service)) is not None:
        kwargs["endpoint_url"] = url
        kwargs.update(_LOCAL_CREDENTIALS)
    return kwargs


def client(service: str, settings: Settings, config: Config | None = None) -> Any:
    """A synchronous client: the CLI jobs' (patient by default), or the service's S3 one (its own
    ``config``); the service's DynamoDB client is aioboto3's, with the same kwargs."""
    config = config or Config(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60
    )
    return boto3.client(service, config=config, **client_kwargs(settings, service))


def to_decimal(value: float | int) -> Decimal:
    """DynamoDB's number for a feature value: exact for integers, the shortest repr for other floats."""
    if isinstance(value, int):
        return Decimal(value)
    if value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
        return Decimal(int(value))
    return Decimal(repr(value))


def table_definitions(settings: Settings) -> list[dict[str, Any]]:
    """CreateTable requests for the customers and score-history tables (on-demand billing)."""
    return [
        {
            "TableName": settings.customers_table,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "national_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "national_id", "AttributeType": "S"},
                {"AttributeName": "email", "AttributeType": "S"},
                {"AttributeName": "phone_number", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index, attribute in ((EMAIL_INDEX, "email"), (PHONE_INDEX, "phone_number"))
            ],
        },
        {
            "TableName": settings.score_history_table,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": "national_id", "KeyType": "HASH"},
                {"AttributeName": HISTORY_SORT_KEY, "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "national_id", "AttributeType": "S"},
                {"AttributeName": HISTORY_SORT_KEY, "AttributeType": "S"},
            ],
        },
    ]


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error`` (``NoSuchKey``, ``ConditionalCheckFailedException``…), "" when none."""
    return str(error.response.get("Error", {}).get("Code", ""))


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create ``bucket`` unless this account already owns it; True when it was created now."""
    request: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if error_code(error) == "BucketAlreadyOwnedByYou":
            return False
        raise
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return True


def ensure_table(dynamodb: Any, definition: dict[str, Any]) -> bool:
    """Create the table unless it exists, and wait until it is active; True when it was created now."""
    name = definition["TableName"]
    try:
        dynamodb.create_table(**definition)
        created = True
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
        created = False
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return created


def ensure_expiry(dynamodb: Any, table: str) -> None:
    """Turn on the table's TTL on :data:`EXPIRES_AT` unless it is on (turning it on twice is an error)."""
    described = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if described.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_AT}
        )


def bootstrap(settings: Settings) -> dict[str, bool]:
    """Make sure every bucket and table exists. Returns resource name → created now (False: was there)."""
    s3 = client("s3", settings)
    dynamodb = client("dynamodb", settings)
    result = {bucket: ensure_bucket(s3, bucket, settings.aws_region) for bucket in settings.buckets}
    for definition in table_definitions(settings):
        result[definition["TableName"]] = ensure_table(dynamodb, definition)
    ensure_expiry(dynamodb, settings.score_history_table)
    return result
