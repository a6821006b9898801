"""The fallback chain: specific -> same-carrier alternate -> generic -> unparseable, never an exception."""
from __future__ import annotations

import json

from parsers import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin, normalize_document
from parsers import chain, registry
from parsers.document import Document
from parsers.timeparse import parse_datetime


class Broken(ParserPlugin):
    name, family, table, media, json_keys = "zz.broken", "zz", "ups", "json", ("zzDoc",)

    def parse(self, doc):
        raise KeyError("boom")


class Refuses(ParserPlugin):
    name, family, table, media, json_keys = "zz.refuses", "zz", "ups", "json", ("zzDoc", "zzOther")

    def parse(self, doc):
        raise ParseError("not my version")


class Alternate(ParserPlugin):
    name, family, table, media = "zz.alternate", "zz", "ups", "json"

    def parse(self, doc):
        d = doc.json["zzDoc"]
        return ParseOutput(shipments=[CarrierShipment("ZZ1", "zz", [
            CarrierEvent(when=parse_datetime(d["at"]), description=d["what"])])])


def _with(monkeypatch, *extra):
    monkeypatch.setattr(chain, "plugins", lambda: registry.plugins() + extra)


def test_specific_failures_fall_back_to_the_same_carrier_alternate(monkeypatch):
    _with(monkeypatch, Broken(), Refuses(), Alternate())
    doc = json.dumps({"zzDoc": {"at": "2026-03-01T10:00:00Z", "what": "Out for delivery"}, "zzOther": 1})
    levels = [(lvl, p.name) for lvl, p in chain.plan(Document(doc.encode()), None)]
    assert levels[:3] == [(0, "zz.refuses"), (1, "zz.broken"), (1, "zz.alternate")]
    result = chain.run(Document(doc.encode()))
    assert result.plugin.name == "zz.alternate" and result.level == 1
    assert any("not my version" in r for r in result.reasons)
    assert any("KeyError" in r for r in result.reasons)
    out = normalize_document(doc.encode())
    assert out.ok and out.shipments[0].status.value == "out_for_delivery"


def test_unknown_format_reaches_the_generic_parser():
    doc = {"parcel": {"trackingNumber": "ZX1234567890", "history": [
        {"timestamp": "2026-03-01T10:00:00+01:00", "description": "Parcel delivered", "city": "Lyon",
         "country": "FR"},
        {"timestamp": "2026-02-28T08:00:00+01:00", "description": "Arrived at sorting facility", "city": "Paris",
         "country": "FR"}]}}
    out = normalize_document(json.dumps(doc).encode())
    assert out.ok and out.parser.startswith("generic.")
    ship = out.shipments[0]
    assert ship.tracking_number == "ZX1234567890" and ship.status.value == "delivered"
    assert [e.provenance.mapped_by.value for e in ship.events] == ["keyword", "keyword"]


def test_every_failure_reason_is_reported_when_nothing_reads_the_document():
    out = normalize_document(b'{"nothing": "useful here"}')
    assert not out.ok and out.errors[0].kind == "unparseable"
    assert "generic" in out.errors[0].message
