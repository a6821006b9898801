"""Canpar tracking SOAP XML: detection, codes and descriptions, province zones, errors."""
from __future__ import annotations

from datetime import datetime

import pytest

from parsers import normalize_document
from parsers.formats.canpar_tracking_soap_xml import local_time
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "canpar_tracking_soap_xml"


def event(code="ARR", description="ARRIVAL AT HUB/TERMINAL FROM BULK/CITY TRAILER", when="20251121 032817",
          province="AB", city="EDMONTON"):
    return (f"<events><address><city>{city}</city><country>CA</country><province>{province}</province></address>"
            f"<code>{code}</code><code_description_en>{description}</code_description_en>"
            f"<local_date_time>{when}</local_date_time><time_shift>1</time_shift></events>")


def envelope(*events, error="", delivered="false", barcode="D418002510000000402117", op="trackByBarcodeV2Response"):
    result = (f"<result><barcode>{barcode}</barcode><delivered>{delivered}</delivered>{''.join(events)}"
              f"<signed_by>M. ROY</signed_by></result>") if barcode is not None else ""
    return (f'<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Body>'
            f'<ns:{op} xmlns:ns="http://ws.canparaddons.canpar.com"><ns:return><error>{error}</error>{result}'
            f'</ns:return></ns:{op}></soapenv:Body></soapenv:Envelope>').encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_canpar(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "canpar.tracking_soap_xml" and out.carrier == "canpar"


@pytest.mark.parametrize("op", ["trackByBarcodeResponse", "trackByBarcodeV2Response",
                                "trackByReferenceLoomisResponse"])
def test_track_operations_are_detected(op):
    assert run(envelope(event(), op=op)).parser == "canpar.tracking_soap_xml"


def test_envelopes_gathered_in_one_wrapper():
    one, two = envelope(event()), envelope(event(), barcode="D418002510000000402118")
    out = run(b"<wrapper>" + one + two + b"</wrapper>")
    assert sorted(s.tracking_number for s in out.shipments) == ["D418002510000000402117", "D418002510000000402118"]


def test_local_times():
    assert local_time("20110308 091442") == datetime(2011, 3, 8, 9, 14, 42)
    assert local_time("20110308 0914") == datetime(2011, 3, 8, 9, 14)
    assert local_time("20111308 091442") is None and local_time("2011-03-08 09:14") is None
    assert local_time("") is None


def test_province_gives_the_zone_and_no_province_the_home_zone():
    alberta, nowhere = run(envelope(event(when="20250701 120000"),
                                    event(when="20250630 120000", province="", city=""))).shipments[0].events
    assert alberta.time_basis.value == "location" and alberta.occurred_at.isoformat() == "2025-07-01T18:00:00+00:00"
    assert nowhere.time_basis.value == "zone" and nowhere.occurred_at.isoformat() == "2025-06-30T16:00:00+00:00"


@pytest.mark.parametrize("code, description, status, cls, mapped_by", [
    ("PIC", "PICKUP FROM CUSTOMER/SHIPPER", "picked_up", None, "code"),
    ("INO", "INTERLINE OUTBOUND", "in_transit", None, "code"),
    ("WC", "WITH COURIER", "out_for_delivery", None, "code"),
    ("DEL", "DELIVERED", "delivered", None, "code"),
    ("XYZ", "DELIVERY NOTICE LEFT - CONSIGNEE NOT HOME", "delivery_attempted", "recipient_unavailable", "keyword"),
    ("XYZ", "REFUSED BY CONSIGNEE", "exception", "refused", "keyword"),
    ("XYZ", "RETURN TO SHIPPER", "returned_to_sender", None, "keyword"),
    ("XYZ", "INCORRECT ADDRESS", "exception", "address_issue", "keyword"),
    ("XYZ", "NOT DELIVERED", "delivery_attempted", None, "keyword"),
])
def test_codes_then_descriptions(code, description, status, cls, mapped_by):
    out = run(envelope(event(code, description)))
    ev = out.shipments[0].events[0]
    assert ev.status.value == status and ev.provenance.mapped_by.value == mapped_by and ev.carrier_code == code
    assert (ev.exception_class.value if ev.exception_class else None) == cls
    assert bool(out.unmapped) == (mapped_by != "code")


def test_result_without_events_uses_the_delivered_flag():
    out = run(envelope(delivered="true"))
    assert out.shipments[0].status.value == "delivered" and out.shipments[0].signed_by == "M. ROY"
    assert run(envelope()).shipments[0].status.value == "unknown"


def test_errors_and_faults_are_carrier_errors():
    out = run(envelope(error="Invalid barcode", barcode=None))
    assert out.ok and not out.shipments and out.errors[0].message == "Invalid barcode"
    fault = (b'<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Body>'
             b'<soapenv:Fault><soapenv:Code><soapenv:Value>soapenv:Receiver</soapenv:Value></soapenv:Code>'
             b'<soapenv:Reason><soapenv:Text>Authentication failed</soapenv:Text></soapenv:Reason>'
             b'<soapenv:Detail><ns:x xmlns:ns="http://ws.canparaddons.canpar.com"/></soapenv:Detail>'
             b'</soapenv:Fault></soapenv:Body></soapenv:Envelope>')
    out = run(fault)
    assert out.ok and out.parser == "canpar.tracking_soap_xml"
    assert out.errors[0].message == "soapenv:Receiver: Authentication failed"


@pytest.mark.parametrize("bad", [
    envelope("<events/>", "<events><local_date_time>20250101 99</local_date_time></events>"),
    envelope(event(when="garbage"), barcode=""),
    b"<trackByBarcodeResponse><return>text<result>x</result></return></trackByBarcodeResponse>",
    b"<wrapper><Envelope/><Envelope><Body/></Envelope></wrapper>",
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="canpar") is not None
