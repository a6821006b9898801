"""Intake and end-to-end throughput with 1, 2 and 3 `serve` nodes behind the balancer (one worker, RabbitMQ,
PostgreSQL), and the CPU each kind of process spends per event: the figures a capacity plan starts from.

The load is closed-loop (64 connections posting as fast as answers come); the baseline is the one-node
cluster measured in the same run. Everything shares this machine's cores, the load generator included,
so more nodes cannot scale linearly here: CPU per event is the figure that carries over to other machines.
"""
from __future__ import annotations

import asyncio
import sys
import time

from bench.service import _cpu_seconds, _pids

from .failover import _sender
from .nodes import Cluster, pg_fetch
from .observers import OmsConsumer, settle


async def _db_backends(cluster: Cluster) -> list[int]:
    rows = await pg_fetch(cluster.db_url, "SELECT pid FROM pg_stat_activity WHERE datname = $1", cluster.db_name)
    return [r["pid"] for r in rows]


async def one(nodes: int, seconds: float, offset: int) -> dict:
    async with Cluster(nodes=nodes, workers=1) as cluster:
        async with OmsConsumer(cluster.prefix) as oms:
            groups = cluster.pids()
            groups["postgresql"] = await _db_backends(cluster)
            groups["rabbitmq"] = _pids("beam.smp")
            before = {k: _cpu_seconds(v) for k, v in groups.items()}
            [wal_before] = await pg_fetch(cluster.db_url, "SELECT pg_current_wal_lsn() AS lsn")
            start = time.monotonic()
            report = await _sender(cluster, 0, seconds, offset)
            # every event on the bus before the CPU is read: the worker's share is in
            took = await settle(report["accepted"], oms.seen, oms.seen, 600)
            wall = time.monotonic() - start
            # connections the pools opened during the run count from zero (they had no CPU before it)
            groups["postgresql"] = sorted(set(groups["postgresql"]) | set(await _db_backends(cluster)))
            cpu = {k: _cpu_seconds(v) - before[k] for k, v in groups.items()}
            [wal] = await pg_fetch(cluster.db_url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes",
                                   wal_before["lsn"])
    accepted = len(report["accepted"])
    return {"nodes": nodes, "accepted": accepted, "intake": report["rate"], "p99_ms": report["p99_ms"],
            "end_to_end": accepted / max(wall - 1.0, 1e-9),  # settle() waits 1 s after the last arrival
            "cpu_us": {k: v / max(accepted, 1) * 1e6 for k, v in cpu.items()}, "settle_s": took,
            "wal_bytes": float(wal["bytes"]) / max(accepted, 1)}


async def throughput(node_counts: list[int], seconds: float) -> None:
    offset = int(time.time()) % 100_000 * 1_000_000 + 500_000_000
    results = []
    for i, n in enumerate(node_counts):
        results.append(await one(n, seconds, offset + i * 10_000_000))
        r = results[-1]
        print(f"{n} serve node(s): intake {r['intake']:,.0f} webhooks/s (202 p99 {r['p99_ms']:.0f} ms), end to end "
              f"{r['end_to_end']:,.0f} events/s; CPU per event: "
              + ", ".join(f"{k} {v:,.0f} µs" for k, v in r["cpu_us"].items())
              + f"; PostgreSQL WAL {r['wal_bytes'] / 1024:.1f} KiB per event (the server's, other databases included)",
              flush=True)
    base = results[0]
    print("\n| serve nodes | intake 202/s | × 1 node | end to end events/s | × 1 node | CPU µs/event: serve, worker, "
          "haproxy, postgresql, rabbitmq |")
    print("|---|---|---|---|---|---|")
    for r in results:
        c = r["cpu_us"]
        print(f"| {r['nodes']} | {r['intake']:,.0f} | {r['intake'] / base['intake']:.2f} | {r['end_to_end']:,.0f} | "
              f"{r['end_to_end'] / base['end_to_end']:.2f} | {c['serve']:,.0f}, {c['worker']:,.0f}, "
              f"{c['haproxy']:,.0f}, {c['postgresql']:,.0f}, {c['rabbitmq']:,.0f} |", flush=True)
    print(f"(one machine, {sys.platform}: every process shares its cores, the load generator's included)")
