"""DHL eCommerce (Global Mail) legacy XML: detection, zone letters, codes, errors and odd shapes."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "dhl_ecommerce_globalmail_xml"


def event(code="598", date="1/10/2025", time="8:31 AM MT", desc="OUT FOR DELIVERY", city="Denver", state="CO",
          postal="80205", country="US"):
    return (f"<event><code>{code}</code><date>{date}</date><time>{time}</time><city>{city}</city>"
            f"<state>{state}</state><description>{desc}</description><postalcode>{postal}</postalcode>"
            f"<country>{country}</country></event>")


def doc(*events, number="GM2951847602113586", signed=""):
    return (f"<track><shipment><trackingnumber>{number}</trackingnumber><signedby>{signed}</signedby>"
            f"{''.join(events)}</shipment></track>").encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_globalmail(payload):
    out = run(payload.read_bytes())
    assert out.ok and out.parser == "dhl_ecommerce.globalmail_xml" and out.carrier == "dhl_ecommerce"


@pytest.mark.parametrize("time, date, utc, basis", [
    ("12:26 PM ET", "1/17/2025", "2025-01-17T17:26:00+00:00", "zone"),   # EST in winter
    ("12:26 PM ET", "7/17/2025", "2025-07-17T16:26:00+00:00", "zone"),   # EDT in summer
    ("4:49 AM CT", "1/11/2025", "2025-01-11T10:49:00+00:00", "zone"),
    ("7:42 PM EST", "7/10/2025", "2025-07-11T00:42:00+00:00", "zone"),   # the fixed offset DHL printed
    ("9:12 AM", "1/21/2025", "2025-01-21T16:12:00+00:00", "location"),   # Denver, MST
])
def test_zone_letters(time, date, utc, basis):
    ev = run(doc(event(time=time, date=date))).shipments[0].events[0]
    assert ev.occurred_at.isoformat() == utc and ev.time_basis.value == basis


def test_signed_by_and_delivery():
    out = run(doc(event("600", desc="DELIVERED", time="1:47 PM MT"), signed="R PATEL"))
    assert out.shipments[0].status.value == "delivered" and out.shipments[0].signed_by == "R PATEL"


def test_unknown_codes_read_by_description():
    out = run(doc(event("610", desc="NOTICE LEFT (NO AUTHORIZED RECIPIENT AVAILABLE)", time="2:02 PM MT")))
    ev = out.shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "recipient_unavailable")
    assert out.unmapped and out.unmapped[0][1] == "610"


def test_not_found_is_a_carrier_error():
    out = run(b"<track><error><code>400</code><description>No results for your tracking number.</description>"
              b"</error></track>")
    assert out.ok and not out.shipments and out.errors[0].message == "400: No results for your tracking number."


@pytest.mark.parametrize("bad", [
    doc(event(date="17/1/2025"), event(time="noon ET"), event(date="", time="")),
    doc(event(), number=""),
    b"<track><shipment/></track>",
    b"<track/>",
    b"<track><error/></track>",
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="dhl_ecommerce") is not None
    assert run(bad) is not None


@pytest.mark.parametrize("code, status", [
    ("99", "label_created"), ("132", "in_transit"), ("200", "picked_up"), ("220", "in_transit"),
    ("300", "in_transit"), ("400", "in_transit"), ("520", "in_transit"), ("598", "out_for_delivery"),
    ("600", "delivered"),
])
def test_table_decisions(code, status):
    assert classify("dhl_ecommerce", (code,), "", None).status.value == status
