"""``creditscore serve``: gunicorn's master over aiohttp workers, one per core by default.

Why gunicorn rather than several aiohttp processes sharing the port with SO_REUSEPORT: the master restarts a
worker that dies, turns SIGTERM into a graceful stop (stop accepting, let in-flight requests finish within
``CREDITSCORE_SHUTDOWN_SECONDS``, run each app's cleanup so clients close), and has the hooks Prometheus'
multiprocess mode needs — wipe the directory before the first worker starts, drop a dead worker's live
gauges. With SO_REUSEPORT all of that would be ours to write, and the kernel would keep routing
connections to a dead worker's port share until something noticed.

Nothing here imports prometheus_client, torch or the app before the environment is set: workers fork from
this master and import them afterwards, so each sees the multiprocess directory and one-thread settings.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from gunicorn.app.base import BaseApplication

from creditscore.config import Settings

#: Worker's keep-alive: above the 60 s idle timeout of the AWS load balancer in front, so the balancer,
#: not the worker, closes idle connections (the other way round, requests race a closing connection).
KEEPALIVE_SECONDS: Final = 75
# Native thread pools read these when their library loads, in the worker after the fork.
_ONE_THREAD: Final = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class _Service(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from creditscore.logs import configure_logging
        from server.app import create_app

        configure_logging(self.settings)
        return create_app(self.settings)


def prepare_metrics_dir(settings: Settings) -> Path:
    """Set (and wipe) the Prometheus multiprocess directory; must run before prometheus_client loads."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
    directory = Path(settings.metrics_dir or tempfile.mkdtemp(prefix="creditscore-metrics-"))
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ[_MULTIPROC_ENV] = str(directory)
    return directory


def worker_count(settings: Settings, requested: int | None) -> int:
    count = requested if requested is not None else settings.workers
    return count or os.cpu_count() or 1


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run the service until SIGTERM or SIGINT; returns after a graceful stop."""
    directory = prepare_metrics_dir(settings)
    for name in _ONE_THREAD:
        os.environ[name] = "1"
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "aiohttp.GunicornUVLoopWebWorker",
        "graceful_timeout": math.ceil(settings.shutdown_seconds),
        # Seconds a silent worker may take before the master replaces it; model loading counts.
        "timeout": 120,
        "keepalive": KEEPALIVE_SECONDS,
        # The service logs one structured line per request itself; gunicorn's access log would print
        # paths, which can hold national IDs.
        "accesslog": None,
        "loglevel": settings.log_level.lower(),
        "child_exit": _child_exit,
        "proc_name": f"creditscore-{settings.prefix}",
    }
    try:
        _Service(settings, options).run()
    finally:
        if not settings.metrics_dir:
            shutil.rmtree(directory, ignore_errors=True)
