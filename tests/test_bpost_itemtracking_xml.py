"""bpost itemTracking XML: detection, codes and state names, offsets, estimate, errors."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "bpost_itemtracking_xml"
NS = 'xmlns="http://schema.post.be/tracking/v1/"'


def state(code="T00", description="Sorted - sorted_out", time="2025-09-16T21:47:03+02:00", place="BRUSSEL X"):
    loc = f"<location>{place}</location>" if place else ""
    return (f"<stateInfo><time>{time}</time>{loc}<stateCode>{code}</stateCode>"
            f"<stateDescription>{description}</stateDescription></stateInfo>")


def item(*states, code="323299901059900012345678", extra=""):
    return (f"<itemTracking {NS}><itemCode>{code}</itemCode>{extra}{''.join(states)}"
            f"<trackingId>abc</trackingId></itemTracking>").encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_itemtracking(payload):
    out = run(payload.read_bytes())
    assert out.ok and out.parser == "bpost.itemtracking_xml" and out.carrier == "bpost"


def test_offsets_are_kept():
    ev = run(item(state())).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-09-16T19:47:03+00:00"
    assert ev.location.city == "BRUSSEL X"


def test_time_without_offset_is_belgian():
    ev = run(item(state(time="2025-01-16T10:00:00"))).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at.isoformat() == "2025-01-16T09:00:00+00:00"


def test_the_last_state_decides_the_shipment():
    out = run(item(state(), state("L00", "BoundToRound - out_for_distribution", "2025-09-17T07:32:15.204+02:00"),
                   state("U01", "DistributedNormally - regular", "2025-09-17T11:02:48.611+02:00")))
    assert out.shipments[0].status.value == "delivered"


def test_delivery_time_is_not_an_estimate_but_the_window_is():
    window = ("<deliveryTime>2025-09-17T11:02:48+02:00</deliveryTime><deliveryTimeWindow>"
              "<plannedDeliveryDateWindowStart>2025-09-17T10:00:00+02:00</plannedDeliveryDateWindowStart>"
              "<plannedDeliveryDateWindowEnd>2025-09-17T13:00:00+02:00</plannedDeliveryDateWindowEnd>"
              "</deliveryTimeWindow>")
    assert run(item(state(), extra=window)).shipments[0].estimated_delivery == "2025-09-17T13:00:00+02:00"
    only_delivery = "<deliveryTime>2025-09-17T11:02:48+02:00</deliveryTime>"
    assert run(item(state(), extra=only_delivery)).shipments[0].estimated_delivery is None


def test_state_names_decide_unknown_codes_and_are_counted():
    out = run(item(state("X99", "ReturnedToSender - refused")))
    assert out.shipments[0].events[0].status.value == "returned_to_sender"
    assert out.unmapped == [("bpost", "X99", "ReturnedToSender - refused")]


def test_errors():
    business = b'<businessException xmlns="http://schema.post.be/api/shm/v1/"><code>4008</code>' \
               b'<message>No item found</message></businessException>'
    out = run(business)
    assert out.ok and out.parser == "bpost.itemtracking_xml" and out.errors[0].message == "4008: No item found"
    system = b'<systemException xmlns="http://schema.post.be/api/shm/common/v2/"><message>Internal error</message>' \
             b'<timestamp>2025-09-17</timestamp></systemException>'
    assert run(system).errors[0].message == "Internal error"
    assert run(b"<businessException><code>1</code><message>x</message></businessException>").parser != \
        "bpost.itemtracking_xml"  # without bpost's namespace the name alone says nothing


def test_several_items_in_one_document():
    both = b"<items>" + item(state(), code="A1") + item(state(), code="B2") + b"</items>"
    assert [s.tracking_number for s in run(both).shipments] == ["A1", "B2"]


@pytest.mark.parametrize("code, status", [("T00", "in_transit"), ("L00", "out_for_delivery"), ("U01", "delivered")])
def test_table_decisions(code, status):
    assert classify("bpost", (code,), "", None).status.value == status


@pytest.mark.parametrize("bad", [
    item(),
    item(state(time="yesterday"), state(code="", description="")),
    f"<itemTracking {NS}><stateInfo>x</stateInfo></itemTracking>".encode(),
    b"<itemTracking><itemCode><b>nested</b></itemCode><stateInfo><time/></stateInfo></itemTracking>",
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="bpost") is not None
