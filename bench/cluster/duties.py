"""Cluster-wide duties with three `serve` nodes on one PostgreSQL: the stalled sweep derives each event once,
SLA breaches fire once, and a carrier's poll budget holds for all nodes together."""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

from bench.poll_load import _busiest_window, _fake_ups
from service.signatures import sign_standard_webhook
from tests.docs import ups_track

from .nodes import ADMIN_TOKEN, ROOT, SECRET, Cluster, free_port, pg_fetch

SWEEP_MINUTES = 0.05  # every 3 s, so that a run sees many sweeps by every node


def _policy(directory: Path) -> Path:
    shipped = (ROOT / "service" / "actions" / "policy.toml").read_text()
    path = directory / "policy.toml"
    path.write_text(shipped.replace("every_minutes = 15", f"every_minutes = {SWEEP_MINUTES}", 1))
    return path


async def _post_signed(session: aiohttp.ClientSession, url: str, tn: str, body: bytes) -> int:
    ts = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": f"msg_{tn}", "webhook-timestamp": str(ts),
               "webhook-signature": sign_standard_webhook(SECRET, f"msg_{tn}", ts, body)}
    async with session.post(f"{url}/webhooks/ups", data=body, headers=headers) as resp:
        return resp.status


async def _until(what: str, check, timeout: float) -> float:
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{what}: not reached in {timeout:.0f} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - start


async def duties(shipments: int, poll_rate: float, seconds: float) -> None:
    port = free_port()
    fake_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"cluster-fake-ups-{os.getpid()}"
    fake_dir.mkdir(exist_ok=True)
    arrivals_path = fake_dir / "arrivals.json"
    ready = multiprocessing.Event()
    fake = multiprocessing.Process(target=_fake_ups, args=(port, str(arrivals_path), ready), daemon=True)
    fake.start()
    ready.wait(10)
    env = {"CARRIER_EVENTS_POLICY": str(_policy(fake_dir)), "CARRIER_EVENTS_POLL_RATE": str(poll_rate),
           "CARRIER_EVENTS_POLL_UPS_BASE_URL": f"http://127.0.0.1:{port}",
           "CARRIER_EVENTS_POLL_UPS_CLIENT_ID": "bench", "CARRIER_EVENTS_POLL_UPS_CLIENT_SECRET": "bench"}
    try:
        async with Cluster(nodes=3, workers=0, amqp=False, extra_env=env) as cluster:
            await _sweep_and_sla(cluster, shipments)
            await _poll_budget(cluster, port, arrivals_path, poll_rate, seconds)
    finally:
        fake.terminate()


async def _sweep_and_sla(cluster: Cluster, shipments: int) -> None:
    db = cluster.db_url
    quiet = (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y%m%d")
    numbers = [f"1ZQUIET{i:011d}" for i in range(shipments)]
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(*(
            _post_signed(session, cluster.lb_url, tn, ups_track(tn, [("arrived", quiet, "101500")])) for tn in numbers))
    assert statuses.count(202) == shipments, statuses

    async def stalled_everywhere() -> bool:
        [row] = await pg_fetch(db, "SELECT COUNT(DISTINCT tracking_number) AS n FROM events "
                                   "WHERE exception_class = 'stalled'")
        return row["n"] >= shipments

    took = await _until("every quiet shipment swept", stalled_everywhere, 120)
    await asyncio.sleep(SWEEP_MINUTES * 60 * 4)  # four more sweep periods: every node had its chance again
    [derived] = await pg_fetch(db, "SELECT COUNT(*) AS events, COUNT(DISTINCT tracking_number) AS shipments "
                                   "FROM events WHERE exception_class = 'stalled'")
    [published] = await pg_fetch(db, "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM outbox o "
                                     "WHERE event_id IN (SELECT event_id FROM events WHERE exception_class = 'stalled')")
    holders = await pg_fetch(db, "SELECT name, holder FROM leases ORDER BY name")
    print(f"sweep (3 nodes, every {SWEEP_MINUTES * 60:.0f} s): {shipments} quiet shipments -> {derived['events']} "
          f"derived `stalled` events for {derived['shipments']} shipments (once each: "
          f"{derived['events'] == derived['shipments'] == shipments}); on the feed {published['n']} rows for "
          f"{published['ids']} ids; all derived within {took:.1f} s", flush=True)
    print("duty holders: " + ", ".join(f"{r['name']}={r['holder']}" for r in holders), flush=True)

    async def all_open() -> bool:
        [row] = await pg_fetch(db, "SELECT COUNT(*) AS n FROM escalations WHERE state = 'open'")
        return row["n"] >= shipments

    await _until("escalations opened for the stalled shipments", all_open, 60)
    await pg_fetch(db, "UPDATE escalations SET sla_due_at = now() - interval '1 hour' WHERE state = 'open'")

    async def all_breached() -> bool:
        [row] = await pg_fetch(db, "SELECT COUNT(*) AS n FROM escalations WHERE breached")
        return row["n"] >= shipments

    took = await _until("SLA breaches", all_breached, 150)
    await asyncio.sleep(5)
    [audit] = await pg_fetch(db, "SELECT COUNT(*) AS lines, COUNT(DISTINCT escalation_id) AS escalations "
                                 "FROM escalation_audit WHERE action = 'sla_breached'")
    [escalations] = await pg_fetch(db, "SELECT COUNT(*) AS n FROM escalations")
    print(f"SLA breaches (3 nodes): {escalations['n']} escalations past their SLA -> {audit['lines']} "
          f"`sla_breached` audit lines for {audit['escalations']} escalations (once each: "
          f"{audit['lines'] == audit['escalations'] == escalations['n']}); within {took:.1f} s", flush=True)


async def _poll_budget(cluster: Cluster, port: int, arrivals_path: Path, rate: float, seconds: float) -> None:
    numbers = [f"1ZPOLL{i:012d}" for i in range(int(rate * seconds * 3))]  # more than the window can poll
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(0, len(numbers), 1000):
            items = [{"carrier": "ups", "tracking_number": n} for n in numbers[i:i + 1000]]
            async with session.post(f"{cluster.lb_url}/v1/trackings/bulk", json={"trackings": items}) as resp:
                results = (await resp.json())["results"]
                assert all(r["status"] in (200, 201) for r in results), results[:3]
        start = time.time()
        await asyncio.sleep(seconds)
        async with session.post(f"http://127.0.0.1:{port}/dump") as resp:
            await resp.read()
    arrivals = sorted(t for t in json.loads(arrivals_path.read_text()) if start <= t <= start + seconds)
    busiest = _busiest_window(arrivals, 1.0)
    print(f"poll budget {rate:g}/s shared by 3 nodes: {len(arrivals)} requests in {seconds:g} s "
          f"({len(arrivals) / seconds:.1f}/s), busiest sliding 1 s window {busiest} "
          f"({'within' if busiest <= rate else 'OVER'} the budget)", flush=True)
