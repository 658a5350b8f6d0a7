"""Every Prometheus metric the service exports, defined once, and the ``/metrics`` rendering.

Several worker processes serve behind one port, so prometheus_client runs in multiprocess mode: each
process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any worker sums the
files of all of them. prometheus_client picks its storage when it is first imported, so the directory must
be in the environment before that import: ``server.runner`` sets it before any worker loads this module
(the tests set it in ``conftest.py``). Without the variable (a single process, e.g. a notebook) the
default in-process registry is used.

Gauges say how to combine processes: requests in flight add up over live workers (``livesum``); a model
version is in service while any live worker serves it (``livemax``). A dead worker's live gauges are
dropped by ``mark_process_dead`` in the runner; its counters stay in the sums, as counters should. Every
worker computes the same stability indices from the summed counters, so their gauges keep the value
written last (``livemostrecent``).
"""

from __future__ import annotations

import functools
import glob
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
EXPLAIN_FAILURES: Final = Counter(
    f"{PREFIX}explain_failures_total",
    "Model calls whose explanation raised, by model and version: the scores were given without that "
    "model's reasons.",
    ["model", "version"],
)
MODEL_RELOADS: Final = Counter(
    f"{PREFIX}model_reloads_total",
    "Model version checks that loaded something, by result (loaded, failed).",
    ["model", "result"],
)
CHALLENGER_INFO: Final = Gauge(
    f"{PREFIX}challenger_info",
    "For each model's challenger in service: its share of customers (1 in shadow mode), by version and mode.",
    ["model", "version", "mode"],
    multiprocess_mode="livemax",
)
CHALLENGER_SCORES: Final = Counter(
    f"{PREFIX}challenger_scores_total",
    "Customers a challenger scored, by result: scored (in time for the score record), late (after the "
    "answer: metrics only), failed (its inference raised; the answer was the champion's), decided (split: "
    "the challenger's score was the answer).",
    ["model", "version", "mode", "result"],
)
CHALLENGER_AGREEMENT: Final = Counter(
    f"{PREFIX}challenger_band_agreement_total",
    "Shadow comparisons of a challenger with its champion on one customer, by whether both gave one band.",
    ["model", "agree"],
)
CHALLENGER_DIFFERENCE: Final = Histogram(
    f"{PREFIX}challenger_score_difference",
    "|challenger score - champion score| in points, per customer compared in shadow (mean = sum / count).",
    ["model"],
    buckets=(1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 250, 550),
)
CHALLENGER_INFERENCE: Final = Histogram(
    f"{PREFIX}challenger_inference_seconds",
    "Time from submitting rows to a challenger until its scores came back (queue and model call).",
    ["model"],
    buckets=_LATENCY_BUCKETS,
)
CHALLENGER_MAX_DISAGREEMENT: Final = Gauge(
    f"{PREFIX}challenger_max_disagreement",
    "CREDITSCORE_CHALLENGER_MAX_DISAGREEMENT: the band disagreement rate above which the alert fires.",
    multiprocess_mode="livemax",
)

# Stability (server.stability): each worker adds its counts per bin to the counters (summed over the host's
# workers), and from those sums every worker computes the same indices; the gauges keep the one written last.
#: The counters' names as read back (:func:`counter_totals`): without the ``_total`` of their samples.
SCORE_BINS_NAME: Final = f"{PREFIX}score_bin_observations"
FEATURE_BINS_NAME: Final = f"{PREFIX}feature_bin_observations"
SCORE_BIN_OBSERVATIONS: Final = Counter(
    f"{SCORE_BINS_NAME}_total",
    "Scores a model version gave, by 50-point bin (its lower edge), for the population stability index.",
    ["model", "version", "bin"],
)
FEATURE_BIN_OBSERVATIONS: Final = Counter(
    f"{FEATURE_BINS_NAME}_total",
    "Rows a model version scored, by feature and by the feature's bin in the version's training reference "
    "(0, 1, ... or missing), for the characteristic stability index.",
    ["model", "version", "feature", "bin"],
)
SCORE_PSI: Final = Gauge(
    f"{PREFIX}score_psi",
    "Population stability index of a model version's scores over CREDITSCORE_STABILITY_WINDOW_SECONDS "
    "against its training population: < 0.1 stable, 0.1-0.25 watch, > 0.25 act; NaN below "
    "CREDITSCORE_STABILITY_MIN_OBSERVATIONS.",
    ["model", "version"],
    multiprocess_mode="livemostrecent",
)
FEATURE_CSI: Final = Gauge(
    f"{PREFIX}feature_csi",
    "Characteristic stability index of one input of a model version over the window, read like the PSI.",
    ["model", "version", "feature"],
    multiprocess_mode="livemostrecent",
)
STABILITY_OBSERVATIONS: Final = Gauge(
    f"{PREFIX}stability_observations",
    "Scores of a model version the stability indices were computed from (the window's, all workers).",
    ["model", "version"],
    multiprocess_mode="livemostrecent",
)


# A child per label set, looked up once: labels() takes a lock and builds a key on every call.
@functools.lru_cache(maxsize=1024)
def http_requests(route: str, method: str, status: int) -> Counter:
    return HTTP_REQUESTS.labels(route, method, str(status))


@functools.lru_cache(maxsize=256)
def http_duration(route: str) -> Histogram:
    return HTTP_DURATION.labels(route)


def counter_totals(*names: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The value of each counter named (without ``_total``) by label set (sorted (name, value) pairs),
    summed over the host's workers in multiprocess mode. Reads only the counters' files: no gauge or
    histogram is parsed."""
    if os.environ.get(MULTIPROC_ENV):
        files = glob.glob(os.path.join(os.environ[MULTIPROC_ENV], "counter_*.db"))
        collected = multiprocess.MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
    else:
        collected = REGISTRY.collect()
    totals: dict[str, dict[tuple[tuple[str, str], ...], float]] = {name: {} for name in names}
    for metric in collected:
        if metric.name not in totals:
            continue
        found = totals[metric.name]
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return totals


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (summed over workers in multiprocess mode) and its type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
