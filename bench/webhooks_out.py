"""Outbound webhooks under load: many subscribers, delivery capacity, latency and memory.

    python -m bench.webhooks_out [--subscribers 10] [--rate 1000] [--seconds 60] [--fill 20000] [--workers N]
                                 [--pg URL]

A `serve` process (in-process normalizer, or N `worker` processes
normalizing with --workers N; SQLite, or PostgreSQL with --pg) and `subscribers` receivers in another process (`bench.webhook_receiver`,
each answering 200 at once). Two phases in one run:

1. Capacity. `fill` events (UPS documents of five scans, one shipment
   each) are stored and normalized first; then `subscribers` subscriptions
   (filter `#`) are created from the beginning of the feed, and the time
   until every receiver holds every event gives deliveries/s. The baseline,
   measured just before in the same run: the same number of the same-sized
   signed POSTs sent to the same receivers by a bare aiohttp client with the
   same concurrency per subscriber, no service involved.
2. Live. The same subscriptions, now at the head, while documents arrive at
   `rate` events/s for `seconds` (`bench.load` in its own process). Printed:
   delivered / expected, duplicates, order violations (an event of a
   shipment arriving before an earlier one of the same shipment); delivery
   latency from commit to the receiver's 2xx, read as the time an event
   reached a receiver minus the time it became readable on `/v1/events` (a
   feed poller every 5 ms; stored commit times are whole seconds); the
   document's 202 to the last of its events delivered; the receivers' rate
   during the load; and serve's resident memory: the mean of the first and
   the last tenth of the live phase and the peak (no growth: last ≈ first).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import orjson

from service.signatures import sign_standard_webhook

from .load import percentile
from .service import READER, ROOT, Service, _port, load

ADMIN = "bench-admin-token"
EVENTS_PER_DOC = 5
CONCURRENCY = 8  # the service's default requests in flight per subscription
BASELINE_SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Receivers:
    """The receiver process; `records()` stops it and returns what it saw: (index, webhook-id, shipment, time)."""

    def __init__(self, work: str) -> None:
        self.out = os.path.join(work, "received.json")
        self.port = _port()
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.webhook_receiver", str(self.port), self.out],
                                      cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None and self._proc.stdout.readline().strip() == "ready"

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port}/{index}"

    def records(self) -> list:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(timeout=120)
        return orjson.loads(Path(self.out).read_bytes()) if os.path.exists(self.out) else []


async def _feed(url: str, stop: asyncio.Event, seen: dict[str, float], bodies: list[bytes] | None = None) -> None:
    """A consumer polling the HTTP feed every 5 ms: when each event (by CloudEvent id) became readable."""
    cursor = 0
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{url}/v1/events", params={"after": cursor, "limit": 1000},
                                   headers=READER) as r:
                body = await r.json()
            now = time.time()
            for e in body["events"]:
                seen.setdefault(e["id"], now)
                if bodies is not None:
                    bodies.append(orjson.dumps(e))
            cursor = body["next"]
            if not body["events"]:
                if stop.is_set():
                    return
                await asyncio.sleep(0.005)


async def _baseline(receivers: Receivers, bodies: list[bytes], subscribers: int) -> float:
    """Deliveries/s of a bare aiohttp client: every body, signed, to every receiver, CONCURRENCY at a time each."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one_subscriber(index: int) -> None:
            queue = list(enumerate(bodies))

            async def lane() -> None:
                while queue:
                    n, body = queue.pop()
                    msg_id, stamp = f"baseline-{n}", int(time.time())
                    headers = {"content-type": "application/json", "webhook-id": msg_id,
                               "webhook-timestamp": str(stamp),
                               "webhook-signature": sign_standard_webhook(BASELINE_SECRET, msg_id, stamp, body)}
                    async with session.post(receivers.url(1000 + index), data=body, headers=headers,
                                            allow_redirects=False) as r:
                        await r.read()
            await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))

        began = time.perf_counter()
        await asyncio.gather(*(one_subscriber(k) for k in range(subscribers)))
        return len(bodies) * subscribers / (time.perf_counter() - began)


async def _subscribe(url: str, receivers: Receivers, subscribers: int) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as session:
        for k in range(subscribers):
            body = {"url": receivers.url(k), "filter": ["#"], "description": f"bench {k}", "from": "beginning"}
            async with session.post(f"{url}/v1/subscriptions", json=body, headers=headers) as r:
                if r.status != 201:
                    raise RuntimeError(f"subscription refused: {r.status} {await r.text()}")


def _delivered_so_far(url: str) -> int:
    """Deliveries the service counted (its metric)."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("carrier_events_webhook_deliveries_total{") and 'outcome="delivered"' in line))


async def _until_delivered(url: str, target: int, patience: float = 30.0) -> float:
    """Seconds until the service counted `target` deliveries (or nothing more came for `patience` s)."""
    began, last, still = time.perf_counter(), -1, time.monotonic()
    while True:
        now = await asyncio.to_thread(_delivered_so_far, url)
        if now >= target:
            return time.perf_counter() - began
        if now != last:
            last, still = now, time.monotonic()
        elif time.monotonic() - still > patience:
            raise RuntimeError(f"deliveries stopped at {now} of {target}")
        await asyncio.sleep(0.25)  # a scrape costs the service a store read: not much more often than that


async def _settled(svc: Service) -> int:
    """Wait until every stored document is normalized; the number of feed events."""
    while await svc.backlog():
        await asyncio.sleep(0.2)
    return await svc.count("outbox")


def _analyse(records: list, seen: dict[str, float], acks: dict[str, float], subscribers: int,
             window: tuple[float, float]) -> dict:
    """The live phase's figures from what the receivers saw (records of the capacity phase included: they
    are told apart by the feed's times of the live events)."""
    by_sub: dict[int, list] = defaultdict(list)
    for index, webhook_id, shipment, arrived in records:
        if 0 <= index < subscribers:
            by_sub[index].append((arrived, webhook_id, shipment))
    position = {event_id: n for n, event_id in enumerate(sorted(seen, key=seen.__getitem__))}
    duplicates = violations = 0
    commit_to_2xx: list[float] = []
    last_arrival: dict[tuple[int, str], float] = {}
    delivered: set[tuple[int, str]] = set()
    for index, rows in by_sub.items():
        rows.sort()
        ids = [w for _, w, _ in rows]
        duplicates += len(ids) - len(set(ids))
        newest: dict[str, int] = {}
        for arrived, webhook_id, shipment in rows:
            if webhook_id not in position:
                continue
            delivered.add((index, webhook_id))
            order = position[webhook_id]
            if order < newest.get(shipment, -1):
                violations += 1
            newest[shipment] = max(order, newest.get(shipment, -1))
            if seen[webhook_id] >= window[0]:
                commit_to_2xx.append(arrived - seen[webhook_id])
                tn = shipment.rsplit("|", 1)[-1]
                last_arrival[(index, tn)] = max(arrived, last_arrival.get((index, tn), 0.0))
    pushed = [t - acks[tn] for (_, tn), t in last_arrival.items() if tn in acks]
    live = [e for e, t in seen.items() if t >= window[0]]
    begin, end = window
    during = sum(1 for rows in by_sub.values() for r in rows if begin <= r[0] <= end)
    return {"expected": len(seen) * subscribers, "delivered": len(delivered), "duplicates": duplicates,
            "order_violations": violations, "live_events": len(live),
            "receiver_rate_during_load": during / max(end - begin, 1e-9),
            "commit_to_2xx_p50_ms": percentile(commit_to_2xx, 0.5) * 1000,
            "commit_to_2xx_p99_ms": percentile(commit_to_2xx, 0.99) * 1000,
            "ack_to_2xx_p50_ms": percentile(pushed, 0.5) * 1000, "ack_to_2xx_p99_ms": percentile(pushed, 0.99) * 1000}


async def run(subscribers: int, rate: float, seconds: float, fill: int, pg: str | None, workers: int = 0) -> dict:
    work = tempfile.mkdtemp(prefix="bench-webhooks-")
    acks_file = os.path.join(work, "acks.json")
    receivers = Receivers(work)
    svc = Service(pg=pg, in_process=not workers, workers=workers)
    svc.env.update({"CARRIER_EVENTS_ADMIN_TOKEN": ADMIN, "CARRIER_EVENTS_OUTBOUND_ALLOW_NETS": "127.0.0.0/8"})
    rss: list[int] = []
    seen: dict[str, float] = {}
    result: dict = {"workers": workers, "subscribers": subscribers, "target_rate": rate * subscribers, "seconds": seconds}
    try:
        async with svc:
            # 1. capacity: a filled feed, then subscribers from its beginning
            docs = max(1, fill // EVENTS_PER_DOC)
            await asyncio.to_thread(load, svc.url, docs / 500, rate=500, events=EVENTS_PER_DOC, offset=30_000_000)
            filled = await _settled(svc)
            stop, bodies = asyncio.Event(), []
            stop.set()  # read the feed once to its end
            await _feed(svc.url, stop, seen, bodies)
            floor = await _baseline(receivers, bodies, subscribers)
            await _subscribe(svc.url, receivers, subscribers)
            took = await _until_delivered(svc.url, filled * subscribers)
            result.update({"fill_events": filled, "capacity_deliveries_per_s": filled * subscribers / took,
                           "baseline_bare_client_per_s": floor,
                           "capacity_vs_baseline": filled * subscribers / took / floor})
            del bodies
            # 2. live
            stop = asyncio.Event()
            follower = asyncio.create_task(_feed(svc.url, stop, seen))
            serve_pid = svc.procs[0].pid

            async def sample() -> None:
                while not stop.is_set():
                    rss.append(_rss_kib(serve_pid))
                    await asyncio.sleep(1.0)

            sampler = asyncio.create_task(sample())
            began = time.time()
            result["intake"] = await asyncio.to_thread(load, svc.url, seconds, rate=rate / EVENTS_PER_DOC,
                                                       events=EVENTS_PER_DOC, offset=40_000_000, acks=acks_file)
            ended = time.time()
            events = await _settled(svc)
            result["settled_after_load_s"] = time.time() - ended + await _until_delivered(svc.url, events * subscribers)
            stop.set()
            await asyncio.gather(follower, sampler)
    finally:
        records = receivers.records()
    acks = json.loads(Path(acks_file).read_text()) if os.path.exists(acks_file) else {}
    result.update(_analyse(records, seen, acks, subscribers, (began, ended)))
    tenth = max(1, len(rss) // 10)
    result.update({"rss_first_mib": sum(rss[:tenth]) / tenth / 1024, "rss_last_mib": sum(rss[-tenth:]) / tenth / 1024,
                   "rss_peak_mib": max(rss, default=0) / 1024})
    return result


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.webhooks_out", description=__doc__.split("\n")[0])
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--rate", type=float, default=1000.0, help="events per second into the service (live phase)")
    ap.add_argument("--seconds", type=float, default=60.0, help="the live phase's length")
    ap.add_argument("--fill", type=int, default=20_000, help="events in the feed for the capacity phase")
    ap.add_argument("--workers", type=int, default=0, help="normalize in this many worker processes")
    ap.add_argument("--pg", help="an admin URL of PostgreSQL: measure on a database created for the run")
    args = ap.parse_args()
    result = asyncio.run(run(args.subscribers, args.rate, args.seconds, args.fill, args.pg, args.workers))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
