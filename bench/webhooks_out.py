"""Outbound webhooks under load: many subscribers, a steady event rate, delivery latency and memory.

    python -m bench.webhooks_out [--subscribers 10] [--rate 1000] [--seconds 60] [--pg URL]

A `serve` process (in-process normalizer; SQLite, or PostgreSQL with --pg)
gets signed-less UPS documents of five scans each at `rate` events/s (one
shipment per document) from `bench.load` in its own process, for `seconds`.
`subscribers` subscriptions with the filter `#` point at receivers in
another process (`bench.webhook_receiver`), each answering 200 at once.

Printed, for the run:
- delivered / expected deliveries, duplicates, and order violations (an
  event of a shipment arriving before an earlier one of the same shipment);
- delivery latency per shipment: the document's 202 to the last of its
  events answered 2xx by a receiver, p50/p99 — beside the baseline measured
  in the same run, the same documents read from the HTTP feed by a poller
  (202 to the last event readable on `/v1/events`). Their difference is what
  pushing costs over a consumer that polls; commit times are stored to the
  second, so commit-to-2xx is read as that difference;
- the rate the receivers saw during the load, against the target;
- serve's resident memory: the mean of the first and of the last tenth of
  the run, and the peak (no growth: last ≈ first).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import orjson

from .load import percentile
from .service import READER, ROOT, Service, _port, load

ADMIN = "bench-admin-token"
EVENTS_PER_DOC = 5


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def _follow_feed(url: str, stop: asyncio.Event, seen: dict[str, float]) -> None:
    """The baseline: a consumer polling the HTTP feed every 5 ms; the time each shipment's last event shows."""
    cursor = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with session.get(f"{url}/v1/events", params={"after": cursor, "limit": 1000},
                                   headers=READER) as r:
                body = await r.json()
            now = time.time()
            for e in body["events"]:
                seen[e["subject"]] = now
            cursor = body["next"]
            if not body["events"]:
                await asyncio.sleep(0.005)


def _event_order(db: str) -> dict[str, int]:
    """Every event id with its feed position (the order each shipment's events were committed in)."""
    if db.startswith("postgresql"):
        import asyncpg

        async def read() -> dict[str, int]:
            conn = await asyncpg.connect(db)
            try:
                return {r["event_id"]: r["seq"] for r in await conn.fetch("SELECT event_id, seq FROM outbox")}
            finally:
                await conn.close()
        return asyncio.run(read())
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT event_id, seq FROM outbox"))
    finally:
        conn.close()


def _analyse(records: list, order: dict[str, int], acks: dict[str, float], feed: dict[str, float],
             subscribers: int, load_window: tuple[float, float]) -> dict:
    by_sub: dict[int, list] = defaultdict(list)
    for index, webhook_id, shipment, arrived in records:
        by_sub[index].append((arrived, webhook_id, shipment))
    expected = len(order)
    duplicates = violations = delivered = 0
    last_arrival: dict[tuple[int, str], float] = {}
    for index in range(subscribers):
        rows = sorted(by_sub.get(index, []))
        ids = [w for _, w, _ in rows]
        delivered += len(set(ids) & order.keys())
        duplicates += len(ids) - len(set(ids))
        newest: dict[str, int] = {}
        for arrived, webhook_id, shipment in rows:
            seq = order.get(webhook_id, 0)
            if seq < newest.get(shipment, 0):
                violations += 1
            newest[shipment] = max(seq, newest.get(shipment, 0))
            tn = shipment.rsplit("|", 1)[-1]
            last_arrival[(index, tn)] = max(arrived, last_arrival.get((index, tn), 0.0))
    pushed = [t - acks[tn] for (_, tn), t in last_arrival.items() if tn in acks]
    polled = [feed[tn] - t for tn, t in acks.items() if tn in feed]
    begin, end = load_window
    during = sum(1 for r in records if begin <= r[3] <= end and 0 <= r[0] < subscribers)
    return {"expected": expected * subscribers, "delivered": delivered, "duplicates": duplicates,
            "order_violations": violations, "receiver_rate": during / max(end - begin, 1e-9),
            "pushed_p50_ms": percentile(pushed, 0.5) * 1000, "pushed_p99_ms": percentile(pushed, 0.99) * 1000,
            "feed_p50_ms": percentile(polled, 0.5) * 1000, "feed_p99_ms": percentile(polled, 0.99) * 1000}


async def _subscribe(url: str, receiver: int, subscribers: int) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as session:
        for k in range(subscribers):
            body = {"url": f"http://127.0.0.1:{receiver}/{k}", "filter": ["#"], "description": f"bench {k}"}
            async with session.post(f"{url}/v1/subscriptions", json=body, headers=headers) as r:
                if r.status != 201:
                    raise RuntimeError(f"subscription refused: {r.status} {await r.text()}")


async def _wait_delivered(records_target: int, count) -> None:
    """Until the receivers hold `records_target` requests or nothing arrives for 20 s."""
    last, still = -1, time.monotonic()
    while True:
        now = await count()
        if now >= records_target:
            return
        if now != last:
            last, still = now, time.monotonic()
        elif time.monotonic() - still > 20:
            return
        await asyncio.sleep(0.5)


async def run(subscribers: int, rate: float, seconds: float, pg: str | None) -> dict:
    work = tempfile.mkdtemp(prefix="bench-webhooks-")
    out, acks_file = os.path.join(work, "received.json"), os.path.join(work, "acks.json")
    receiver_port = _port()
    receiver = subprocess.Popen([sys.executable, "-m", "bench.webhook_receiver", str(receiver_port), out],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    svc = Service(pg=pg)
    svc.env.update({"CARRIER_EVENTS_ADMIN_TOKEN": ADMIN, "CARRIER_EVENTS_OUTBOUND_ALLOW_NETS": "127.0.0.0/8"})
    rss: list[int] = []
    try:
        async with svc:
            await _subscribe(svc.url, receiver_port, subscribers)
            serve_pid = svc.procs[0].pid
            stop = asyncio.Event()
            feed: dict[str, float] = {}
            follower = asyncio.create_task(_follow_feed(svc.url, stop, feed))

            async def sample() -> None:
                while not stop.is_set():
                    rss.append(_rss_kib(serve_pid))
                    await asyncio.sleep(1.0)

            sampler = asyncio.create_task(sample())
            began = time.time()
            intake = await asyncio.to_thread(load, svc.url, seconds, rate=rate / EVENTS_PER_DOC,
                                             events=EVENTS_PER_DOC, offset=40_000_000, acks=acks_file)
            ended = time.time()
            events = await svc.count("outbox")

            async def metrics_count() -> int:
                return await asyncio.to_thread(_delivered_so_far, svc)
            await _wait_delivered(events * subscribers, metrics_count)
            settled = time.time() - ended
            stop.set()
            await asyncio.gather(follower, sampler)
            order = await asyncio.to_thread(_event_order, svc.db)
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=60)
    records = orjson.loads(Path(out).read_bytes())
    acks = json.loads(Path(acks_file).read_text())
    result = _analyse(records, order, acks, feed, subscribers, (began, ended))
    tenth = max(1, len(rss) // 10)
    result.update({"subscribers": subscribers, "target_rate": rate * subscribers, "seconds": seconds,
                   "events": len(order), "intake": intake, "settled_after_load_s": settled,
                   "rss_first_mib": sum(rss[:tenth]) / tenth / 1024, "rss_last_mib": sum(rss[-tenth:]) / tenth / 1024,
                   "rss_peak_mib": max(rss, default=0) / 1024})
    return result


def _delivered_so_far(svc: Service) -> int:
    """Deliveries the service counted (its metric), read while the run settles."""
    import urllib.request

    request = urllib.request.Request(f"{svc.url}/metrics")
    with urllib.request.urlopen(request, timeout=10) as r:
        text = r.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("carrier_events_webhook_deliveries_total{") and 'outcome="delivered"' in line))


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.webhooks_out", description=__doc__.split("\n")[0])
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--rate", type=float, default=1000.0, help="events per second into the service")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--pg", help="an admin URL of PostgreSQL: measure on a database created for the run")
    args = ap.parse_args()
    result = asyncio.run(run(args.subscribers, args.rate, args.seconds, args.pg))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
