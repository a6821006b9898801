"""Multi-process state races: `serve` and two workers normalizing on one store; every shipment first gets a
long history, then its newest scan (delivered) and its oldest (label created) in two webhooks back to back,
so two normalizers apply them at the same moment. A shipment whose final state is not `delivered` went
backwards; the run counts them (0 expected) beside the accounting of every 202."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import aiohttp

from service.signatures import sign_standard_webhook
from tests.docs import stream_number, ups_track

from ..cluster.nodes import SECRET, Cluster, pg_fetch
from ..cluster.observers import FeedReader
from .harness import Row, TimedSeen, dead_count


def _scan(kind: str, at: datetime) -> tuple[str, str, str]:
    return kind, at.strftime("%Y%m%d"), at.strftime("%H%M%S")


def documents(tn: str, history: int, now: datetime) -> tuple[bytes, bytes, bytes, int]:
    """(long history, the delivery, the label), and the number of scans in all three."""
    start = now - timedelta(days=4)
    scans = [_scan("arrived" if i % 2 else "origin", start + timedelta(minutes=30 * (i + 1))) for i in range(history)]
    return (ups_track(tn, scans), ups_track(tn, [_scan("delivered", now - timedelta(hours=1))]),
            ups_track(tn, [_scan("label", start)]), history + 2)


async def post(session: aiohttp.ClientSession, url: str, msg: str, body: bytes) -> int:
    ts = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": msg, "webhook-timestamp": str(ts),
               "webhook-signature": sign_standard_webhook(SECRET, msg, ts, body)}
    for _ in range(20):  # a carrier retries what was refused
        try:
            async with session.post(f"{url}/webhooks/ups", data=body, headers=headers) as resp:
                await resp.read()
                if resp.status == 202:
                    return 202
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    return 0


async def final_states(cluster: Cluster, tns: list[str]) -> dict[str, str]:
    db = cluster.env["CARRIER_EVENTS_DB"]
    query = "SELECT tracking_number, status FROM shipments WHERE carrier = 'ups'"
    if db.startswith("postgresql"):
        rows = [(r["tracking_number"], r["status"]) for r in await pg_fetch(db, query)]
    else:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(query).fetchall()
    wanted = set(tns)
    return {tn: status for tn, status in rows if tn in wanted}


async def state_race(store: str, shipments: int = 300, history: int = 60) -> Row:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    extra = {"CARRIER_EVENTS_IN_PROCESS_NORMALIZER": "1"}
    cluster = Cluster(nodes=1, workers=2, amqp=False, extra_env=extra)
    if store == "sqlite":
        for p in [*cluster.serve, *cluster.worker]:
            p.env["CARRIER_EVENTS_DB"] = str(cluster.dir / "events.db")
        cluster.env["CARRIER_EVENTS_DB"] = str(cluster.dir / "events.db")
    offset = int(time.time() * 1000) % 10_000_000 * 1_000
    tns = [stream_number(offset + i) for i in range(shipments)]
    docs = {tn: documents(tn, history, now) for tn in tns}
    async with cluster:
        feed = FeedReader(cluster.lb_url)
        feed.seen = TimedSeen()
        async with feed, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
            gate = asyncio.Semaphore(16)

            async def one(tn: str) -> int:
                async with gate:
                    hist, delivered, label, _ = docs[tn]
                    ok = await post(session, cluster.lb_url, f"msg_{tn}_h", hist) == 202
                    await asyncio.sleep(1.0)  # the history is normalized and stored first
                    both = await asyncio.gather(post(session, cluster.lb_url, f"msg_{tn}_d", delivered),
                                                post(session, cluster.lb_url, f"msg_{tn}_l", label))
                    return ok + sum(s == 202 for s in both)

            t0 = time.monotonic()
            accepted = sum(await asyncio.gather(*(one(tn) for tn in tns)))
            posted = time.monotonic()
            expected = {tn: docs[tn][3] for tn in tns}
            deadline = posted + 90
            while time.monotonic() < deadline and any(len(feed.seen.subjects.get(tn, ())) < n
                                                      for tn, n in expected.items()):
                await asyncio.sleep(0.25)
            settled = time.monotonic()
            await asyncio.sleep(1.0)
        states = await final_states(cluster, tns)
        lost = sum(max(0, n - len(feed.seen.subjects.get(tn, ()))) for tn, n in expected.items())
        extra_events = sum(max(0, len(feed.seen.subjects.get(tn, ())) - n) for tn, n in expected.items())
        duplicated = extra_events + sum(n - 1 for n in feed.seen.ids.values())
        regressed = sum(1 for tn in tns if states.get(tn) != "delivered")
        notes = [f"{shipments} shipments × {history} + 2 scans; posted in {posted - t0:.1f} s",
                 f"final states: {dict(Counter(states.values()))}",
                 f"regressed: {regressed}"]
        return Row(f"state races, serve + 2 workers on one {'SQLite file' if store == 'sqlite' else 'PostgreSQL database'}:"
                   f" {shipments} long histories, delivery and label back to back — **{regressed} regressed**",
                   f"python -m bench.chaos state-race-{store}", accepted, lost, duplicated,
                   await dead_count(cluster), settled - posted, notes)
