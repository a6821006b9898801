"""Small webhooks' 202 latency while big documents are processed, against a baseline in the same run.

    python -m bench.big_documents [--seconds S] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

A `serve` process (in-process normalizer, SQLite, or PostgreSQL with --pg)
gets a steady trickle of small UPS webhooks (50/s, one scan each). First
alone for S seconds (the baseline), then while three big documents are
posted and normalized: one shipment with 20,000 scans, one scan with a 9 MB
description, a 6.7 MB X12 214 file, each alone (ROUNDS fresh copies, one
after the other), then the first two at once (the 20,000 scans and the 9 MB
description), then all three at once. Only the small webhooks sent while
a big document was in progress count. Prints p50/p99/max of their 202 per
phase and how long the big documents took.
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


async def _trickle(session: aiohttp.ClientSession, url: str, stop: asyncio.Event,
                   start: int) -> list[tuple[float, float]]:
    """One small webhook every 1/RATE s (each on its own task, so a slow answer does not slow the rate):
    (when it was sent, how long its 202 took)."""
    latencies: list[tuple[float, float]] = []
    failures: list[int] = []

    async def one(n: int) -> None:
        began = time.perf_counter()
        async with session.post(f"{url}/webhooks/ups", data=_small(n),
                                headers={"Content-Type": "application/json"}) as resp:
            await resp.read()
            if resp.status == 202:
                latencies.append((began, time.perf_counter() - began))
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
    """The trickle while `docs` are posted and normalized: the latencies of the webhooks sent before the
    last of them was normalized (posted again until at least `seconds` of them), and the time taken."""
    stop = asyncio.Event()
    trickle = asyncio.create_task(_trickle(session, service.url, stop, offset))
    began = time.perf_counter()
    for source, ctype, body, _ in docs:
        async with session.post(f"{service.url}/webhooks/{source}", data=body,
                                headers={"Content-Type": ctype}) as resp:
            assert resp.status == 202, resp.status
    while await service.backlog():
        await asyncio.sleep(0.1)
    took = time.perf_counter() - began
    stop.set()
    return [latency for sent, latency in await trickle if sent <= began + took], took


async def run(seconds: float, pg: str | None, rounds: int) -> None:
    big = [("ups", "application/json", many_scans(20_000), "20,000 scans (4.1 MB)"),
           ("ups", "application/json", long_description(9_000_000), "9 MB description"),
           ("x12", "application/edi-x12", big_x12(6_700_000), "6.7 MB X12 214")]
    async with Service(pg=pg) as service, aiohttp.ClientSession() as session:
        stop = asyncio.Event()
        trickle = asyncio.create_task(_trickle(session, service.url, stop, 0))
        await asyncio.sleep(seconds)
        stop.set()
        print(f"store: {'PostgreSQL' if pg else 'SQLite'}; in-process normalizer; small webhooks at {RATE:.0f}/s;"
              f" {rounds} round(s) of each, latencies of webhooks sent while big documents were in progress")
        print(_line("baseline (no big document)", [latency for _, latency in await trickle]))
        phases = [(doc[3], [doc]) for doc in big] + [("the two big documents at once", big[:2]),
                                                      ("all three at once", big)]
        for n, (name, chosen) in enumerate(phases, 1):
            latencies, took = [], 0.0
            for r in range(rounds):
                docs = [_copy(doc, n * 10 + r) for doc in chosen]  # fresh copies: new shipments, new bytes
                more, spent = await _during(session, service, docs, seconds, (n * 100 + r) * 100_000)
                latencies += more
                took += spent
            print(_line(f"{name} ({took / rounds:.1f} s each)", latencies))


def _copy(doc: tuple[str, str, bytes, str], tag: int) -> tuple[str, str, bytes, str]:
    """A copy of a big document about new shipments (so it is normalized again, not a duplicate)."""
    source, ctype, body, name = doc
    if source == "ups":
        return source, ctype, body.replace(b"1Z4F7W3903615", b"1Z4F7W390%04d" % tag), name
    return source, ctype, big_x12(6_700_000, tag), name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.big_documents", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="the baseline's length")
    parser.add_argument("--rounds", type=int, default=3, help="times each big document is sent (new copies)")
    parser.add_argument("--pg", help="an admin URL of PostgreSQL: measure on a database created for the run")
    args = parser.parse_args(argv)
    asyncio.run(run(args.seconds, args.pg, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
