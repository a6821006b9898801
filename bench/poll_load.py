"""Poller load run: many registered shipments against a local fake UPS API, at the carrier's rate limit.

    python -m bench.poll_load [--shipments 100000] [--rate 200] [--seconds 60]

Every shipment is registered at once (all due immediately: the worst case for
a thundering herd). The fake API runs in its own process and records when each
tracking request arrived; the poller (real UPS client, OAuth included, real
store and schedule) runs here. Printed: requests per second as the carrier saw
them (mean, stdev, min, max and the busiest sliding second against the limit),
how the next polls spread over the following hours, and the poller process's
CPU time and RSS. The baseline is the limit itself: an even stream at exactly
the rate, never above it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import socket
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

DOCUMENT = {"trackResponse": {"shipment": [{"inquiryNumber": "", "package": [{"trackingNumber": "", "activity": [
    {"location": {"address": {"city": "ATLANTA", "stateProvince": "GA", "country": "US"}},
     "status": {"type": "I", "code": "AR", "description": "Arrived at Facility"},
     "date": "20260310", "time": "101500"}]}]}]}}


def _fake_ups(port: int, log_path: str, ready) -> None:
    from aiohttp import web

    arrivals: list[float] = []

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "bench-token", "token_type": "Bearer", "expires_in": "14399"})

    async def track(request: web.Request) -> web.Response:
        arrivals.append(time.time())
        number = request.match_info["number"]
        doc = json.loads(json.dumps(DOCUMENT))
        doc["trackResponse"]["shipment"][0]["inquiryNumber"] = number
        doc["trackResponse"]["shipment"][0]["package"][0]["trackingNumber"] = number
        return web.json_response(doc)

    async def dump(request: web.Request) -> web.Response:
        Path(log_path).write_text(json.dumps(arrivals))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/security/v1/oauth/token", token)
    app.router.add_get("/api/track/v1/details/{number}", track)
    app.router.add_post("/dump", dump)
    ready.set()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def run(shipments: int, rate: float, seconds: float) -> None:
    import aiohttp

    from service.carriers.ups import UpsClient
    from service.polling.poller import Poller
    from service.store import Store, Tracking

    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="poll-load-")
    log_path = os.path.join(workdir, "arrivals.json")
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_fake_ups, args=(port, log_path, ready), daemon=True)
    server.start()
    ready.wait(10)
    store = Store(os.path.join(workdir, "poll.db"), synchronous="NORMAL")
    await store.open()
    started = time.perf_counter()
    numbers = [f"1ZLOAD{i:012d}" for i in range(shipments)]
    for i in range(0, shipments, 5000):
        await store.register([Tracking("ups", n) for n in numbers[i:i + 5000]])
    print(f"registered {shipments:,} shipments in {time.perf_counter() - started:.1f} s; RSS {_rss_mib():.0f} MiB")

    async with aiohttp.ClientSession() as session:
        await asyncio.sleep(0.3)  # the fake server is listening once its event loop runs
        client = UpsClient(session, base_url=f"http://127.0.0.1:{port}", client_id="bench", client_secret="bench")
        poller = Poller(store, asyncio.Event(), {"ups": client}, default_rate=rate, in_flight=16, tick=0.2,
                        reconcile_every=0, rng=random.Random(1))
        rss_before, cpu_before = _rss_mib(), time.process_time()
        wall = time.perf_counter()
        await poller.start()
        await asyncio.sleep(seconds)
        await poller.close()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu_before
        rss_after = _rss_mib()
        async with session.post(f"http://127.0.0.1:{port}/dump") as resp:
            await resp.read()
    arrivals = json.loads(Path(log_path).read_text())
    server.terminate()

    per_second = Counter(int(t) for t in arrivals)
    full = [per_second.get(s, 0) for s in range(int(min(arrivals)) + 1, int(max(arrivals)))]  # whole seconds only
    busiest = _busiest_window(sorted(arrivals), 1.0)
    counts = await store.counts()
    schedule = await store._read(lambda conn: [r[0] for r in conn.execute(
        "SELECT next_poll_at FROM trackings WHERE last_polled_at IS NOT NULL")])
    await store.close()
    print(f"polled {len(arrivals):,} numbers in {wall:.1f} s at a limit of {rate:g}/s "
          f"({len(arrivals) / wall:,.1f}/s = {len(arrivals) / wall / rate:.3f}x the limit); "
          f"{counts.get('inbox_pending', 0):,} documents stored")
    print(f"requests per whole second at the carrier: mean {statistics.mean(full):.1f}, "
          f"stdev {statistics.pstdev(full):.1f}, min {min(full)}, max {max(full)}; busiest sliding 1 s window "
          f"{busiest} (limit {rate:g}: {'never exceeded' if busiest <= rate else 'EXCEEDED'})")
    hours = Counter(datetime.fromisoformat(t).astimezone(timezone.utc).strftime("%H:%M")[:4] + "0"
                    for t in schedule if t)
    print("next polls of those polled, per 10 minutes: " + ", ".join(f"{k} {v}" for k, v in sorted(hours.items())))
    print(f"poller process: CPU {cpu:.1f} s over {wall:.1f} s ({cpu / wall:.0%} of a core, "
          f"{cpu / max(1, len(arrivals)) * 1e6:.0f} us per poll incl. storing the response); "
          f"RSS {rss_before:.0f} -> {rss_after:.0f} MiB (max {_max_rss_mib():.0f})")


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _busiest_window(times: list[float], width: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0, help="the carrier's limit, requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(run(args.shipments, args.rate, args.seconds))


if __name__ == "__main__":
    main()
