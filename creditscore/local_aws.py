"""The embedded local AWS endpoint: moto's server as a child process speaking the real S3/DynamoDB protocols.

Used by ``creditscore local-aws``, by ``make demo`` and by the test suite's session fixture, so the code
under test always talks HTTP to a real server, exactly as it talks to AWS. :class:`ChildServer` also runs
the demo's scoring service.
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
from typing import IO, Final, Self

from creditscore.errors import JobError

_PR_SET_PDEATHSIG: Final = 1


class LocalAwsError(JobError):
    """A local server (the AWS endpoint, the demo's service) could not be started or stopped cleanly."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux: read from /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:  # exited while we looked
            continue
        if f"\nPPid:\t{pid}\n" in text:
            found.append(int(status.parent.name))
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``: children, their children, and so on."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        below = [child for parent in frontier for child in children(parent) if child not in found]
        found.update(below)
        frontier = below
    return found


def _die_with_parent() -> None:
    # Linux only: the kernel sends SIGTERM to the child if we die without cleaning up (even by SIGKILL),
    # so an interrupted demo or test run never leaves an orphan server holding the port.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildServer:
    """A server run as a child process until :meth:`stop`, ready once ``probe_url`` answers 200.

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        what: str,
        command: list[str],
        probe_url: str,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
        echo: bool = False,
    ) -> None:
        #: What the server is, for messages.
        self.what = what
        self.command = command
        self.probe_url = probe_url
        self.log_path = log_path
        self.env = env
        self.start_timeout = start_timeout
        #: Without a log file: True passes the child's output through to ours, False discards it.
        self.echo = echo
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise LocalAwsError(f"the {self.what} is not running")
        return self._process

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.probe_url, timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def start(self, timeout: float | None = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        if self.answers():
            raise LocalAwsError(
                f"something already answers on {self.probe_url}; stop it or pick another port"
            )
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log or (None if self.echo else subprocess.DEVNULL),
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._process.poll() is not None:
                self._close_log()
                raise LocalAwsError(
                    f"the {self.what} exited with code {self._process.returncode} while starting "
                    f"(is the port in use?{f' see {self.log_path}' if self.log_path else ''})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LocalAwsError(f"the {self.what} did not answer {self.probe_url} within {timeout:.0f}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds."""
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class LocalAws(ChildServer):
    """moto's server on ``host:port`` (DynamoDB calls serialised, see :mod:`creditscore.moto_server`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port
        command = [sys.executable, "-m", "creditscore.moto_server", "-H", host, "-p", str(port)]
        # The dashboard page is static; data.json would serialise every stored object.
        super().__init__("local AWS endpoint", command, f"{self.endpoint_url}/moto-api/", log_path)

    @property
    def endpoint_url(self) -> str:
        # A server bound to every interface is still reached through loopback from this machine.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"
