"""Small webhooks' 202 latency while big documents are processed, against a baseline in the same run.

    python -m bench.big_documents [--seconds S] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

A `serve` process (in-process normalizer, SQLite, or PostgreSQL with --pg)
gets a steady trickle of small UPS webhooks (50/s, one scan each). First
alone for S seconds (the baseline), then while three big documents are
posted and normalized: one shipment with 20,000 scans, one scan with a 9 MB
description, a 6.7 MB X12 214 file. The trickle goes on until every big
document is normalized (and at least S seconds). Prints p50/p99/max of the
small webhooks' 202 in both phases and how long the big documents took.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp


from .documents import big_x12, long_description, many_scans
from .load import percentile
from .service import Service

RATE = 50.0


def _small(n: int) -> bytes:
    return (b'{"trackResponse":{"shipment":[{"inquiryNumber":"1ZBENCH%08d","package":[{"trackingNumber":'
            b'"1ZBENCH%08d","activity":[{"status":{"type":"I","description":"Arrived at Facility","code":"AR"},'
            b'"date":"20250312","time":"101010"}]}]}]}' % (n, n))


async def _trickle(session: aiohttp.ClientSession, url: str, stop: asyncio.Event, start: int) -> list[float]:
    """One small webhook every 1/RATE s (each on its own task, so a slow answer does not slow the rate)."""
    latencies: list[float] = []
    failures: list[int] = []

    async def one(n: int) -> None:
        began = time.perf_counter()
        async with session.post(f"{url}/webhooks/ups", data=_small(n),
                                headers={"Content-Type": "application/json"}) as resp:
            await resp.read()
            if resp.status == 202:
                latencies.append(time.perf_counter() - began)
            else:
                failures.append(resp.status)

    tasks, n, next_at = [], start, time.perf_counter()
    while not stop.is_set():
        tasks.append(asyncio.create_task(one(n)))
        n += 1
        next_at += 1 / RATE
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.gather(*tasks)
    if failures:
        print(f"  ({len(failures)} small webhooks not 202: {sorted(set(failures))})")
    return latencies


def _line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name:<34} n={len(ms):5d}  p50 {percentile(ms, 0.5):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
            f"max {max(ms) if ms else float('nan'):7.1f} ms")


async def _during(session: aiohttp.ClientSession, service: Service, docs: list, seconds: float,
                  offset: int) -> tuple[list[float], float]:
    """The trickle while `docs` are posted and normalized (and at least `seconds`): latencies, time taken."""
    stop = asyncio.Event()
    trickle = asyncio.create_task(_trickle(session, service.url, stop, offset))
    began = time.perf_counter()
    for source, ctype, body, _ in docs:
        async with session.post(f"{service.url}/webhooks/{source}", data=body,
                                headers={"Content-Type": ctype}) as resp:
            assert resp.status == 202, resp.status
    while await service.backlog():
        await asyncio.sleep(0.2)
    took = time.perf_counter() - began
    await asyncio.sleep(max(0.0, seconds - took))
    stop.set()
    return await trickle, took


async def run(seconds: float, pg: str | None) -> None:
    big = [("ups", "application/json", many_scans(20_000), "20,000 scans (4.1 MB)"),
           ("ups", "application/json", long_description(9_000_000), "9 MB description"),
           ("x12", "application/edi-x12", big_x12(6_700_000), "6.7 MB X12 214")]
    async with Service(pg=pg) as service, aiohttp.ClientSession() as session:
        stop = asyncio.Event()
        trickle = asyncio.create_task(_trickle(session, service.url, stop, 0))
        await asyncio.sleep(seconds)
        stop.set()
        print(f"store: {'PostgreSQL' if pg else 'SQLite'}; in-process normalizer; small webhooks at {RATE:.0f}/s")
        print(_line("baseline (no big document)", await trickle))
        for n, doc in enumerate(big, 1):
            latencies, took = await _during(session, service, [doc], seconds, n * 1_000_000)
            print(_line(f"{doc[3]} ({took:.1f} s)", latencies))
        latencies, took = await _during(session, service, [(s, c, b.replace(b"1Z4F7W39036155", b"1Z4F7W39036166")
                                                            if s == "ups" else b + b"\n", name)
                                                           for s, c, b, name in big], seconds, 9_000_000)
        print(_line(f"all three at once ({took:.1f} s)", latencies))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.big_documents", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pg", help="an admin URL of PostgreSQL: measure on a database created for the run")
    args = parser.parse_args(argv)
    asyncio.run(run(args.seconds, args.pg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
