"""compose.yaml, .env.example and the HAProxy configuration: valid by the Compose specification, every
documented variable reaching the containers, health checks everywhere, one published port, and a balancer
that takes a dead or draining replica out within a few seconds."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from service.carriers.config import CLIENTS
from service.config import SOURCES, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
APP_SERVICES = ("serve", "worker")  # the carrier-events image
PER_SOURCE = ("SECRET_", "AUTH_", "MAX_BODY_BYTES_", "RATE_LIMIT_")
POLL = re.compile(r"POLL_(" + "|".join(c.upper() for c in CLIENTS) + r")_(BASE_URL|CLIENT_ID|CLIENT_SECRET|API_KEY|"
                  r"USERNAME|PASSWORD)")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def duration(text: str) -> float:
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", text))


def env_example() -> dict[str, str]:
    """.env.example as compose (and `kubectl create secret --from-env-file`) reads it."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), line
            values[name] = value
    return values


def setting_names() -> set[str]:
    """The settings' own variables (the per-source mappings are named per source)."""
    fields = getattr(Settings, "model_fields", None) or Settings.__dataclass_fields__
    per_source = {"secrets", "auth", "max_body_by_source", "rates"}
    return {"CARRIER_EVENTS_" + name.upper() for name in fields if name not in per_source}


def known_variable(name: str) -> bool:
    rest = name.removeprefix("CARRIER_EVENTS_")
    if name in setting_names() or POLL.fullmatch(rest):
        return True
    return any(rest.startswith(p) and rest[len(p):].lower() in SOURCES for p in PER_SOURCE)


def test_compose_file_is_valid_by_the_compose_specification(tmp_path):
    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                               str(path)], capture_output=True, text=True, timeout=120)

    result = check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yaml"  # the validator does reject what the specification does not allow
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period: 30s", "stop_grace_periods: 30s", 1))
    assert check(broken).returncode != 0


def test_the_recommended_layout_behind_one_published_port():
    services = compose()["services"]
    assert set(services) == {"postgres", "rabbitmq", "serve", "worker", "haproxy"}
    assert services["serve"]["deploy"]["replicas"] == 2 and "replicas" not in services["worker"].get("deploy", {})
    assert services["serve"]["command"] == ["carrier-events", "serve"]
    assert services["worker"]["command"] == ["carrier-events", "worker"]
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert name == "haproxy" or "ports" not in service, f"{name} publishes a port"
    assert services["haproxy"]["ports"] == ["${BALANCER_PORT:-8080}:8080"]
    assert "/readyz" in " ".join(services["serve"]["healthcheck"]["test"])
    assert "9101/readyz" in " ".join(services["worker"]["healthcheck"]["test"])
    mount = services["haproxy"]["volumes"][0].split(":")
    assert (ROOT / mount[0]).resolve() == HAPROXY_CFG


def test_normalizing_is_in_the_worker_and_stopping_waits_for_the_drain():
    services = compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["CARRIER_EVENTS_IN_PROCESS_NORMALIZER"] == "false"
        assert env["CARRIER_EVENTS_DB"].startswith("postgresql://") and "@postgres:5432/" in env["CARRIER_EVENTS_DB"]
        amqp = env["CARRIER_EVENTS_AMQP_URL"]
        assert amqp.startswith("amqp://") and "@rabbitmq:5672/" in amqp
        needed = float(env["CARRIER_EVENTS_DRAIN_SECONDS"]) + float(env["CARRIER_EVENTS_SHUTDOWN_TIMEOUT"])
        assert duration(services[name]["stop_grace_period"]) > needed, name
    assert services["worker"]["environment"]["CARRIER_EVENTS_WORKER_PORT"] == "9101"


def test_every_documented_variable_reaches_the_containers():
    services = compose()["services"]
    for name in APP_SERVICES:  # the whole .env, whatever it holds, goes to each carrier-events container
        assert services[name]["env_file"] == [{"path": ".env", "required": True}], name
    example = env_example()
    wired = set(services["serve"]["environment"])
    assert not wired & set(example), "a variable both in .env.example and set by compose.yaml: .env would lose"
    # Every setting, every webhook source's secret, every pollable carrier's credentials.
    expected = setting_names() | {f"CARRIER_EVENTS_SECRET_{s.upper()}" for s in SOURCES}
    expected |= {f"CARRIER_EVENTS_POLL_{c.upper()}_{n.upper()}" for c, cls in CLIENTS.items() for n in cls.required}
    assert expected - set(example) - wired == set()
    documented = set(re.findall(r"CARRIER_EVENTS_[A-Z0-9_]*[A-Z0-9]\b", (ROOT / "README.md").read_text()))
    # settings only: not the test suite's variables, the `_FILE` forms of secrets, or the README's example typo
    documented = {n for n in documented if known_variable(n) and not n.endswith("_FILE")}
    assert documented - set(example) - wired == set()
    unknown = {n for n in set(example) | wired if n.startswith("CARRIER_EVENTS_") and not known_variable(n)}
    assert unknown == set()
    Settings.from_env({k: v for k, v in example.items() if known_variable(k)})  # the example values are valid


def haproxy() -> str:
    found = shutil.which("haproxy")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is not installed and CI=true (Debian: apt-get install haproxy; .ci/run does)")
        pytest.skip("haproxy is not installed (Debian package `haproxy`); CI installs it")
    return found


def test_haproxy_accepts_the_configuration():
    result = subprocess.run([haproxy(), "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """A stand-in serve replica: answers which replica it is, and /readyz 200 or 503 as told."""

    def __init__(self, name: str) -> None:
        self.name, self.ready, self.port = name, True, free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def readyz(_request: web.Request) -> web.Response:
            return web.json_response({"ready": self.ready}, status=200 if self.ready else 503)

        async def webhook(_request: web.Request) -> web.Response:
            return web.json_response({"replica": self.name}, status=202)

        app = web.Application()
        app.router.add_get("/readyz", readyz)
        app.router.add_post("/webhooks/ups", webhook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_the_balancer_takes_a_draining_or_dead_replica_out_within_seconds(tmp_path):
    """The shipped configuration, with its two server slots pointed at local replicas instead of DNS."""
    binary = haproxy()
    replicas = [Replica("a"), Replica("b")]
    for r in replicas:
        await r.start()
    front, monitor = free_port(), free_port()
    config = HAPROXY_CFG.read_text()
    template = re.search(r"^\s*server-template .*$", config, re.M)
    assert template is not None
    servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} check" for r in replicas)
    config = config.replace(template.group(0), servers).replace("bind :8080", f"bind 127.0.0.1:{front}")
    config = config.replace("bind :8404", f"bind 127.0.0.1:{monitor}").replace("log stdout format raw local0", "")
    (tmp_path / "haproxy.cfg").write_text(config)
    proc = await asyncio.create_subprocess_exec(binary, "-db", "-f", str(tmp_path / "haproxy.cfg"),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{front}/webhooks/ups"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async def answered_by() -> str | None:
                try:
                    async with http.post(url, data=b"{}") as resp:
                        return (await resp.json())["replica"] if resp.status == 202 else f"status {resp.status}"
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    return None

            async def only(name: str, within: float) -> float:
                """Seconds until the first of 10 requests in a row that all reach `name`; none may fail."""
                start, streak, since = time.monotonic(), 0, 0.0
                while streak < 10:
                    sent = time.monotonic()
                    got = await answered_by()
                    assert got in ("a", "b"), f"a request failed: {got}"
                    streak, since = (streak + 1, since if streak else sent) if got == name else (0, 0.0)
                    assert time.monotonic() - start < within + 2, f"still not only {name} after {within}s"
                    await asyncio.sleep(0.05)
                return since - start

            deadline = time.monotonic() + 10
            seen: set[str] = set()
            while seen != {"a", "b"}:  # both checked up and in rotation
                got = await answered_by()
                seen |= {got} if got in ("a", "b") else set()
                assert time.monotonic() < deadline, f"both replicas never served: {seen}"
                await asyncio.sleep(0.05)

            replicas[0].ready = False  # SIGTERM: serve drains, /readyz answers 503
            drained = await only("b", within=4)
            replicas[0].ready = True
            await asyncio.sleep(2.5)  # rise 2 at 1 s intervals
            dying = replicas.pop()
            await dying.stop()  # b dies outright: its connections are refused, and retried on a
            killed = time.monotonic()
            assert await only("a", within=4) < 1  # no request lost meanwhile: refused connections go to a

            async def status_of(name: str) -> str:
                async with http.get(f"http://127.0.0.1:{monitor}/stats;csv") as resp:
                    rows = [line.split(",") for line in (await resp.text()).splitlines()]
                return next(row[17] for row in rows if row[:2] == ["serve", name])  # pxname, svname, ..., status

            while not (await status_of("b")).startswith("DOWN"):
                assert time.monotonic() - killed < 6, "the dead replica was never marked down"
                await asyncio.sleep(0.1)
            dead = time.monotonic() - killed
    finally:
        proc.terminate()
        _, err = await proc.communicate()
        for r in replicas:
            await r.stop()
    print(f"draining replica out after {drained:.2f} s, dead replica after {dead:.2f} s")
    assert drained < 4 and dead < 4, err.decode()[-2000:]
