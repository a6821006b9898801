"""A TCP proxy to put between the service and RabbitMQ, so the broker link can fail without touching the
broker (it is shared): `pass` forwards, `refuse` closes every connection and every new one at once (the
broker down), `blackhole` keeps connections open and drops every byte both ways (a partition: nothing
answers, nothing says so). Healing a blackhole resets the connections that lost bytes, as their streams
cannot continue, the way a stateful firewall's reset or the peer's heartbeat timeout ends them."""
from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.port = 0
        self._links: set[_Link] = set()
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in list(self._links):
            link.close()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def set(self, mode: str) -> None:
        """`pass`, `refuse` or `blackhole`; leaving a fault closes the connections it broke."""
        assert mode in ("pass", "refuse", "blackhole")
        before, self.mode = self.mode, mode
        if mode == "refuse" or (before == "blackhole" and mode == "pass"):
            for link in list(self._links):
                if mode == "refuse" or link.dropped:
                    link.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        link = _Link(self, writer)
        self._links.add(link)
        try:
            if self.mode == "blackhole":  # a SYN that is answered by nobody behind: swallow until healed
                link.dropped = True
                while await reader.read(65536):
                    pass
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            link.upstream = up_writer
            await asyncio.gather(link.pump(reader, up_writer), link.pump(up_reader, writer))
        except OSError:
            pass
        finally:
            link.close()
            self._links.discard(link)


class _Link:
    def __init__(self, proxy: Proxy, client: asyncio.StreamWriter) -> None:
        self.proxy, self.client = proxy, client
        self.upstream: asyncio.StreamWriter | None = None
        self.dropped = False

    async def pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                if self.proxy.mode != "pass":
                    self.dropped = True
                    continue
                dst.write(data)
                await dst.drain()
        self.close()

    def close(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None and not w.is_closing():
                w.transport.abort()
