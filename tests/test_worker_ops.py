"""A `worker` process is operable: `/metrics` (with process and GC series), `/healthz`, `/readyz` on its own port."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.config import Settings
from service.ops import create_ops_app, start_ops
from service.store import open_store
from service.web.bodies import Readiness
from service.worker import run_embedded_worker
from tests.test_amqp import post, settled
from tests.test_amqp_reliability import docs
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    AMQP_URL, aiohttp_client, broker, close_connections_named, eventually, rabbitmqctl, settings, subscriber,
    topology)

ROOT = Path(__file__).resolve().parent.parent
PROCESS_SERIES = ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                  "python_gc_objects_collected_total", "python_gc_collections_total", "python_info")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text: str) -> dict[str, float]:
    """Sample name with its labels -> value, e.g. `carrier_events_documents_total{carrier="ups",...}`."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def total(found: dict[str, float], name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in found.items()
               if k.split("{")[0] == name and all(w in k for w in want))


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


async def ready_state(http: aiohttp.ClientSession, base: str) -> tuple[int, dict] | None:
    try:
        async with http.get(f"{base}/readyz") as resp:
            return resp.status, await resp.json()
    except aiohttp.ClientConnectionError:
        return None


async def connection_name_of(pid: int) -> str:
    listing = await rabbitmqctl("list_connections", "--no-table-headers", "client_properties")
    names = re.findall(r'\{"connection_name","(carrier-events worker pid=' + str(pid) + r' [0-9a-f]+)"\}', listing)
    assert len(names) == 1, listing
    return names[0]


async def test_a_worker_process_serves_metrics_health_and_readiness(aiohttp_client, settings, subscriber, topology):
    # serve leaves the normalizing to the worker: the worker's counters then hold every document.
    client = await aiohttp_client(create_app(replace(settings, in_process_normalizer=False)))
    port = free_port()
    env = {**os.environ, "CARRIER_EVENTS_DB": settings.db, "CARRIER_EVENTS_AMQP_PREFIX": topology.prefix,
           # A 5 s reconnect interval keeps the outage below open long enough to see it.
           "CARRIER_EVENTS_AMQP_URL": AMQP_URL + "?reconnect_interval=5",
           "CARRIER_EVENTS_RETRY_DELAYS_MS": "200,400", "CARRIER_EVENTS_HOST": "127.0.0.1",
           "CARRIER_EVENTS_WORKER_PORT": str(port)}
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "service", "worker", cwd=ROOT, env=env,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async def ready() -> bool:
                state = await ready_state(http, base)
                return state is not None and state[0] == 200

            await eventually(ready, 20, lambda: "the worker's /readyz never answered 200")
            status, body = await ready_state(http, base)  # type: ignore[misc]
            assert body == {"ready": True, "store": "writable", "broker": "connected", "draining": False}
            Readiness.model_validate(body)  # the same documented body as serve's /readyz
            assert await get(http, f"{base}/healthz") == (200, '{"status": "ok"}')

            for body_ in docs(0, 12):
                await post(client, body_)
            await subscriber.wait_for(12)
            await settled(client)
            status, text = await get(http, f"{base}/metrics")
            assert status == 200
            found = samples(text)
            assert total(found, "carrier_events_documents_total", result="normalized") == 12  # this worker's work
            assert total(found, "carrier_events_events_total") == 12
            assert found["carrier_events_backlog{queue=\"inbox_queued\"}"] == 0  # read from the shared store
            assert {k.split("{")[0] for k in found} >= set(PROCESS_SERIES)
            assert found["process_resident_memory_bytes"] > 10 * 2**20
            assert found["process_open_fds"] > 0

            # Broker gone: not ready (503, saying why) while alive; ready again after the reconnect.
            assert await close_connections_named(await connection_name_of(worker.pid)) == 1

            async def unready() -> bool:
                state = await ready_state(http, base)
                return state is not None and state[0] == 503

            await eventually(unready, 10, lambda: "the worker stayed ready without its broker")
            assert (await ready_state(http, base))[1]["broker"] == "disconnected"  # type: ignore[index]
            assert (await get(http, f"{base}/healthz"))[0] == 200
            await eventually(ready, 20, lambda: "the worker never became ready again")
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, err.decode()[-2000:]
    with socket.socket() as s:  # the port is released at exit
        s.bind(("127.0.0.1", port))


async def test_an_embedded_worker_serves_the_same_endpoints_without_a_broker(tmp_path):
    settings = Settings(db=str(tmp_path / "events.db"), worker_port=free_port())
    stop = asyncio.Event()
    task = asyncio.create_task(run_embedded_worker(settings, stop, serve_ops=True))
    base = f"http://127.0.0.1:{settings.worker_port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async def answers() -> bool:
                return await ready_state(http, base) is not None

            await eventually(answers, 10, lambda: "no /readyz")
            assert await ready_state(http, base) == (200, {"ready": True, "store": "writable", "broker": "n/a", "draining": False})
            status, text = await get(http, f"{base}/metrics")
            assert status == 200 and "process_cpu_seconds_total" in text and "carrier_events_backlog" in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_port_zero_serves_nothing(tmp_path):
    assert Settings.from_env({"CARRIER_EVENTS_WORKER_PORT": "0"}).worker_port == 0
    assert Settings.from_env({}).worker_port == 9101
    assert await start_ops(Settings(worker_port=0), None, lambda: None, lambda: False) is None  # type: ignore[arg-type]


async def test_serve_exposes_the_process_and_gc_series_too(tmp_path):
    async with TestClient(TestServer(create_app(Settings(db=str(tmp_path / "events.db"))))) as client:
        resp = await client.get("/metrics")
        found = samples(await resp.text())
    assert resp.status == 200
    assert {k.split("{")[0] for k in found} >= set(PROCESS_SERIES)


def test_a_taken_port_stops_the_worker_naming_the_variable(tmp_path):
    with socket.socket() as taken:  # another worker on this host already serves there
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**os.environ, "CARRIER_EVENTS_HOST": "127.0.0.1",
               "CARRIER_EVENTS_WORKER_PORT": str(taken.getsockname()[1])}
        env.pop("CARRIER_EVENTS_AMQP_URL", None)
        result = subprocess.run([sys.executable, "-m", "service", "worker", "--db", str(tmp_path / "events.db")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "CARRIER_EVENTS_WORKER_PORT" in result.stderr and "Traceback" not in result.stderr


async def test_a_stopping_worker_is_not_ready(tmp_path):
    """Told to stop, a worker finishes its batch before it exits: /readyz says so meanwhile."""
    store = open_store(str(tmp_path / "events.db"))
    await store.open()
    stopping = False
    try:
        async with TestClient(TestServer(create_ops_app(store, lambda: True, lambda: stopping))) as client:
            assert (await client.get("/readyz")).status == 200
            stopping = True
            resp = await client.get("/readyz")
            assert resp.status == 503
            assert await resp.json() == {"ready": False, "store": "writable", "broker": "connected", "draining": True}
    finally:
        await store.close()
