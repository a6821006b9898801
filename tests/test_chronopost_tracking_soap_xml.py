"""Chronopost trackSkybillV2 SOAP: detection, event codes, offsets, receiver, errors and odd shapes."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "chronopost_tracking_soap_xml"


def event(code="TS", label="Colis en cours d'acheminement", date="2025-02-04T01:58:37+01:00",
          office="HUB CHILLY MAZARIN CHRONOPOST", zip_code="91380", info=""):
    return (f"<events><code>{code}</code><eventDate>{date}</eventDate><eventLabel>{label}</eventLabel>"
            f"<highPriority>false</highPriority><officeLabel>{office}</officeLabel><zipCode>{zip_code}</zipCode>"
            f"{info}</events>")


def doc(*events, number="XR310442817FR", error="0", message="", response="trackSkybillV2Response",
        holder="listEventInfoComp"):
    body = "" if number is None else \
        f"<{holder}>{''.join(events)}<skybillNumber>{number}</skybillNumber></{holder}>"
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<ns2:{response} xmlns:ns2="http://cxf.tracking.soap.chronopost.fr/"><return>'
            f"<errorCode>{error}</errorCode><errorMessage>{message}</errorMessage>{body}</return>"
            f"</ns2:{response}></soap:Body></soap:Envelope>").encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_chronopost(payload):
    out = run(payload.read_bytes())
    assert out.ok and out.parser == "chronopost.tracking_soap_xml" and out.carrier == "chronopost"


def test_offsets_and_home_zone():
    with_offset = run(doc(event(date="2025-07-08T07:55:40+02:00"))).shipments[0].events[0]
    assert with_offset.time_basis.value == "offset"
    assert with_offset.occurred_at.isoformat() == "2025-07-08T05:55:40+00:00"
    without = run(doc(event(date="2025-01-08T07:55:40"))).shipments[0].events[0]
    assert without.time_basis.value == "zone" and without.occurred_at.isoformat() == "2025-01-08T06:55:40+00:00"


def test_office_with_postcode_is_the_place_and_without_is_none():
    placed = run(doc(event())).shipments[0].events[0]
    assert (placed.location.city, placed.location.postal_code) == ("HUB CHILLY MAZARIN CHRONOPOST", "91380")
    assert run(doc(event(office="Web Services", zip_code=""))).shipments[0].events[0].location is None


def test_receiver_name_only_on_delivery():
    info = "<infoCompList><name>Consignee's name</name><value>SOLVEIG M</value></infoCompList>"
    out = run(doc(event("TA", "Shipment in delivery to the consignee", info=info, date="2025-02-04T07:00:00+01:00"),
                  event("D", "Delivered", info=info, date="2025-02-04T09:00:00+01:00")))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and shipment.signed_by == "SOLVEIG M"
    assert [e.signed_by for e in shipment.events] == ["SOLVEIG M", None]


def test_pickup_point_is_available_not_delivered():
    out = run(doc(event("AB", "Colis mis à disposition au point de retrait")))
    assert out.shipments[0].status.value == "available_for_pickup"


def test_unknown_code_read_by_french_label():
    out = run(doc(event("ZQ", "Echec de livraison, destinataire absent")))
    ev = out.shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "recipient_unavailable")
    assert out.unmapped


def test_older_track_skybill_shape():
    out = run(doc(event(), response="trackSkybillResponse", holder="listEvents"))
    assert out.parser == "chronopost.tracking_soap_xml" and out.shipments[0].tracking_number == "XR310442817FR"


def test_errors():
    out = run(doc(number=None, error="2", message="the parcel doesn't match account"))
    assert out.ok and not out.shipments and out.errors[0].message == "2: the parcel doesn't match account"
    empty = run(doc(number="XT000000000FR"))
    assert empty.ok and not empty.shipments and empty.errors[0].kind == "carrier_error"
    fault = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
             b'<faultcode>soap:Server</faultcode><faultstring>Unmarshalling Error</faultstring></soap:Fault>'
             b'</soap:Body></soap:Envelope>')
    assert run(fault, carrier="chronopost").errors[0].message == "soap:Server: Unmarshalling Error"


@pytest.mark.parametrize("bad", [
    doc(event(date="nope"), event(date="")),
    doc(event(code="", label=""), number=""),
    b"<trackSkybillV2Response><return><listEventInfoComp><events/></listEventInfoComp></return>"
    b"</trackSkybillV2Response>",
    b"<trackSkybillV2Response><return/></trackSkybillV2Response>",
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>',
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="chronopost") is not None
    assert run(bad) is not None


@pytest.mark.parametrize("code, status, cls", [
    ("DC", "label_created", None), ("PC", "picked_up", None), ("DB", "picked_up", None),
    ("SC", "in_transit", None), ("TS", "in_transit", None), ("SD", "in_transit", None),
    ("SM", "in_transit", None), ("TA", "out_for_delivery", None), ("RB", "in_transit", None),
    ("AB", "available_for_pickup", None), ("RI", "delivered", None), ("D", "delivered", None),
    ("P", "delivery_attempted", "recipient_unavailable"), ("IA", "exception", "carrier_delay"),
    ("AT", "exception", "carrier_delay"), ("R", "returned_to_sender", None), ("TT", "in_transit", None),
])
def test_table_decisions(code, status, cls):
    mapped = classify("chronopost", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls
