"""One chaos run: signed load through the balancer while a fault script runs, then the accounting of every
202 against what subscribers saw (the feed always, the bus too in RabbitMQ mode) and what the store marked
`dead`."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.docs import stream_number

from ..cluster.failover import _sender
from ..cluster.nodes import Cluster, pg_fetch
from ..cluster.observers import FeedReader, OmsConsumer, Seen


@dataclass
class Row:
    """A row of the table; `recover_s` None: not everything accepted before the fault end became visible."""

    name: str
    command: str
    accepted: int
    lost: int
    duplicated: int
    dead: int
    recover_s: float | None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        rec = "—" if self.recover_s is None else f"{self.recover_s:.1f} s"
        return (f"| {self.name} | {self.accepted} | {self.lost} | {self.duplicated} | {self.dead} | {rec} "
                f"| `{self.command}` |")


class TimedSeen(Seen):
    """Seen, with when each subject was first seen."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, float] = {}

    def add(self, event: dict) -> None:
        super().add(event)
        self.first.setdefault(event["subject"], time.monotonic())


@dataclass
class Clock:
    """The run's time line: when the load started and when the last fault ended (monotonic)."""

    load_start: float = 0.0
    fault_end: float = 0.0
    notes: list[str] = field(default_factory=list)

    def mark(self, note: str) -> None:
        self.notes.append(f"{time.monotonic() - self.load_start:5.1f} s {note}")
        self.fault_end = time.monotonic()


Fault = Callable[[Cluster, Clock], Awaitable[None]]


async def dead_count(cluster: Cluster) -> int:
    db = cluster.env["CARRIER_EVENTS_DB"]
    if db.startswith("postgresql"):
        rows = await pg_fetch(db, "SELECT COUNT(*) AS n FROM inbox WHERE state = 'dead'")
        return rows[0]["n"]
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM inbox WHERE state = 'dead'").fetchone()[0]


async def loaded(name: str, command: str, cluster: Cluster, fault: Fault, *, rate: float, seconds: float,
                 offset: int, settle_timeout: float = 60.0) -> Row:
    """Load for `seconds` at `rate` while `fault` runs; wait (at most `settle_timeout` after the load) until
    every 202 is visible; account."""
    oms = OmsConsumer(cluster.prefix) if cluster.amqp else None
    feed = FeedReader(cluster.lb_url)
    feed.seen = TimedSeen()
    views: list[TimedSeen] = [feed.seen]
    if oms is not None:
        oms.seen = TimedSeen()
        views.append(oms.seen)
        await oms.__aenter__()
    clock = Clock()
    try:
        async with feed:
            clock.load_start = time.monotonic()
            sending = asyncio.create_task(_sender(cluster, rate, seconds, offset))
            await fault(cluster, clock)
            report = await sending
            accepted = set(report["accepted"])
            deadline = time.monotonic() + settle_timeout
            while time.monotonic() < deadline and not all(accepted <= v.first.keys() for v in views):
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)  # late duplicates would show now
    finally:
        if oms is not None:
            await oms.__aexit__()
    lost = len({tn for tn in accepted if any(tn not in v.first for v in views)})
    duplicated = max(sum(1 for ids in v.subjects.values() if len(ids) > 1) for v in views)
    duplicated = max(duplicated, sum(n - 1 for n in feed.seen.ids.values()))  # the feed gives each id once
    before = {stream_number(offset + i) for i in range(int((clock.fault_end - clock.load_start) * rate))}
    before &= accepted
    arrivals = [max(v.first.get(tn, float("inf")) for v in views) for tn in before]
    recover = max([clock.fault_end, *arrivals]) - clock.fault_end
    refused = sorted(Counter(status for _, status in report["refused"]).items())
    kinds = ", ".join(f"{n}× {'connection' if s == 0 else s}" for s, n in refused) or "none"
    times = [t for t, _ in report["refused"]]
    window = f" between {min(times):.1f} and {max(times):.1f} s" if times else ""
    notes = [*clock.notes, f"sent {report['sent']}, refused {kinds}{window} (the carrier retries those)"]
    if oms is not None:
        notes.append(f"bus redeliveries of an event id already delivered (at least once; subscribers dedupe "
                     f"by id): {sum(n - 1 for n in oms.seen.ids.values())}")
    return Row(name, command, len(accepted), lost, duplicated, await dead_count(cluster),
               None if recover == float("inf") else recover, notes)
