"""Monitoring as shipped in ``monitoring/``: the Prometheus configuration, the rules and their promtool unit
tests, the Grafana dashboard against what the service exports, and a real Prometheus scraping a real
``creditscore serve`` (two workers) and evaluating the rules. And the collector ``modules/compute`` runs on
each AWS host: its Prometheus agent configuration, and a real agent scraping a service whose ``/metrics``
needs a metrics key and remote-writing to a Prometheus that evaluates the rules (Amazon Managed Service for
Prometheus' part).

Needs Debian's ``prometheus`` package (``prometheus`` and ``promtool`` on the PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from creditscore.cli.demo import DEMO_APPLICANT
from creditscore.config import Settings, endpoint_environment
from creditscore.domain.features import names
from creditscore.local_aws import ChildServer, free_port
from server import metrics
from server.auth import hash_key
from tests.factories import customers

ROOT: Final = Path(__file__).resolve().parent.parent
MONITORING: Final = ROOT / "monitoring"
CONFIG: Final = MONITORING / "prometheus.yml"
RULE_FILES: Final = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TESTS: Final = sorted((MONITORING / "tests").glob("*.yml"))
DASHBOARD: Final = MONITORING / "grafana" / "creditscore.json"
OPERATIONS: Final = ROOT / "docs" / "operations.md"

KEY: Final = "cs_monitoring-test-key"
METRICS_KEY: Final = "cs_monitoring-test-metrics-key"

# The user data of the AWS hosts (modules/compute), which writes the collector's configuration.
USER_DATA: Final = ROOT / "modules" / "compute" / "user_data.sh.tftpl"
INSTANCE_ID: Final = "i-0123456789abcdef0"
# A metric name in PromQL: not part of a longer name, a recorded name or a label value.
_EXPORTED_RE: Final = re.compile(r"(?<![\w:\"])creditscore_\w+")
_RECORDED_RE: Final = re.compile(r"(?<![\w:\"])creditscore:[\w:]+")
_SUFFIXES: Final = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install prometheus (Debian's package ships {name})")
    return path


def run(*command: str) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


def exported() -> set[str]:
    """Every sample name the service can export: the registry of server/metrics.py, histogram suffixes
    included (``_created`` is not exported in multiprocess mode)."""
    result: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                result.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return result


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboard_panels() -> list[dict[str, Any]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


# --- promtool ----------------------------------------------------------------------------------------------


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    output = run(tool("promtool"), "check", "config", str(CONFIG))
    # The config's rule_files glob resolves, relative to the config, to the rule files.
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in output, output


def test_promtool_checks_the_rules() -> None:
    assert RULE_FILES
    run(tool("promtool"), "check", "rules", *map(str, RULE_FILES))


def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS
    output = run(tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert "FAILED" not in output, output


def test_every_alert_is_unit_tested_and_documented() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert {rule["alert"] for rule in alerts} >= {
        "CreditscoreHighErrorRatio",
        "CreditscoreHighLatency",
        "CreditscoreNoReadyInstance",
        "CreditscoreModelReloadFailed",
        "CreditscoreDynamoDBErrors",
    }
    tested = "\n".join(path.read_text() for path in RULE_TESTS)
    headings = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip()).lower().replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/operations.md" and anchor == name.lower(), name
        assert anchor in headings, f"docs/operations.md has no section #{anchor}"
        assert f"alertname: {name}\n" in tested, f"no promtool test of {name}"


def test_rules_use_only_exported_metrics() -> None:
    known, defined = exported(), recorded()
    for rule in rules():
        expression = rule["expr"]
        assert set(_EXPORTED_RE.findall(expression)) <= known, expression
        assert set(_RECORDED_RE.findall(expression)) <= defined, expression
        if "record" in rule:
            # level:metric:operations, the level being the job.
            assert re.fullmatch(r"creditscore:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


# --- the Grafana dashboard ----------------------------------------------------------------------------------


def test_the_dashboard_uses_only_exported_metrics_and_defined_recording_rules() -> None:
    known, defined = exported(), recorded()
    expressions = dashboard_expressions()
    used_exported = {name for expression in expressions for name in _EXPORTED_RE.findall(expression)}
    used_recorded = {name for expression in expressions for name in _RECORDED_RE.findall(expression)}
    assert used_exported - known == set(), f"not exported by the service: {sorted(used_exported - known)}"
    assert used_recorded - defined == set(), f"no such recording rule: {sorted(used_recorded - defined)}"
    assert used_exported and used_recorded


def test_the_dashboard_panels_query_the_datasource_variable() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    variable = {"type": "prometheus", "uid": "${datasource}"}
    panels = [panel for panel in dashboard_panels() if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard_panels()}) == len(dashboard_panels())
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == variable, title
        assert panel.get("targets"), f"panel {title!r} has no target"
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target["datasource"] == variable, title


# --- a real Prometheus over a real service -----------------------------------------------------------------


def http(url: str, body: dict[str, Any] | None = None, key: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["X-API-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """``check()``'s first truthy answer, tried every 0.25 s until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last answer: {last!r})")


@dataclass
class Prometheus:
    base: str

    def query(self, expression: str) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
        status, body = http(url)
        assert status == 200 and body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, expression: str) -> dict[str, float]:
        """``{labels as text: value}`` of an instant vector."""
        return {
            json.dumps(sample["metric"], sort_keys=True): float(sample["value"][1])
            for sample in self.query(expression)
        }


@contextmanager
def serving(service_settings: Settings, tmp_path: Path, api_keys: str, **settings: str) -> Iterator[str]:
    """``creditscore serve`` with two workers on the published models, ``api_keys`` its
    CREDITSCORE_API_KEYS and ``settings`` further CREDITSCORE_* settings; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "CREDITSCORE_PROJECT": service_settings.project,
        "CREDITSCORE_ENV": service_settings.env,
        **endpoint_environment(service_settings),
        "CREDITSCORE_MODELS_BUCKET": service_settings.models_bucket,
        "CREDITSCORE_API_KEYS": api_keys,
        "CREDITSCORE_METRICS_DIR": str(tmp_path / "metrics"),
        "CREDITSCORE_LOG_FORMAT": "json",
        **settings,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "creditscore.cli", "serve", "--port", str(port), "--workers", "2"]
    with ChildServer("service", command, f"{base}/ready", tmp_path / "serve.log", env, start_timeout=90):
        yield base


@pytest.fixture
def service(service_settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``creditscore serve`` with two workers on the published models; its base URL."""
    with serving(service_settings, tmp_path, f"{hash_key(KEY)}:score") as base:
        yield base


def rules_evaluated_every_second(directory: Path) -> list[str]:
    """Copies in ``directory`` of the shipped rule files, their groups' own 30 s intervals dropped (so that
    they follow a 1 s evaluation_interval); their paths."""
    copies = []
    for path in RULE_FILES:
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            group.pop("interval", None)
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(document))
        copies.append(str(copy))
    return copies


def prometheus_config(target: str, directory: Path) -> Path:
    """monitoring/prometheus.yml scraping ``target`` every second, with the shipped rules evaluated every
    second (their groups' own 30 s intervals dropped)."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = (job for job in config["scrape_configs"] if job["job_name"] == "creditscore")
    job.update(scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": [target]}])
    config["rule_files"] = rules_evaluated_every_second(directory)
    written = directory / "prometheus.yml"
    written.write_text(yaml.safe_dump(config))
    return written


@pytest.fixture
def prometheus(service: str, tmp_path: Path) -> Iterator[Prometheus]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    config = prometheus_config(urllib.parse.urlsplit(service).netloc, directory)
    run(tool("promtool"), "check", "config", str(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        tool("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with ChildServer("Prometheus", command, f"{base}/-/ready", tmp_path / "prometheus.log", start_timeout=60):
        yield Prometheus(base)


@pytest.mark.slow
def test_prometheus_scrapes_the_service_and_evaluates_the_rules(
    service_settings: Settings, service: str, prometheus: Prometheus
) -> None:
    frame = customers(4, seed=11)
    rows = [{name: float(frame.iloc[i][name]) for name in names("application")} for i in range(4)]
    sent = 12
    for i in range(sent):
        status, body = http(f"{service}/api/v1/score", {"segment": "new", "rows": rows[: 1 + i % 4]}, KEY)
        assert status == 200, body
    status, body = http(f"{service}/api/v1/predict-new-customer", DEMO_APPLICANT, KEY)
    assert status == 200, body
    assert http(f"{service}/api/v1/score", {"segment": "new", "rows": []}, KEY)[0] == 422

    # What the service exports after those requests is what the dashboard and rules may use.
    _, text = http(f"{service}/metrics")
    scraped = {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("creditscore_")
    }
    assert scraped <= exported(), sorted(scraped - exported())
    assert {
        "creditscore_http_requests_total",
        "creditscore_model_inference_seconds_bucket",
        "creditscore_model_batch_size_count",
        "creditscore_scores_total",
        "creditscore_dynamodb_request_duration_seconds_bucket",
        "creditscore_model_info",
        "creditscore_model_reloads_total",
    } <= scraped

    # One scrape sums both workers: Prometheus counts every request sent, whichever worker answered it.
    by_status = 'sum by (status) (creditscore_http_requests_total{job="creditscore", route="/api/v1/score"})'
    poll(
        lambda: prometheus.values(by_status) == {'{"status": "200"}': sent, '{"status": "422"}': 1},
        30,
        f"Prometheus to count {sent} + 1 requests to /api/v1/score",
    )
    total = 'sum by (route) (creditscore_http_requests_total{job="creditscore", route="/api/v1/score"})'
    assert prometheus.values(total) == {'{"route": "/api/v1/score"}': sent + 1}
    (target,) = prometheus.query('up{job="creditscore"}')
    assert target["metric"]["instance"] == urllib.parse.urlsplit(service).netloc
    assert target["value"][1] == "1"

    # The recording rules run against the real series (the first evaluations may precede the first scrape).
    poll(
        lambda: prometheus.query('creditscore:http_requests:rate5m{route="/api/v1/score"}'),
        30,
        "the request-rate recording rule",
    )
    poll(
        lambda: prometheus.values("sum(creditscore:ready_instances:count)") == {"{}": 1.0},
        30,
        "one ready instance",
    )
    in_service = "count by (model) (creditscore:model_info:count == 1)"
    poll(
        lambda: prometheus.values(in_service)
        == {json.dumps({"model": m}): 1.0 for m in service_settings.models},
        30,
        "every configured model in service on the one instance",
    )
    poll(
        lambda: prometheus.query('creditscore:model_inference_seconds:p99_5m{model="xgboost-new-customer"}'),
        30,
        "the inference-latency recording rule",
    )
    poll(
        lambda: prometheus.query('creditscore:scores:rate5m{segment="new"}'), 30, "the scores recording rule"
    )

    # Every rule evaluates without an error.
    def evaluated() -> list[dict[str, Any]]:
        status, body = http(f"{prometheus.base}/api/v1/rules")
        assert status == 200, body
        found = [rule for group in body["data"]["groups"] for rule in group["rules"]]
        return found if all(not rule["lastEvaluation"].startswith("0001-") for rule in found) else []

    loaded = poll(evaluated, 30, "every rule to be evaluated")
    assert len(loaded) == len(rules())
    assert [(rule["name"], rule.get("lastError")) for rule in loaded if rule["health"] != "ok"] == []
    # A healthy service has no alert pending or firing once the rules have seen it. (Latency is left out:
    # a first request on a busy shared machine may take a second without the service being unhealthy.)
    poll(
        lambda: prometheus.query('ALERTS{alertname!="CreditscoreHighLatency"}') == [],
        30,
        "no alert pending or firing",
    )


# --- the collector on the AWS hosts (modules/compute) ----------------------------------------------------


def collector_config(port: int, remote_write_url: str) -> dict[str, Any]:
    """The Prometheus agent configuration modules/compute's user data writes on a host (its ``CONFIG``
    heredoc), rendered as Terraform and then the host's bootstrap render it, for instance ``INSTANCE_ID``
    and the service on ``port``."""
    match = re.search(r"<<CONFIG\n(.*?\n)CONFIG\n", USER_DATA.read_text(), re.DOTALL)
    assert match, f"no CONFIG heredoc in {USER_DATA}"
    text = match[1]
    values = {
        "${environment}": "test",
        "${remote_write_url}": remote_write_url,
        "$INSTANCE_ID": INSTANCE_ID,
        "$PORT": str(port),
        "$REGION": "ap-southeast-1",
    }
    for name, value in values.items():
        text = text.replace(name, value)
    assert "$" not in text, f"a placeholder is left in the collector's configuration:\n{text}"
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def test_the_hosts_collector_is_an_agent_scraping_the_job_the_rules_select(tmp_path: Path) -> None:
    config = collector_config(
        8080, "https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
    )
    (job,) = config["scrape_configs"]
    # The rules (loaded as they are into the workspace) select job="creditscore" and tell hosts apart by
    # `instance`: each host scrapes its own service on localhost and labels that one target with its
    # instance ID, not with 127.0.0.1:PORT, which every host would share.
    selected = {job for rule in rules() for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert selected == {job["job_name"]}
    assert job["static_configs"] == [{"targets": ["127.0.0.1:8080"], "labels": {"instance": INSTANCE_ID}}]
    assert job["metrics_path"] == "/metrics"
    assert job["scrape_interval"] == config["global"]["scrape_interval"] == "15s"
    assert config["global"]["external_labels"] == {"environment": "test", "instance_id": INSTANCE_ID}
    # The scrape key from a file (written from its own SSM parameter), sent as a bearer token.
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/metrics-key"}
    (remote,) = config["remote_write"]
    assert remote["sigv4"] == {"region": "ap-southeast-1"}
    assert "rule_files" not in config and "alerting" not in config  # the workspace evaluates the rules

    key_file = tmp_path / "metrics-key"
    key_file.write_text(METRICS_KEY)
    job["authorization"]["credentials_file"] = str(key_file)
    path = tmp_path / "agent.yml"
    path.write_text(yaml.safe_dump(config))
    run(tool("promtool"), "check", "config", "--agent", str(path))


@pytest.mark.slow
def test_the_hosts_collector_scrapes_with_a_metrics_key_and_remote_writes_what_the_rules_need(
    service_settings: Settings, tmp_path: Path
) -> None:
    """The collector's configuration as a host runs it, against a service whose /metrics needs a key (as in
    prod), remote-writing to a Prometheus that evaluates the shipped rules, as the workspace does. The
    differences: 1 s intervals, and no SigV4 (the receiver is local)."""
    keys = f"{hash_key(KEY)}:score,{hash_key(METRICS_KEY)}:metrics:prometheus"
    with serving(service_settings, tmp_path, keys, CREDITSCORE_METRICS_PUBLIC="false") as base:
        # Only the metrics key reads /metrics; the score key is refused.
        assert http(f"{base}/metrics")[0] == 401
        assert http(f"{base}/metrics", key=KEY)[0] == 403
        assert http(f"{base}/metrics", key=METRICS_KEY)[0] == 200

        receiver_dir, agent_dir = tmp_path / "receiver", tmp_path / "agent"
        receiver_dir.mkdir()
        agent_dir.mkdir()
        receiver_config = receiver_dir / "prometheus.yml"
        receiver_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"evaluation_interval": "1s"},
                    "rule_files": rules_evaluated_every_second(receiver_dir),
                }
            )
        )
        receiver_port, agent_port = free_port(), free_port()
        receiver = Prometheus(f"http://127.0.0.1:{receiver_port}")

        config = collector_config(int(urllib.parse.urlsplit(base).port or 0), f"{receiver.base}/api/v1/write")
        config["global"]["scrape_interval"] = "1s"
        (job,) = config["scrape_configs"]
        job.update(scrape_interval="1s", scrape_timeout="1s")
        key_file = agent_dir / "metrics-key"
        key_file.write_text(METRICS_KEY)
        job["authorization"]["credentials_file"] = str(key_file)
        (remote,) = config["remote_write"]
        del remote["sigv4"]
        remote["queue_config"] = {"batch_send_deadline": "1s"}
        agent_config = agent_dir / "agent.yml"
        agent_config.write_text(yaml.safe_dump(config))

        prometheus = tool("prometheus")
        receiver_command = [
            prometheus,
            f"--config.file={receiver_config}",
            f"--storage.tsdb.path={receiver_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{receiver_port}",
            "--web.enable-remote-write-receiver",
        ]
        # Debian's Prometheus 2.x names agent mode a feature; the hosts' 3.x takes --agent.
        agent_command = [
            prometheus,
            "--enable-feature=agent",
            f"--config.file={agent_config}",
            f"--storage.agent.path={agent_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{agent_port}",
        ]
        with (
            ChildServer("receiver", receiver_command, f"{receiver.base}/-/ready", tmp_path / "receiver.log"),
            ChildServer(
                "agent", agent_command, f"http://127.0.0.1:{agent_port}/-/ready", tmp_path / "agent.log"
            ),
        ):
            frame = customers(2, seed=5)
            rows = [{name: float(frame.iloc[i][name]) for name in names("application")} for i in range(2)]
            sent = 3
            for _ in range(sent):
                status, body = http(f"{base}/api/v1/score", {"segment": "new", "rows": rows}, KEY)
                assert status == 200, body

            # Every series arrives labelled with the host's instance ID and environment.
            labels = {
                "job": "creditscore",
                "instance": INSTANCE_ID,
                "environment": "test",
                "instance_id": INSTANCE_ID,
            }
            up = "up{" + ", ".join(f'{name}="{value}"' for name, value in labels.items()) + "}"
            poll(lambda: prometheus_values_equal(receiver, up, 1.0), 60, "the agent's scrape to arrive")
            requests = 'sum(creditscore_http_requests_total{job="creditscore", route="/api/v1/score"})'
            poll(lambda: prometheus_values_equal(receiver, requests, sent), 30, f"{sent} requests to arrive")
            # The rules run on what was written: one ready instance, known by its instance ID.
            poll(
                lambda: prometheus_values_equal(receiver, "sum(creditscore:ready_instances:count)", 1.0),
                30,
                "one ready instance",
            )
            poll(
                lambda: receiver.query(
                    f'creditscore:event_loop_lag_over_100ms:ratio_rate5m{{instance="{INSTANCE_ID}"}}'
                ),
                30,
                "the per-instance recording rule, by instance ID",
            )


def prometheus_values_equal(prometheus: Prometheus, expression: str, value: float) -> bool:
    """Whether ``expression`` has exactly one sample, of ``value``."""
    return list(prometheus.values(expression).values()) == [value]
