"""UPS legacy XML (XML API, SOAP, Quantum View): detection, both Status layouts, faults, QV events."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from parsers.chain import plan
from parsers.document import Document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "ups_legacy_xml"

XML_ACTIVITY = """<Activity>
  <ActivityLocation><Address><City>SAVANNAH</City><StateProvinceCode>GA</StateProvinceCode>
    <CountryCode>US</CountryCode></Address>{signed}</ActivityLocation>
  <Status>{status}</Status>
  <Date>{date}</Date><Time>{time}</Time>{extra}
</Activity>"""


def xml_doc(*activities: str, shipment_extra: str = "") -> bytes:
    return f"""<?xml version="1.0"?>
<TrackResponse><Response><ResponseStatusCode>1</ResponseStatusCode></Response>
<Shipment><ShipmentIdentificationNumber>1Z7R45E10417553011</ShipmentIdentificationNumber>{shipment_extra}
<Package><TrackingNumber>1Z7R45E10417553011</TrackingNumber>{''.join(activities)}</Package></Shipment>
</TrackResponse>""".encode()


def activity(status: str, date="20240905", time="134502", signed="", extra="") -> str:
    return XML_ACTIVITY.format(status=status, date=date, time=time, extra=extra,
                               signed=f"<SignedForByName>{signed}</SignedForByName>" if signed else "")


def xml_status(kind: str, code: str, description: str) -> str:
    return (f"<StatusType><Code>{kind}</Code><Description>{description}</Description></StatusType>"
            f"<StatusCode><Code>{code}</Code></StatusCode>")


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_legacy_xml(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "ups.legacy_xml" and out.carrier == "ups"


def test_xml_api_status_layout():
    out = normalize_document(xml_doc(activity(xml_status("D", "FS", "DELIVERED"), signed="OKAFOR")))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and shipment.signed_by == "OKAFOR"
    assert shipment.events[0].carrier_code == "FS" and shipment.events[0].time_basis.value == "location"


def test_destination_scan_code_printed_with_out_for_delivery_is_out_for_delivery():
    """UPS's XML API reuses StatusCode DS (destination scan) for "OUT FOR DELIVERY"."""
    out = normalize_document(xml_doc(activity(xml_status("I", "DS", "OUT FOR DELIVERY"), time="071500"),
                                     activity(xml_status("I", "DS", "DESTINATION SCAN"), time="031500")))
    ofd, scan = out.shipments[0].events
    assert (ofd.status.value, ofd.provenance.mapped_by.value, ofd.carrier_code) == (
        "out_for_delivery", "keyword", "DS")
    assert (scan.status.value, scan.provenance.mapped_by.value) == ("in_transit", "code")
    assert out.shipments[0].status.value == "out_for_delivery" and out.unmapped == []


def test_type_letter_in_the_code_field_is_the_type():
    """SOAP sample: <Code>X</Code> without <Type>, text of a failed attempt."""
    status = ("<Description>THE RECEIVER'S LOCATION WAS CLOSED ON THE 2ND DELIVERY ATTEMPT. "
              "A 3RD DELIVERY ATTEMPT WILL BE MADE</Description><Code>X</Code>")
    ev = normalize_document(xml_doc(activity(status))).shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "recipient_unavailable")
    assert ev.carrier_code == "X"


def test_gmt_fields_when_present():
    extra = "<GMTDate>20240905</GMTDate><GMTTime>17:45:02</GMTTime><GMTOffset>-04:00</GMTOffset>"
    ev = normalize_document(xml_doc(activity(xml_status("I", "AR", "ARRIVAL SCAN"), extra=extra))).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2024-09-05T17:45:02+00:00"


def test_estimate_prefers_rescheduled_date():
    extra = "<ScheduledDeliveryDate>20240905</ScheduledDeliveryDate>"
    data = xml_doc(activity(xml_status("I", "AR", "ARRIVAL SCAN")), shipment_extra=extra)
    assert normalize_document(data).shipments[0].estimated_delivery == "2024-09-05"
    data = data.replace(b"<TrackingNumber>1Z7R45E10417553011</TrackingNumber>",
                        b"<TrackingNumber>1Z7R45E10417553011</TrackingNumber>"
                        b"<RescheduledDeliveryDate>20240906</RescheduledDeliveryDate>")
    assert normalize_document(data).shipments[0].estimated_delivery == "2024-09-06"


def test_shipment_without_activity_is_kept_without_events():
    out = normalize_document(xml_doc())
    assert out.ok and out.shipments[0].tracking_number == "1Z7R45E10417553011" and not out.shipments[0].events


def test_usps_track_response_is_not_claimed():
    """USPS Web Tools also uses the root TrackResponse; its content is TrackInfo."""
    usps = b'<TrackResponse><TrackInfo ID="9400111899223197428490"><TrackSummary>Delivered</TrackSummary>' \
           b'</TrackInfo></TrackResponse>'
    names = [p.name for _, p in plan(Document(usps), "auto")]
    assert names[0] != "ups.legacy_xml"


def test_soap_fault_without_ups_detail_uses_faultstring():
    fault = b"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
      <soapenv:Fault><faultcode>Server</faultcode><faultstring>Service unavailable</faultstring></soapenv:Fault>
      </soapenv:Body></soapenv:Envelope>"""
    out = normalize_document(fault, carrier="ups")
    assert out.ok and [e.message for e in out.errors] == ["Server: Service unavailable"]


def test_quantum_view_events():
    out = normalize_document((FOLDER / "quantumview_feed.xml").read_bytes())
    by_tn = {s.tracking_number: s for s in out.shipments}
    assert by_tn["1Z4F7W390361553013"].status.value == "picked_up"
    assert by_tn["1ZX0V7716842553010"].status.value == "available_for_pickup"
    assert by_tn["1Z6A91R20375553014"].signed_by == "BEAUMONT"
    generic = by_tn["1Z2V58X90399553016"].events[0]
    assert generic.status.value == "unknown" and ("ups", "QV:GENERIC:TC") in {(t, c) for t, c, _ in out.unmapped}


@pytest.mark.parametrize("bad", [
    b"<TrackResponse><Shipment><Package><Activity><Status/><Date>x</Date></Activity></Package></Shipment>"
    b"</TrackResponse>",
    b"<TrackResponse><Shipment><Package><Activity><Status><StatusType/><StatusCode/></Status>"
    b"<Date>20240905</Date></Activity></Package></Shipment></TrackResponse>",
    b"<QuantumViewResponse><QuantumViewEvents><SubscriptionEvents><SubscriptionFile><Delivery/>"
    b"<Exception><TrackingNumber>1Z</TrackingNumber></Exception></SubscriptionFile></SubscriptionEvents>"
    b"</QuantumViewEvents></QuantumViewResponse>",
])
def test_odd_documents_never_raise(bad):
    assert normalize_document(bad, carrier="ups") is not None
