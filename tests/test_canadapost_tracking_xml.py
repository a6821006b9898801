"""Canada Post tracking-detail XML: detection, envelopes, zones, French text, errors, mapping."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "canadapost_tracking_xml"
NS = ' xmlns="http://www.canadapost.ca/ws/track"'


def occurrence(ident="0100", day="2025-02-02", time="14:45:48", zone="EST", text="Item processed at postal facility",
               site="QUEBEC", province="QC", signatory=""):
    return (f"<occurrence><event-identifier>{ident}</event-identifier><event-date>{day}</event-date>"
            f"<event-time>{time}</event-time><event-time-zone>{zone}</event-time-zone>"
            f"<event-description>{text}</event-description><signatory-name>{signatory}</signatory-name>"
            f"<event-site>{site}</event-site><event-province>{province}</event-province></occurrence>")


def detail(*occurrences, pin="7023210044718265", ns=NS, extra=""):
    return (f"<tracking-detail{ns}><pin>{pin}</pin>{extra}<significant-events>{''.join(occurrences)}"
            f"</significant-events></tracking-detail>")


def run(xml: str, carrier: str = "auto"):
    return normalize_document(xml.encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_canadapost(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "canadapost.tracking_xml" and out.carrier == "canadapost"


def test_named_zone_is_used():
    ev = run(detail(occurrence(zone="EDT", day="2025-07-09"))).shipments[0].events[0]
    assert ev.time_basis.value == "zone" and ev.occurred_at.isoformat() == "2025-07-09T18:45:48+00:00"


def test_empty_or_unknown_zone_falls_back_to_the_province():
    ev = run(detail(occurrence(zone="", site="KELOWNA", province="BC"))).shipments[0].events[0]
    assert ev.time_basis.value == "location" and ev.occurred_at_local.utcoffset().total_seconds() == -8 * 3600


def test_international_site_gives_the_country():
    ev = run(detail(occurrence("4500", zone="ISRAEL", site="ILTLVA,Israel", province=""))).shipments[0].events[0]
    assert ev.location.country == "IL" and ev.location.city == "ILTLVA" and ev.time_basis.value == "location"


def test_envelope_and_messages_inside_it():
    wrapped = run(f"<wrapper>{detail(occurrence(), ns='')}</wrapper>")
    assert wrapped.parser == "canadapost.tracking_xml" and len(wrapped.shipments) == 1
    errors = run(f"<wrapper><messages{NS}><message><code>004</code><description>No Pin History</description>"
                 "</message></messages></wrapper>")
    assert errors.ok and not errors.shipments and errors.errors[0].message == "004: No Pin History"


def test_short_identifier_is_zero_padded_for_the_table():
    ev = run(detail(occurrence("174", text="Item out for delivery"))).shipments[0].events[0]
    assert ev.carrier_code == "174" and ev.status.value == "out_for_delivery"
    assert ev.provenance.mapped_by.value == "code"


def test_french_text_is_kept_and_the_code_decides():
    ev = run(detail(occurrence("0173", text="Erreur d'adressage du client; tentative de correction. Délai possible"))
             ).shipments[0].events[0]
    assert ev.description.startswith("Erreur d'adressage")
    assert (ev.status.value, ev.exception_class.value) == ("exception", "address_issue")


def test_signatory_and_estimates():
    out = run(detail(occurrence("1496", text="Item successfully delivered", signatory="HETU"),
                     extra="<expected-delivery-date>2025-02-01</expected-delivery-date>"
                           "<changed-expected-date>2025-02-03</changed-expected-date>"))
    shipment = out.shipments[0]
    assert shipment.status.value == "delivered" and shipment.signed_by == "HETU"
    assert shipment.estimated_delivery == "2025-02-03"


def test_not_canada_post():
    assert not run("<tracking-detail><status>x</status></tracking-detail>", carrier="canadapost").ok
    assert run("<other><thing/></other>").parser != "canadapost.tracking_xml"


@pytest.mark.parametrize("code,status,cls", [
    ("3000", "label_created", None), ("2300", "picked_up", None), ("0100", "in_transit", None),
    ("0174", "out_for_delivery", None), ("0500", "out_for_delivery", None), ("1496", "delivered", None),
    ("20", "delivered", None), ("1479", "delivery_attempted", "recipient_unavailable"),
    ("1701", "available_for_pickup", None), ("0156", "exception", "unclaimed"),
    ("0173", "exception", "address_issue")])
def test_code_table(code, status, cls):
    found = classify("canadapost", (code,), "", None)
    assert (found.status.value, found.exception_class and found.exception_class.value) == (status, cls)


@pytest.mark.parametrize("text,status", [
    ("Article livré avec succès", "delivered"),
    ("Article sorti pour livraison", "out_for_delivery"),
    ("Postes Canada a reçu l'information concernant la commande", "label_created"),
    ("Article retourné à l'expéditeur", "returned_to_sender"),
    ("Final Notice; Item will be returned to sender if not collected within 10 days", "exception"),
    ("Delivered to your community mailbox, parcel locker or apt./condo mailbox", "delivered"),
    ("International item has left the originating country", "in_transit")])
def test_wording_without_code(text, status):
    assert classify("canadapost", (), text, None).status.value == status
