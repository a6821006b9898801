"""Royal Mail Tracking API v2 JSON: events, summary and signature shapes, codes, offsets, errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "royalmail_tracking_json"


def ev(code="EVDAV", name="Item received", at="2025-08-13T21:44:05+01:00", loc="Swindon Mail Centre"):
    return {"eventCode": code, "eventName": name, "eventDateTime": at, "locationName": loc}


def pieces(*events, summary=None, **extra):
    body = {"mailPieceId": "QP123456784GB", "carrierShortName": "RM", "events": list(events), **extra}
    if summary is not None:
        body["summary"] = summary
    return {"mailPieces": body}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_tracking_json(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "royalmail.tracking_json" and out.carrier == "royalmail"


def test_the_number_is_the_requested_mail_piece_id_not_the_barcode_beside_it():
    out = run(pieces(ev(), summary={"uniqueItemId": "090367574000000AB12C3", "oneDBarcode": "QP123456784GB"},
                     mailPieceId="090367574000000AB12C3"))
    assert [s.tracking_number for s in out.shipments] == ["090367574000000AB12C3"]


def test_offsets_are_kept():
    event = run(pieces(ev(at="2025-08-13T21:44:05+01:00"))).shipments[0].events[0]
    assert event.time_basis.value == "offset" and event.occurred_at.isoformat() == "2025-08-13T20:44:05+00:00"


def test_status_category_is_the_coarse_status_of_the_last_event():
    last = ev("EVZZZ", "Unusual occurrence", "2025-08-14T11:26:40+01:00", "Bristol DO")
    summary = {"lastEventCode": "EVZZZ", "lastEventDateTime": "2025-08-14T11:26:40+01:00",
               "statusCategory": "DELIVERED"}
    out = run(pieces(ev(), last, summary=summary))
    latest = out.shipments[0].events[0]
    assert latest.status.value == "delivered" and latest.provenance.mapped_by.value == "coarse"
    assert out.unmapped == [("royalmail", "EVZZZ", "Unusual occurrence")]


def test_summary_operation_gives_the_last_event_as_the_scan():
    summary = {"lastEventCode": "EVGPD", "lastEventName": "Out for delivery",
               "lastEventDateTime": "2025-08-14T06:52:13+01:00", "lastEventLocationName": "Bristol DO",
               "statusCategory": "IN TRANSIT"}
    out = run({"mailPieces": [{"mailPieceId": "QP123456784GB", "summary": summary}]})
    shipment = out.shipments[0]
    assert shipment.status.value == "out_for_delivery" and len(shipment.events) == 1
    assert shipment.events[0].location.city == "Bristol DO"


def test_signature_names_the_recipient():
    out = run(pieces(ev("EVKSP", "Delivered and Signed", "2025-08-14T11:26:40+01:00"),
                     signature={"recipientName": "Harrison", "signatureDateTime": "2025-08-14T11:26:40+01:00"}))
    shipment = out.shipments[0]
    assert shipment.signed_by == "Harrison" and shipment.events[0].signed_by == "Harrison"
    assert shipment.status.value == "delivered"


def test_errors_are_carrier_errors():
    body = {"httpCode": "401", "httpMessage": "Unauthorized", "moreInformation": "Client id not registered",
            "errors": [{"errorCode": "E0002", "errorDescription": "Client id not registered",
                        "errorCause": "Client id not registered", "errorResolution": "Register your client id"}]}
    out = run(body)
    assert out.ok and out.parser == "royalmail.tracking_json" and not out.shipments
    assert [e.message for e in out.errors] == ["E0002: Client id not registered"]
    bare = run({"httpCode": "500", "httpMessage": "Internal Server Error", "moreInformation": "Try later"},
               carrier="royalmail")
    assert bare.errors[0].message == "500 Internal Server Error Try later"


def test_misrouted_item_is_a_carrier_delay_not_a_delivery():
    mapped = classify("royalmail", ("EVNMI",), "Forwarded - Mis-sort", None)
    assert (mapped.status.value, mapped.exception_class.value) == ("exception", "carrier_delay")


@pytest.mark.parametrize("code, status, cls", [
    ("EVAIP", "label_created", None), ("EVPPA", "picked_up", None), ("EVDAV", "in_transit", None),
    ("EVGPD", "out_for_delivery", None), ("EVKSP", "delivered", None), ("EVKDN", "delivered", None),
    ("EVKLC", "available_for_pickup", None), ("EVKNA", "delivery_attempted", "recipient_unavailable"),
    ("EVKAA", "delivery_attempted", "access_issue"), ("EVKRF", "returned_to_sender", "refused"),
    ("EVKGA", "returned_to_sender", "address_issue"), ("EVRTS", "returned_to_sender", None),
    ("EVNRT", "exception", "held_by_carrier"), ("EVPLC", "delivered", None),
])
def test_table_decisions(code, status, cls):
    mapped = classify("royalmail", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


@pytest.mark.parametrize("bad", [
    {"mailPieces": "x"},
    {"mailPieces": [None, {"mailPieceId": {"a": 1}}, {"mailPieceId": "A1", "events": "x", "summary": []}]},
    {"mailPieces": {"mailPieceId": "A1", "events": [{"eventDateTime": 5}, "x", {}],
                    "signature": {"signatureDateTime": []}, "estimatedDelivery": {"date": 3}}},
    {"mailPieces": {"mailPieceId": "A1", "summary": {"lastEventDateTime": "not a time", "statusCategory": 7}}},
    {"errors": "x", "httpCode": {}},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="royalmail") is not None
