"""``serve``, ``smoke``, ``apikey new``: the scoring service, its end-to-end check, and its keys."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from creditscore.config import Settings
from server.auth import new_key


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here, not at the top: the runner must set Prometheus' multiprocess directory before
    # anything imports prometheus_client.
    from server.runner import serve, worker_count

    workers = worker_count(settings, args.workers)
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"Serving on http://{host}:{port} with {workers} worker(s); SIGTERM or Ctrl-C stops.")
    serve(settings, host, port, workers)
    return 0


def cmd_smoke(args: argparse.Namespace, settings: Settings) -> int:
    from creditscore.smoke import read_key, run_smoke, running_demo

    base = f"http://127.0.0.1:{args.api_port}"
    settings = replace(
        settings,
        aws_endpoint_url=f"http://127.0.0.1:{args.port}",
        dynamodb_endpoint_url=f"http://127.0.0.1:{args.dynamodb_port}",
    )
    if not args.with_demo:
        return run_smoke(base, read_key(args.api_key_file), settings)
    started = time.monotonic()
    with running_demo(args.api_port, args.port, args.dynamodb_port, args.api_key_file):
        print(f"Demo ready after {time.monotonic() - started:.0f}s.", flush=True)
        return run_smoke(base, read_key(args.api_key_file), settings)


def cmd_apikey_new(args: argparse.Namespace, _settings: Settings) -> int:
    key, entry = new_key(args.scope, args.name or "")
    print(f"API key (shown once; give it to the client):\n  {key}")
    print(f"Its CREDITSCORE_API_KEYS entry (comma-separated with any others):\n  {entry}")
    return 0
