"""The rows: each builds its processes, runs its fault under load and returns its Row."""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

from ..cluster.nodes import AMQP_URL, SECRET, Cluster
from .harness import Clock, Row, loaded
from .proxy import Proxy

RATE = 250.0  # signed webhooks per second: steady work for 2 cores without saturating them


def _offset() -> int:
    return int(time.time() * 1000) % 10_000_000 * 1_000  # distinct tracking numbers per run


async def _restart_later(cluster: Cluster, p, after: float) -> None:
    await asyncio.sleep(after)
    await cluster.restart(p)


def storm(every: float, start: float, stop: float, back_after: float, seed: int = 21):
    """SIGKILL a random serve node or worker every `every` s from `start` to `stop`; each is started again
    `back_after` s later (a supervisor's restart). At least one serve node stays up, so the balancer can
    answer."""
    async def fault(cluster: Cluster, clock: Clock) -> None:
        rng = random.Random(seed)
        await asyncio.sleep(start)
        pending: list[asyncio.Task] = []
        t = start
        while t < stop:
            candidates = [p for p in [*cluster.serve, *cluster.worker] if p.alive]
            if sum(p.alive for p in cluster.serve) < 2:
                candidates = [p for p in candidates if p.url is None] or candidates[:0]
            if candidates:
                victim = rng.choice(candidates)
                cluster.kill(victim)
                clock.mark(f"kill -9 {victim.name}")
                pending.append(asyncio.create_task(_restart_later(cluster, victim, back_after)))
            await asyncio.sleep(every)
            t += every
        await asyncio.gather(*pending)
        clock.mark("all restarted")
    return fault


def crash_loop(every: float, start: float, stop: float):
    """Kill the workers in turn every `every` s, each restarted at once (a crash-looping pod)."""
    async def fault(cluster: Cluster, clock: Clock) -> None:
        await asyncio.sleep(start)
        i, t = 0, start
        while t < stop:
            victim = cluster.worker[i % len(cluster.worker)]
            cluster.kill(victim)
            await victim.wait_exit(5)
            victim.start()
            clock.mark(f"kill -9 {victim.name}, restarted")
            i += 1
            await asyncio.sleep(every)
            t += every
    return fault


def broker_cut(proxy: Proxy, mode: str, start: float, length: float):
    async def fault(cluster: Cluster, clock: Clock) -> None:
        await asyncio.sleep(start)
        proxy.set(mode)
        clock.mark(f"broker link: {mode}")
        await asyncio.sleep(length / 2)
        clock.notes.append(f"  mid-fault, straight to {cluster.serve[0].name}: {await _probe(cluster)}")
        await asyncio.sleep(length / 2)
        proxy.set("pass")
        clock.mark("broker link healed")
    return fault


async def _probe(cluster: Cluster) -> str:
    """/readyz and one signed webhook sent to the first node directly, past the balancer."""
    import aiohttp

    from ..cluster.sender import signed_request

    node = cluster.serve[0].url
    _, request = signed_request("x", 0, SECRET, 9_999_000_000 + int(time.time()) % 1_000_000)
    head, body = request.split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:]
                   if not line.lower().startswith(("host:", "content-length:")))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{node}/readyz") as resp:
            ready = f"/readyz {resp.status} {await resp.text()}"
        async with session.post(f"{node}/webhooks/ups", data=body, headers=headers) as resp:
            return f"{ready}; a webhook: {resp.status}"


async def sigkill_storm(amqp: bool) -> Row:
    mode = "amqp" if amqp else "embedded"
    async with Cluster(nodes=2, workers=2, amqp=amqp) as cluster:
        return await loaded(f"SIGKILL storm, {'RabbitMQ' if amqp else 'embedded (PostgreSQL)'}: a random "
                            "serve or worker every 2 s for 16 s, each back after 1 s",
                            f"python -m bench.chaos sigkill-{mode}", cluster,
                            storm(2.0, 3.0, 19.0, 1.0), rate=RATE, seconds=25.0, offset=_offset())


async def worker_crash_loop() -> Row:
    async with Cluster(nodes=1, workers=2, amqp=True) as cluster:
        return await loaded("worker crash loop, RabbitMQ: a worker killed every 2 s for 20 s, restarted at once",
                            "python -m bench.chaos worker-crash-loop", cluster,
                            crash_loop(2.0, 2.0, 22.0), rate=RATE, seconds=25.0, offset=_offset())


async def broker(mode: str) -> Row:
    host, port = AMQP_URL.rsplit("@", 1)[1].split("/")[0].split(":")
    async with Proxy(host, int(port)) as proxy:
        cluster = Cluster(nodes=2, workers=1, amqp=True)
        for p in [*cluster.serve, *cluster.worker]:
            p.env["CARRIER_EVENTS_AMQP_URL"] = proxy.url
        async with cluster:
            what = "refused and closed" if mode == "refuse" else "blackholed (open, every byte dropped)"
            return await loaded(f"broker outage: the link {what} for 10 s",
                                f"python -m bench.chaos broker-{'outage' if mode == 'refuse' else 'blackhole'}",
                                cluster, broker_cut(proxy, mode, 5.0, 10.0), rate=RATE, seconds=25.0,
                                offset=_offset(), settle_timeout=90.0)


@contextlib.contextmanager
def small_filesystem(size: str):
    """A tmpfs of `size` mounted for the run (root only); yields its path."""
    path = Path(tempfile.mkdtemp(prefix="chaos-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


def fill(path: Path, start: float, length: float):
    """Fill the file system to the last byte at `start`, free it `length` s later."""
    async def fault(cluster: Cluster, clock: Clock) -> None:
        await asyncio.sleep(start)
        filler = path / "filler"
        written = 0
        with open(filler, "wb", buffering=0) as f:
            for size in (1 << 20, 4096, 1):  # to the last byte
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * size)
                        written += size
        st = os.statvfs(path)
        clock.mark(f"disk full ({written >> 20} MiB filler, {st.f_bavail * st.f_frsize} bytes free)")
        await asyncio.sleep(length)
        filler.unlink()
        clock.mark("disk freed")
    return fault


async def disk_full() -> Row:
    with small_filesystem("96m") as path:
        cluster = Cluster(nodes=1, workers=0, amqp=False, extra_env={"CARRIER_EVENTS_DB": str(path / "events.db")})
        async with cluster:
            return await loaded("disk full and freed: SQLite on a 96 MiB tmpfs filled to the last byte for 8 s",
                                "python -m bench.chaos disk-full", cluster, fill(path, 5.0, 8.0),
                                rate=RATE, seconds=25.0, offset=_offset())
