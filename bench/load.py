"""A small HTTP load generator for the service benchmarks, run as its own process.

    python -m bench.load URL --seconds S --concurrency C [--rate R] [--offset N] [--events K] [--acks FILE]

Posts distinct UPS documents (K scans each) to URL and prints one JSON line:
requests, errors, elapsed, rate and latency percentiles. With --rate the
requests are paced (open loop: a slow server shows as latency, not as a lower
offered rate). With --acks it writes {tracking number: wall-clock time of the
202} for end-to-end measurements.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

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


async def run(url: str, seconds: float, concurrency: int, rate: float | None, offset: int, events: int,
              acks: dict[str, float] | None) -> dict:
    latencies: list[float] = []
    errors = sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal errors, sent
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
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        ok = resp.status == 202
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                    if acks is not None:
                        acks[tn] = time.time()
                else:
                    errors += 1

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
