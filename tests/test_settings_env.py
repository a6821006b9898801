"""Configuration from the environment: every error names its variable, unknown names and bad booleans are
refused, secrets come from `<NAME>_FILE`, and `carrier-events config` shows the result with secrets masked."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.carriers.config import credentials_from_env
from service.config import SOURCES, Settings, known_variables
from service.settings_view import mask_url, render

ROOT = Path(__file__).resolve().parent.parent


def error(env: dict[str, str]) -> str:
    with pytest.raises(ValueError) as err:
        Settings.from_env(env)
    return str(err.value)


@pytest.mark.parametrize(("env", "message"), [
    ({"CARRIER_EVENTS_PORT": "abc"}, "CARRIER_EVENTS_PORT='abc': not an integer"),
    ({"CARRIER_EVENTS_PORT": "70000"}, "CARRIER_EVENTS_PORT=70000: not a port number"),
    ({"CARRIER_EVENTS_POLL_RATE": "fast"}, "CARRIER_EVENTS_POLL_RATE='fast': not a number"),
    ({"CARRIER_EVENTS_RATE_LIMIT_UPS": "-1"}, "CARRIER_EVENTS_RATE_LIMIT_UPS='-1': must not be negative"),
    ({"CARRIER_EVENTS_MAX_BODY_BYTES_X12": "1e6"}, "CARRIER_EVENTS_MAX_BODY_BYTES_X12='1e6': not an integer"),
    ({"CARRIER_EVENTS_RETRY_DELAYS_MS": "1s,2s"}, "CARRIER_EVENTS_RETRY_DELAYS_MS='1s,2s': not a comma-separated"),
    ({"CARRIER_EVENTS_ACCESS_LOG": "ture"}, "CARRIER_EVENTS_ACCESS_LOG='ture': not a boolean"),
    ({"CARRIER_EVENTS_LOG_FORMAT": "xml"}, "CARRIER_EVENTS_LOG_FORMAT must be text or json"),
    ({"CARRIER_EVENTS_PROT": "8080"}, "CARRIER_EVENTS_PROT: unknown setting; did you mean CARRIER_EVENTS_PORT?"),
    ({"CARRIER_EVENTS_ADMIN_TOKNE": "x"}, "did you mean CARRIER_EVENTS_ADMIN_TOKEN?"),
    ({"CARRIER_EVENTS_SECRET_UPSS": "x"}, "CARRIER_EVENTS_SECRET_UPSS: unknown webhook source 'upss'"),
    ({"CARRIER_EVENTS_POLL_ACME_API_KEY": "x"}, "CARRIER_EVENTS_POLL_ACME_API_KEY: unknown polled carrier 'acme'"),
    ({"CARRIER_EVENTS_PORT_FILE": "/etc/hostname"}, "CARRIER_EVENTS_PORT is not a secret"),
    ({"CARRIER_EVENTS_OPEN_SOURCES": "ups,fedx"}, "CARRIER_EVENTS_OPEN_SOURCES: unknown webhook source(s) fedx"),
    ({"CARRIER_EVENTS_OUTBOUND_ALLOW_NETS": "10.0.0.0/8,intranet"}, "CARRIER_EVENTS_OUTBOUND_ALLOW_NETS: 'intranet' is not a network"),
    ({"CARRIER_EVENTS_OUTBOUND_CONCURRENCY": "0"}, "CARRIER_EVENTS_OUTBOUND_CONCURRENCY must be at least 1"),
    ({"CARRIER_EVENTS_OUTBOUND_GIVE_UP": "0"}, "CARRIER_EVENTS_OUTBOUND_GIVE_UP must be above 0"),
    ({"CARRIER_EVENTS_WEBHOOKS_OUT": "nope"}, "CARRIER_EVENTS_WEBHOOKS_OUT='nope': not a boolean"),
])
def test_every_error_names_its_variable(env, message):
    assert message in error(env)


def test_every_problem_is_reported_at_once():
    text = error({"CARRIER_EVENTS_PORT": "abc", "CARRIER_EVENTS_POLL": "maybe", "CARRIER_EVENTS_NOPE": "1"})
    assert all(name in text for name in ("CARRIER_EVENTS_PORT", "CARRIER_EVENTS_POLL=", "CARRIER_EVENTS_NOPE"))


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), ("yes", True), ("On", True),
                                             ("0", False), ("false", False), ("No", False), ("off", False)])
def test_booleans(raw, value):
    assert Settings.from_env({"CARRIER_EVENTS_SMTP_STARTTLS": raw}).smtp_starttls is value


def test_defaults_empty_values_and_reserved_test_names():
    assert Settings.from_env({}) == Settings()
    # empty is unset (compose passes `${NAME:-}`); the test suite's own variables are not settings
    env = {"CARRIER_EVENTS_PORT": "", "CARRIER_EVENTS_TEST_PG": "postgresql://x", "CARRIER_EVENTS_BENCH_PG": "x",
           "PATH": "/bin"}
    assert Settings.from_env(env) == Settings()


def test_secrets_from_files(tmp_path):
    def secret(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    env = {"CARRIER_EVENTS_ADMIN_TOKEN_FILE": secret("admin", "s3cret\n"),
           "CARRIER_EVENTS_SECRET_UPS_FILE": secret("ups", "old new\n"),
           "CARRIER_EVENTS_SMTP_PASSWORD_FILE": secret("smtp", "pw"),
           "CARRIER_EVENTS_DB_FILE": secret("db", "postgresql://carrier:pw@db:5432/events\n")}
    settings = Settings.from_env(env)
    assert settings.admin_token == "s3cret" and settings.secrets == {"ups": ("old", "new")}
    assert settings.smtp_password == "pw" and settings.db == "postgresql://carrier:pw@db:5432/events"
    creds = credentials_from_env({"CARRIER_EVENTS_POLL_DHL_API_KEY_FILE": secret("dhl", "k\n")})
    assert creds["dhl"].api_key == "k"
    both = {"CARRIER_EVENTS_API_TOKEN": "a", "CARRIER_EVENTS_API_TOKEN_FILE": secret("api", "b")}
    assert "CARRIER_EVENTS_API_TOKEN and CARRIER_EVENTS_API_TOKEN_FILE are both set" in error(both)
    missing = error({"CARRIER_EVENTS_CS_TOKEN_FILE": str(tmp_path / "nope")})
    assert missing.startswith(f"CARRIER_EVENTS_CS_TOKEN_FILE: cannot read {tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="CARRIER_EVENTS_POLL_UPS_CLIENT_SECRET_FILE: cannot read"):
        credentials_from_env({"CARRIER_EVENTS_POLL_UPS_CLIENT_SECRET_FILE": str(tmp_path / "nope")})


def test_every_secret_may_come_from_a_file():
    files = {name for name, from_file in known_variables().items() if from_file}
    for source in SOURCES:
        assert f"CARRIER_EVENTS_SECRET_{source.upper()}" in files
    for name in ("ADMIN_TOKEN", "CS_TOKEN", "API_TOKEN", "SMTP_PASSWORD", "NOTIFY_WEBHOOK_SECRET",
                 "TICKET_WEBHOOK_SECRET", "DB", "AMQP_URL", "POLL_UPS_CLIENT_SECRET", "POLL_DHL_API_KEY",
                 "POLL_CANADAPOST_PASSWORD"):
        assert f"CARRIER_EVENTS_{name}" in files


def test_config_shows_the_effective_values_with_secrets_masked(tmp_path):
    (tmp_path / "token").write_text("filetoken\n")
    env = {"CARRIER_EVENTS_SECRET_UPS": "k1 k2", "CARRIER_EVENTS_AMQP_URL": "amqp://guest:brokerpw@mq:5672/",
           "CARRIER_EVENTS_ADMIN_TOKEN_FILE": str(tmp_path / "token"), "CARRIER_EVENTS_PORT": "9000",
           "CARRIER_EVENTS_POLL_DHL_API_KEY": "dhlkey", "CARRIER_EVENTS_SMTP_PASSWORD": "smtppw"}
    text = render(env, db="/tmp/flag.db")
    for secret in ("k1", "k2", "brokerpw", "filetoken", "dhlkey", "smtppw"):
        assert secret not in text
    lines = dict(re.match(r"(\S+?)=(.*?)\s+# (\w+)$", line).group(1, 2) for line in text.splitlines())
    assert lines["CARRIER_EVENTS_SECRET_UPS"] == "**** ****"
    assert lines["CARRIER_EVENTS_AMQP_URL"] == "amqp://guest:****@mq:5672/"
    assert lines["CARRIER_EVENTS_ADMIN_TOKEN"] == "****" and lines["CARRIER_EVENTS_POLL_DHL_API_KEY"] == "****"
    assert lines["CARRIER_EVENTS_PORT"] == "9000" and lines["CARRIER_EVENTS_DB"] == "/tmp/flag.db"
    assert "CARRIER_EVENTS_PORT=9000" in text and re.search(r"ADMIN_TOKEN=\*{4}\s+# file", text)
    assert re.search(r"CARRIER_EVENTS_DB=/tmp/flag.db\s+# flag", text)
    assert re.search(r"CARRIER_EVENTS_HOST=127.0.0.1\s+# default", text)
    assert mask_url("postgresql://db/x") == "postgresql://db/x"


def test_config_command(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CARRIER_EVENTS_ADMIN_TOKEN": "topsecret", "CARRIER_EVENTS_PORT": "9001"}
    run = subprocess.run([sys.executable, "-m", "service", "config"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "topsecret" not in run.stdout and re.search(r"^CARRIER_EVENTS_PORT=9001\s+# env$", run.stdout, re.M)
    bad = subprocess.run([sys.executable, "-m", "service", "config"], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "CARRIER_EVENTS_PORT": "abc"}, timeout=60)
    assert bad.returncode == 2 and bad.stderr == "configuration error: CARRIER_EVENTS_PORT='abc': not an integer\n"


def test_serve_refuses_a_bad_variable_naming_it(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CARRIER_EVENTS_DB": str(tmp_path / "x.db"), "CARRIER_EVENTS_ACESS_LOG": "1"}
    run = subprocess.run([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2
    assert "CARRIER_EVENTS_ACESS_LOG: unknown setting; did you mean CARRIER_EVENTS_ACCESS_LOG?" in run.stderr


def test_serve_takes_its_admin_token_from_a_secret_file(tmp_path):
    """As a Docker or Kubernetes secret mounts it: the token in a file, its path in `<NAME>_FILE`."""
    import json
    import socket
    import time
    import urllib.error
    import urllib.request

    (tmp_path / "admin_token").write_text("from-a-file\n")  # the trailing newline is the file's, not the token's
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "CARRIER_EVENTS_DB": str(tmp_path / "s.db"), "CARRIER_EVENTS_PORT": str(port),
           "CARRIER_EVENTS_ADMIN_TOKEN_FILE": str(tmp_path / "admin_token"),
           "CARRIER_EVENTS_NOTIFY_FILE": str(tmp_path / "n.jsonl")}
    proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def dlq(token: str) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/admin/dlq",
                                         headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                json.load(response)
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        for _ in range(100):
            try:
                status = dlq("from-a-file")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert status == 200
        assert dlq("wrong") == 401
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
