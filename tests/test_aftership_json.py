"""AfterShip tracking JSON: detection, response shapes, webhook, carrier errors, subtag mapping."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from parsers.formats.aftership_json import carrier_slug
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "aftership_json"


def run(doc: object, carrier: str = "auto"):
    return normalize_document(json.dumps(doc).encode(), carrier=carrier)


def checkpoint(subtag="InTransit_001", tag="InTransit", message="In transit",
               when="2023-06-01T10:00:00+02:00", **extra):
    return {"checkpoint_time": when, "message": message, "tag": tag, "subtag": subtag, **extra}


def tracking(*checkpoints, slug="dhl", tag="InTransit", subtag="InTransit_001"):
    return {"tracking_number": "7310492865", "slug": slug, "tag": tag, "subtag": subtag,
            "checkpoints": list(checkpoints)}


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_aftership(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "aftership.json" and out.carrier == "aftership"


def test_slugs_become_project_slugs():
    # registry carriers by their AfterShip codes; couriers it does not know keep theirs, '-' -> '_'
    assert [carrier_slug(s) for s in ("fedex", "china-post", "canada-post", "postnl-3s", "ninjavan-my")] == \
        ["fedex", "china_post", "canadapost", "postnl", "ninjavan_my"]


@pytest.mark.parametrize("doc", [
    {"meta": {"code": 200}, "data": {"tracking": tracking(checkpoint())}},
    {"meta": {"code": 200}, "data": {"trackings": [tracking(checkpoint())]}},
    {"data": tracking(checkpoint())},
    {"event": "tracking_update", "msg": tracking(checkpoint()), "ts": 1685606400},
])
def test_every_documented_shape(doc):
    out = run(doc)
    assert [(s.tracking_number, s.carrier, len(s.events)) for s in out.shipments] == [("7310492865", "dhl", 1)]


def test_last_checkpoint_answer():
    doc = {"meta": {"code": 200}, "data": {"tracking_number": "RB123", "slug": "china-post", "tag": "InTransit",
                                           "subtag": "InTransit_003", "checkpoint": checkpoint("InTransit_003")}}
    s = run(doc).shipments[0]
    assert s.carrier == "china_post" and [e.status.value for e in s.events] == ["in_transit"]


def test_error_meta_is_a_carrier_error():
    out = run({"meta": {"code": 4004, "message": "Tracking does not exist.", "type": "NotFound"}, "data": {}})
    assert out.ok and not out.shipments
    assert [e.message for e in out.errors] == ["4004: Tracking does not exist. (NotFound)"]


def test_checkpoint_time_without_offset_takes_the_zone_of_its_country():
    ev = run({"data": tracking(checkpoint(when="2023-06-01T10:00:00", country_iso3="JPN"))}).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2023-06-01T10:00:00+09:00" and ev.time_basis.value == "location"


def test_newer_country_region_field():
    ev = run({"data": tracking(checkpoint(country_region="NZL", state=None))}).shipments[0].events[0]
    assert ev.location.country == "NZ"


@pytest.mark.parametrize("subtag, tag, status, cls", [
    ("InfoReceived_001", "InfoReceived", "label_created", None),
    ("InTransit_002", "InTransit", "picked_up", None),
    ("InTransit_006", "InTransit", "in_transit", None),
    ("OutForDelivery_001", "OutForDelivery", "out_for_delivery", None),
    ("AvailableForPickup_001", "AvailableForPickup", "available_for_pickup", None),
    ("AttemptFail_003", "AttemptFail", "delivery_attempted", "recipient_unavailable"),
    ("Delivered_002", "Delivered", "delivered", None),
    ("Exception_003", "Exception", "exception", "refused"),
    ("Exception_006", "Exception", "exception", "payment_due"),
    ("Exception_008", "Exception", "exception", "unclaimed"),
    ("Exception_010", "Exception", "returned_to_sender", None),
    ("Exception_013", "Exception", "exception", "lost"),
])
def test_subtags(subtag, tag, status, cls):
    ev = run({"data": tracking(checkpoint(subtag, tag, message=""))}).shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value if ev.exception_class else None) == (status, cls)


def test_generic_exception_takes_its_reason_from_the_message():
    ev = run({"data": tracking(checkpoint("Exception_001", "Exception", "Package damaged in transit"))})
    assert ev.shipments[0].events[0].exception_class.value == "damaged"


def test_unknown_subtag_falls_to_text_then_tag():
    ev = run({"data": tracking(checkpoint("Exception_099", "Exception", "Something odd"))}).shipments[0].events[0]
    assert ev.status.value == "exception" and ev.provenance.mapped_by.value == "coarse"


def test_tracking_without_checkpoints_uses_its_tag():
    s = run({"meta": {"code": 200}, "data": {"tracking": tracking(tag="Delivered", subtag="Delivered_001")}})
    assert s.shipments[0].status.value == "delivered"


@pytest.mark.parametrize("doc", [
    {"meta": {"code": 200}, "data": {"tracking": {"tracking_number": "X", "checkpoints": "x"}}},
    {"meta": {"code": 200}, "data": {"trackings": [None, {"tracking_number": None, "slug": 3}]}},
    {"meta": {"code": 200}, "data": {"trackings": []}},
    {"meta": {"code": "4003"}, "data": None},
    {"event": "tracking_update", "msg": {"tracking_number": "X", "checkpoints": [{"checkpoint_time": 7}]}, "ts": 1},
])
def test_odd_but_valid_input_never_raises(doc):
    out = run(doc)
    assert out.ok or out.errors
