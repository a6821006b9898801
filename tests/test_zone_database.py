"""Times do not depend on the host's zone files: the same scan gives the same `occurred_at` and `event_id`
with the system's database and with only the `tzdata` package, and with neither the commands refuse to run
(naming the fix) instead of printing times taken as UTC."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A UPS delivery scan whose local time is converted by its place (America/Chicago): `time_basis` location.
SCAN = ROOT / "fixtures/ups_track_json/delivered_received_by.json"
# `tzdata` made unimportable, as on a host where it was never installed.
NO_TZDATA = "import sys; sys.modules['tzdata'] = None; from service.cli import main; sys.exit(main(sys.argv[1:]))"


def run(*args: str, tzpath: str | None, hide_tzdata: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONTZPATH", "TZ")}
    if tzpath is not None:
        env["PYTHONTZPATH"] = tzpath  # empty: no system zone directory is searched
    command = [sys.executable, "-c", NO_TZDATA] if hide_tzdata else [sys.executable, "-m", "service"]
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def events(result: subprocess.CompletedProcess) -> list[tuple[str, str, str, str]]:
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    return [(e["event_id"], e["occurred_at"], e["occurred_at_local"], e["time_basis"])
            for s in record["shipments"] for e in s["events"]]


def test_same_times_and_ids_with_and_without_the_system_zone_database():
    system = events(run("normalize", str(SCAN), tzpath=None))
    assert Path("/usr/share/zoneinfo/America/Chicago").exists()  # the host has one: this compares two sources
    package_only = events(run("normalize", str(SCAN), tzpath=""))
    assert package_only == system
    delivered = system[0]
    assert delivered[1:] == ("2025-03-12T20:22:07Z", "2025-03-12T14:22:07-06:00", "location")


def test_commands_refuse_to_run_without_any_zone_database(tmp_path):
    for args in (["normalize", str(SCAN)], ["worker", "--db", str(tmp_path / "w.db")],
                 ["serve", "--db", str(tmp_path / "s.db"), "--port", "0"]):
        result = run(*args, tzpath="", hide_tzdata=True)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""  # no record with wrong times
        assert "no usable time zone database" in result.stderr and "pip install tzdata" in result.stderr, args
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "w.db").exists()
