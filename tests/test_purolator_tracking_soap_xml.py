"""Purolator tracking SOAP XML: detection, ScanType codes and keywords, Canadian zones, errors."""
from __future__ import annotations

from datetime import datetime

import pytest

from parsers import normalize_document
from parsers.formats.purolator_tracking_soap_xml import depot, scan_time
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "purolator_tracking_soap_xml"


def scan(kind="Other", description="Arrived at sort facility", where="CONCORD HUB, ON", day="2025-10-07",
         clock="224517", details=""):
    return (f"<Scan><ScanType>{kind}</ScanType><PIN><Value>329014783651</Value></PIN>"
            f"<Depot><Name>{where}</Name></Depot><ScanDate>{day}</ScanDate><ScanTime>{clock}</ScanTime>"
            f"<Description>{description}</Description><Comment/><SummaryScanIndicator>false</SummaryScanIndicator>"
            f"{details}</Scan>")


def envelope(*scans, errors="", pin="329014783651"):
    return (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<TrackPackagesByPinResponse xmlns="http://purolator.com/pws/datatypes/v1">'
            f'<ResponseInformation><Errors>{errors}</Errors></ResponseInformation>'
            f'<TrackingInformationList><TrackingInformation><PIN><Value>{pin}</Value></PIN>'
            f'<Scans>{"".join(scans)}</Scans></TrackingInformation></TrackingInformationList>'
            f'</TrackPackagesByPinResponse></s:Body></s:Envelope>').encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_purolator(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "purolator.tracking_soap_xml" and out.carrier == "purolator"


def test_bare_response_without_envelope_is_detected():
    body = envelope(scan()).split(b"<s:Body>")[1].split(b"</s:Body>")[0]
    assert run(body).parser == "purolator.tracking_soap_xml"


@pytest.mark.parametrize("raw, expected", [
    ("MONTREAL SORT CTR/CTR TRIE, PQ", ("MONTREAL SORT CTR/CTR TRIE", "QC", "CA")),
    ("ST JOHN'S, NF", ("ST JOHN'S", "NL", "CA")),
    ("VANCOUVER, BC", ("VANCOUVER", "BC", "CA")),
    ("BUFFALO, NY", ("BUFFALO", "NY", "US")),
    ("TORONTO EAST", ("TORONTO EAST", None, None)),
])
def test_depots(raw, expected):
    loc = depot(raw)
    assert (loc.city, loc.region, loc.country) == expected
    assert depot("  ") is None


def test_scan_times():
    assert scan_time("2022-01-28", "83704") == datetime(2022, 1, 28, 8, 37, 4)
    assert scan_time("2022-01-28", "10922") == datetime(2022, 1, 28, 1, 9, 22)
    assert scan_time("2022-01-28", "172300") == datetime(2022, 1, 28, 17, 23)
    assert scan_time("2022-01-28", "") is None and scan_time("2022-01-28", "12:30") is None
    assert scan_time("28/01/2022", "172300") is None


def test_province_gives_the_zone():
    quebec, alberta = run(envelope(scan(where="LAVAL, PQ", day="2025-02-12", clock="113027"),
                                   scan(where="CALGARY, AB", day="2025-02-11", clock="90000"))).shipments[0].events
    assert quebec.time_basis.value == "location" and quebec.occurred_at.isoformat() == "2025-02-12T16:30:27+00:00"
    assert alberta.occurred_at.isoformat() == "2025-02-11T16:00:00+00:00"


def test_depot_without_province_uses_the_home_zone():
    ev = run(envelope(scan(where="", day="2025-07-01", clock="120000"))).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at.isoformat() == "2025-07-01T16:00:00+00:00"


@pytest.mark.parametrize("kind, description, status, cls, mapped_by", [
    ("Delivery", "Shipment delivered to", "delivered", None, "code"),
    ("OnDelivery", "On vehicle for delivery", "out_for_delivery", None, "code"),
    ("ProofOfPickUp", "Picked up by Purolator at", "picked_up", None, "code"),
    ("InternationalOutbound", "Departed Canada", "in_transit", None, "code"),
    ("Undeliverable", "Attempted delivery - Customer closed", "delivery_attempted", "recipient_unavailable", "keyword"),
    ("Undeliverable", "Attempted delivery - Package refused", "exception", "refused", "keyword"),
    ("Undeliverable", "Address correction required", "exception", "address_issue", "keyword"),
    ("Undeliverable", "Something new", "delivery_attempted", None, "coarse"),
    ("Other", "New Tracking Number Assigned - 329014783669", "in_transit", None, "keyword"),
    ("Other", "Shipment created", "label_created", None, "keyword"),
    ("Other", "Returned to sender", "returned_to_sender", None, "keyword"),
    ("Other", "Something new", "in_transit", None, "coarse"),
])
def test_scan_types_and_descriptions(kind, description, status, cls, mapped_by):
    ev = run(envelope(scan(kind, description))).shipments[0].events[0]
    assert ev.status.value == status and ev.provenance.mapped_by.value == mapped_by
    assert (ev.exception_class.value if ev.exception_class else None) == cls
    assert ev.carrier_code == kind


def test_delivery_signature_is_signed_by():
    details = "<ScanDetails><DeliverySignature>TREMBLAY</DeliverySignature></ScanDetails>"
    out = run(envelope(scan("Delivery", "Shipment delivered to", details=details)))
    assert out.shipments[0].signed_by == "TREMBLAY"


def test_request_errors_and_faults_are_carrier_errors():
    errors = "<Error><Code>1100524</Code><Description>Invalid request.</Description></Error>"
    data = envelope(errors=errors).replace(b"<TrackingInformationList>", b"<X>").replace(
        b"</TrackingInformationList>", b"</X>")
    out = run(data)
    assert out.ok and not out.shipments and out.errors[0].message == "1100524: Invalid request."
    fault = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
             b'<faultcode>s:Client</faultcode><faultstring>Validation failed</faultstring><detail>'
             b'<ValidationFault xmlns="http://purolator.com/pws/datatypes/v1"><Details><ValidationDetail>'
             b'<Key>PIN</Key><Message>PIN is required.</Message></ValidationDetail></Details></ValidationFault>'
             b'</detail></s:Fault></s:Body></s:Envelope>')
    out = run(fault)
    assert out.ok and out.parser == "purolator.tracking_soap_xml"
    assert out.errors[0].message == "s:Client: PIN is required."


@pytest.mark.parametrize("bad", [
    envelope("<Scan><ScanType/></Scan>"),
    envelope(scan(day="2025-13-45"), scan(clock="9999999")),
    envelope("<Scan>text<ScanDate>2025-01-01</ScanDate><ScanTime>x</ScanTime></Scan>", pin=""),
    b"<TrackPackagesByPinResponse><TrackingInformationList>x</TrackingInformationList></TrackPackagesByPinResponse>",
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="purolator") is not None
