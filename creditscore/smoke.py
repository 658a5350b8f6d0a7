"""``creditscore smoke``: checks a running demo's answers the way a bank's API client sees them.

Every check talks HTTP to the service (and reads DynamoDB through the demo's endpoint only to pick a real
customer and to confirm a write landed). A new applicant gets a fresh random national ID each run, so the
smoke can run again and again against the same demo. ``--with-demo`` starts ``creditscore demo`` itself,
runs the checks, stops it the way Ctrl-C does and checks that no process it started is left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from prometheus_client.parser import text_string_to_metric_families

from creditscore import aws
from creditscore.config import Settings
from creditscore.errors import JobError
from creditscore.local_aws import ChildServer, descendants

# A 12-digit national ID starting with 9: the generator's customers start with a province code below 100.
_ID_PREFIX: Final = "9"
_DEMO_STOP_SECONDS: Final = 60.0


class SmokeError(JobError):
    """A check saw an answer other than the one a client relies on."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    content_type: str
    raw: bytes = b""


@dataclass
class Api:
    base: str
    key: str
    timeout: float = 30.0

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, idempotency_key: str = ""
    ) -> Answer:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"X-API-Key": self.key}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _answer(response.status, response.headers.get_content_type(), response.read())
        except urllib.error.HTTPError as error:
            return _answer(error.code, error.headers.get_content_type(), error.read())


def _answer(status: int, content_type: str, payload: bytes) -> Answer:
    is_json = content_type.endswith("json")
    return Answer(status, json.loads(payload) if is_json else payload.decode(), content_type, payload)


def _expect(answer: Answer, status: int, what: str) -> Any:
    if answer.status != status:
        raise SmokeError(f"{what}: expected {status}, got {answer.status}: {str(answer.body)[:300]}")
    return answer.body


def _random_id(rng: random.Random) -> str:
    return _ID_PREFIX + "".join(rng.choice("0123456789") for _ in range(11))


def _fresh_applicant(rng: random.Random) -> dict[str, Any]:
    national_id = _random_id(rng)
    digits = national_id[1:]
    return {
        "full_name": "Smoke Test Applicant",
        "national_id": national_id,
        "email": f"smoke.{digits}@example.com",
        "phone_number": "09" + digits[:8],
        "income": float(rng.randrange(8, 60) * 1_000_000),
        "savings": float(rng.randrange(0, 200) * 1_000_000),
        "debt": float(rng.randrange(0, 40) * 1_000_000),
        "cat_dependents": "Yes",
        "cat_mortgage": "No",
        "cat_savings_account": "Yes",
        "cat_credit_card": "No",
    }


def _request_counts(api: Api) -> dict[str, float]:
    """``creditscore_http_requests_total`` summed per route template (all workers, all statuses)."""
    text = _expect(api.call("GET", "/metrics"), 200, "GET /metrics")
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "creditscore_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    route = sample.labels["route"]
                    counts[route] = counts.get(route, 0.0) + sample.value
    return counts


def _known_customer(settings: Settings, besides: str) -> Mapping[str, str]:
    """One customer other than ``besides`` (the smoke's own, whose history it checks) that has an email and
    a phone number, read straight from the table."""
    table = aws.client("dynamodb", settings)
    request: dict[str, Any] = {
        "TableName": settings.customers_table,
        "FilterExpression": (
            "attribute_exists(email) AND attribute_exists(phone_number) AND national_id <> :own"
        ),
        "ExpressionAttributeValues": {":own": {"S": besides}},
        "ProjectionExpression": "national_id, email, phone_number",
        "Limit": 50,
    }
    while True:
        page = table.scan(**request)
        for item in page["Items"]:
            return {name: value["S"] for name, value in item.items()}
        if "LastEvaluatedKey" not in page:
            raise SmokeError(f"no customer with an email and a phone number in {settings.customers_table}")
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _unknown_id(settings: Settings, rng: random.Random) -> str:
    table = aws.client("dynamodb", settings)
    while True:
        candidate = _random_id(rng)
        found = table.get_item(TableName=settings.customers_table, Key={"national_id": {"S": candidate}})
        if "Item" not in found:
            return candidate


@dataclass
class Smoke:
    api: Api
    settings: Settings
    rng: random.Random = field(default_factory=random.Random)
    applicant: dict[str, Any] = field(default_factory=dict)
    customer: Mapping[str, str] = field(default_factory=dict)

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("service ready", self.ready),
            ("new customer scored and stored", self.new_customer),
            ("same customer again -> 409", self.duplicate),
            ("the new customer scored as existing", self.new_as_existing),
            ("a retry with its Idempotency-Key -> the first answer", self.retried),
            ("existing customer by national_id", lambda: self.existing("national_id")),
            ("existing customer by email", lambda: self.existing("email")),
            ("existing customer by phone_number", lambda: self.existing("phone_number")),
            ("unknown customer -> 404", self.unknown),
            ("malformed body -> 422 naming the field", self.malformed),
            ("score history of the new customer", self.history),
        ]

    def ready(self) -> str:
        body = _expect(self.api.call("GET", "/ready"), 200, "GET /ready")
        return f"models {', '.join(f'{m}' for m in body.get('models', {}))}"

    def new_customer(self) -> str:
        self.applicant = _fresh_applicant(self.rng)
        path = "/api/v1/predict-new-customer"
        body = _expect(self.api.call("POST", path, self.applicant), 200, f"POST {path}")
        if not 300 <= body["predicted_score"] <= 850:
            raise SmokeError(f"score {body['predicted_score']} is outside 300-850")
        key = {"national_id": {"S": self.applicant["national_id"]}}
        stored = aws.client("dynamodb", self.settings).get_item(
            TableName=self.settings.customers_table, Key=key, ConsistentRead=True
        )
        if "Item" not in stored:
            raise SmokeError("the new customer is not in the customers table after a 200")
        return f"score {body['predicted_score']} ({body['predicted_group']}), stored"

    def duplicate(self) -> str:
        path = "/api/v1/predict-new-customer"
        body = _expect(self.api.call("POST", path, self.applicant), 409, f"POST {path} again")
        return str(body["type"])

    def new_as_existing(self) -> str:
        """The seed's scenario: a customer the API created is scored as existing, from its application."""
        path = "/api/v1/predict-existing-customer"
        lookup = {"email": self.applicant["email"]}
        body = _expect(self.api.call("POST", path, lookup), 200, f"POST {path} for the new customer")
        if body["customer_info"]["national_id"] != self.applicant["national_id"]:
            raise SmokeError("looked up by the new customer's email, answered for another customer")
        if body["basis"] != "application-only":
            raise SmokeError(f"a customer known from an application only was scored on {body['basis']}")
        return f"score {body['predicted_score']} ({body['predicted_group']}), basis {body['basis']}"

    def retried(self) -> str:
        path = "/api/v1/predict-existing-customer"
        lookup = {"national_id": self.applicant["national_id"]}
        key = f"smoke-{self.rng.getrandbits(64):016x}"
        first, again = (self.api.call("POST", path, lookup, idempotency_key=key) for _ in range(2))
        _expect(first, 200, f"POST {path} with an Idempotency-Key")
        _expect(again, 200, f"POST {path} again with the same Idempotency-Key")
        if again.raw != first.raw:
            raise SmokeError("the retry with the same Idempotency-Key got another answer than the first")
        return "identical answers"

    def existing(self, by: str) -> str:
        self.customer = customer = self.customer or _known_customer(
            self.settings, self.applicant.get("national_id", "-")
        )
        path = "/api/v1/predict-existing-customer"
        body = _expect(self.api.call("POST", path, {by: customer[by]}), 200, f"POST {path} by {by}")
        if body["customer_info"]["national_id"] != customer["national_id"]:
            raise SmokeError(f"looked up by {by}, answered for another customer")
        return f"score {body['predicted_score']} ({body['predicted_group']})"

    def unknown(self) -> str:
        path = "/api/v1/predict-existing-customer"
        answer = self.api.call("POST", path, {"national_id": _unknown_id(self.settings, self.rng)})
        return str(_expect(answer, 404, f"POST {path} for an unknown national_id")["type"])

    def malformed(self) -> str:
        path = "/api/v1/predict-new-customer"
        bad = {**_fresh_applicant(self.rng), "email": "not-an-email"}
        body = _expect(self.api.call("POST", path, bad), 422, f"POST {path} with a bad email")
        named = [problem["field"] for problem in body.get("errors", [])]
        if named != ["email"]:
            raise SmokeError(f"the 422 should name exactly the field email, named {named}")
        return f"named {named[0]}: {body['errors'][0]['message']}"

    def history(self) -> str:
        path = f"/api/v1/customers/{self.applicant['national_id']}/scores"
        body = _expect(self.api.call("GET", path), 200, "GET the new customer's score history")
        # Newest first: the retried score (recorded once), the score as existing, the score as new.
        bases = [score.get("basis") for score in body["scores"]]
        expected = ["application-only", "application-only", "application"]
        if bases != expected:
            raise SmokeError(f"the new customer's history should be {expected} (newest first), is {bases}")
        scores = ", ".join(str(score["predicted_score"]) for score in body["scores"])
        return f"{len(bases)} records: {scores}"

    def run(self) -> bool:
        """Runs every check and prints one line each; True when all passed, metrics moving included."""
        before = _request_counts(self.api)
        # Every check runs, also after a failure: one run shows everything that is wrong.
        results = [self._run_one(name, check) for name, check in self.checks()]
        after = _request_counts(self.api)
        return self._run_one("metrics moving", lambda: _metrics_moved(before, after)) and all(results)

    def _run_one(self, name: str, check: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = check()
        except SmokeError as error:
            print(f"  FAIL  {name}: {error}", flush=True)
            return False
        except (KeyError, TypeError, ValueError, OSError) as error:  # an answer of another shape, no answer
            print(f"  FAIL  {name}: {error!r}", flush=True)
            return False
        print(f"  ok    {name} ({(time.monotonic() - started) * 1000:.0f} ms): {detail}", flush=True)
        return True


def _metrics_moved(before: Mapping[str, float], after: Mapping[str, float]) -> str:
    # The checks above answered 3 times on the new-customer route (200, 409, 422) and 7 times on the
    # existing-customer route (the new customer, twice with a key, 3 lookups and a 404); other clients may
    # add more, never fewer.
    expected = {"/api/v1/predict-new-customer": 3, "/api/v1/predict-existing-customer": 7}
    moved = {route: after.get(route, 0.0) - before.get(route, 0.0) for route in expected}
    short = {route: delta for route, delta in moved.items() if delta < expected[route]}
    if short:
        raise SmokeError(f"creditscore_http_requests_total moved less than the requests sent: {short}")
    return ", ".join(f"{route} +{delta:.0f}" for route, delta in moved.items())


def run_smoke(base: str, key: str, settings: Settings) -> int:
    print(f"Smoke checks against {base}", flush=True)
    passed = Smoke(Api(base.rstrip("/"), key), settings).run()
    print("All smoke checks passed." if passed else "Smoke checks FAILED.")
    return 0 if passed else 1


def read_key(path: Path) -> str:
    if not path.is_file():
        raise SmokeError(f"no API key file at {path}: start the demo (make demo) or pass --api-key-file")
    return path.read_text().strip()


@contextmanager
def running_demo(api_port: int, aws_port: int, dynamodb_port: int, key_file: Path) -> Iterator[None]:
    """``creditscore demo`` as a child (its output passed through), stopped like Ctrl-C stops it."""
    command = [sys.executable, "-m", "creditscore.cli", "demo", "--port", str(aws_port)]
    command += ["--dynamodb-port", str(dynamodb_port), "--api-port", str(api_port)]
    # Started once the service answers; all set once the demo has written this run's key, its last step.
    # Unbuffered: the demo's progress shows as it happens, in order with ours.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    demo = ChildServer("demo", command, f"http://127.0.0.1:{api_port}/ready", env=env, echo=True)
    demo.start_timeout = 1800
    key_file.unlink(missing_ok=True)
    demo.start()
    try:
        _wait_for(key_file.is_file, 30, f"the demo to write {key_file}")
        yield
    finally:
        started = descendants(demo.process.pid)
        demo.process.send_signal(signal.SIGINT)
        try:
            code = demo.process.wait(_DEMO_STOP_SECONDS)
        finally:
            demo.stop()
        _wait_for(lambda: not _alive(started), 10, "the demo's processes to exit")
        print(f"Demo stopped on Ctrl-C (exit code {code}); none of its {len(started)} processes is left.")
        if code != 0:
            raise SmokeError(f"the demo exited with code {code} on Ctrl-C")


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        try:
            if "zombie" not in status.read_text():
                alive.add(pid)
        except OSError:
            continue
    return alive


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SmokeError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(0.2)
