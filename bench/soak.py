"""Memory soak: push a million normalized events through one `serve` process and watch its RSS.

    python -m bench.soak [--events 1000000] [--per-doc 10]

Posts distinct UPS documents (`--per-doc` new scans each) in 10-second load
runs until the store holds `--events` events and the inbox is drained, and
prints the serve process's resident memory after the first run and at the
end (from /proc). Flat memory means no per-event state lingers in the process
(caches are bounded; the store is on disk).
"""
from __future__ import annotations

import argparse
import asyncio
import time

from .service import Service, load


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def soak(target: int, per_doc: int) -> None:
    async with Service() as svc:
        pid = svc.procs[0].pid
        offset, start, samples = 20_000_000, time.perf_counter(), []
        while True:
            result = load(svc.url, 10.0, concurrency=16, offset=offset, events=per_doc)
            offset += result["requests"] + result["errors"] + 1
            events = await svc.count("events")
            samples.append((time.perf_counter() - start, events, rss_mib(pid)))
            print(f"  {samples[-1][0]:6.0f} s  {events:>9,} events  RSS {samples[-1][2]:7.1f} MiB", flush=True)
            if events >= target:
                break
        while await svc.backlog():
            await asyncio.sleep(0.5)
        events = await svc.count("events")
        end = rss_mib(pid)
    elapsed = time.perf_counter() - start
    print(f"soak: {events:,} events in {elapsed:.0f} s ({events / elapsed:,.0f} events/s sustained); "
          f"serve RSS {samples[0][2]:.1f} MiB after the first {samples[0][1]:,} events, {end:.1f} MiB at the end")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--per-doc", type=int, default=10)
    args = ap.parse_args(argv)
    asyncio.run(soak(args.events, args.per_doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
