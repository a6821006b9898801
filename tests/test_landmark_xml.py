"""Landmark Global TrackResponse: detection, places and zones, both time spellings, errors, odd shapes."""
from __future__ import annotations

from datetime import datetime

import pytest

from parsers import normalize_document
from parsers.formats.landmark_xml import place, stamp
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "landmark_xml"


def response(*events: tuple[str, str, str, str], ltn="LTN61230457N1", tn="7023210039414604") -> bytes:
    rows = "".join(f"<Event><Status>{s}</Status><DateTime>{d}</DateTime><Location>{loc}</Location>"
                   f"<EventCode>{c}</EventCode></Event>" for s, d, loc, c in events)
    return (f"<TrackResponse><Result><Success>true</Success><Packages><Package><TrackingNumber>{tn}</TrackingNumber>"
            f"<LandmarkTrackingNumber>{ltn}</LandmarkTrackingNumber><Events>{rows}</Events></Package></Packages>"
            "</Result></TrackResponse>").encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_landmark(payload):
    out = run(payload.read_bytes())
    assert out.ok and out.parser == "landmark.xml" and out.carrier == "landmark"


def test_ups_track_response_is_not_taken():
    ups = b"<TrackResponse><Response><ResponseStatusCode>1</ResponseStatusCode></Response><Shipment/></TrackResponse>"
    assert run(ups).parser != "landmark.xml"


def test_both_time_spellings():
    assert stamp("09/25/2025 09:10 AM") == datetime(2025, 9, 25, 9, 10)
    assert stamp("10/01/2025 03:02 PM") == datetime(2025, 10, 1, 15, 2)
    assert stamp("2014-07-01 19:48:02") == datetime(2014, 7, 1, 19, 48, 2)
    assert stamp("2025-11-03 00:35:00") == datetime(2025, 11, 3, 0, 35)
    assert stamp("13/45/2025 99:99 PM") is None and stamp("") is None


@pytest.mark.parametrize("text, city, region, country", [
    ("Sherbrooke, QC, CA", "Sherbrooke", "QC", "CA"),
    ("Anytown, US", "Anytown", None, "US"),
    ("Leipzig, DE", "Leipzig", None, "DE"),
    ("Manchester, UK", "Manchester", None, "GB"),
    ("Columbus, OH", "Columbus", "OH", "US"),
    ("Coventry, WMID", "Coventry", "WMID", None),
    ("Toronto, Canada", "Toronto", None, "CA"),
    ("Leeds depot", "Leeds depot", None, None),
])
def test_places(text, city, region, country):
    loc = place(text)
    assert (loc.city, loc.region, loc.country) == (city, region, country)
    assert place("") is None and place(" , ") is None


def test_times_are_the_wall_clock_of_the_place():
    out = run(response(("Item out for delivery", "03/07/2025 08:02 AM", "Calgary, AB, CA", "300"),
                       ("Shipment Processed", "2025-12-02 10:05:40", "Coventry, WMID", "75")))
    calgary, coventry = sorted(out.shipments[0].events, key=lambda e: e.occurred_at, reverse=False)
    assert calgary.occurred_at_local.isoformat() == "2025-03-07T08:02:00-07:00"
    assert calgary.time_basis.value == "location"
    assert coventry.time_basis.value == "assumed_utc" and coventry.occurred_at.isoformat() == "2025-12-02T10:05:40+00:00"


def test_landmark_number_is_the_tracking_number_else_the_carrier_number():
    assert run(response(("Shipment Data Uploaded", "2025-01-02 10:00:00", "", "50"))).shipments[0].tracking_number \
        == "LTN61230457N1"
    out = run(response(("Shipment Data Uploaded", "2025-01-02 10:00:00", "", "50"), ltn=""))
    assert out.shipments[0].tracking_number == "7023210039414604"


def test_failed_delivery_is_an_exception_with_the_stated_reason():
    ev = run(response(("Delivery failed - refused by recipient", "2025-10-03 18:00:00", "Rotterdam, NL", "900")))
    shipment = ev.shipments[0]
    assert (shipment.status.value, shipment.exception_class.value) == ("exception", "refused")
    plain = run(response(("Delivery failed", "2025-10-03 18:00:00", "Rotterdam, NL", "900"))).shipments[0]
    assert (plain.status.value, plain.exception_class.value) == ("exception", "other")


def test_errors_are_carrier_errors_with_html_reduced_to_text():
    doc = (b"<TrackResponse><Errors><Error><ErrorCode>Lookup</ErrorCode><ErrorMessage>Could not find shipment "
           b"LTN1 in our system.&amp;lt;br&amp;gt;&amp;lt;a href='x'&amp;gt;Track&amp;lt;/a&amp;gt;</ErrorMessage>"
           b"</Error></Errors><Result><Success>false</Success></Result></TrackResponse>")
    out = run(doc)
    assert out.ok and not out.shipments
    assert out.errors[0].message == "Lookup: Could not find shipment LTN1 in our system. Track"
    bare = run(b"<TrackResponse><Result><Success>false</Success><ResultMessage>Shipment not found"
               b"</ResultMessage></Result></TrackResponse>")
    assert bare.errors[0].message == "Shipment not found"


@pytest.mark.parametrize("code, status, cls", [
    ("50", "label_created", None), ("75", "in_transit", None), ("90", "exception", "payment_due"),
    ("135", "exception", "customs_hold"), ("300", "out_for_delivery", None), ("400", "delivery_attempted", None),
    ("410", "available_for_pickup", None), ("500", "delivered", None), ("510", "delivered", None),
    ("570", "returned_to_sender", None), ("800", "exception", "other"),
])
def test_table_decisions(code, status, cls):
    mapped = classify("landmark", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_table_covers_landmarks_code_list():
    assert len(load_table("landmark").codes) == 24


@pytest.mark.parametrize("bad", [
    b"<TrackResponse><Result><Success>true</Success><Packages><Package/></Packages></Result></TrackResponse>",
    b"<TrackResponse><Result><Success>true</Success><Packages><Package><LandmarkTrackingNumber>L1"
    b"</LandmarkTrackingNumber><Events><Event><DateTime>soon</DateTime></Event><Event/></Events></Package>"
    b"</Packages></Result></TrackResponse>",
    b"<TrackResponse><Result><Success>true</Success></Result></TrackResponse>",
    b"<TrackResponse><Errors><Error><ErrorCode/></Error></Errors><Result><Success>maybe</Success></Result>"
    b"</TrackResponse>",
])
def test_odd_shapes_never_raise(bad):
    out = run(bad, carrier="landmark")
    assert out is not None and (out.ok or out.errors)
