"""moto's server, for S3 and every AWS service but DynamoDB (which AWS's own DynamoDB Local serves: see
:mod:`creditscore.local_aws`), with one fix that makes it stand in for AWS's HTTPS endpoints.

Bucket policies: moto enforces their Deny statements but evaluates no condition operator but StringEquals,
and knows no request context, so the TLS-only policy every deployed bucket carries (deny when
``aws:SecureTransport`` is false) refused every upload. This endpoint stands in for AWS's HTTPS endpoints:
:func:`_bucket_permission` evaluates ``Bool`` conditions with ``aws:SecureTransport`` true.

``python -m creditscore.moto_server -H HOST -p PORT``; :class:`creditscore.local_aws.LocalAws` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from types import FrameType
from typing import Any, Final

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeBucket
from werkzeug.serving import run_simple

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
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign,assignment]
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
