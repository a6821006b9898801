"""Two `serve` nodes and a worker on one PostgreSQL and one RabbitMQ behind HAProxy, as deployed: a node
killed under load, and another restarted with SIGTERM, lose no acknowledged webhook, publish no scan twice,
and refuse nothing (the balancer retries what a dead node never answered; a draining node leaves rotation
before it stops). `python -m bench.cluster failover` runs the same at 1,000 webhooks/s with more faults."""
from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from bench.cluster.failover import loaded_run
from bench.cluster.nodes import Cluster
from tests.conftest import PG_ADMIN
from tests.test_amqp_support import broker  # noqa: F401 - the fixture


def _haproxy() -> None:
    if shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy"):
        return
    reason = "haproxy is not installed (Debian package `haproxy`; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


async def _kill_then_drain(cluster: Cluster, notes: list[str]) -> None:
    await asyncio.sleep(1.5)
    cluster.kill(cluster.serve[0])
    notes.append("SIGKILL serve-1")
    await asyncio.sleep(1.0)
    await cluster.restart(cluster.serve[0])
    await asyncio.sleep(1.5)  # back in rotation
    stopped, _ = await cluster.rolling(cluster.serve[1])
    notes.append(f"serve-2 stopped {stopped:.1f} s after SIGTERM")


async def test_a_killed_node_and_a_restarted_one_lose_nothing_behind_the_balancer(pg_template, broker):  # noqa: F811
    _haproxy()
    async with Cluster(nodes=2, workers=1, pg_admin=PG_ADMIN, drain_seconds=1.0) as cluster:
        run = await loaded_run("kill and drain", cluster, rate=200.0, seconds=10.0, faults=_kill_then_drain,
                               offset=7_000_000, settle_timeout=90)
    a = run.account
    assert run.notes[0] == "SIGKILL serve-1" and run.notes[1].startswith("serve-2 stopped")
    assert a.accepted == run.sent == 2000, (a.accepted, run.sent, dict(a.refused))
    assert sum(a.refused.values()) == 0, dict(a.refused)
    assert (a.lost_bus, a.duplicated_bus, a.lost_feed, a.duplicated_feed) == (0, 0, 0, 0), a
    assert run.inbox == {"done": 2000}, run.inbox
