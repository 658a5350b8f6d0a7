"""``creditscore local-aws``: the local AWS endpoints in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

from creditscore import aws
from creditscore.config import Settings, endpoint_environment
from creditscore.local_aws import ChildServer, LocalAws


def sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def wait_until_interrupted(*servers: ChildServer) -> int:
    """Until Ctrl-C / SIGTERM (0), or until one of ``servers`` exits by itself (1)."""
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while True:
            for server in servers:
                if (code := server.process.poll()) is not None:
                    print(f"The {server.what} exited unexpectedly with code {code}.", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"\nStopping the {' and the '.join(s.what for s in reversed(servers))}.", flush=True)
        return 0


def bootstrap_and_report(settings: Settings) -> None:
    for name, created in aws.bootstrap(settings).items():
        print(f"  {'created ' if created else 'exists  '} {name}")


def local_endpoints(args: argparse.Namespace, settings: Settings, log_dir: Path | None = None) -> LocalAws:
    return LocalAws(args.host, args.port, args.dynamodb_port, Path(settings.dynamodb_local_dir), log_dir)


def print_endpoints(local: LocalAws, region: str) -> None:
    print(
        f"  DynamoDB Local on {local.dynamodb_endpoint_url}, moto (S3 and the rest) on {local.endpoint_url}"
    )
    print(f"  region {region}")


def cmd_local_aws(args: argparse.Namespace, settings: Settings) -> int:
    with local_endpoints(args, settings) as endpoints:
        local = endpoints.settings(settings)
        print("Local AWS endpoints:")
        print_endpoints(endpoints, local.aws_region)
        bootstrap_and_report(local)
        if local != settings:
            print("Point the other jobs at them:")
            for name, value in endpoint_environment(local).items():
                print(f"  export {name}={value}")
        # Any other AWS tool (the aws CLI, a boto3 script) finds them through botocore's own variables.
        print("Other AWS tools (aws CLI, boto3):")
        print(f"  export AWS_ENDPOINT_URL_DYNAMODB={endpoints.dynamodb_endpoint_url}")
        print(f"  export AWS_ENDPOINT_URL={endpoints.endpoint_url}")
        return wait_until_interrupted(*endpoints.servers)
