"""The processes of a cluster: a fresh PostgreSQL database and RabbitMQ prefix per run, `serve` nodes, workers
and HAProxy in front, each started, stopped and killed the way an operator's supervisor would."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("CARRIER_EVENTS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("CARRIER_EVENTS_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_TOKEN = "bench-admin-" + secrets.token_hex(8)
SECRET = "whsec_" + __import__("base64").b64encode(secrets.token_bytes(24)).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """One supervised process: its command line, environment, and the running instance if any."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    url: str | None = None  # serve nodes: where /readyz answers
    popen: subprocess.Popen | None = None
    log: Path | None = None
    starts: int = 0

    def start(self) -> None:
        assert self.log is not None
        self.starts += 1
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.alive else None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            self.popen.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.popen.poll() if self.popen else None


@dataclass
class Cluster:
    """`serve` nodes + workers on one database and one broker, HAProxy in front (`lb_url`)."""

    nodes: int = 2
    workers: int = 1
    amqp: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    drain_seconds: float = 2.0
    balancer_retries: bool = True  # False: the balancer passes a failed request back (what a carrier then sees)
    pg_admin: str = PG_ADMIN  # a database of the server, to create the run's own database from

    def __post_init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
        self.db_name = f"bench_cluster_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.db_url = self.pg_admin.rsplit("/", 1)[0] + "/" + self.db_name
        self.prefix = f"cluster-{uuid.uuid4().hex[:8]}."
        self.lb_port = free_port()
        self.lb_url = f"http://127.0.0.1:{self.lb_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_EVENTS_")}
        self.env = {**base, "CARRIER_EVENTS_DB": self.db_url, "CARRIER_EVENTS_AUTH_UPS": "standard-webhooks",
                    "CARRIER_EVENTS_SECRET_UPS": SECRET, "CARRIER_EVENTS_ADMIN_TOKEN": ADMIN_TOKEN,
                    "CARRIER_EVENTS_DRAIN_SECONDS": str(self.drain_seconds),
                    "CARRIER_EVENTS_NOTIFY_FILE": str(self.dir / "notifications.jsonl"), **self.extra_env}
        if self.amqp:
            self.env |= {"CARRIER_EVENTS_AMQP_URL": AMQP_URL, "CARRIER_EVENTS_AMQP_PREFIX": self.prefix,
                         "CARRIER_EVENTS_IN_PROCESS_NORMALIZER": "0" if self.workers else "1"}
        self.serve: list[Process] = []
        node_port = free_port()  # the same port on each node's own address, as on separate hosts
        for i in range(1, self.nodes + 1):
            host = f"127.0.1.{i}"
            env = {**self.env, "CARRIER_EVENTS_HOST": host, "CARRIER_EVENTS_PORT": str(node_port)}
            self.serve.append(Process(f"serve-{i}", [sys.executable, "-m", "service", "serve"], env,
                                      url=f"http://{host}:{node_port}", log=self.dir / f"serve-{i}.log"))
        self.worker: list[Process] = [
            Process(f"worker-{i}", [sys.executable, "-m", "service", "worker"], dict(self.env),
                    log=self.dir / f"worker-{i}.log") for i in range(1, self.workers + 1)]
        self.haproxy: subprocess.Popen | None = None

    # --- life cycle -----------------------------------------------------------------------------------------
    async def __aenter__(self) -> Cluster:
        await pg_admin(f'CREATE DATABASE "{self.db_name}"', self.pg_admin)
        try:
            for node in self.serve:  # one at a time: the first migrates the fresh database
                node.start()
                await self.wait_ready(node)
            for worker in self.worker:
                worker.start()
            self.start_haproxy()
            await self.wait_balanced()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=10)
        for p in [*self.worker, *self.serve]:
            p.signal(signal.SIGINT)  # drain 0 for the harness's own stop: twice means at once
            p.signal(signal.SIGTERM)
        for p in [*self.worker, *self.serve]:
            if await p.wait_exit(30) is None and p.alive:
                p.popen.kill()
        await pg_admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)', self.pg_admin)
        if self.amqp:
            await delete_topology(self.prefix)
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def wait_ready(self, node: Process, timeout: float = 30.0) -> float:
        """Seconds until the node's /readyz said 200."""
        start = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - start < timeout:
                if not node.alive:
                    raise RuntimeError(f"{node.name} exited ({node.popen.returncode}); see {node.log}")
                try:
                    async with session.get(f"{node.url}/readyz") as resp:
                        if resp.status == 200:
                            return time.monotonic() - start
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{node.name} not ready in {timeout} s; see {node.log}")

    async def wait_balanced(self, timeout: float = 15.0) -> None:
        """Until the balancer answers through every node it should (its checks need `rise` passes)."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"{self.lb_url}/readyz") as resp:
                        if resp.status == 200:
                            await asyncio.sleep(1.5)  # every server through its `rise` checks
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the balancer never answered")

    def start_haproxy(self) -> None:
        config = self.dir / "haproxy.cfg"
        self.stats_socket = self.dir / "haproxy.sock"
        config.write_text(haproxy_config(self.lb_port, [n.url.removeprefix("http://") for n in self.serve],
                                         self.stats_socket, self.balancer_retries))
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(exe):
            raise RuntimeError("haproxy is not installed (Debian package `haproxy`)")
        check = subprocess.run([exe, "-c", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stdout}{check.stderr}")
        self.haproxy = subprocess.Popen([exe, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.dir / "haproxy.log", "ab"))

    # --- faults ---------------------------------------------------------------------------------------------
    def kill(self, p: Process) -> None:
        p.signal(signal.SIGKILL)

    async def restart(self, p: Process) -> float:
        """Start a stopped process again; for a serve node, seconds until it is ready."""
        if p.alive:
            await p.wait_exit(60)
        p.start()
        return await self.wait_ready(p) if p.url else 0.0

    async def rolling(self, p: Process, timeout: float = 40.0) -> tuple[float, float]:
        """SIGTERM, wait for the exit, start again: (seconds to exit, seconds to ready)."""
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        code = await p.wait_exit(timeout)
        stopped = time.monotonic() - t0
        if code is None:
            raise RuntimeError(f"{p.name} did not stop within {timeout} s after SIGTERM")
        return stopped, await self.restart(p)

    def pids(self) -> dict[str, list[int]]:
        groups = {"serve": [p.pid for p in self.serve if p.pid], "worker": [p.pid for p in self.worker if p.pid]}
        if self.haproxy is not None:
            groups["haproxy"] = [self.haproxy.pid]
        return groups


    def _stat_rows(self) -> list[dict[str, str]]:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.stats_socket))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        return [dict(zip(header, line.split(","))) for line in lines[1:] if line]

    async def out_of_rotation(self, node: Process, timeout: float = 15.0) -> float:
        """Seconds until the balancer's checks marked the node DOWN (call right after the fault)."""
        name = f"n{self.serve.index(node) + 1}"
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            rows = await asyncio.to_thread(self._stat_rows)
            if any(r.get("svname") == name and r.get("status", "").startswith("DOWN") for r in rows):
                return time.monotonic() - start
            await asyncio.sleep(0.05)
        return float("inf")

    def balancer_stats(self) -> dict[str, int]:
        """The backend's counters: requests retried on a connection failure, empty answer or 503 (`retries`),
        sent to another node (`redispatched`), answered 5xx, connection and response errors."""
        for row in self._stat_rows():
            if row.get("pxname") == "serve" and row.get("svname") == "BACKEND":
                return {"requests": int(row["stot"] or 0), "retries": int(row["wretr"] or 0),
                        "redispatched": int(row["wredis"] or 0), "5xx": int(row["hrsp_5xx"] or 0),
                        "connection errors": int(row["econ"] or 0), "response errors": int(row["eresp"] or 0)}
        return {}


def haproxy_config(port: int, servers: list[str], stats_socket: Path, retries: bool = True) -> str:
    """Active checks of `/readyz` every 500 ms (250 ms once failing): a dead or draining node is out after two
    failed checks, about a second; it is back after two good ones. A request whose connection failed, or
    that got no answer or a 503, is sent again to another node: intake is idempotent (a byte-identical body
    or a repeated signed delivery id is answered as the duplicate it is), so a retry cannot store twice."""
    lines = [
        "global", "  maxconn 4096", f"  stats socket {stats_socket} mode 600 level operator", "",
        "defaults", "  mode http", "  timeout connect 1s", "  timeout client 30s", "  timeout server 30s",
        "  timeout http-keep-alive 10s", "  option http-buffer-request",
        *(["  retries 3", "  option redispatch 1", "  retry-on conn-failure empty-response response-timeout 503"]
          if retries else ["  retries 0"]), "",
        "frontend webhooks", f"  bind 127.0.0.1:{port}", "  default_backend serve", "",
        "backend serve", "  balance roundrobin", "  option httpchk GET /readyz", "  http-check expect status 200",
        "  default-server inter 500ms fastinter 250ms downinter 1s fall 2 rise 2",
    ]
    lines += [f"  server n{i} {address} check" for i, address in enumerate(servers, 1)]
    return "\n".join(lines) + "\n"


async def pg_admin(statement: str, url: str = PG_ADMIN) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def pg_fetch(db_url: str, query: str, *args: object) -> list:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def delete_topology(prefix: str) -> None:
    import aio_pika

    from service.amqp.topology import Topology

    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await Topology(prefix=prefix).delete(await channel.get_underlay_channel())
    finally:
        await connection.close()
