"""Service benchmarks: intake rate and ack latency, normalizer throughput, end-to-end latency.

    python -m bench.service [--seconds S] [--amqp-url URL] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Every figure comes from real processes on this machine: `serve` (and `worker`)
started as the README says, loaded over HTTP by `bench.load` in its own
process. The baseline for intake is a bare aiohttp handler that reads the body
and answers 202 (`bench.bare_server`), loaded by the same generator in the
same run; the ratio is what durability (group-committed, fsynced SQLite
inbox) costs. With --amqp-url the end-to-end figure is measured on RabbitMQ
(202 -> CloudEvent delivered to a plain aio-pika consumer), beside the broker's
own floor for the same hops measured in the same run; without it, on the
embedded HTTP feed. With --pg the same figures are measured again with the
store on PostgreSQL (a database created for the run and dropped after), and,
with --amqp-url too, the CPU each process spends per event (serve, worker,
PostgreSQL's backends, RabbitMQ) during the end-to-end run.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from service import event_loop

from .load import percentile

# The feed needs a read token; the bench configures its own and sends it.
READ_TOKEN = "bench-read-token"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}

ROOT = Path(__file__).resolve().parent.parent
_databases = itertools.count(1)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A `serve` (or the bare baseline) process, plus optional `worker` processes, on a fresh database."""

    def __init__(self, *, bare: bool = False, in_process: bool = True, workers: int = 0,
                 amqp_url: str | None = None, amqp_prefix: str = "", pg: str | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-service-")
        self.pg_admin = pg
        self.pg_name = f"bench_service_{os.getpid()}_{next(_databases)}" if pg else None
        self.db = pg.rsplit("/", 1)[0] + "/" + self.pg_name if pg else os.path.join(self.dir, "events.db")
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CARRIER_EVENTS_DB": self.db, "CARRIER_EVENTS_PORT": str(self.port),
               "CARRIER_EVENTS_IN_PROCESS_NORMALIZER": "1" if in_process else "0",
               # the load is unsigned and faster than any carrier: open, unthrottled sources
               "CARRIER_EVENTS_OPEN_SOURCES": "all", "CARRIER_EVENTS_RATE_LIMIT": "0",
               "CARRIER_EVENTS_READ_TOKEN": READ_TOKEN}
        if amqp_url:
            env["CARRIER_EVENTS_AMQP_URL"] = amqp_url
            env["CARRIER_EVENTS_AMQP_PREFIX"] = amqp_prefix
        else:
            env.pop("CARRIER_EVENTS_AMQP_URL", None)
        self.env = env
        self.cmd = ([sys.executable, "-m", "bench.bare_server", str(self.port)] if bare
                    else [sys.executable, "-m", "service", "serve"])
        self.procs: list[subprocess.Popen] = []
        self.workers = workers

    def start_workers(self, n: int) -> None:
        for _ in range(n):
            env = {**self.env, "CARRIER_EVENTS_WORKER_PORT": "0"}  # several on one host; nothing scrapes them
            self.procs.append(subprocess.Popen([sys.executable, "-m", "service", "worker"], cwd=ROOT, env=env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    async def __aenter__(self) -> Service:
        if self.pg_admin:
            await _pg_admin(self.pg_admin, f'CREATE DATABASE "{self.pg_name}"')
        self.procs.append(subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        async with aiohttp.ClientSession() as session:
            for _ in range(400):
                try:
                    async with session.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            self.start_workers(self.workers)
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        await self.__aexit__()
        raise RuntimeError(f"{self.url} did not become ready in 20 s; figures would mean nothing")

    async def __aexit__(self, *exc: object) -> None:
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.pg_admin:
            await _pg_admin(self.pg_admin, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    async def backlog(self) -> int:
        return await self._count("inbox WHERE state IN ('pending', 'claimed')")

    async def count(self, table: str) -> int:
        return await self._count(table)

    async def _count(self, what: str) -> int:
        if self.pg_admin:
            import asyncpg

            conn = await asyncpg.connect(self.db)
            try:
                return await conn.fetchval(f"SELECT COUNT(*) FROM {what}")
            finally:
                await conn.close()
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {what}").fetchone()[0]
        finally:
            conn.close()


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def load(url: str, seconds: float, *, concurrency: int = 64, rate: float | None = None, offset: int = 0,
         events: int = 1, acks: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "bench.load", f"{url}/webhooks/ups", "--seconds", str(seconds),
           "--concurrency", str(concurrency), "--offset", str(offset), "--events", str(events)]
    if rate:
        cmd += ["--rate", str(rate)]
    if acks:
        cmd += ["--acks", acks]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def intake(seconds: float, rounds: int = 3, pg: str | None = None) -> list[tuple[str, dict]]:
    """Every configuration running at once, loaded in turn for `rounds` rounds; each keeps its best round.

    This machine's speed drifts by up to 2x over tens of seconds, so the
    baseline and the service are sampled alternately across the whole run
    rather than one after the other. Between runs a configuration's
    normalizers finish their backlog, so they never load the next one's run.
    """
    configs = [("bare aiohttp 202 (baseline)", Service(bare=True)),
               ("serve, one process (normalizer in-process)", Service()),
               ("serve + 1 worker process", Service(in_process=False, workers=1)),
               ("intake alone (normalizing deferred)", Service(in_process=False))]
    if pg:
        configs += [("PostgreSQL: serve + 1 worker process", Service(in_process=False, workers=1, pg=pg)),
                    ("PostgreSQL: intake alone", Service(in_process=False, pg=pg))]
    best: dict[str, dict] = {}
    for _, svc in configs:
        await svc.__aenter__()
    try:
        offset = 30_000_000
        for _ in range(rounds):
            for name, svc in configs:
                result = load(svc.url, seconds / rounds, offset=offset)
                offset += 1_000_000
                if name not in best or result["rate"] > best[name]["rate"]:
                    best[name] = result
                if not name.startswith("bare") and "intake alone" not in name:
                    while await svc.backlog():
                        await asyncio.sleep(0.1)
    finally:
        for _, svc in configs:
            await svc.__aexit__(None, None, None)
    return [(name, best[name]) for name, _ in configs]


async def normalizer_throughput(docs_seconds: float, events_per_doc: int = 3, pg: str | None = None,
                                workers: int = 1) -> dict:
    """Fill the inbox with the normalizer off, then time `workers` worker processes draining it."""
    async with Service(in_process=False, pg=pg) as svc:
        filled = load(svc.url, docs_seconds, events=events_per_doc, offset=5_000_000)
        backlog = await svc.backlog()
        start = time.perf_counter()
        svc.start_workers(workers)
        while await svc.backlog() > 0:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        events = await svc.count("events")
    return {"documents": backlog, "events": events, "elapsed": elapsed, "events_per_s": events / elapsed,
            "docs_per_s": backlog / elapsed, "intake": filled}


async def end_to_end_embedded(rate: float, seconds: float, workers: int) -> dict:
    """202 -> the event readable on GET /v1/events (a subscriber polling every 5 ms), after a warm-up run."""
    seen: dict[str, float] = {}
    acks_file = os.path.join(tempfile.mkdtemp(), "acks.json")
    async with Service(in_process=not workers, workers=workers) as svc:
        stop = asyncio.Event()

        async def poll() -> None:
            cursor = 0
            async with aiohttp.ClientSession() as session:
                while not stop.is_set():
                    async with session.get(f"{svc.url}/v1/events", params={"after": cursor, "limit": 1000},
                                           headers=READER) as r:
                        body = await r.json()
                    now = time.time()
                    for e in body["events"]:
                        seen.setdefault(e["subject"], now)
                    cursor = body["next"]
                    if not body["events"]:
                        await asyncio.sleep(0.005)

        await asyncio.to_thread(load, svc.url, 2.0, rate=rate, offset=8_000_000)  # warm: imports, caches
        await asyncio.sleep(2.0)
        poller = asyncio.create_task(poll())
        result = await asyncio.to_thread(load, svc.url, seconds, rate=rate, offset=9_000_000, acks=acks_file)
        await asyncio.sleep(2.0)
        stop.set()
        await poller
    acks = json.loads(Path(acks_file).read_text())
    delays = [seen[tn] - t for tn, t in acks.items() if tn in seen]
    return {"offered_rate": rate, "acked": len(acks), "delivered": len(delays),
            "p50_ms": percentile(delays, 0.5) * 1000, "p99_ms": percentile(delays, 0.99) * 1000,
            "intake": result}


@contextlib.asynccontextmanager
async def events_subscriber(amqp_url: str) -> AsyncIterator[tuple[str, dict[str, tuple[float, float | None]]]]:
    """A fresh topology (its name prefix is yielded) and a plain aio-pika consumer bound to its
    `shipment-events` with `#`: subject -> (arrival time, the body's `t` if any) of the first message
    per subject.

    Only those two numbers are kept: holding every parsed body made this
    process's full garbage collections walk tens of thousands of dicts,
    pausing the consumer (and so postponing arrival times) by 100 ms and more
    towards the end of a run.

    The consumer takes deliveries without acks (its queue is exclusive and
    dies with it): an ack per message would cost it and the broker CPU that
    this 2-core machine shares with what is being measured.
    """
    import uuid

    import aio_pika
    import orjson

    from service.amqp.topology import Topology

    arrivals: dict[str, tuple[float, float | None]] = {}
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topology = Topology(prefix=prefix)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await topology.declare(await channel.get_underlay_channel())
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(topology.events, routing_key="#")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        arrivals.setdefault(body["subject"], (time.time(), body.get("t")))

    await queue.consume(on_message, no_ack=True)
    try:
        yield prefix, arrivals
    finally:
        await topology.delete(await channel.get_underlay_channel())
        await connection.close()


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc; processes gone meanwhile count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


async def end_to_end_amqp(amqp_url: str, rate: float, seconds: float, workers: int, pg: str | None = None) -> dict:
    """202 -> the CloudEvent delivered to a plain aio-pika consumer bound to `shipment-events`.

    A two-second run at the same rate first warms the processes (imports,
    caches, connections); only the second run is measured, and over it the
    CPU time of each process (serve, workers, PostgreSQL, RabbitMQ) per event.
    """
    acks_file = os.path.join(tempfile.mkdtemp(), "acks.json")
    async with events_subscriber(amqp_url) as (prefix, arrivals):
        async with Service(in_process=not workers, workers=workers, amqp_url=amqp_url, amqp_prefix=prefix,
                           pg=pg) as svc:
            await asyncio.to_thread(load, svc.url, 2.0, rate=rate, offset=11_000_000)  # warm: imports, caches
            await asyncio.sleep(2.0)
            groups = {"serve": [svc.procs[0].pid], "worker": [p.pid for p in svc.procs[1:]],
                      "postgresql": _pids("postgres") if pg else [], "rabbitmq": _pids("beam.smp")}
            before = {k: _cpu_seconds(v) for k, v in groups.items()}
            result = await asyncio.to_thread(load, svc.url, seconds, rate=rate, offset=12_000_000, acks=acks_file)
            await asyncio.sleep(2.0)
            cpu = {k: _cpu_seconds(v) - before[k] for k, v in groups.items()}
    acks = json.loads(Path(acks_file).read_text())
    delays = [arrivals[tn][0] - t for tn, t in acks.items() if tn in arrivals]
    return {"offered_rate": rate, "acked": len(acks), "delivered": len(delays),
            "p50_ms": percentile(delays, 0.5) * 1000, "p99_ms": percentile(delays, 0.99) * 1000,
            "intake": result, "cpu_us_per_event": {k: v / max(1, len(delays)) * 1e6 for k, v in cpu.items() if v}}


async def broker_floor(amqp_url: str, rate: float, seconds: float) -> dict:
    """The same two broker hops without the service (`bench.broker_floor`), subscribed to the same way."""
    async with events_subscriber(amqp_url) as (prefix, arrivals):
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.broker_floor", amqp_url, prefix,
                                                    str(rate), str(seconds), cwd=ROOT)
        await proc.wait()
    delays = [arrived - sent for arrived, sent in arrivals.values() if sent is not None]
    return {"offered_rate": rate, "delivered": len(delays), "expected": int(rate * seconds),
            "p50_ms": percentile(delays, 0.5) * 1000, "p99_ms": percentile(delays, 0.99) * 1000}


async def main_async(args: argparse.Namespace) -> None:
    if args.only_amqp:
        await amqp_figures(args)
        return
    print(f"intake (closed loop, 64 connections, distinct 1-scan UPS documents; best of 3 alternating rounds; "
          f"event loop {event_loop.name()} for serve, worker and baseline):")
    rows = await intake(args.seconds, pg=args.pg)
    bare = rows[0][1]["rate"]
    for name, r in rows:
        print(f"  {name:44} {r['rate']:8,.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
              f"x bare {r['rate'] / bare:.2f}  errors {r['errors']}")
    stores = [("SQLite", None)] + ([("PostgreSQL", args.pg)] if args.pg else [])
    for label, pg in stores:
        n = await normalizer_throughput(args.seconds, pg=pg)
        print(f"normalizer ({label}), one worker draining {n['documents']:,} documents of 3 new scans: "
              f"{n['events_per_s']:,.0f} events/s ({n['docs_per_s']:,.0f} docs/s, {n['events']:,} events "
              f"in {n['elapsed']:.1f} s)")
    for workers, label in ((0, "one process"), (1, "serve + 1 worker")):
        e = await end_to_end_embedded(args.rate, args.seconds, workers)
        print(f"end to end at {e['offered_rate']:,.0f} webhooks/s (embedded feed, {label}): "
              f"p50 {e['p50_ms']:.1f} ms  p99 {e['p99_ms']:.1f} ms  ({e['delivered']:,}/{e['acked']:,} "
              f"delivered; intake p99 {e['intake']['p99_ms']:.1f} ms)")
    if args.amqp_url:
        await amqp_figures(args)


async def amqp_figures(args: argparse.Namespace) -> None:
    f = await broker_floor(args.amqp_url, args.rate, args.seconds)
    print(f"broker floor at {f['offered_rate']:,.0f} msg/s (quorum queue -> consumer -> topic exchange, "
          f"no service): p50 {f['p50_ms']:.1f} ms  p99 {f['p99_ms']:.1f} ms  "
          f"({f['delivered']:,}/{f['expected']:,} delivered)")
    runs = [(0, "one process", None), (1, "serve + 1 worker", None)]
    if args.pg:
        runs.append((1, "serve + 1 worker, PostgreSQL", args.pg))
    for workers, label, pg in runs:
        e = await end_to_end_amqp(args.amqp_url, args.rate, args.seconds, workers, pg=pg)
        cpu = "  ".join(f"{k} {v:,.0f}" for k, v in e["cpu_us_per_event"].items())
        print(f"end to end at {e['offered_rate']:,.0f} webhooks/s (RabbitMQ, {label}): "
              f"p50 {e['p50_ms']:.1f} ms  p99 {e['p99_ms']:.1f} ms  ({e['delivered']:,}/{e['acked']:,} "
              f"delivered; intake p99 {e['intake']['p99_ms']:.1f} ms); CPU µs/event: {cpu}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each load run")
    ap.add_argument("--only-amqp", action="store_true", help="only the RabbitMQ end-to-end figures")
    ap.add_argument("--rate", type=float, default=1000.0, help="webhooks/s for the end-to-end figures")
    ap.add_argument("--amqp-url", default=None, help="also measure end to end on RabbitMQ (e.g. amqp://guest:guest@127.0.0.1:5672/)")
    ap.add_argument("--pg", default=None, help="also measure with the store on PostgreSQL: an admin URL, e.g. "
                    "postgresql://postgres@127.0.0.1:5432/postgres (a database is created for the run)")
    args = ap.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
