"""Every Prometheus metric the service exports, defined once, and the ``/metrics`` rendering.

Several worker processes serve behind one port, so prometheus_client runs in multiprocess mode: each
process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any worker sums the
files of all of them. prometheus_client picks its storage when it is first imported, so the directory must
be in the environment before that import: ``server.runner`` sets it before any worker loads this module
(the tests set it in ``conftest.py``). Without the variable (a single process, e.g. a notebook) the
default in-process registry is used.

Gauges say how to combine processes: requests in flight add up over live workers (``livesum``); a model
version is in service while any live worker serves it (``livemax``). A dead worker's live gauges are
dropped by ``mark_process_dead`` in the runner; its counters stay in the sums, as counters should.
"""

from __future__ import annotations

import functools
import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
PREFIX: Final = "creditscore_"

# Request latencies from sub-millisecond (health) to the seconds a stalled dependency costs.
_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_INFERENCE_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)

HTTP_REQUESTS: Final = Counter(
    f"{PREFIX}http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
HTTP_DURATION: Final = Histogram(
    f"{PREFIX}http_request_duration_seconds",
    "Time from request to response, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT: Final = Gauge(
    f"{PREFIX}http_requests_in_flight", "Requests being handled now.", multiprocess_mode="livesum"
)
MODEL_INFERENCE: Final = Histogram(
    f"{PREFIX}model_inference_seconds",
    "Time of one model call (a batch of grouped requests), by model and version.",
    ["model", "version"],
    buckets=_INFERENCE_BUCKETS,
)
MODEL_BATCH_SIZE: Final = Histogram(
    f"{PREFIX}model_batch_size", "Rows per model call.", ["model"], buckets=_BATCH_BUCKETS
)
SCORES: Final = Counter(
    f"{PREFIX}scores_total",
    "Scores given, by segment, FICO band and basis (application, existing-models, application-only).",
    ["segment", "band", "basis"],
)
SHED: Final = Counter(
    f"{PREFIX}shed_requests_total",
    "Requests refused at once to protect the others: in_flight (503, the worker's cap) or rate_limit (429, "
    "the key's rate), by API key id where known.",
    ["reason", "api_key_id"],
)
IDEMPOTENT_REPLAYS: Final = Counter(
    f"{PREFIX}idempotent_replays_total",
    "Requests answered with an earlier answer to the same idempotency key (a client's retry), by route.",
    ["route"],
)
DYNAMODB_DURATION: Final = Histogram(
    f"{PREFIX}dynamodb_request_duration_seconds",
    "Time of one DynamoDB call, retries included.",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
DYNAMODB_ERRORS: Final = Counter(
    f"{PREFIX}dynamodb_errors_total",
    "DynamoDB calls that failed (after retries), conditional-check refusals excluded.",
    ["operation"],
)
EVENT_LOOP_LAG: Final = Histogram(
    f"{PREFIX}event_loop_lag_seconds",
    "How late the worker's event loop woke a timer, checked every CREDITSCORE_LOOP_LAG_SECONDS: time during "
    "which no request on that worker moved (a long model call, GC, a blocking call).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
MODEL_INFO: Final = Gauge(
    f"{PREFIX}model_info",
    "1 for each model version in service.",
    ["model", "version"],
    multiprocess_mode="livemax",
)
REASONS_SUPPRESSED: Final = Counter(
    f"{PREFIX}reasons_suppressed_total",
    "Reasons a model gave that were not told to the customer, by model, feature and why: counter_intuitive "
    "(the model says a value at the feature's best end raised the risk: review the model), protected, "
    "not_citable.",
    ["model", "feature", "why"],
)
MODEL_RELOADS: Final = Counter(
    f"{PREFIX}model_reloads_total",
    "Model version checks that loaded something, by result (loaded, failed).",
    ["model", "result"],
)


# A child per label set, looked up once: labels() takes a lock and builds a key on every call.
@functools.lru_cache(maxsize=1024)
def http_requests(route: str, method: str, status: int) -> Counter:
    return HTTP_REQUESTS.labels(route, method, str(status))


@functools.lru_cache(maxsize=256)
def http_duration(route: str) -> Histogram:
    return HTTP_DURATION.labels(route)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (summed over workers in multiprocess mode) and its type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
