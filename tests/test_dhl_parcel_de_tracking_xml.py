"""DHL Paket Germany tracking XML: detection beside the DHL Express plugins, codes, zones, errors, odd shapes."""
from __future__ import annotations

from datetime import datetime

import pytest

from parsers import normalize_document
from parsers.formats.dhl_parcel_de_tracking_xml import stamp
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "dhl_parcel_de_tracking_xml"


def event(ts="18.03.2025 09:02", text="Die Sendung wurde in das Zustellfahrzeug geladen.", ice="SRTED", ric="NRQRD",
          standard="PO", city="", country=""):
    return (f'<data name="piece-event" event-timestamp="{ts}" event-status="{text}" event-text="{text}" '
            f'ice="{ice}" ric="{ric}" event-location="{city}" event-country="{country}" '
            f'standard-event-code="{standard}" ruecksendung="false"/>')


def doc(*events, code="0", piece="00340434188123456780"):
    return (f'<?xml version="1.0" encoding="UTF-8"?><data name="piece-shipment-list" code="{code}">'
            f'<data name="piece-shipment" error-status="0" piece-code="{piece}" searched-piece-code="{piece}" '
            f'status-timestamp="18.03.2025 10:02" status="Die Sendung wurde erfolgreich zugestellt." ice="DLVRD" '
            f'ric="OTHER" standard-event-code="ZU" event-country="DE">'
            f'<data name="piece-event-list">{"".join(events)}</data></data></data>').encode()


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_parcel_de(payload):
    out = run(payload.read_bytes())
    assert out.ok and out.parser == "dhl_parcel_de.tracking_xml" and out.carrier == "dhl_parcel_de"


def test_dhl_express_documents_stay_with_dhl_express():
    for payload in payloads(FIXTURES / "dhl_express_xml"):
        assert run(payload.read_bytes()).parser == "dhl.express_xml"


def test_timestamps():
    assert stamp("18.03.2016 10:02") == datetime(2016, 3, 18, 10, 2)
    assert stamp("18.03.2016 10:02:33") == datetime(2016, 3, 18, 10, 2, 33)
    assert stamp("31.02.2016 10:02") is None and stamp("") is None and stamp(None) is None


def test_zone_from_the_scan_country_else_berlin():
    summer = run(doc(event(ts="15.07.2025 13:41", city="Köln", country="Deutschland"))).shipments[0].events[0]
    assert summer.time_basis.value == "location" and summer.occurred_at.isoformat() == "2025-07-15T11:41:00+00:00"
    no_country = run(doc(event(ts="15.01.2025 13:41"))).shipments[0].events[0]
    assert no_country.time_basis.value == "zone" and no_country.occurred_at.isoformat() == "2025-01-15T12:41:00+00:00"
    abroad = run(doc(event(ts="15.01.2025 13:41", city="Utrecht", country="Netherlands"))).shipments[0].events[0]
    assert abroad.location.country == "NL" and abroad.time_basis.value == "location"


def test_standard_code_tells_loading_from_sorting():
    loading = run(doc(event(standard="PO"))).shipments[0].events[0]
    sorting = run(doc(event(text="Die Sendung wird zum Weitertransport vorbereitet.", standard="NB")))
    sorting = sorting.shipments[0].events[0]
    assert loading.status.value == "out_for_delivery" and sorting.status.value == "in_transit"
    assert loading.carrier_code == "SRTED/NRQRD/PO"


def test_german_failed_delivery_is_not_delivered():
    ev = run(doc(event(text="Die Sendung konnte nicht zugestellt werden, der Empfänger wurde nicht angetroffen.",
                       ice="NTDEL", ric="NTHOM", standard=""))).shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value) == ("delivery_attempted", "recipient_unavailable")


def test_piece_without_history_reports_its_status_as_one_scan():
    data = (b'<data name="piece-shipment-list" code="0"><data name="piece-shipment" error-status="0" '
            b'piece-code="00340434188123456810" status-timestamp="02.11.2025 21:37" '
            b'status="Die Sendung wurde erfolgreich zugestellt." ice="DLVRD" ric="OTHER" standard-event-code="ZU" '
            b'event-country="DE"/></data>')
    shipment = run(data).shipments[0]
    assert shipment.status.value == "delivered" and len(shipment.events) == 1


def test_errors():
    out = run(b'<data name="piece-shipment-list" code="100" error="No data found" request-id="x"/>')
    assert out.ok and not out.shipments and out.errors[0].message == "100: No data found"
    piece = (b'<data name="piece-status-public-list" code="0"><data name="piece-status-public" piece-status="1" '
             b'piece-status-desc="Die Sendungsnummer ist ungueltig." piece-code="0034"/></data>')
    out = run(piece)
    assert out.ok and out.errors[0].message == "1: Die Sendungsnummer ist ungueltig. (0034)"


@pytest.mark.parametrize("bad", [
    b'<data name="piece-shipment-list"/>',
    b'<data name="piece-shipment-list" code="0"><data name="piece-shipment"/></data>',
    doc(event(ts="gestern"), event(ts="99.99.9999 99:99")),
    b'<data name="other"><data name="piece-event-list"><data name="piece-event"/></data></data>',
    b'<data/>',
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="dhl_parcel_de") is not None
    assert run(bad) is not None


@pytest.mark.parametrize("codes, status", [
    (("S:VA",), "label_created"), (("S:ES",), "picked_up"), (("S:AE",), "picked_up"), (("S:AA",), "in_transit"),
    (("S:EE",), "in_transit"), (("S:NB",), "in_transit"), (("S:PO",), "out_for_delivery"), (("S:ZU",), "delivered"),
    (("PARCV/NRQRD",), "label_created"), (("DLVRD/OTHER",), "delivered"), (("SRTED",), "in_transit"),
])
def test_table_decisions(codes, status):
    assert classify("dhl_parcel_de", codes, "", None).status.value == status
