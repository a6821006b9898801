"""The `serve` process under its operating limits, as a subprocess: SIGTERM with big documents in flight exits
within the shutdown limit and loses nothing; the access log never shows a credential, whatever it is called."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.logmask import mask, remember_credential_names
from tests.docs import ups_track

ROOT = Path(__file__).resolve().parent.parent
SHUTDOWN_TIMEOUT = 10.0  # Docker's default grace period before SIGKILL
BIG = 8  # documents of 20,000 scans (~4 MB each) in the backlog at SIGTERM
PARTNER_SECRET = "partner-secret-7c1e"  # a query credential under a name no built-in list knows
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_EVENTS_")}
    env.update({"CARRIER_EVENTS_DB": str(db), "CARRIER_EVENTS_PORT": str(port), "CARRIER_EVENTS_HOST": "127.0.0.1",
                "CARRIER_EVENTS_OPEN_SOURCES": "ups", "CARRIER_EVENTS_AUTH_GENERIC": "query:partner_key",
                "CARRIER_EVENTS_SECRET_GENERIC": PARTNER_SECRET, "CARRIER_EVENTS_ACCESS_LOG": "true",
                "CARRIER_EVENTS_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT), "CARRIER_EVENTS_POLL": "false",
                "CARRIER_EVENTS_NOTIFY_FILE": str(db.parent / "sent.jsonl"), "CARRIER_EVENTS_RATE_LIMIT": "0",
                "CARRIER_EVENTS_DRAIN_SECONDS": "0"})  # no balancer in front: the limit counts from the signal
    with log.open("ab") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with DIRECT.open(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
        time.sleep(0.1)


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with DIRECT.open(request, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _states(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT state, count(*) FROM inbox GROUP BY state").fetchall())
    finally:
        conn.close()


def _big(i: int, scans: int = 20_000) -> bytes:
    """One shipment with `scans` scans (~4 MB): a document whose normalizing takes seconds on this machine."""
    return ups_track(f"1ZBIG{i:013d}", [("arrived", f"2026{1 + n // 40_320:02d}{1 + (n // 1440) % 28:02d}",
                                          f"{(n // 60) % 24:02d}{n % 60:02d}00") for n in range(scans)])


def test_sigterm_with_big_documents_in_flight_exits_in_time_and_loses_nothing(tmp_path: Path):
    db, port, log = tmp_path / "events.db", _free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    proc = _start(db, port, log)
    try:
        assert _post(f"{base}/webhooks/generic?partner_key={PARTNER_SECRET}", b'{"hello": 1}') == 202
        assert _post(f"{base}/webhooks/generic?partner_key=not-{PARTNER_SECRET}", b'{"hello": 2}') == 401
        bodies = [_big(i) for i in range(BIG)]
        with ThreadPoolExecutor(4) as pool:  # a backlog faster than the normalizer drains it
            assert list(pool.map(lambda body: _post(f"{base}/webhooks/ups", body), bodies)) == [202] * BIG
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"\nSIGTERM with {BIG} documents of 20,000 scans in flight: exit {code} after {took:.2f} s "
          f"(limit {SHUTDOWN_TIMEOUT:.0f} s); inbox {_states(db)}")
    assert code == 0 and took < SHUTDOWN_TIMEOUT
    states = _states(db)
    # Nothing claimed, nothing lost: each document is done (the first one quarantined: it is no carrier's) or
    # pending for the next start.
    assert set(states) <= {"done", "quarantined", "pending"} and sum(states.values()) == BIG + 1, states

    proc = _start(db, port, log)  # the next start normalizes what was left pending
    try:
        deadline = time.monotonic() + 120
        while set(_states(db)) - {"done", "quarantined"} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _states(db) == {"done": BIG, "quarantined": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    text = log.read_text("utf-8", "replace")
    assert "\"POST /webhooks/generic?partner_key=***" in text  # the access log was on, and masked
    assert PARTNER_SECRET not in text


def test_configured_credential_names_are_masked_wherever_they_appear():
    line = "headers {'X-Shop-Key': 'abc123', 'Content-Type': 'application/json'} shop_key=zzz9"
    assert "abc123" in mask(line)  # an unknown name: nothing says it is a credential
    remember_credential_names(["X-Shop-Key", "shop_key"])
    masked = mask(line)
    assert "abc123" not in masked and "zzz9" not in masked and "application/json" in masked
    assert mask('"GET /webhooks/x?anything=v1&b=2 HTTP/1.1"') == '"GET /webhooks/x?anything=***&b=*** HTTP/1.1"'
    assert mask("GET /v1/events?after=5") == "GET /v1/events?after=5"  # not a webhook URL: cursors stay readable
