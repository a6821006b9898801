"""USPS Web Tools TrackResponse XML: detection, both event shapes, errors, places and times."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from parsers import normalize_document
from parsers.formats.usps_common import facility_state, parse_clock, parse_day, usps_location, year_less
from parsers.formats.usps_webtools_xml import text_event
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "usps_webtools_xml"


def detail(tag="TrackDetail", time="9:01 am", day="April 28, 2025", event="Arrived at Post Office", code="07",
           city="HANNA CITY", state="IL", zipc="61536", country="", name=""):
    return (f"<{tag}><EventTime>{time}</EventTime><EventDate>{day}</EventDate><Event>{event}</Event>"
            f"<EventCity>{city}</EventCity><EventState>{state}</EventState><EventZIPCode>{zipc}</EventZIPCode>"
            f"<EventCountry>{country}</EventCountry><FirmName/><Name>{name}</Name><EventCode>{code}</EventCode>"
            f"</{tag}>")


def response(*parts, tn="9405511206213874598239", extra=""):
    return f'<TrackResponse><TrackInfo ID="{tn}">{extra}{"".join(parts)}</TrackInfo></TrackResponse>'


def run(xml: str, carrier: str = "auto"):
    return normalize_document(xml.encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_webtools(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "usps.webtools_xml"


def test_ups_track_response_is_left_to_ups():
    ups = ("<TrackResponse><Response><ResponseStatusCode>1</ResponseStatusCode></Response><Shipment>"
           "<Package><TrackingNumber>1Z6A91R20375553014</TrackingNumber></Package></Shipment></TrackResponse>")
    assert run(ups).parser != "usps.webtools_xml"


def test_summary_is_the_latest_event_and_details_follow():
    out = run(response(detail("TrackSummary", "2:47 pm", event="Delivered, In/At Mailbox", code="01"),
                       detail(time="7:46 am")))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and len(shipment.events) == 2
    latest = shipment.events[0]
    assert latest.occurred_at_local.isoformat() == "2025-04-28T14:47:00-05:00"
    assert latest.time_basis.value == "location" and latest.occurred_at.isoformat() == "2025-04-28T19:47:00+00:00"


def test_per_number_error_and_request_error():
    out = run('<TrackResponse><TrackInfo ID="LZ739120462US"><Error><Number>-2147219302</Number>'
              "<Description>Could not locate</Description></Error></TrackInfo></TrackResponse>")
    assert out.ok and not out.shipments
    assert [e.message for e in out.errors] == ["-2147219302: Could not locate (LZ739120462US)"]
    bare = run("<Error><Number>80040B1A</Number><Description>Authorization failure.</Description></Error>")
    assert bare.parser == "usps.webtools_xml" and bare.errors[0].kind == "carrier_error"


def test_undated_detail_is_skipped_without_an_error():
    out = run(response(detail("TrackSummary", event="Out for Delivery", code="OF"),
                       detail(time="", day="", event="Origin Post is Preparing Shipment", code="NP",
                              city="", state="")))
    assert out.ok and not out.errors and len(out.shipments[0].events) == 1


def test_shipment_status_category_without_events():
    out = run(response(extra="<Status>Pre-Shipment Info Sent to USPS</Status>"
                             "<StatusCategory>Pre-Shipment</StatusCategory>"))
    assert out.shipments[0].status.value == "label_created"


def test_foreign_scan_and_canadian_province():
    out = run(response(detail("TrackSummary", event="Out for Delivery", code="OF", city="", state="ON",
                              country="CANADA")))
    ev = out.shipments[0].events[0]
    assert ev.location.country == "CA" and ev.occurred_at_local.utcoffset().total_seconds() == -4 * 3600


def test_facility_name_gives_the_state():
    assert facility_state("QUEENS NY DISTRIBUTION CENTER") == "NY"
    assert facility_state("CHICAGO IL INTERNATIONAL DISTRIBUTION CENTER") == "IL"
    assert facility_state("NEW YORK") is None
    assert facility_state("HANNA CITY") is None
    loc = usps_location("JACKSONVILLE FL DISTRIBUTION CENTER", None, None, None)
    assert (loc.region, loc.country) == ("FL", "US")
    assert usps_location(None, None, None, None) is None
    assert usps_location("LONDON", "", "", "UNITED KINGDOM").country == "GB"


def test_clock_and_day_spellings():
    assert parse_clock("12:05 am") == (0, 5) and parse_clock("12:30 pm") == (12, 30)
    assert parse_clock("9:01 a.m.") == (9, 1) and parse_clock("14:05") == (14, 5)
    assert parse_clock("13:00 pm") is None and parse_clock("noon") is None
    assert parse_day("April 28, 2015") == date(2015, 4, 28) and parse_day("Sept 3, 2024") == date(2024, 9, 3)
    assert parse_day("June 1") is None and parse_day("2015-04-28") == date(2015, 4, 28)


def test_year_less_date_is_the_latest_past_one():
    assert year_less(6, 1, today=date(2026, 3, 1)) == date(2025, 6, 1)
    assert year_less(6, 1, today=date(2026, 7, 1)) == date(2026, 6, 1)
    assert year_less(2, 29, today=date(2026, 3, 1)) is None  # neither 2026 nor 2025 has it


def test_old_text_form_without_year():
    ev = text_event("Your item was delivered at 8:10 am on June 1 in WOBURN MA 01801.")
    today = datetime.now(timezone.utc).date()
    assert (ev.when.month, ev.when.day, ev.when.hour, ev.when.minute) == (6, 1, 8, 10)
    assert today.year - 1 <= ev.when.year <= today.year
    assert (ev.location.city, ev.location.region, ev.location.postal_code) == ("WOBURN", "MA", "01801")
    old = text_event("May 30 11:07 am NOTICE LEFT WOBURN MA 01801.")
    assert old.location.city is None and old.location.region == "MA"
    assert classify("usps", (), old.description, None).status.value == "delivery_attempted"


def test_text_summary_without_date_is_a_not_found_answer():
    out = run('<TrackResponse><TrackInfo ID="9400111899223857164024"><TrackSummary>The Postal Service could '
              "not locate the tracking information for your request.</TrackSummary></TrackInfo></TrackResponse>")
    assert out.ok and not out.shipments and out.errors[0].kind == "carrier_error"


@pytest.mark.parametrize("code,status,cls", [
    ("01", "delivered", None), ("02", "delivery_attempted", "recipient_unavailable"),
    ("55", "delivery_attempted", "access_issue"), ("04", "exception", "refused"),
    ("27", "returned_to_sender", "unclaimed"), ("16", "available_for_pickup", None),
    ("GX", "label_created", None), ("80", "picked_up", None), ("TL", "in_transit", None)])
def test_code_table(code, status, cls):
    found = classify("usps", (code,), "", None)
    assert (found.status.value, found.exception_class and found.exception_class.value) == (status, cls)


@pytest.mark.parametrize("text,status", [
    ("Delivered, Parcel Locker", "delivered"),
    ("Your item was delivered to a parcel locker at 1:58 pm on November 22, 2024 in HERNANDO, FL 34442.",
     "delivered"),
    ("Available for Pickup", "available_for_pickup"),
    ("Inbound Out of Customs", "in_transit"),
    ("In Transit, Arriving Late", "exception"),
    ("May 29 9:55 am ACCEPT OR PICKUP EDGEWATER NJ 07020.", "picked_up")])
def test_wording_without_code(text, status):
    assert classify("usps", (), text, None).status.value == status
