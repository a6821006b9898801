"""One robust broker connection, and whether the bus may use it right now.

The broker being away is a normal state: intake only writes the store, and the
relays wait on `ready` instead of failing. `ready` is set once the connection
is up *and* the topology has been (re)declared on it, cleared as soon as the
connection drops. The first connection is made in the background
(`fail_fast` off), so a service started while the broker is down still
starts, answers 202s and catches up when the broker arrives.
"""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from yarl import URL

from .topology import Topology

log = logging.getLogger(__name__)

RECONNECT_INTERVAL = 1.0  # seconds; a URL query `reconnect_interval=` overrides it


class Link:
    def __init__(self, url: str, topology: Topology, role: str) -> None:
        self._url = URL(url)
        self.topology = topology
        # Shown by `rabbitmqctl list_connections client_properties` and the management UI.
        self.name = f"carrier-events {role} pid={os.getpid()} {uuid.uuid4().hex[:8]}"
        self.ready = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task | None = None
        self._redeclare: asyncio.Task | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return self.ready.is_set()

    def open(self) -> None:
        """Start connecting in the background; `await wait_ready()` for the result."""
        self._task = asyncio.create_task(self._connect(), name="amqp-connect")

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """True once usable; False if `timeout` passed first."""
        if self.ready.is_set():
            return True
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _connect(self) -> None:
        options: dict[str, Any] = {"fail_fast": False}
        if "reconnect_interval" not in self._url.query:
            options["reconnect_interval"] = RECONNECT_INTERVAL
        connection = aio_pika.RobustConnection(
            self._url, client_properties={"connection_name": self.name}, **options)
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection = connection
        await connection.connect()  # waits until the broker answers (retrying every reconnect_interval)
        await self._declare()

    def _on_close(self, _connection: object, exc: BaseException | None = None) -> None:
        if self.ready.is_set() and not self._closing:
            log.warning("broker connection lost (%s); relays paused, intake keeps accepting", exc)
        self.ready.clear()

    def _on_reconnect(self, _connection: object) -> None:
        # Not awaited inline: the callback runs inside the connection's own recovery.
        if self._redeclare is None or self._redeclare.done():
            self._redeclare = asyncio.create_task(self._declare(), name="amqp-redeclare")

    async def _declare(self) -> None:
        """Declare the topology on a short-lived channel, then open the gate."""
        assert self._connection is not None
        while not self._closing:
            try:
                channel = await self._connection.channel(publisher_confirms=False)
                try:
                    await self.topology.declare(await channel.get_underlay_channel())
                finally:
                    await channel.close()
            except Exception as exc:  # connection dropped again, or a definition conflicts
                log.warning("declaring the topology failed (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(RECONNECT_INTERVAL)
                if self._connection.is_closed:
                    return
                await self._connection.connected.wait()
                continue
            if not self._connection.connected.is_set():
                continue  # dropped right after declaring: the reconnect callback will run again
            self.ready.set()
            log.info("broker connected, topology declared (%s)", self.name)
            return

    async def channel(self, *, confirms: bool = True, on_return_raises: bool = False,
                      prefetch: int | None = None) -> AbstractRobustChannel:
        """A robust channel (restored with its queues and consumers after a reconnect)."""
        await self.ready.wait()
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=confirms, on_return_raises=on_return_raises)
        if prefetch is not None:
            await channel.set_qos(prefetch_count=prefetch)
        return channel  # type: ignore[return-value]

    async def close(self) -> None:
        self._closing = True
        self.ready.clear()
        for task in (self._task, self._redeclare):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
