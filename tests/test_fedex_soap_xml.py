"""FedEx Web Services TrackReply XML: detection, notifications, faults, versions, mapping."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "fedex_soap_xml"


def event(kind="AR", when="2014-03-04T09:15:00-06:00", text="Arrived at FedEx location", exc_code="",
          exc_text="", city="TULSA", state="OK", country="US"):
    exc = (f"<StatusExceptionCode>{exc_code}</StatusExceptionCode>" if exc_code else "") + \
        (f"<StatusExceptionDescription>{exc_text}</StatusExceptionDescription>" if exc_text else "")
    return (f"<Events><Timestamp>{when}</Timestamp><EventType>{kind}</EventType>"
            f"<EventDescription>{text}</EventDescription>{exc}<Address><City>{city}</City>"
            f"<StateOrProvinceCode>{state}</StateOrProvinceCode><CountryCode>{country}</CountryCode>"
            f"</Address></Events>")


def detail(*events, number="794612378800", notice=("SUCCESS", "0", "Request was successfully processed."),
           extra=""):
    severity, code, message = notice
    return (f"<TrackDetails><Notification><Severity>{severity}</Severity><Code>{code}</Code>"
            f"<Message>{message}</Message></Notification><TrackingNumber>{number}</TrackingNumber>"
            f"{extra}{''.join(events)}</TrackDetails>")


def reply(*details, severity="SUCCESS", notices="", version="v9"):
    return (f'<TrackReply xmlns="http://fedex.com/ws/track/{version}"><HighestSeverity>{severity}</HighestSeverity>'
            f"{notices}<CompletedTrackDetails>{''.join(details)}</CompletedTrackDetails></TrackReply>")


def envelope(body: str) -> str:
    return ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            f"{body}</soapenv:Body></soapenv:Envelope>")


def run(xml: str, carrier: str = "auto"):
    return normalize_document(xml.encode(), carrier=carrier)


def only_event(*events):
    out = run(reply(detail(*events)))
    assert out.ok, out.errors
    return out.shipments[0].events[0]


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_fedex_soap_xml(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "fedex.soap_xml" and out.carrier == "fedex"


def test_bare_and_enveloped_replies_read_alike():
    bare = run(reply(detail(event())))
    wrapped = run(envelope(reply(detail(event()))), carrier="fedex")
    assert wrapped.parser == "fedex.soap_xml"
    assert [e.event_id for e in bare.shipments[0].events] == [e.event_id for e in wrapped.shipments[0].events]


def test_reply_level_error_is_a_carrier_error():
    notices = "<Notifications><Severity>ERROR</Severity><Code>1000</Code><Message>Authentication Failed</Message>" \
              "</Notifications>"
    out = run(f'<TrackReply xmlns="http://fedex.com/ws/track/v9"><HighestSeverity>ERROR</HighestSeverity>'
              f"{notices}</TrackReply>")
    assert out.ok and not out.shipments
    assert [(e.kind, e.message) for e in out.errors] == [("carrier_error", "1000: Authentication Failed")]


def test_failed_reply_without_notifications_still_reports():
    out = run('<TrackReply><HighestSeverity>FAILURE</HighestSeverity></TrackReply>')
    assert out.ok and out.errors[0].kind == "carrier_error" and "FAILURE" in out.errors[0].message


def test_track_details_error_without_scans_is_a_carrier_error():
    out = run(reply(detail(notice=("ERROR", "9040", "This tracking number cannot be found.")),
                    detail(event(), number="772319045169")))
    assert [s.tracking_number for s in out.shipments] == ["772319045169"]
    assert [e.message for e in out.errors] == ["9040: This tracking number cannot be found."]


def test_warning_notification_keeps_the_shipment():
    out = run(reply(detail(event(), notice=("WARNING", "9041", "Some data unavailable."))))
    assert len(out.shipments) == 1 and not out.errors


def test_soap_fault_is_a_carrier_error():
    fault = ("<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>Service unavailable</faultstring>"
             "<detail><desc xmlns='http://fedex.com/ws/track/v19'>Try later</desc></detail></soapenv:Fault>")
    out = run(envelope(fault))
    assert out.ok and out.parser == "fedex.soap_xml"
    assert [e.message for e in out.errors] == ["soapenv:Server: Try later"]


def test_older_versions_without_completed_track_details():
    xml = ('<TrackReply xmlns="http://fedex.com/ws/track/v4"><HighestSeverity>SUCCESS</HighestSeverity>'
           f"{detail(event('DL', text='Delivered'))}</TrackReply>")
    assert run(xml).shipments[0].status.value == "delivered"


def test_timestamp_without_offset_takes_the_zone_of_the_place():
    ev = only_event(event(when="2014-07-04T10:00:00", city="DENVER", state="CO"))
    assert ev.occurred_at_local.isoformat() == "2014-07-04T10:00:00-06:00" and ev.time_basis.value == "location"


def test_exception_description_refines_the_class():
    ev = only_event(event("DE", text="Delivery exception", exc_code="007",
                          exc_text="Customer not available or business closed"))
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "recipient_unavailable")
    ev = only_event(event("SE", text="Shipment exception", exc_code="03", exc_text="Incorrect address"))
    assert (ev.status.value, ev.exception_class.value) == ("exception", "address_issue")
    ev = only_event(event("SE", text="Shipment exception", exc_text="Unable to deliver"))
    assert (ev.status.value, ev.exception_class.value) == ("exception", "other")


def test_json_and_soap_describe_the_same_scan_the_same_way():
    import json

    js = {"transactionId": "t", "output": {"completeTrackResults": [{"trackResults": [{
        "trackingNumberInfo": {"trackingNumber": "794612378800"},
        "scanEvents": [{"date": "2014-03-04T09:15:00-06:00", "eventType": "DE",
                        "eventDescription": "Delivery exception", "exceptionCode": "08",
                        "exceptionDescription": "Customer not available or business closed",
                        "scanLocation": {"city": "TULSA", "stateOrProvinceCode": "OK", "countryCode": "US"}}]}]}]}}
    a = normalize_document(json.dumps(js).encode()).shipments[0].events[0]
    b = only_event(event("DE", text="Delivery exception", exc_code="08",
                         exc_text="Customer not available or business closed"))
    assert a.event_id == b.event_id


def test_estimate_signature_and_status_without_events():
    extra = ("<StatusDetail><Code>OC</Code><Description>Shipment information sent to FedEx</Description>"
             "</StatusDetail><DatesOrTimes><Type>ESTIMATED_DELIVERY</Type>"
             "<DateOrTimestamp>2014-03-06T00:00:00</DateOrTimestamp></DatesOrTimes>"
             "<DeliverySignatureName>J.DOE</DeliverySignatureName>")
    shipment = run(reply(detail(extra=extra))).shipments[0]
    assert shipment.status.value == "label_created" and shipment.estimated_delivery == "2014-03-06"
    assert shipment.signed_by == "J.DOE"


def test_reused_number_keeps_the_package_scanned_last():
    uid = "<TrackingNumberUniqueIdentifier>{}</TrackingNumberUniqueIdentifier>"
    old = detail(event("DL", when="2012-01-01T10:00:00-06:00", text="Delivered"), extra=uid.format("1~X"))
    new = detail(event("PU", when="2014-01-01T10:00:00-06:00", text="Picked up"), extra=uid.format("2~X"))
    (shipment,) = run(reply(old, new)).shipments
    assert shipment.status.value == "picked_up"


@pytest.mark.parametrize("xml", [
    "<TrackReply/>",
    "<TrackReply><CompletedTrackDetails><TrackDetails/></CompletedTrackDetails></TrackReply>",
    "<TrackReply><TrackDetails><TrackingNumber>1</TrackingNumber><Events><Timestamp>x</Timestamp></Events>"
    "<Events/></TrackDetails></TrackReply>",
    envelope("<Other/>"),
])
def test_odd_shapes_never_crash(xml):
    out = run(xml)
    assert isinstance(out.ok, bool)
