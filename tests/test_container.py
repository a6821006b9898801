"""The container files: what can be checked without a Docker engine.

The image installs with `.ci/install`, the script CI runs, so the install is
tested on every CI run; here the image's own variant (a plain, non-editable
install) is run into a fresh virtualenv, and the installed command serves and
passes the image's HEALTHCHECK from outside the checkout (package data
included). Every `CARRIER_EVENTS_*` name the files set must be a setting the
service reads, so a typo cannot silently fall back to a default.
"""
from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

from service.config import known_variables

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "compose.yaml").read_text()


def _known(name: str) -> bool:
    """A variable the service reads (a `<NAME>_FILE` of a secret included)."""
    return name in known_variables() or (name.endswith("_FILE") and known_variables().get(name[:-5], False))


def test_every_variable_the_container_files_set_is_a_setting():
    text = "\n".join(line for line in (DOCKERFILE + COMPOSE).splitlines() if not line.lstrip().startswith("#"))
    names = set(re.findall(r"\bCARRIER_EVENTS_[A-Z0-9_]+", text))
    assert {"CARRIER_EVENTS_DB", "CARRIER_EVENTS_AMQP_URL", "CARRIER_EVENTS_WORKER_PORT"} <= names
    assert [n for n in sorted(names) if not _known(n)] == []


def test_image_and_ci_share_the_install_step_and_the_image_runs_unprivileged():
    assert re.search(r"^RUN \.ci/install /opt/venv", DOCKERFILE, re.M)
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^\.ci/install \.venv test", ci, re.M)
    readme_command = re.search(r"## Run the tests\s+```sh\n(.+?)\n```", (ROOT / "README.md").read_text()).group(1)
    assert ci.rstrip().splitlines()[-1] == readme_command
    assert re.search(r"^USER carrier$", DOCKERFILE, re.M) and "HEALTHCHECK" in DOCKERFILE
    assert DOCKERFILE.startswith("#") and re.search(r"^FROM python:3\.11\.\d+-slim", DOCKERFILE, re.M)
    for service in ("postgres:", "rabbitmq:", "serve:", "worker:", "haproxy:"):
        assert f"\n  {service}\n" in COMPOSE
    assert "condition: service_healthy" in COMPOSE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_image_install_step_serves_and_passes_the_healthcheck(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([str(ROOT / ".ci/install"), str(venv)], check=True, timeout=600)
    port = _free_port()
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "CARRIER_EVENTS_PORT": str(port),
           "CARRIER_EVENTS_DB": str(tmp_path / "data/c.db"), "CARRIER_EVENTS_LOG_FORMAT": "json",
           "CARRIER_EVENTS_OPEN_SOURCES": "ups"}
    proc = subprocess.Popen([str(venv / "bin/carrier-events"), "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check = json.loads(re.search(r'CMD \["python", "-c", (".*?")\]', DOCKERFILE).group(1))
        check = check.replace("8080", str(port))
        for _ in range(100):
            result = subprocess.run([str(venv / "bin/python"), "-c", check], capture_output=True, cwd=tmp_path)
            if result.returncode == 0:
                break
            time.sleep(0.1)
        assert result.returncode == 0, result.stderr
        # the installed package carries its data: mapping tables (a normalized event) and published contracts
        fixture = ROOT / "fixtures/ups_track_json/delivered_received_by.json"
        post = subprocess.run(["curl", "-s", "-XPOST", f"http://127.0.0.1:{port}/webhooks/ups", "-H",
                               "Content-Type: application/json", "--data-binary", f"@{fixture}"],
                              capture_output=True, text=True)
        assert json.loads(post.stdout)["duplicate"] is False
        # ... and the console's files (the notification templates and policy were loaded to start at all)
        script = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://127.0.0.1:{port}/console/console.js"], capture_output=True, text=True)
        assert script.stdout == "200"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    warning = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(w["level"] == "warning" and "ups is OPEN" in w["message"] for w in warning), shlex.quote(stderr)
