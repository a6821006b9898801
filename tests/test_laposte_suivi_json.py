"""La Poste Suivi v2 JSON: detection, event codes, holders, the 207 array, errors and odd shapes."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "laposte_suivi_json"


def event(code="ET1", label="Votre colis est en transit sur nos plateformes logistiques.",
          date="2025-01-14T21:03:00+01:00"):
    return {"code": code, "label": label, "date": date}


def doc(*events, number="6A21154578342", holder=4, origin="FR", arrival="FR", final=False):
    return {"lang": "fr_FR", "scope": "open", "returnCode": 200,
            "shipment": {"idShip": number, "holder": holder, "product": "colissimo", "isFinal": final,
                         "timeline": [], "event": list(events),
                         "contextData": {"originCountry": origin, "arrivalCountry": arrival},
                         "estimDate": "2025-01-16T18:00:00+01:00"}}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_suivi(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "laposte.suivi_json" and out.carrier == "laposte"


def test_colissimo_is_an_alias():
    assert run(doc(event()), carrier="colissimo").parser == "laposte.suivi_json"


def test_offsets_are_kept_and_domestic_scans_are_placed():
    ev = run(doc(event(date="2025-07-01T08:15:00+02:00"))).shipments[0].events[0]
    assert ev.time_basis.value == "offset" and ev.occurred_at.isoformat() == "2025-07-01T06:15:00+00:00"
    assert ev.location.country == "FR"
    abroad = run(doc(event(), arrival="US")).shipments[0].events[0]
    assert abroad.location is None


def test_holder_names_the_network():
    assert run(doc(event(), holder=3)).shipments[0].carrier == "chronopost"
    assert run(doc(event(), holder=1)).shipments[0].carrier == "laposte"


def test_failed_delivery_takes_its_reason_from_the_label():
    absent = run(doc(event("ND1", "Votre colis n'a pas pu être livré : destinataire absent."))).shipments[0]
    assert absent.status.value == "delivery_attempted" and absent.exception_class.value == "recipient_unavailable"
    address = run(doc(event("ND1", "Votre colis n'a pas pu être livré car l'adresse est incomplète."))).shipments[0]
    assert address.exception_class.value == "address_issue"


def test_waiting_at_the_post_office_is_not_delivered():
    out = run(doc(event("AG1", "Votre colis est disponible dans votre bureau de poste.")))
    assert out.shipments[0].status.value == "available_for_pickup"


def test_estimate_only_while_not_final():
    assert run(doc(event())).shipments[0].estimated_delivery == "2025-01-16T18:00:00+01:00"
    assert run(doc(event("DI1", "Votre colis est livré."), final=True)).shipments[0].estimated_delivery is None


def test_unknown_code_is_counted_and_read_in_french():
    out = run(doc(event("ZZ9", "Votre colis a été livré à votre gardien.")))
    assert out.shipments[0].events[0].status.value == "delivered"
    assert out.unmapped and out.unmapped[0][1] == "ZZ9"


def test_french_not_delivered_is_not_delivered():
    ev = run(doc(event("QQ1", "Votre colis n'a pas pu être distribué."))).shipments[0].events[0]
    assert ev.status.value == "delivery_attempted"


def test_multiple_answer_mixes_shipments_and_errors():
    data = [doc(event()), {"returnCode": 104, "returnMessage": "Votre suivi n'est pas encore disponible.",
                           "lang": "fr_FR", "scope": "open", "idShip": "6A21154578359"}]
    out = run(data)
    assert len(out.shipments) == 1
    assert out.errors[0].kind == "carrier_error"
    assert out.errors[0].message == "104: Votre suivi n'est pas encore disponible. (6A21154578359)"


def test_gateway_error_when_the_carrier_is_named():
    out = run({"code": "UNAUTHORIZED", "message": "This action requires an authorization"}, carrier="laposte")
    assert out.ok and not out.shipments
    assert out.errors[0].message == "UNAUTHORIZED: This action requires an authorization"


@pytest.mark.parametrize("bad", [
    {"returnCode": 200, "shipment": "x"},
    {"returnCode": 200, "shipment": {"idShip": "6A1", "event": [{"date": 5}, "x", {"code": {}, "date": "nope"}]}},
    {"returnCode": 200, "shipment": {"idShip": {}, "event": {"code": "DI1"}}},
    [None, 3, {"returnCode": None}],
    {"returnCode": 200, "shipment": {"idShip": "6A1", "contextData": [], "event": None, "holder": []}},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="laposte") is not None
    assert run(bad) is not None


@pytest.mark.parametrize("code, status, cls", [
    ("DR1", "label_created", None), ("PC1", "picked_up", None), ("PC2", "picked_up", None),
    ("ET1", "in_transit", None), ("ET3", "in_transit", None), ("EP1", "in_transit", None),
    ("DO1", "exception", "customs_hold"), ("DO2", "in_transit", None), ("DO3", "exception", "customs_hold"),
    ("PB1", "exception", "other"), ("PB2", "in_transit", None), ("MD2", "out_for_delivery", None),
    ("ND1", "delivery_attempted", None), ("AG1", "available_for_pickup", None), ("RE1", "returned_to_sender", None),
    ("DI0", "delivered", None), ("DI1", "delivered", None), ("DI2", "returned_to_sender", None),
    ("DI3", "exception", "carrier_delay"), ("ID0", "exception", "other"),
])
def test_table_decisions(code, status, cls):
    mapped = classify("laposte", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


def test_duties_notice_is_payment_due():
    mapped = classify("laposte", ("ID0",), "Des droits et taxes sont à régler avant la livraison.", None)
    assert mapped.exception_class.value == "payment_due"


def test_table_covers_the_published_codes():
    codes = set(load_table("laposte").codes)
    assert {"DR1", "DR2", "PC1", "PC2", "ET1", "ET2", "ET3", "ET4", "EP1", "DO1", "DO2", "DO3", "PB1", "PB2",
            "MD2", "ND1", "AG1", "RE1", "DI0", "DI1", "DI2", "DI3", "ID0"} <= codes
