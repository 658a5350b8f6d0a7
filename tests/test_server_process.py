"""``creditscore serve`` as operators run it: a gunicorn master over two aiohttp workers in real processes.

Checks that a scrape sums every worker, that a killed worker is replaced and its live gauges dropped, and
that SIGTERM lets a request in flight finish before the processes exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from creditscore.config import Settings
from creditscore.local_aws import ChildServer, children, free_port
from creditscore.smoke import run_smoke
from server.auth import hash_key
from tests.proxies import FaultProxy
from tests.test_server_api import store_customer

KEY = "cs_process-test-key"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def health_requests(base: str) -> float:
    _, text = get(f"{base}/metrics")
    return sum(
        sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.name == "creditscore_http_requests_total" and sample.labels.get("route") == "/health"
    )


@dataclass
class Served:
    server: ChildServer
    base: str
    port: int
    metrics_dir: Path
    proxy: FaultProxy

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.server.process


@pytest.fixture
def served(service_settings: Settings, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    proxy = FaultProxy(service_settings.dynamodb_endpoint_url or "")
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "CREDITSCORE_PROJECT": service_settings.project,
        "CREDITSCORE_ENV": service_settings.env,
        "CREDITSCORE_AWS_ENDPOINT_URL": service_settings.aws_endpoint_url or "",
        "CREDITSCORE_DYNAMODB_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "CREDITSCORE_MODELS_BUCKET": service_settings.models_bucket,
        "CREDITSCORE_API_KEYS": f"{hash_key(KEY)}:score",
        "CREDITSCORE_METRICS_DIR": str(metrics_dir),
        "CREDITSCORE_SHUTDOWN_SECONDS": "20",
        "CREDITSCORE_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "creditscore.cli", "serve", "--port", str(port), "--workers", "2"]
    server = ChildServer("service", command, f"{base}/ready", tmp_path / "serve.log", env, start_timeout=90)
    try:
        with server:
            yield Served(server, base, port, metrics_dir, proxy)
    finally:
        proxy.close()


def test_a_scrape_sums_the_workers_and_survives_a_killed_worker(served: Served) -> None:
    workers = children(served.process.pid)
    assert len(workers) == 2
    for _ in range(40):
        assert get(f"{served.base}/health")[0] == 200
    # Each connection may land on either worker; the scrape (answered by one of them) counts all 40.
    assert health_requests(served.base) == 40

    os.kill(workers[0], signal.SIGKILL)
    wait_until(
        lambda: len(children(served.process.pid)) == 2 and workers[0] not in children(served.process.pid),
        30,
        "the master to replace the killed worker",
    )
    wait_until(lambda: get(f"{served.base}/ready")[0] == 200, 60, "the replacement worker to be ready")
    live_files = {path.name for path in served.metrics_dir.iterdir() if "live" in path.name}
    assert not any(str(workers[0]) in name for name in live_files)
    # The dead worker's counters stay in the sum.
    assert health_requests(served.base) >= 40


def test_sigterm_lets_a_request_in_flight_finish(served: Served) -> None:
    body = json.dumps({"national_id": "001234567890"}).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as connection:
        # DynamoDB answers slowly from now on: the request below is in its handler, waiting on storage,
        # when SIGTERM arrives.
        served.proxy.delay = 2.0
        connection.sendall(
            (
                f"POST /api/v1/predict-existing-customer HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + body
        )
        time.sleep(0.5)
        served.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert served.process.poll() is None, "the master must wait for the request in flight"
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    # The customer does not exist in this test's fresh table: a complete, well-formed 404 answer.
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 404 Not Found", answer[:300]
    assert b"customer-not-found" in answer
    assert served.process.wait(30) == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", served.port), timeout=2).close()


def test_the_smoke_checks_pass_on_a_served_service_and_fail_on_a_wrong_key(
    served: Served, service_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store_customer(service_settings)
    assert run_smoke(served.base, KEY, service_settings) == 0
    passed = capsys.readouterr().out
    assert passed.count("  ok  ") == 12 and "FAIL" not in passed

    assert run_smoke(served.base, "cs_not-a-key", service_settings) == 1
    failed = capsys.readouterr().out
    assert (
        "FAIL  new customer scored and stored: POST /api/v1/predict-new-customer: expected 200, got 401"
        in failed
    )
    assert "Smoke checks FAILED." in failed
