from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from creditscore import aws
from creditscore.config import Settings, load_settings
from creditscore.domain import storage
from creditscore.local_aws import LocalAws, LocalAwsError, children, free_port, free_ports
from tests.conftest import settings_for


def test_bootstrap_creates_everything_once_and_is_idempotent(local_aws: LocalAws) -> None:
    settings = settings_for(local_aws, "boot")
    first = aws.bootstrap(settings)
    second = aws.bootstrap(settings)
    expected = {*settings.buckets, settings.customers_table, settings.score_history_table}
    assert set(first) == expected
    assert all(first.values())
    assert not any(second.values())


def test_tables_have_the_documented_keys_and_indexes(settings: Settings) -> None:
    dynamodb = aws.client("dynamodb", settings)
    customers = dynamodb.describe_table(TableName=settings.customers_table)["Table"]
    assert customers["KeySchema"] == [{"AttributeName": "national_id", "KeyType": "HASH"}]
    assert customers["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {
        i["IndexName"]: i["KeySchema"][0]["AttributeName"] for i in customers["GlobalSecondaryIndexes"]
    }
    assert indexes == {storage.EMAIL_INDEX: "email", storage.PHONE_INDEX: "phone_number"}
    history = dynamodb.describe_table(TableName=settings.score_history_table)["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in history["KeySchema"]] == [
        ("national_id", "HASH"),
        (storage.HISTORY_SORT_KEY, "RANGE"),
    ]


def test_buckets_block_public_access(settings: Settings) -> None:
    s3 = aws.client("s3", settings)
    for bucket in settings.buckets:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())


def test_a_second_server_on_a_busy_port_is_refused(local_aws: LocalAws) -> None:
    moto_port = int(local_aws.endpoint_url.rsplit(":", 1)[1])
    dynamodb_port = int(local_aws.dynamodb_endpoint_url.rsplit(":", 1)[1])
    install = Path(load_settings().dynamodb_local_dir)
    for port, other in ((moto_port, free_port()), (free_port(), dynamodb_port)):
        second = LocalAws("127.0.0.1", port, other, install)
        with pytest.raises(LocalAwsError, match="already answers"):
            second.start()
        assert all(server._process is None for server in second.servers), "nothing left running"


def test_a_missing_dynamodb_local_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(LocalAwsError, match="make dynamodb-local"):
        LocalAws("127.0.0.1", free_port(), free_port(), tmp_path)


def test_the_ttl_of_idempotency_records_is_on(settings: Settings) -> None:
    described = aws.client("dynamodb", settings).describe_time_to_live(TableName=settings.score_history_table)
    ttl = described["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", storage.EXPIRES_AT)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_local_aws_command_serves_bootstraps_and_stops_without_orphans(stop_signal: signal.Signals) -> None:
    port, dynamodb_port = free_ports(2)
    env = {**os.environ, "CREDITSCORE_ENV": "cli"}
    command = [sys.executable, "-m", "creditscore.cli", "local-aws", "--port", str(port)]
    command += ["--dynamodb-port", str(dynamodb_port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        output = "".join(lines)
        assert f"export CREDITSCORE_AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in output
        assert f"export CREDITSCORE_DYNAMODB_ENDPOINT_URL=http://127.0.0.1:{dynamodb_port}" in output
        assert f"export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:{dynamodb_port}" in output
        assert "creditscore-cli-raw" in output and "creditscore-cli-score-history" in output
        started = children(process.pid)
        assert len(started) == 2
        settings = load_settings(
            {
                "CREDITSCORE_AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "CREDITSCORE_DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{dynamodb_port}",
                "CREDITSCORE_ENV": "cli",
            }
        )
        bucket_names = {b["Name"] for b in aws.client("s3", settings).list_buckets()["Buckets"]}
        assert set(settings.buckets) <= bucket_names
        tables = aws.client("dynamodb", settings).list_tables()["TableNames"]
        assert {settings.customers_table, settings.score_history_table} <= set(tables)

        process.send_signal(stop_signal)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not _answers(f"http://127.0.0.1:{port}/moto-api/")
    for pid in started:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_cancelled_transaction_writes_nothing_and_keeps_other_writes(settings: Settings) -> None:
    """A cancelled TransactWriteItems writes nothing and leaves other writes alone, as DynamoDB does."""
    dynamodb = aws.client("dynamodb", settings)
    table = settings.customers_table
    dynamodb.put_item(TableName=table, Item={"national_id": {"S": "111111111"}, "full_name": {"S": "Kept"}})
    dynamodb.put_item(TableName=table, Item={"national_id": {"S": "222222222"}, "full_name": {"S": "Taken"}})
    transaction = [
        {"Put": {"TableName": table, "Item": {"national_id": {"S": "333333333"}}}},
        {
            "Update": {
                "TableName": table,
                "Key": {"national_id": {"S": "111111111"}},
                "UpdateExpression": "SET full_name = :n",
                "ExpressionAttributeValues": {":n": {"S": "Changed"}},
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"national_id": {"S": "222222222"}},
                "ConditionExpression": "attribute_not_exists(national_id)",
            }
        },
    ]
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=transaction)
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    assert sorted((i["national_id"]["S"], i.get("full_name", {}).get("S")) for i in items) == [
        ("111111111", "Kept"),
        ("222222222", "Taken"),
    ]


def test_a_repeated_transaction_token_answers_the_first_success_without_applying_again(
    settings: Settings,
) -> None:
    """As DynamoDB does for 10 minutes: botocore keeps the token when it retries after a timeout."""
    dynamodb = aws.client("dynamodb", settings)
    table = settings.customers_table

    def create(name: str, token: str) -> None:
        item = {"national_id": {"S": "444444444"}, "full_name": {"S": name}}
        condition = "attribute_not_exists(national_id)"
        put = {"TableName": table, "Item": item, "ConditionExpression": condition}
        dynamodb.transact_write_items(TransactItems=[{"Put": put}], ClientRequestToken=token)

    create("First", "token-1")
    create("First", "token-1")
    with pytest.raises(ClientError, match="IdempotentParameterMismatch"):
        create("Other", "token-1")
    with pytest.raises(ClientError, match="TransactionCanceled"):
        create("First", "token-2")
    stored = dynamodb.get_item(TableName=table, Key={"national_id": {"S": "444444444"}}, ConsistentRead=True)
    assert stored["Item"]["full_name"]["S"] == "First"
