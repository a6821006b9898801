"""The chaos suite's broker proxy does what its runs claim: forwards, refuses, blackholes, and heals."""
from __future__ import annotations

import asyncio

import pytest

from bench.chaos.proxy import Proxy


async def _echo_server() -> asyncio.base_events.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def _roundtrip(port: int, timeout: float = 1.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"ping")
        await writer.drain()
        return await asyncio.wait_for(reader.read(1024), timeout)
    finally:
        writer.close()


async def _closed(reader: asyncio.StreamReader) -> bool:
    """The peer closed or reset the connection (the proxy aborts: a reset, as a dead broker's host sends)."""
    try:
        return await asyncio.wait_for(reader.read(10), 1.0) == b""
    except ConnectionResetError:
        return True


async def _refused(port: int) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _closed(reader)
    finally:
        writer.close()


async def test_the_proxy_forwards_refuses_blackholes_and_heals():
    server = await _echo_server()
    async with server, Proxy("127.0.0.1", server.sockets[0].getsockname()[1]) as proxy:
        assert await _roundtrip(proxy.port) == b"ping"

        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)  # open when the link is cut
        writer.write(b"a")
        assert await reader.read(10) == b"a"
        proxy.set("refuse")
        assert await _closed(reader)
        assert await _refused(proxy.port)  # a new connection is closed at once
        writer.close()

        proxy.set("blackhole")
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"lost")
        with pytest.raises(asyncio.TimeoutError):  # open, but nothing comes back
            await asyncio.wait_for(reader.read(10), 0.3)
        proxy.set("pass")
        assert await _closed(reader)  # the broken stream is reset
        writer.close()
        assert await _roundtrip(proxy.port) == b"ping"
