"""Webhook receivers for the outbound-delivery benchmark, run as their own process.

    python -m bench.webhook_receiver PORT OUT_FILE

Answers every `POST /<k>` with `200` at once and records, per request, the
receiver index k, the `webhook-id`, the shipment (`source` + `subject` of
the CloudEvent) and the wall-clock time it arrived. On SIGTERM it writes the
records to OUT_FILE (one JSON array) and exits.

A bare HTTP/1.1 keep-alive protocol on asyncio rather than an aiohttp
server: on a 2-core machine the receivers share the CPU with the service
they measure, and a receiver's own cost would show as the service's
latency. Receivers are remote in production.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time

import orjson

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
Record = tuple[int, str, str, float]


class _Receiver(asyncio.Protocol):
    def __init__(self, records: list[Record]) -> None:
        self._records = records
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            size = int(headers.get("content-length", "0"))
            if len(self._buffer) < end + 4 + size:
                return
            body = bytes(self._buffer[end + 4:end + 4 + size])
            del self._buffer[:end + 4 + size]
            self._record(head[0], headers, body)
            assert self._transport is not None
            self._transport.write(_OK)

    def _record(self, request_line: str, headers: dict[str, str], body: bytes) -> None:
        arrived = time.time()
        path = request_line.split(" ")[1] if " " in request_line else "/"
        index = int(path.strip("/") or 0) if path.strip("/").isdigit() else -1
        try:
            event = orjson.loads(body)
            shipment = f"{event.get('source')}|{event.get('subject')}"
        except orjson.JSONDecodeError:
            shipment = "?"
        self._records.append((index, headers.get("webhook-id", ""), shipment, arrived))


async def serve(port: int, out: str) -> None:
    records: list[Record] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Receiver(records), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    with open(out, "wb") as f:
        f.write(orjson.dumps(records))


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
