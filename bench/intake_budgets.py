"""Authenticated webhooks' 429/503 rates while unsigned requests flood a source or upload slowly.

    python -m bench.intake_budgets [--seconds S]

A `serve` process with UPS authenticated by a shared credential, UPS's rate
limit at 100/s and 64 webhook slots. Signed UPS webhooks go in at 40/s in
three phases of S seconds each: alone (the baseline); beside unsigned
requests at the source's full rate (100/s, from the same address); beside
200 unsigned uploads that send their head and then trickle the body (each
connection reopened as soon as it is answered). Prints per phase how many
signed webhooks got 202, 429 and 503.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time

import aiohttp

from .service import Service

SIGNED_RATE, SOURCE_RATE, SLOTS, SLOW = 40.0, 100.0, 64, 200


def _body(n: int) -> bytes:
    return (b'{"trackResponse":{"shipment":[{"inquiryNumber":"1ZBUDGET%08d","package":[{"trackingNumber":'
            b'"1ZBUDGET%08d","activity":[{"status":{"type":"I","description":"Arrived at Facility","code":"AR"},'
            b'"date":"20250312","time":"101010"}]}]}]}' % (n, n))


async def _paced(rate: float, stop: asyncio.Event, send) -> None:
    tasks, n, next_at = [], 0, time.perf_counter()
    while not stop.is_set():
        tasks.append(asyncio.create_task(send(n)))
        n += 1
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.gather(*tasks, return_exceptions=True)


async def _slow_uploader(port: int, stop: asyncio.Event) -> None:
    """One unsigned upload after another, each trickling its body a byte a second."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            writer.write(b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n")
            while not stop.is_set():
                writer.write(b" ")
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.readline(), 1.0)
                    break  # answered (refused): start another
                except asyncio.TimeoutError:
                    continue
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def _phase(name: str, url: str, seconds: float, offset: int, noise) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def signed(n: int) -> None:
            async with session.post(f"{url}/webhooks/ups", data=_body(offset + n),
                                    headers={"credential": "bench-credential",
                                             "Content-Type": "application/json"}) as resp:
                await resp.read()
                counts[resp.status] += 1

        stop = asyncio.Event()
        background = [asyncio.create_task(task(stop)) for task in noise(session)]
        runner = asyncio.create_task(_paced(SIGNED_RATE, stop, signed))
        await asyncio.sleep(seconds)
        stop.set()
        await runner
        await asyncio.gather(*background, return_exceptions=True)
    total = sum(counts.values()) or 1
    print(f"{name:<36} signed {total:5d}: 202 {counts[202] / total:6.1%}  429 {counts[429] / total:6.1%}  "
          f"503 {counts[503] / total:6.1%}")
    return counts


async def run(seconds: float) -> None:
    service = Service()
    for key in ("CARRIER_EVENTS_OPEN_SOURCES", "CARRIER_EVENTS_RATE_LIMIT"):
        service.env.pop(key, None)
    service.env.update({"CARRIER_EVENTS_SECRET_UPS": "bench-credential", "CARRIER_EVENTS_OPEN_SOURCES": "",
                        "CARRIER_EVENTS_RATE_LIMIT_UPS": str(SOURCE_RATE),
                        "CARRIER_EVENTS_MAX_IN_FLIGHT": str(SLOTS)})
    async with service:
        url, port = service.url, service.port

        def quiet(session):
            return []

        def flood(session):
            async def unsigned(n: int) -> None:
                async with session.post(f"{url}/webhooks/ups", data=_body(n)) as resp:
                    await resp.read()
            return [lambda stop: _paced(SOURCE_RATE, stop, unsigned)]

        def slow(session):
            return [lambda stop: _slow_uploader(port, stop) for _ in range(SLOW)]

        await _phase("baseline (signed only)", url, seconds, 0, quiet)
        await _phase(f"unsigned flood at {SOURCE_RATE:.0f}/s", url, seconds, 100_000, flood)
        await _phase(f"{SLOW} slow unsigned uploads ({SLOTS} slots)", url, seconds, 200_000, slow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_budgets", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(run(parser.parse_args(argv).seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
