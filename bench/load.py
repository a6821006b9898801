"""A small HTTP load generator for the service benchmarks (its own process, so it does not share the server's).

`python -m bench.load URL SECONDS CONCURRENCY [RATE]` posts distinct UPS
documents to URL and prints one JSON line: requests, errors, elapsed,
rate and latency percentiles. With RATE, requests are paced to that many
per second (open loop: latency includes waiting behind a slow server).
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from tests.docs import stream_number, ups_track


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, seconds: float, concurrency: int, rate: float | None, offset: int = 0) -> dict:
    bodies = [ups_track(stream_number(offset + i), [("origin", "20260301", "180000")]) for i in range(50_000)]
    latencies: list[float] = []
    errors = 0
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker(k: int) -> None:
            nonlocal errors, sent
            while True:
                i = sent
                sent += 1
                if rate:
                    due = start + i / rate
                    now = time.perf_counter()
                    if due > now:
                        await asyncio.sleep(due - now)
                    t0 = due
                else:
                    t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                try:
                    async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as resp:
                        await resp.read()
                        ok = resp.status == 202
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "errors": errors, "elapsed": elapsed, "rate": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000}


def main() -> None:
    url, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else None
    print(json.dumps(asyncio.run(run(url, seconds, concurrency, rate))))


if __name__ == "__main__":
    main()
