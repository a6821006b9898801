"""DPD ParcelLifeCycle getTrackingData SOAP: steps, dates, zones, faults, and the number the answer lacks."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from parsers import normalize_document, record
from parsers.formats.dpd_parcellifecycle_xml import dpd_time
from service.normalizer import normalize_row, requested_number
from service.rows import InboxRow
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "dpd_parcellifecycle_xml"
DELIVERED = FOLDER / "gettrackingdata_delivered.xml"
NUMBER = "01905002123456"


def step(status="Courier", date="3/10/2026 7:41:05 AM", place="Köln (DE)", reached="true",
         description="The parcel has left the parcel delivery centre and is on its way to the consignee."):
    return (f"<statusInfo><status>{status}</status><label><content>Parcel out for delivery</content></label>"
            f"<description><content><content>{description}</content></content></description>"
            f"<statusHasBeenReached>{reached}</statusHasBeenReached><isCurrentStatus>false</isCurrentStatus>"
            f"<location><content>{place}</content></location><date><content>{date}</content></date></statusInfo>")


def doc(*steps: str) -> bytes:
    return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<getTrackingDataResponse xmlns="http://dpd.com/common/service/types/ParcelLifeCycleService/2.0">'
            f'<trackingresult>{"".join(steps)}</trackingresult></getTrackingDataResponse></soap:Body>'
            '</soap:Envelope>').encode()


def run(data: bytes, **kw):
    return normalize_document(data, carrier=kw.pop("carrier", "auto"), **kw)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_parcellifecycle(payload):
    out = run(payload.read_bytes(), tracking_number=NUMBER)
    assert out.ok and out.parser == "dpd.parcellifecycle_xml" and out.carrier == "dpd"


def test_dates_in_both_spellings():
    assert dpd_time("8/17/2021 7:11:26 PM") == datetime(2021, 8, 17, 19, 11, 26)
    assert dpd_time("8/18/2021 12:05:00 AM") == datetime(2021, 8, 18, 0, 5)
    assert dpd_time("8/18/2021 12:05:00 PM") == datetime(2021, 8, 18, 12, 5)
    assert dpd_time("17.08.2021 19:11:26") == datetime(2021, 8, 17, 19, 11, 26)
    assert dpd_time("17-08-2021 19:11") == datetime(2021, 8, 17, 19, 11)
    assert dpd_time("13/17/2021 7:11:26 PM") is None and dpd_time("8/17/2021 13:11:26 PM") is None
    assert dpd_time("") is None and dpd_time("yesterday") is None


def test_local_time_in_the_zone_of_the_country_in_the_location():
    winter, summer = run(doc(step(date="1/15/2026 9:00:00 AM", place="Mechelen (BE)"),
                             step(date="7/15/2026 9:00:00 AM", place="Leeds (GB)")),
                         tracking_number=NUMBER).shipments[0].events[::-1]
    assert winter.time_basis.value == summer.time_basis.value == "location"
    assert winter.occurred_at.isoformat() == "2026-01-15T08:00:00+00:00"
    assert summer.occurred_at.isoformat() == "2026-07-15T08:00:00+00:00"  # BST
    assert winter.location.city == "Mechelen" and winter.location.country == "BE"


def test_without_a_country_the_home_zone_applies():
    ev = run(doc(step(date="7/15/2026 9:00:00 AM", place="Depot 0190")), tracking_number=NUMBER).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at.isoformat() == "2026-07-15T07:00:00+00:00"


def test_steps_not_reached_are_not_scans():
    out = run(doc(step(), step("Delivered", date="", place="", reached="false")), tracking_number=NUMBER)
    assert [e.carrier_code for e in out.shipments[0].events] == ["Courier"]


@pytest.mark.parametrize("code, status", [
    ("PickedUp", "picked_up"), ("BetweenDepots", "in_transit"), ("Depot", "in_transit"),
    ("Courier", "out_for_delivery"), ("Delivered", "delivered"), ("DeliveryFailure", "delivery_attempted"),
    ("ReturningFromDelivery", "delivery_attempted"), ("ParcelShop", "available_for_pickup"),
])
def test_table_decisions(code, status):
    assert classify("dpd", (code,), "", None).status.value == status


def test_an_unknown_step_falls_to_the_description_and_is_counted():
    out = run(doc(step("SomethingNew", description="The parcel has been returned to the sender.")),
              tracking_number=NUMBER)
    ev = out.shipments[0].events[0]
    assert ev.status.value == "returned_to_sender" and ev.provenance.mapped_by.value == "keyword"
    assert out.unmapped == [("dpd", "SomethingNew", "The parcel has been returned to the sender.")]


def test_faults_are_carrier_errors():
    out = run((FOLDER / "fault_no_data.xml").read_bytes())
    assert out.ok and not out.shipments
    assert [(e.kind, e.message) for e in out.errors] == [
        ("carrier_error", "COMMON_7: No data found for parcel label number 01905002123456.")]
    auth = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
            b'<faultcode>soap:Server</faultcode><faultstring>Fault occured</faultstring><detail>'
            b'<ns:authenticationFault xmlns:ns="http://dpd.com/common/service/types/Authentication/2.0">'
            b'<errorCode>LOGIN_1</errorCode><errorMessage>Login failed.</errorMessage></ns:authenticationFault>'
            b'</detail></soap:Fault></soap:Body></soap:Envelope>')
    out = run(auth)
    assert out.parser == "dpd.parcellifecycle_xml" and out.errors[0].message == "LOGIN_1: Login failed."


def test_another_carriers_soap_fault_is_not_dpd():
    fault = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
             b'<faultcode>soap:Client</faultcode><faultstring>Bad request</faultstring></soap:Fault></soap:Body>'
             b'</soap:Envelope>')
    assert run(fault).parser != "dpd.parcellifecycle_xml"


@pytest.mark.parametrize("bad", [
    doc(),
    doc("<statusInfo><status>Courier</status><statusHasBeenReached>true</statusHasBeenReached></statusInfo>"),
    doc(step(date="99/99/2021 7:11:26 PM"), step(place="()", description="")),
    b"<getTrackingDataResponse><trackingresult><statusInfo>x</statusInfo></trackingresult></getTrackingDataResponse>",
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault/></soap:Body>'
    b'</soap:Envelope>',
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="dpd", keep_unnumbered=True) is not None


# --- the tracking number the answer does not carry --------------------------------------------


def test_the_parser_leaves_the_number_empty_and_the_core_skips_such_a_shipment_by_default():
    out = run(DELIVERED.read_bytes())
    assert not out.ok and not out.shipments and out.parser == "dpd.parcellifecycle_xml"
    assert [(e.kind, e.message) for e in out.errors] == [("unparseable", "a shipment without a tracking number was "
                                                          "skipped (the document does not carry it and none was given)")]


def test_a_hint_fills_the_number_and_the_ids_follow_it():
    hinted = run(DELIVERED.read_bytes(), tracking_number=f" {NUMBER} ")
    shipment = hinted.shipments[0]
    assert shipment.tracking_number == NUMBER and shipment.status.value == "delivered"
    assert {e.tracking_number for e in shipment.events} == {NUMBER}
    unnumbered = run(DELIVERED.read_bytes(), keep_unnumbered=True).shipments[0]
    assert unnumbered.tracking_number == ""
    assert len(unnumbered.events) == len(shipment.events) == 5
    # ids are computed the same way, with the empty string as the number: stable, but not the numbered ones
    assert [e.event_id for e in unnumbered.events] == [e.event_id for e in
                                                       run(DELIVERED.read_bytes(), keep_unnumbered=True)
                                                       .shipments[0].events]
    assert not {e.event_id for e in unnumbered.events} & {e.event_id for e in shipment.events}


def test_a_number_in_the_document_wins_over_the_hint():
    body = {"CompleteStatus": {"Shipment": {"Barcode": "3SKLMN0456123", "Event": [
        {"Code": "J01", "Description": "Zending is gesorteerd", "TimeStamp": "15-07-2025 04:51:07"}]}}}
    out = normalize_document(json.dumps(body).encode(), tracking_number="OTHER")
    assert [s.tracking_number for s in out.shipments] == ["3SKLMN0456123"]


def test_two_unnumbered_shipments_are_kept_apart_and_a_hint_names_neither():
    two = doc(step()).replace(b"</trackingresult>", b"</trackingresult><trackingresult>" + step(
        "Delivered", date="3/10/2026 12:07:56 PM").encode() + b"</trackingresult>")
    kept = run(two, tracking_number=NUMBER, keep_unnumbered=True)
    assert [(s.tracking_number, s.status.value) for s in kept.shipments] == [
        ("", "out_for_delivery"), ("", "delivered")]
    assert run(two, tracking_number=NUMBER).shipments == []


def _cli(*args: str) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "service", "normalize", *args], capture_output=True, text=True,
                          timeout=120, cwd=FIXTURES.parent)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_cli_reports_null_without_the_flag_and_the_number_with_it():
    bare, = _cli(str(DELIVERED))
    shipment = bare["shipments"][0]
    assert bare["ok"] and shipment["tracking_number"] is None and len(shipment["events"]) == 5
    given, = _cli("--tracking-number", NUMBER, str(DELIVERED))
    assert given["shipments"][0]["tracking_number"] == NUMBER
    assert given["shipments"][0]["status"] == shipment["status"] == "delivered"


# --- the poll path: the stored answer gets the number its poll asked for ------------------------


def _row(channel: str, numbers: str | None) -> InboxRow:
    headers = {"x-poll-numbers": numbers, "x-poll-status": "200"} if numbers is not None else {}
    return InboxRow(id=41, source="dpd", received_at="2026-03-10T12:30:00+00:00", channel=channel,
                    content_type="text/xml", body=DELIVERED.read_bytes(), state="claimed", attempts=0, reason=None,
                    headers=headers)


def test_a_polled_answer_is_normalized_with_the_number_that_was_polled():
    row = _row("poll", NUMBER)
    assert requested_number(row) == NUMBER
    out = normalize_row(row)
    assert out.ok and [s.tracking_number for s in out.shipments] == [NUMBER]
    assert out.shipments[0].events[0].provenance.channel.value == "poll"


@pytest.mark.parametrize("channel, numbers", [
    ("poll", f"{NUMBER},01905002123457"),  # a batch poll: which parcel this answer is about is not known
    ("poll", ""), ("poll", None),
    ("webhook", NUMBER),  # webhook headers come from outside
])
def test_no_number_is_guessed(channel, numbers):
    row = _row(channel, numbers)
    assert requested_number(row) is None
    out = normalize_row(row)  # nothing usable: the service quarantines the row with the reason, replayable
    assert not out.ok and out.shipments == [] and out.errors[0].kind == "unparseable"


def test_record_of_an_unnumbered_shipment_is_still_the_contract_shape():
    rec = record(run(DELIVERED.read_bytes(), keep_unnumbered=True), "x.xml")
    assert rec["shipments"][0]["tracking_number"] is None
    assert all(len(e["event_id"]) == 32 for e in rec["shipments"][0]["events"])
