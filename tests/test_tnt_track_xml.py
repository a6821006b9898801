"""TNT ExpressConnect TrackResponse XML: detection beside UPS, codes, summary codes, zones by depot, errors."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "tnt_track_xml"


def status(code="TR", description="Shipment In Transit.", date="20251027", time="2105", depot="FRA",
           name="Frankfurt"):
    return (f"<StatusData><StatusCode>{code}</StatusCode><StatusDescription><![CDATA[\n  {description}\n ]]>"
            f"</StatusDescription><LocalEventDate format=\"YYYYMMDD\">{date}</LocalEventDate>"
            f"<LocalEventTime format=\"HHMM\">{time}</LocalEventTime><Depot>{depot}</Depot>"
            f"<DepotName><![CDATA[{name}]]></DepotName></StatusData>")


def consignment(*statuses, number="324518896", summary="INT", extra=""):
    return (f"<Consignment access=\"public\"><ConsignmentNumber>{number}</ConsignmentNumber>"
            f"<OriginDepot>FRA</OriginDepot>{extra}<SummaryCode>{summary}</SummaryCode>"
            "<DestinationCountry><CountryCode>GB</CountryCode></DestinationCountry>"
            f"<OriginCountry><CountryCode>DE</CountryCode></OriginCountry>{''.join(statuses)}</Consignment>")


def run(*consignments: str, carrier="auto"):
    return normalize_document(f"<TrackResponse>{''.join(consignments)}</TrackResponse>".encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_track_xml(payload):
    out = normalize_document(payload.read_bytes())
    assert out.ok and out.parser == "tnt.track_xml" and out.carrier == "tnt"


def test_ups_legacy_track_response_stays_ups():
    for payload in payloads(FIXTURES / "ups_legacy_xml"):
        out = normalize_document(payload.read_bytes())
        assert out.parser != "tnt.track_xml", payload.name


def test_origin_and_delivery_depots_are_placed_other_depots_are_not():
    delivered = consignment(status("CI", "Shipment Received At Origin Depot.", "20250715", "1843"),
                            status("AS", "Shipment Received At Transit Point.", "20250716", "0230", "LGH", "Liege Hub"),
                            status("OK", "Shipment Delivered In Good Condition.", "20250716", "1114", "LS1", "Leeds"),
                            summary="DEL", extra="<DeliveryDate>20250716</DeliveryDate><DeliveryTime>1114</DeliveryTime>"
                                                 "<Signatory><![CDATA[ HALLORAN ]]></Signatory>")
    shipment = run(delivered).shipments[0]
    ok, hub, ci = shipment.events
    assert (ci.time_basis.value, ci.occurred_at.isoformat()) == ("location", "2025-07-15T16:43:00+00:00")
    assert (ok.time_basis.value, ok.occurred_at.isoformat()) == ("location", "2025-07-16T10:14:00+00:00")
    assert hub.time_basis.value == "assumed_utc" and hub.location.city == "Liege Hub"
    assert shipment.status.value == "delivered" and shipment.signed_by == "HALLORAN" and ok.signed_by == "HALLORAN"
    assert ok.description == "Shipment Delivered In Good Condition."


def test_summary_code_is_the_coarse_status_of_the_latest_scan():
    out = run(consignment(status("ZZ", "Something new"), summary="EXC"))
    ev = out.shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value, ev.provenance.mapped_by.value) == ("exception", "other",
                                                                                          "coarse")
    assert out.unmapped == [("tnt", "ZZ", "Something new")]


def test_summary_without_scans_is_the_shipment_status():
    assert run(consignment(summary="DEL")).shipments[0].status.value == "delivered"


def test_not_found_and_errors_are_carrier_errors():
    out = run(consignment(status()), "<Consignment><ConsignmentNumber>9</ConsignmentNumber><SummaryCode>CNF"
                                     "</SummaryCode></Consignment>")
    assert [s.tracking_number for s in out.shipments] == ["324518896"]
    assert out.errors[0].message == "CNF: consignment not found (9)"
    err = normalize_document(b"<TrackResponse><Error><Code>9000</Code><Message><![CDATA[Unauthorized Access]]>"
                             b"</Message></Error></TrackResponse>")
    assert err.ok and err.parser == "tnt.track_xml" and err.errors[0].message == "9000: Unauthorized Access"


def test_reused_numbers_become_one_shipment():
    out = run(consignment(status()), consignment(status("OD", "Out For Delivery.", "20250101", "0700")))
    assert len(out.shipments) == 1 and len(out.shipments[0].events) == 2


@pytest.mark.parametrize("code, status_, cls", [
    ("OK", "delivered", None), ("RES", "delivered", None), ("OD", "out_for_delivery", None),
    ("CI", "picked_up", None), ("IR", "in_transit", None), ("AS", "in_transit", None),
    ("NR", "exception", "carrier_delay"), ("MLA", "exception", "carrier_delay"), ("S:INT", "in_transit", None),
])
def test_table_decisions(code, status_, cls):
    mapped = classify("tnt", (code,), "", None)
    assert mapped.status.value == status_
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


@pytest.mark.parametrize("bad", [
    "<Consignment/>",
    consignment(status(date="2025", time="99"), status(date="", time="")),
    "<Consignment><ConsignmentNumber>1</ConsignmentNumber><StatusData>x</StatusData></Consignment>",
    "<Error/>" + consignment(summary=""),
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="tnt") is not None
