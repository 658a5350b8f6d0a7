"""The embedded local AWS endpoint: moto's server as a child process speaking the real S3/DynamoDB protocols.

Used by ``creditscore local-aws``, by ``make demo`` and by the test suite's session fixture, so the code
under test always talks HTTP to a real server, exactly as it talks to AWS.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from creditscore.errors import JobError

_PR_SET_PDEATHSIG: Final = 1


class LocalAwsError(JobError):
    """The local endpoint could not be started or stopped cleanly."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Linux only: the kernel sends SIGTERM to moto if we die without cleaning up (even by SIGKILL),
    # so an interrupted demo or test run never leaves an orphan server holding the port.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalAws:
    """A moto server on ``host:port``; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        # A server bound to every interface is still reached through loopback from this machine.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise LocalAwsError("the local AWS endpoint is not running")
        return self._process

    def _answers(self) -> bool:
        try:
            # The dashboard page is static; data.json would serialise every stored object.
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def start(self, timeout: float = 30.0) -> None:
        if self._answers():
            raise LocalAwsError(f"something already answers on {self.endpoint_url}; stop it or pick --port")
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None:
                self._close_log()
                raise LocalAwsError(
                    f"moto server exited with code {self._process.returncode} while starting on "
                    f"{self.endpoint_url} (is the port in use?)"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LocalAwsError(
                    f"moto server did not answer on {self.endpoint_url} within {timeout:.0f}s"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
