"""A TCP relay that slows an HTTP dependency down or cuts it off, for tests of what the service does when
one is slow or gone."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Final

from creditscore.local_aws import free_port

_METHODS: Final = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ")


@dataclass
class _Connection:
    #: The answer to the last request relayed is to be held back.
    hold: bool = False


class FaultProxy:
    """A TCP relay to an HTTP endpoint that can hold each answer back ``delay`` seconds (slow storage), or
    cut every connection and refuse new ones (storage gone: a crashed host, a partition).

    With ``operations`` set, only answers to requests naming one of them (DynamoDB's ``X-Amz-Target``, e.g.
    ``TransactWriteItems``) are held: the request itself goes through at once, so a slow answer is one
    whose write landed.
    """

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay = 0.0
        self.operations: set[str] = set()
        self.refusing = False
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", self.port))
        started.set()
        self.loop.run_forever()
        server.close()

    def _holds(self, head: bytes) -> bool:
        return bool(self.delay) and (
            not self.operations or any(f".{name}".encode() in head for name in self.operations)
        )

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        try:
            while data := await reader.read(65536):
                # A request's head decides whether its answer is held; later chunks are its body.
                if data.startswith(_METHODS):
                    connection.hold = self._holds(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answers(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        try:
            while data := await reader.read(65536):
                if connection.hold:
                    connection.hold = False
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_writer.transport.abort()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        connection = _Connection()
        try:
            await asyncio.gather(
                self._requests(client_reader, upstream_writer, connection),
                self._answers(upstream_reader, client_writer, connection),
            )
        except asyncio.CancelledError:
            # Cut: both ends dropped, as a host that died mid-request leaves them; what was sent may or may
            # not have landed. Not re-raised: the stream server would log a cancelled handler as an error.
            client_writer.transport.abort()
            upstream_writer.transport.abort()

    async def _cancel_relays(self) -> None:
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    def cut(self) -> None:
        """Reset every connection now and every new one until :meth:`restore`."""
        self.refusing = True
        asyncio.run_coroutine_threadsafe(self._cancel_relays(), self.loop).result(10)

    def restore(self) -> None:
        self.refusing = False

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cancel_relays(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
