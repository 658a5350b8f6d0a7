"""moto's server with DynamoDB requests applied one at a time, as DynamoDB's own guarantees require.

moto serves each request in a thread, and its DynamoDB backend takes no lock: a transaction snapshots the
tables it touches and restores the snapshot when cancelled, wiping writes that other threads made
meanwhile, and a conditional put can interleave with another (seen: 50 concurrent creates of one key gave
several winners). Real DynamoDB applies each call atomically. Serialising the DynamoDB calls restores
that; S3 requests, which can be large uploads, still run concurrently.

The snapshot is also a deep copy of each whole table, so one TransactWriteItems on the demo's 20,000
customers took seconds and timed out. With calls serialised, saving just the items a transaction touches
rolls it back as exactly, so :func:`_item_level_rollback` does that instead.

Bucket policies: moto enforces their Deny statements but evaluates no condition operator but StringEquals,
and knows no request context, so the TLS-only policy every deployed bucket carries (deny when
``aws:SecureTransport`` is false) refused every upload. This endpoint stands in for AWS's HTTPS endpoints:
:func:`_bucket_permission` evaluates ``Bool`` conditions with ``aws:SecureTransport`` true.

``python -m creditscore.moto_server -H HOST -p PORT``; :class:`creditscore.local_aws.LocalAws` runs it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, Final

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeBucket
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, its whole response produced under the lock."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


class _TablesAsThemselves:
    """Stands in for the ``copy`` module inside moto's transaction: a table "copy" is the table itself."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value)


def _item_level_rollback(transact: Callable[..., None]) -> Callable[..., None]:
    """moto's TransactWriteItems, saving and restoring only the items it touches (see the module doc)."""

    def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            (op_type, op), *_ = entry.items()
            table = backend.tables.get(op.get("TableName", ""))
            if table is None:
                continue
            keys = op.get("Item" if op_type == "Put" else "Key", {})
            try:
                hash_key, range_key = backend.get_keys_value(table, keys)
            except MockValidationException:
                continue  # a malformed entry writes nothing; moto refuses it
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        dynamodb_models.copy = _TablesAsThemselves  # type: ignore[attr-defined,assignment]
        try:
            transact(backend, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            dynamodb_models.copy = copy  # type: ignore[attr-defined]

    return transact_write_items


def _restore(table: Table, hash_key: Any, range_key: Any, item: Any) -> None:
    if item is None:
        table.delete_item(hash_key, range_key)
    elif range_key is None:
        table.items[hash_key] = item
    else:
        table.items[hash_key][range_key] = item


# The request context of every S3 request to this endpoint, as AWS would give it over HTTPS.
_S3_REQUEST_CONTEXT: Final = {"aws:securetransport": "true"}


def _bool_conditions_hold(statement: dict[str, Any]) -> bool:
    """Whether the statement's ``Bool`` conditions hold in :data:`_S3_REQUEST_CONTEXT` (a key it lacks
    makes the condition false, as in AWS)."""
    for key, expected in statement.get("Condition", {}).get("Bool", {}).items():
        values = expected if isinstance(expected, list) else [expected]
        actual = _S3_REQUEST_CONTEXT.get(key.lower())
        if actual is None or actual not in (str(value).lower() for value in values):
            return False
    return True


def _bucket_permission(bucket: FakeBucket, action: str, resource: str) -> PermissionResult:
    """moto's check, over the statements whose ``Bool`` conditions hold: moto itself treats a Deny whose
    condition does not match as a denial."""
    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(bucket.policy)
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    applicable = [statement for statement in statements if _bool_conditions_hold(statement)]
    if not applicable:
        return PermissionResult.NEUTRAL
    policy = IAMPolicy(json.dumps({**document, "Statement": applicable}))
    result: PermissionResult = policy.is_action_permitted(action, resource)
    return result


def _exit(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="creditscore.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    # moto builds some URLs (presigned, multipart) from this.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # AWS's managed policies (AmazonSSMManagedInstanceCore, AWSGlueServiceRole), which roles attach.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    DynamoDBBackend.transact_write_items = _item_level_rollback(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items
    )
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign,assignment]
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerialDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
