"""Failover runs: load through the balancer while nodes are killed or restarted, then an accounting of
every 202 (lost, published twice, refused) against the OMS consumer and the feed reader."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from .nodes import ROOT, SECRET, Cluster, pg_fetch
from .observers import Account, FeedReader, OmsConsumer, account, settle
from .sender import signed_request

Fault = Callable[[Cluster, list[str]], Awaitable[None]]  # appends what it did to the list


@dataclass
class Run:
    name: str
    account: Account
    sent: int
    rate: float
    p99_ms: float
    settle_s: float
    refusal_window: tuple[float, float] | None
    notes: list[str]
    inbox: dict[str, int]
    balancer: dict[str, int]


async def _sender(cluster: Cluster, rate: float, seconds: float, offset: int) -> dict:
    out = cluster.dir / f"sender-{offset}.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.cluster.sender", cluster.lb_url, "--secret", SECRET, "--rate", str(rate),
        "--seconds", str(seconds), "--offset", str(offset), "--out", str(out), cwd=ROOT)
    await proc.wait()
    return json.loads(out.read_text())


async def _inbox(cluster: Cluster) -> dict[str, int]:
    rows = await pg_fetch(cluster.db_url, "SELECT state, COUNT(*) AS n FROM inbox GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


async def loaded_run(name: str, cluster: Cluster, rate: float, seconds: float, faults: Fault | None,
                     offset: int, settle_timeout: float) -> Run:
    notes: list[str] = []
    async with OmsConsumer(cluster.prefix) as oms, FeedReader(cluster.lb_url) as feed:
        sending = asyncio.create_task(_sender(cluster, rate, seconds, offset))
        if faults is not None:
            await faults(cluster, notes)
        report = await sending
        took = await settle(report["accepted"], oms.seen, feed.seen, settle_timeout)
        acc = account(report["accepted"], [tuple(r) for r in report["refused"]], oms.seen, feed.seen)
    times = [t for t, _ in report["refused"]]
    return Run(name, acc, report["sent"], report["rate"], report["p99_ms"], took,
               (min(times), max(times)) if times else None, notes, await _inbox(cluster), cluster.balancer_stats())


def kill_and_restart(which: str, at: float, back: float) -> Fault:
    async def fault(cluster: Cluster, notes: list[str]) -> None:
        victim = cluster.serve[0] if which == "serve" else cluster.worker[0]
        await asyncio.sleep(at)
        cluster.kill(victim)
        notes.append(f"SIGKILL {victim.name} at {at:.0f} s"
                     + (f", out of rotation after {await cluster.out_of_rotation(victim):.2f} s" if victim.url else ""))
        await asyncio.sleep(back - at)
        ready = await cluster.restart(victim)
        notes.append(f"restarted at {back:.0f} s" + (f", ready in {ready:.1f} s" if victim.url else ""))
    return fault


def rolling_restart(start: float) -> Fault:
    async def fault(cluster: Cluster, notes: list[str]) -> None:
        await asyncio.sleep(start)
        for p in [*cluster.serve, *cluster.worker]:
            leaving = asyncio.create_task(cluster.out_of_rotation(p)) if p.url else None
            stopped, ready = await cluster.rolling(p)
            out = f"out of rotation after {await leaving:.2f} s, " if leaving else ""
            notes.append(f"{p.name}: {out}exit {stopped:.1f} s after SIGTERM" + (f", ready {ready:.1f} s" if p.url else ""))
            if p.url:
                await asyncio.sleep(1.5)  # back in rotation (two good checks) before the next goes
    return fault


async def twin_run(cluster: Cluster, pairs: int, offset: int, settle_timeout: float) -> Run:
    """The same signed webhook sent to two nodes at the same moment, directly (as two balancers, or a
    carrier's retry racing its first attempt, would): both answer 202, one event results."""
    statuses: list[int] = []
    duplicates = 0
    accepted: list[str] = []
    a, b = cluster.serve[0].url, cluster.serve[1].url
    async with OmsConsumer(cluster.prefix) as oms, FeedReader(cluster.lb_url) as feed:
        async with aiohttp.ClientSession() as session:
            async def post(base: str, request: bytes) -> tuple[int, bool]:
                head, body = request.split(b"\r\n\r\n", 1)
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:]
                               if not line.lower().startswith(("host:", "content-length:")))
                async with session.post(f"{base}/webhooks/ups", data=body, headers=headers) as resp:
                    answer = await resp.json()
                    return resp.status, bool(answer.get("duplicate"))

            for i in range(pairs):
                tn, request = signed_request("x", 0, SECRET, offset + i)
                results = await asyncio.gather(post(a, request), post(b, request))
                statuses += [s for s, _ in results]
                duplicates += sum(d for _, d in results)
                if any(s == 202 for s, _ in results):
                    accepted.append(tn)
        took = await settle(accepted, oms.seen, feed.seen, settle_timeout)
        acc = account(accepted, [(0.0, s) for s in statuses if s != 202], oms.seen, feed.seen)
    notes = [f"{pairs} pairs, {statuses.count(202)} of {2 * pairs} answers 202, {duplicates} said duplicate"]
    return Run("twin delivery", acc, 2 * pairs, 0.0, float("nan"), took, None, notes, await _inbox(cluster), {})


async def failover(rate: float, seconds: float, runs: list[str], settle_timeout: float = 240.0) -> list[Run]:
    results: list[Run] = []
    offset = int(time.time()) % 100_000 * 1_000_000  # distinct documents per invocation
    for name in runs:
        workers = 2 if name == "kill-worker" else 1
        async with Cluster(nodes=2, workers=workers, balancer_retries=name != "kill-serve-no-retries") as cluster:
            if name == "kill-serve-no-retries":
                run = await loaded_run("SIGKILL a serve node, balancer without retries", cluster, rate, seconds,
                                       kill_and_restart("serve", seconds * 0.3, seconds * 0.65), offset, settle_timeout)
            elif name == "kill-serve":
                run = await loaded_run("SIGKILL a serve node", cluster, rate, seconds,
                                       kill_and_restart("serve", seconds * 0.3, seconds * 0.65), offset, settle_timeout)
            elif name == "kill-worker":
                run = await loaded_run("SIGKILL a worker", cluster, rate, seconds,
                                       kill_and_restart("worker", seconds * 0.3, seconds * 0.65), offset, settle_timeout)
            elif name == "rolling":
                run = await loaded_run("rolling SIGTERM of every node", cluster, rate, max(seconds, 30.0),
                                       rolling_restart(2.0), offset, settle_timeout)
            elif name == "twin":
                run = await twin_run(cluster, 300, offset, settle_timeout)
            else:
                raise SystemExit(f"unknown run {name!r}")
        offset += 10_000_000
        results.append(run)
        print_run(run)
    print_table(results)
    return results


def print_run(run: Run) -> None:
    a = run.account
    print(f"\n== {run.name}: sent {run.sent}, accepted {a.accepted} ({run.rate:.0f}/s, 202 p99 {run.p99_ms:.0f} ms), "
          f"refused {dict(a.refused)}" + (f" between {run.refusal_window[0]:.1f} and {run.refusal_window[1]:.1f} s"
                                          if run.refusal_window else ""), flush=True)
    for note in run.notes:
        print(f"   {note}")
    print(f"   bus: lost {a.lost_bus}, scans published twice {a.duplicated_bus}, redeliveries of an id "
          f"{a.redelivered_bus}; feed: lost {a.lost_feed}, seen twice {a.duplicated_feed}; "
          f"stored without a 202 {a.unacknowledged_stored}; derived events {a.derived}; settled {run.settle_s:.1f} s after the load; inbox {run.inbox}",
          flush=True)
    if run.balancer:
        print(f"   balancer: {run.balancer}", flush=True)


def print_table(results: list[Run]) -> None:
    print("\n| run | accepted (202) | lost | published twice | feed: lost / twice | refused (carrier retries) "
          "| retried by the balancer |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        a = r.account
        refused = sum(a.refused.values())
        kinds = ", ".join(f"{n}× {'connection' if s == 0 else s}" for s, n in sorted(a.refused.items()))
        print(f"| {r.name} | {a.accepted} | {a.lost_bus} | {a.duplicated_bus} | {a.lost_feed} / {a.duplicated_feed} | "
              f"{refused}{f' ({kinds})' if kinds else ''} | {r.balancer.get('retries', '-')} |")
    print(flush=True)
    if os.environ.get("CI"):
        assert all(r.account.ok() for r in results)
