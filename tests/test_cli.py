"""The `normalize` and `schema` commands as scripts outside the project use them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.goldens import FIXTURES, golden_path, payloads

ROOT = Path(__file__).resolve().parent.parent
RECORD_KEYS = {"path", "carrier", "parser", "ok", "shipments", "errors"}
SHIPMENT_KEYS = {"tracking_number", "carrier", "status", "exception_class", "estimated_delivery", "signed_by",
                 "events"}
EVENT_KEYS = {"event_id", "occurred_at", "occurred_at_local", "time_basis", "status", "exception_class",
              "carrier_code", "description", "mapped_by", "location"}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_every_fixture_through_the_real_cli_matches_its_golden():
    """One process over all fixtures, exactly as external scripts call it (auto detection)."""
    cases = [p for p in payloads() if "@" not in p.stem]
    run = cli("normalize", "--carrier", "auto", *[str(p) for p in cases])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(cases)
    for payload, line in zip(cases, lines):
        got = json.loads(line)
        assert got["path"] == str(payload)
        gold = json.loads(golden_path(payload).read_text("utf-8"))
        assert {**got, "path": None} == {**gold, "path": None}, payload.relative_to(FIXTURES)


def test_record_shape_is_the_contract(tmp_path):
    cases = payloads()
    run = cli("normalize", *[str(p) for p in cases], str(tmp_path / "missing.json"))
    assert run.returncode == 1  # the unreadable file: still a record, and named on stderr
    assert run.stderr.strip().splitlines() == [
        f"normalize: {tmp_path / 'missing.json'}: cannot read file: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'missing.json'}'"]
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(records) == len(cases) + 1
    for rec in records:
        assert set(rec) == RECORD_KEYS
        for s in rec["shipments"]:
            assert set(s) == SHIPMENT_KEYS
            times = [e["occurred_at"] for e in s["events"]]
            assert times == sorted(times, reverse=True), "events must be newest first"
            for e in s["events"]:
                assert set(e) == EVENT_KEYS
                assert e["occurred_at"].endswith("Z")
                assert e["occurred_at_local"][-6] in "+-"
        for err in rec["errors"]:
            assert set(err) == {"kind", "message"} and err["kind"] in {"carrier_error", "unparseable", "unsupported"}
    missing = records[-1]
    assert missing["ok"] is False and missing["errors"][0]["kind"] == "unparseable"


def test_unknown_carrier_and_bad_usage():
    run = cli("normalize", "--carrier", "nosuchcarrier", str(payloads()[0]))
    assert run.returncode == 0
    assert json.loads(run.stdout)["errors"][0]["kind"] == "unsupported"
    assert cli("normalize").returncode != 0  # no paths: the command itself failed


def test_schema_command_writes_the_contract_schemas(tmp_path):
    run = cli("schema", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "normalized-event.v1.schema.json" in names and "normalize-record.v1.schema.json" in names
    event = json.loads((tmp_path / "normalized-event.v1.schema.json").read_text())
    assert set(event["required"]) >= {"event_id", "carrier", "tracking_number", "status", "occurred_at",
                                      "occurred_at_local", "time_basis", "description", "provenance"}
    status_enum = event["$defs"]["Status"]["enum"]
    assert "available_for_pickup" in status_enum and len(status_enum) == 11


def test_third_party_plugin_via_entry_point(tmp_path):
    """A plugin installed elsewhere is found through the `carrier_events.parsers` group."""
    (tmp_path / "acme_parsers.py").write_text('''
from parsers import CarrierEvent, CarrierShipment, ParseOutput, ParserPlugin
from parsers.timeparse import parse_datetime

class AcmeJson(ParserPlugin):
    name = "acme.json"
    family = "acme"
    table = "ups"
    media = "json"
    json_keys = ("acmeTracking",)

    def parse(self, doc):
        t = doc.json["acmeTracking"]
        ev = CarrierEvent(when=parse_datetime(t["at"]), description=t["what"])
        return ParseOutput(shipments=[CarrierShipment(t["id"], "acme", [ev])])

PLUGINS = [AcmeJson()]
''')
    dist = tmp_path / "acme_parsers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-parsers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[carrier_events.parsers]\nacme = acme_parsers:PLUGINS\n")
    doc = tmp_path / "doc.json"
    doc.write_text('{"acmeTracking": {"id": "AC123", "at": "2026-03-01T10:00:00+01:00", "what": "Delivered"}}')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    rec = json.loads(cli("normalize", str(doc), env=env).stdout)
    assert rec["parser"] == "acme.json" and rec["ok"] is True
    event = rec["shipments"][0]["events"][0]
    assert (event["status"], event["occurred_at"], event["mapped_by"]) == ("delivered", "2026-03-01T09:00:00Z",
                                                                          "keyword")
