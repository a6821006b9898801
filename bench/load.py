"""A small HTTP load generator for the service benchmarks, run as its own process.

    python -m bench.load URL --seconds S --concurrency C [--rate R] [--offset N] [--events K] [--acks FILE]

Posts distinct UPS documents (K scans each) to URL and prints one JSON line:
requests, errors, elapsed, rate and latency percentiles. With --rate the
requests are paced (open loop: a slow server shows as latency, not as a lower
offered rate). With --acks it writes {tracking number: wall-clock time of the
202} for end-to-end measurements.

The client is a bare HTTP/1.1 keep-alive protocol on asyncio (prepared
request bytes, status line and Content-Length read back), not a full HTTP
client: on a 2-core machine the generator shares the CPU with what it
measures, and aiohttp's client costs about four times as much per request,
which shows as queueing in the very latencies being measured. Senders are
remote in production.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

from tests.docs import stream_number, ups_track

_KINDS = ("label", "origin", "arrived", "out", "delivered")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def document(n: int, events: int) -> tuple[str, bytes]:
    tn = stream_number(n)
    scans = [(_KINDS[min(k, len(_KINDS) - 1)], "20260301", f"{8 + k:02d}0000") for k in range(events)]
    return tn, ups_track(tn, scans)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time; the answer is the status code."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"transfer-encoding:"):
                waiter.set_exception(ConnectionError("chunked answers are not read by this client"))
                return
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[:end + 4 + length]
        if b"connection: close" in head:
            self.closed = True
        waiter.set_result(int(head[9:12]))

    async def request(self, data: bytes) -> int:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def run(url: str, seconds: float, concurrency: int, rate: float | None, offset: int, events: int,
              acks: dict[str, float] | None) -> dict:
    latencies: list[float] = []
    errors = sent = 0
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Content-Length: ").encode()
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal errors, sent
        connection: _Connection | None = None
        try:
            while True:
                i = sent
                sent += 1
                t0 = start + i / rate if rate else time.perf_counter()
                if t0 >= deadline:
                    return
                if rate and t0 > time.perf_counter():
                    await asyncio.sleep(t0 - time.perf_counter())
                tn, body = document(offset + i, events)
                try:
                    if connection is None or connection.closed:
                        _, connection = await loop.create_connection(_Connection, host, port)
                    status = await connection.request(head + str(len(body)).encode() + b"\r\n\r\n" + body)
                except (OSError, ValueError):
                    connection = None
                    errors += 1
                    continue
                if status == 202:
                    latencies.append(time.perf_counter() - t0)
                    if acks is not None:
                        acks[tn] = time.time()
                else:
                    errors += 1
        finally:
            if connection is not None:
                connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "errors": errors, "elapsed": elapsed, "rate": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rate", type=float, default=None)
    ap.add_argument("--offset", type=int, default=0, help="first document number (distinct runs, distinct docs)")
    ap.add_argument("--events", type=int, default=1, help="scans per document")
    ap.add_argument("--acks", default=None)
    args = ap.parse_args()
    acks: dict[str, float] | None = {} if args.acks else None
    result = asyncio.run(run(args.url, args.seconds, args.concurrency, args.rate, args.offset, args.events, acks))
    if args.acks:
        with open(args.acks, "w") as f:
            json.dump(acks, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
