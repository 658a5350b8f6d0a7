"""moto's server with DynamoDB requests applied one at a time, as DynamoDB's own guarantees require.

moto serves each request in a thread, and its DynamoDB backend takes no lock: a transaction snapshots the
tables it touches and restores the snapshot when cancelled, wiping writes that other threads made
meanwhile, and a conditional put can interleave with another (seen: 50 concurrent creates of one key gave
several winners). Real DynamoDB applies each call atomically. Serialising the DynamoDB calls restores
that; S3 requests, which can be large uploads, still run concurrently.

The snapshot is also a deep copy of each whole table, so one TransactWriteItems on the demo's 20,000
customers took seconds and timed out. With calls serialised, saving just the items a transaction touches
rolls it back as exactly, so :func:`_item_level_rollback` does that instead.

Idempotent transactions: botocore gives every TransactWriteItems a ClientRequestToken and keeps it when it
retries after a timeout; DynamoDB answers a repeat of a successful call with the same token as a success
without applying it again, moto applies it again (so a retried create met its own item and was refused).
:class:`SerialDynamoDB` remembers successful tokens for DynamoDB's 10 minutes.

Writes: moto's item checks its 400 KB limit by re-measuring every attribute already set each time it sets
one, so building an item with a dozen map attributes costs a dozen full measurements (a third of the
server's time while the demo loads 20,000 customers). :func:`_item_init` measures the item once.

Bucket policies: moto enforces their Deny statements but evaluates no condition operator but StringEquals,
and knows no request context, so the TLS-only policy every deployed bucket carries (deny when
``aws:SecureTransport`` is false) refused every upload. This endpoint stands in for AWS's HTTPS endpoints:
:func:`_bucket_permission` evaluates ``Bool`` conditions with ``aws:SecureTransport`` true.

``python -m creditscore.moto_server -H HOST -p PORT``; :class:`creditscore.local_aws.LocalAws` runs it.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, Final

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import ItemSizeTooLarge, MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeBucket
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# How long DynamoDB remembers a transaction's ClientRequestToken.
_TOKEN_SECONDS: Final = 600.0
_TRANSACT_WRITE: Final = "DynamoDB_20120810.TransactWriteItems"


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, its whole response produced under the lock, and
    successful TransactWriteItems remembered by ClientRequestToken (see the module doc)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        # token -> (when, request body, status line, headers, response body); only touched under the lock.
        self._done: dict[str, tuple[float, bytes, str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            if target == _TRANSACT_WRITE:
                return self._transact_write(environ, start_response)
            return list(self.app(environ, start_response))

    def _transact_write(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            token = json.loads(body).get("ClientRequestToken")
        except ValueError:
            token = None
        now = time.monotonic()
        self._done = {t: done for t, done in self._done.items() if now - done[0] < _TOKEN_SECONDS}
        if token in self._done:
            _, first_body, status, headers, answer = self._done[token]
            if first_body != body:
                return _idempotency_mismatch(start_response)
            start_response(status, headers)
            return [answer]
        answered: list[Any] = []

        def remember_start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            answered.extend((status, headers))
            return start_response(status, headers, *args)

        chunks = list(self.app(environ, remember_start))
        if token and answered and answered[0].startswith("200"):
            self._done[token] = (now, body, answered[0], answered[1], b"".join(chunks))
        return chunks


def _idempotency_mismatch(start_response: Callable[..., Any]) -> list[bytes]:
    error = {
        "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
        "message": "The ClientRequestToken was used before with a different request.",
    }
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
    return [json.dumps(error).encode()]


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


# moto's own limit: AWS documents 400 KB and accepts a little more.
_MAX_ITEM_BYTES: Final = 405_000


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's ``Item.__init__`` with the size limit checked once over the whole item (see the module doc)."""
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(len(key.encode()) + value.size() for key, value in values.items()) > _MAX_ITEM_BYTES:
        raise ItemSizeTooLarge
    # The dict's own constructor: later single-attribute updates still go through moto's check.
    self.attrs = LimitedSizeDict(values)


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
    Item.__init__ = _item_init  # type: ignore[method-assign]
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign,assignment]
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerialDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
