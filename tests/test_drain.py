"""SIGTERM takes a node out of a balancer's rotation before it stops: `/readyz` says 503 at once while
webhooks are still answered, then the usual graceful stop; a second signal stops at once."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import aiohttp

from tests.docs import stream_number, ups_track
from tests.test_crash import ROOT, _free_port, _wait_ready


def _serve(tmp_path, port: int, drain: float) -> subprocess.Popen:
    env = {**os.environ, "CARRIER_EVENTS_DB": str(tmp_path / "events.db"), "CARRIER_EVENTS_PORT": str(port),
           "CARRIER_EVENTS_OPEN_SOURCES": "all", "CARRIER_EVENTS_DRAIN_SECONDS": str(drain)}
    env.pop("CARRIER_EVENTS_AMQP_URL", None)
    return subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def _serving(tmp_path, drain: float):
    """A ready `serve` subprocess, a client session and its base URL; killed at the end if still running."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(tmp_path, port, drain)
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_ready(session, base)
            yield proc, session, base
    finally:
        if proc.poll() is None:
            proc.kill()


async def _exit_code(proc: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        raise AssertionError(f"serve did not stop within {timeout} s")
    return proc.returncode


async def test_sigterm_makes_readyz_503_at_once_while_webhooks_are_still_accepted(tmp_path):
    async with _serving(tmp_path, drain=3.0) as (proc, session, base):
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.2)
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["ready"] is False and body["draining"] is True and body["store"] == "writable"
        async with session.get(f"{base}/healthz") as resp:
            assert resp.status == 200  # alive: a liveness probe must not restart a draining node
        tn = stream_number(1)
        async with session.post(f"{base}/webhooks/ups", data=ups_track(tn, [("origin", "20260301", "180000")]),
                                headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 202  # routed here before the balancer noticed: still taken
        assert await _exit_code(proc, 20) == 0
        assert time.monotonic() - signalled >= 2.5, "stopped before the drain period ended"


async def test_a_second_signal_while_draining_stops_at_once(tmp_path):
    async with _serving(tmp_path, drain=60.0) as (proc, session, base):
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 503
        proc.send_signal(signal.SIGINT)
        assert await _exit_code(proc, 20) == 0  # well before the 60 s drain


async def test_readyz_reports_not_draining_while_serving(tmp_path):
    async with _serving(tmp_path, drain=0.0) as (proc, session, base):
        async with session.get(f"{base}/readyz") as resp:
            assert (await resp.json())["draining"] is False
        proc.send_signal(signal.SIGTERM)  # drain 0: the old behaviour, a prompt graceful stop
        assert await _exit_code(proc, 20) == 0
