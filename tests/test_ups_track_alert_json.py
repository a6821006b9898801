"""UPS Track Alert webhook: detection, the descriptionCode trap, time, batches and subscription errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "ups_track_alert_json"


def body(kind="I", code="DP", description="On the Way", description_code="005", **extra):
    data = {
        "trackingNumber": "1Z2V58X90399553016",
        "localActivityDate": "20251027", "localActivityTime": "211530",
        "activityLocation": {"city": "Lenexa", "stateProvince": "KS", "postalCode": "", "country": "US"},
        "activityStatus": {"type": kind, "code": code, "description": description,
                           "descriptionCode": description_code},
        "scheduledDeliveryDate": "20251029", "actualDeliveryDate": "", "actualDeliveryTime": "",
        "gmtActivityDate": "20251028", "gmtActivityTime": "021530",
    }
    data.update(extra)
    return data


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_track_alert(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "ups.track_alert_json" and out.carrier == "ups"


def test_local_and_gmt_times_give_the_offset():
    ev = run(body()).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == "2025-10-28T02:15:30+00:00"
    assert ev.occurred_at_local.isoformat() == "2025-10-27T21:15:30-05:00" and ev.time_basis.value == "offset"


def test_without_gmt_the_zone_comes_from_the_location():
    ev = run(body(gmtActivityDate="", gmtActivityTime="")).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at.isoformat() == "2025-10-28T02:15:30+00:00"


def test_type_code_beats_a_contradicting_description_code():
    """UPS's own example: D/FS 'Delivered' with descriptionCode 9."""
    ev = run(body("D", "FS", "Delivered", 9)).shipments[0].events[0]
    assert ev.status.value == "delivered" and ev.provenance.mapped_by.value == "code"


def test_description_code_is_ignored_when_its_listed_text_differs():
    """17 is 'Held for Customer Pickup' in UPS's list; sent with 'Out for Delivery' it must not win."""
    ev = run(body("I", "QD", "Out for Delivery", 17)).shipments[0].events[0]
    assert ev.status.value == "out_for_delivery" and ev.provenance.mapped_by.value == "keyword"


def test_description_code_decides_an_unknown_code_when_it_agrees_with_the_text():
    ev = run(body("X", "QQ", "Held for Customer Pickup", "017")).shipments[0].events[0]
    assert ev.status.value == "available_for_pickup" and ev.provenance.mapped_by.value == "code"


def test_update_type_u_is_known():
    ev = run(body("U", "UT", "Updated Delivery Time", "153")).shipments[0].events[0]
    assert ev.status.value == "in_transit" and ev.provenance.mapped_by.value == "code"


def test_leading_space_in_tracking_number_is_trimmed():
    """UPS's manifest example has trackingNumber ' 1ZABCXYZ0112346789'."""
    out = run(body("M", "MP", "Shipment Ready for UPS", "003", trackingNumber=" 1Z2V58X90399553016"))
    assert out.shipments[0].tracking_number == "1Z2V58X90399553016"
    assert out.shipments[0].status.value == "label_created"


def test_batch_merges_by_number_and_dedupes():
    first = body(scheduledDeliveryDate="20251029")
    later = body("U", "UP", "Updated Delivery Date", "154", localActivityDate="", localActivityTime="",
                 gmtActivityTime="093000", scheduledDeliveryDate="20251030")
    out = run([first, first, later])
    assert len(out.shipments) == 1
    shipment = out.shipments[0]
    assert len(shipment.events) == 2 and shipment.estimated_delivery == "2025-10-30"
    assert shipment.events[0].occurred_at.isoformat() == "2025-10-28T09:30:00+00:00"


def test_received_by_signs_only_deliveries():
    delivered = run(body("D", "FS", "Delivered", "011", receivedBy="ESPINOZA")).shipments[0]
    assert delivered.signed_by == "ESPINOZA" and delivered.events[0].signed_by == "ESPINOZA"
    moving = run(body(receivedBy="ESPINOZA")).shipments[0]
    assert moving.signed_by is None


def test_subscription_errors_are_carrier_errors():
    out = run({"response": {"errors": [{"code": "VSS300", "message": "Locale is required."}]},
               "invalidTrackingNumbers": ["1Z1234567$8"]})
    assert out.ok and not out.shipments
    assert [e.message for e in out.errors] == ["VSS300: Locale is required.", "invalid tracking number: 1Z1234567$8"]


@pytest.mark.parametrize("bad", [
    body(activityStatus=None),
    body(activityLocation="nowhere", localActivityDate=20251027),
    body(trackingNumber=""),
    [body(), "junk", 5],
])
def test_odd_bodies_never_raise(bad):
    assert run(bad, carrier="ups") is not None


def test_delivery_without_local_activity_time_uses_the_actual_delivery_time():
    data = body("D", "FS", "Delivered", "011", localActivityDate="", localActivityTime="",
                actualDeliveryDate="20251028", actualDeliveryTime="101500", gmtActivityDate="20251028",
                gmtActivityTime="151500")
    ev = run(data).shipments[0].events[0]
    assert ev.occurred_at_local.isoformat() == "2025-10-28T10:15:00-05:00" and ev.time_basis.value == "offset"


def test_out_for_delivery_under_type_d():
    """Track Alert's FAQ lists loaded-on-vehicle and out-for-delivery under type D."""
    ev = run(body("D", "OT", "Out for Delivery", "021")).shipments[0].events[0]
    assert ev.status.value == "out_for_delivery" and ev.provenance.mapped_by.value == "code"
