"""DHL Express XML-PI: detection, carrier errors, schema variants, signatory and the checkpoint table."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "dhl_express_xml"


def event(code="PL", desc="Processed at LEIPZIG - GERMANY", date="2025-03-04", time="07:12:00",
          area="LEIPZIG - GERMANY", signatory=""):
    return (f"<ShipmentEvent><Date>{date}</Date><Time>{time}</Time><ServiceEvent><EventCode>{code}</EventCode>"
            f"<Description>{desc}</Description></ServiceEvent><Signatory>{signatory}</Signatory>"
            f"<ServiceArea><ServiceAreaCode>LEJ</ServiceAreaCode><Description>{area}</Description></ServiceArea>"
            f"</ShipmentEvent>")


def doc(*events, awb="4617285934", action="success", extra=""):
    return (f'<req:TrackingResponse xmlns:req="http://www.dhl.com"><Response><ServiceHeader/></Response>'
            f"<AWBInfo><AWBNumber>{awb}</AWBNumber><Status><ActionStatus>{action}</ActionStatus></Status>"
            f"<ShipmentInfo>{extra}{''.join(events)}</ShipmentInfo></AWBInfo></req:TrackingResponse>").encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_express_xml(payload):
    out = run(payload.read_bytes())
    assert out.ok and out.parser == "dhl.express_xml" and out.carrier == "dhl"


def test_signatory_signs_only_the_delivery():
    out = run(doc(event("PU", "Shipment picked up", signatory="960528602", time="06:00:00"),
                  event("OK", "Delivered", signatory="K.MEYER")))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and shipment.signed_by == "K.MEYER"
    assert [e.signed_by for e in shipment.events] == ["K.MEYER", None]


def test_wall_clock_time_is_placed_by_the_service_area():
    ev = run(doc(event(area="DENVER,CO-USA", date="2025-07-01"))).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at_local.utcoffset().total_seconds() == -6 * 3600
    assert (ev.location.city, ev.location.region, ev.location.country) == ("DENVER", "CO", "US")


def test_gmt_offset_when_present_wins():
    raw = doc(event()).replace(b"<Signatory>", b"<GMTOffset>+05:30</GMTOffset><Signatory>")
    ev = run(raw).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-03-04T01:42:00+00:00"


def test_not_success_without_events_is_a_carrier_error_with_its_condition():
    raw = doc(action="No Shipments Found").replace(
        b"</ActionStatus>", b"</ActionStatus><Condition><ConditionCode>209</ConditionCode>"
                            b"<ConditionData>No shipment found</ConditionData></Condition>")
    out = run(raw)
    assert out.ok and not out.shipments and [e.message for e in out.errors] == ["209: No shipment found (4617285934)"]


def test_not_success_with_events_still_reports_the_shipment():
    out = run(doc(event(), action="Partial"))
    assert out.shipments and not out.errors


def test_piece_events_are_a_fallback():
    piece = event("AF", "Arrived at DHL Sort Facility LEIPZIG - GERMANY").replace("ShipmentEvent", "PieceEvent")
    raw = doc().replace(b"</ShipmentInfo>", f"</ShipmentInfo><Pieces><PieceInfo>{piece}</PieceInfo></Pieces>".encode())
    out = run(raw)
    assert [e.carrier_code for e in out.shipments[0].events] == ["AF"]


def test_estimate_keeps_dhl_offset():
    out = run(doc(event(), extra="<EstDlvyDate>2025-03-06 23:59:00 GMT+01:00</EstDlvyDate>"))
    assert out.shipments[0].estimated_delivery == "2025-03-06T23:59:00+01:00"


def test_error_response_root_is_claimed_only_with_a_condition():
    err = (b'<res:ErrorResponse xmlns:res="http://www.dhl.com"><Response><Status><ActionStatus>Error</ActionStatus>'
           b"<Condition><ConditionCode>PROCESS</ConditionCode><ConditionData>Bad request</ConditionData></Condition>"
           b"</Status></Response></res:ErrorResponse>")
    out = run(err)
    assert out.ok and out.parser == "dhl.express_xml" and out.errors[0].message == "PROCESS: Bad request"
    other = run(b"<ErrorResponse><Message>nope</Message></ErrorResponse>")
    assert other.parser != "dhl.express_xml"


@pytest.mark.parametrize("raw", [
    b"<TrackingResponse><AWBInfo/></TrackingResponse>",
    b"<TrackingResponse><AWBInfo><AWBNumber>1</AWBNumber><ShipmentInfo><ShipmentEvent><Date>x</Date>"
    b"</ShipmentEvent></ShipmentInfo></AWBInfo></TrackingResponse>",
    b"<TrackingResponse><AWBInfo><AWBNumber>1</AWBNumber><ShipmentInfo><ShipmentEvent/></ShipmentInfo>"
    b"</AWBInfo></TrackingResponse>",
])
def test_odd_shapes_never_raise(raw):
    assert run(raw, carrier="dhl") is not None


@pytest.mark.parametrize("code, status, cls", [
    ("PU", "picked_up", None), ("PL", "in_transit", None), ("RW", "in_transit", None),
    ("WC", "out_for_delivery", None), ("OK", "delivered", None), ("DD", "delivered", None),
    ("CC", "available_for_pickup", None), ("NH", "delivery_attempted", "recipient_unavailable"),
    ("CA", "delivery_attempted", "recipient_unavailable"), ("BA", "exception", "address_issue"),
    ("RD", "exception", "refused"), ("RT", "returned_to_sender", None), ("IC", "exception", "customs_hold"),
    ("CR", "in_transit", None), ("HP", "exception", "payment_due"), ("OH", "exception", "held_by_carrier"),
    ("DS", "exception", "disposed"), ("MS", "exception", "carrier_delay"), ("CS", "exception", "other"),
])
def test_table_decisions(code, status, cls):
    mapped = classify("dhl_express", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_every_code_keeps_dhl_text():
    table = load_table("dhl_express")
    assert len(table.codes) >= 60 and all(entry.text for entry in table.codes.values())
