"""The generic heuristic parser: unknown JSON/XML -> events mapped by keyword, never an escape."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import ParseError, normalize_document
from parsers.document import Document
from parsers.formats.generic_heuristic import MAX_RECORDS, GenericHeuristic
from parsers.formats.generic_walk import MAX_NODES
from tests.goldens import FIXTURES, carrier_hint, payloads

PLUGIN = GenericHeuristic()


def norm(doc, carrier="auto"):
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return normalize_document(data, carrier=carrier)


def one(doc, carrier="generic"):
    out = norm(doc, carrier)
    assert out.ok and out.parser == "generic.heuristic", out.errors
    assert len(out.shipments) == 1
    return out.shipments[0]


@pytest.mark.parametrize("payload", [p for p in payloads(FIXTURES / "generic_heuristic")
                                     if carrier_hint(p) == "auto"], ids=lambda p: p.name)
def test_unknown_formats_reach_the_generic_parser_with_auto_detection(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "generic.heuristic" and out.fallback_level == 3


def test_carrier_generic_selects_only_the_generic_parser():
    from parsers import chain

    plan = chain.plan(Document(b'{"trackResponse": {}}'), "generic")
    assert [p.name for _, p in plan] == ["generic.heuristic"]


def test_unknown_json_events_are_mapped_by_keyword():
    ship = one({"pkg": {"trackingNumber": "QX0000012345", "log": [
        {"when": "2026-04-02T09:00:00+02:00", "message": "Delivered to the neighbour", "statusCode": "77"},
        {"when": "2026-04-01T18:00:00+02:00", "message": "Arrived at the distribution center", "statusCode": "12"},
    ]}})
    assert ship.tracking_number == "QX0000012345" and ship.status.value == "delivered"
    assert [(e.status.value, e.provenance.mapped_by.value, e.carrier_code) for e in ship.events] == [
        ("delivered", "keyword", "77"), ("in_transit", "keyword", "12")]
    assert ship.events[0].occurred_at_local.isoformat() == "2026-04-02T09:00:00+02:00"


def test_unknown_xml_repeated_elements_and_attributes():
    xml = b"""<?xml version="1.0"?>
    <ns:Answer xmlns:ns="urn:x"><ns:Item AirWaybill="4471239901"><ns:Moves>
      <ns:Move><ns:Date>2026-05-03</ns:Date><ns:Time>1410</ns:Time><ns:Text>Shipment on hold at facility</ns:Text>
        <ns:City>Lyon</ns:City><ns:Country>FR</ns:Country></ns:Move>
      <ns:Move><ns:Date>2026-05-02</ns:Date><ns:Time>0900</ns:Time><ns:Text>Picked up</ns:Text>
        <ns:City>Paris</ns:City><ns:Country>FR</ns:Country></ns:Move>
    </ns:Moves></ns:Item></ns:Answer>"""
    ship = one(xml, "auto")
    assert ship.tracking_number == "4471239901"
    first = ship.events[0]
    assert (first.status.value, first.exception_class.value) == ("exception", "held_by_carrier")
    assert first.occurred_at_local.isoformat() == "2026-05-03T14:10:00+02:00" and first.time_basis.value == "location"
    assert ship.events[1].status.value == "picked_up"


def test_a_single_xml_event_element_is_read():
    xml = b"<Parcel><ParcelNumber>PX7781230001</ParcelNumber><LastScan><ScanTime>2026-01-05T10:00:00Z</ScanTime>" \
          b"<Description>Out for delivery</Description></LastScan></Parcel>"
    ship = one(xml)
    assert ship.tracking_number == "PX7781230001" and ship.status.value == "out_for_delivery"


@pytest.mark.parametrize("key", ["trackingNumber", "tracking_no", "TrackingCode", "awb", "AWBNumber", "waybill",
                                 "consignmentNumber", "barcode", "pin", "parcelNumber", "shipmentId", "id"])
def test_tracking_number_keys(key):
    ship = one({"data": {key: "TN55501234", "events": [
        {"date": "2026-02-01T10:00:00Z", "description": "In transit"}]}})
    assert ship.tracking_number == "TN55501234"


def test_a_named_tracking_number_beats_a_bare_id_and_the_nearest_object_wins():
    ship = one({"trackingNumber": "OUTER000001", "shipment": {"id": "77", "trackingNumber": "INNER000002",
                                                              "scans": [{"timestamp": "2026-02-01T10:00:00Z",
                                                                         "status": "Delivered"}]}})
    assert ship.tracking_number == "INNER000002"


def test_tracking_number_found_by_shape_and_carrier_guessed_from_it():
    ship = one({"foo": "1Z4W81E70362458171", "items": [
        {"datetime": "2026-02-01T10:00:00-05:00", "desc": "Delivered"}]})
    assert (ship.tracking_number, ship.carrier) == ("1Z4W81E70362458171", "ups")


def test_database_ids_are_not_tracking_numbers():
    doc = {"id": "5b74f4958776db0e00b6f5ed", "checkpoints": [{"time": "2026-02-01T10:00:00Z", "message": "Delivered"}]}
    out = norm(doc, "generic")
    assert not out.ok and "without a tracking number" in out.errors[0].message
    kept = normalize_document(json.dumps(doc).encode(), carrier="generic", keep_unnumbered=True)
    assert kept.ok and [(s.tracking_number, s.status.value) for s in kept.shipments] == [("", "delivered")]


def test_carrier_from_a_field_is_slugged_else_unknown():
    doc = {"Courier": "Speedy Freight (EU)", "trackingId": "SF-00912-77", "events": [
        {"eventTime": "2026-02-01T10:00:00Z", "eventDescription": "Delivered"}]}
    assert one(doc).carrier == "speedy_freight_eu"
    del doc["Courier"]
    assert one(doc).carrier == "unknown"


def test_bare_ids_belong_to_their_own_shipment():
    out = norm({"list": [{"shipmentId": f"SH{n}0000001", "events": [
        {"date": "2026-01-01T10:00:00Z", "description": "Delivered"}]} for n in (1, 2)]}, "generic")
    assert sorted(s.tracking_number for s in out.shipments) == ["SH10000001", "SH20000001"]


def test_several_shipments_and_records_naming_their_own_shipment():
    out = norm([{"shipment_number": "AA10000001", "time": "2026-01-01T10:00:00Z", "status": "Picked up"},
                {"shipment_number": "BB20000002", "time": "2026-01-01T11:00:00Z", "status": "Delivered"},
                {"shipment_number": "AA10000001", "time": "2026-01-02T10:00:00Z", "status": "Delivered"}],
               "generic")
    assert {s.tracking_number: len(s.events) for s in out.shipments} == {"AA10000001": 2, "BB20000002": 1}


def test_separate_date_time_fields_zone_and_utc():
    ship = one({"tracking": "ZT1200003456", "history": [
        {"eventDate": "20260310", "eventTime": "081500", "gmtDate": "20260310", "gmtTime": "131500",
         "activity": "Departed facility", "city": "Austin", "state": "TX"},
        {"eventDate": "26-03-2026", "eventTime": "07:00", "timeZone": "CET", "activity": "Arrived at hub"},
    ]})
    local = {e.description: (e.occurred_at_local.isoformat(), e.time_basis.value) for e in ship.events}
    assert local["Departed facility"] == ("2026-03-10T08:15:00-05:00", "offset")  # from the GMT pair
    assert local["Arrived at hub"] == ("2026-03-26T07:00:00+01:00", "zone")  # day first with dashes


def test_zone_inside_the_location_and_record_keeping_times():
    ship = one({"trackingNumber": "LZ0000000042", "events": [
        {"updatedAt": "2026-06-01T12:00:00", "eventText": "Arrived at facility",
         "location": {"city": "Chicago", "timeZone": "America/Chicago"}}]})
    e = ship.events[0]
    assert (e.occurred_at_local.isoformat(), e.time_basis.value) == ("2026-06-01T12:00:00-05:00", "zone")


def test_a_current_status_object_repeating_the_latest_scan_is_not_a_second_event():
    ship = one({"shipments": [{"id": "DU7777777001",
                               "status": {"timestamp": "2026-03-02T07:53:47Z", "description": "Delivered"},
                               "events": [{"timestamp": "2026-03-02T07:53:47", "description": "Delivered",
                                           "location": {"address": {"addressLocality": "Amsterdam",
                                                                    "countryCode": "NL"}}},
                                          {"timestamp": "2026-03-01T10:00:00", "description": "Picked up"}]}]})
    assert [e.description for e in ship.events] == ["Delivered", "Picked up"]


def test_other_parties_addresses_are_not_scan_places():
    ship = one({"awb": "9911223344", "events": [{
        "date": "2026-02-01T10:00:00", "description": "Processed",
        "destination": {"city": "Oslo", "country": "NO"}, "scanLocation": {"city": "Malmo", "country": "SE"}}]})
    assert ship.events[0].location.city == "Malmo"


def test_no_events_is_a_parse_error():
    for doc in ({"trackingNumber": "AB1234567", "status": "delivered"}, {"nothing": "useful"}, [], 5, "x"):
        with pytest.raises(ParseError):
            PLUGIN.parse(Document(json.dumps(doc).encode()))
    with pytest.raises(ParseError):
        PLUGIN.parse(Document(b"ISA*00*..."))
    out = norm({"nothing": "useful"}, "generic")
    assert not out.ok and out.errors[0].kind == "unparseable" and "generic.heuristic" in out.errors[0].message


@pytest.mark.parametrize("doc,message", [
    ({"errors": [{"code": "E404", "message": "Tracking number not found"}]}, "E404: Tracking number not found"),
    ({"message": "Unauthorized", "statusCode": 401}, "401: Unauthorized"),
    ({"detail": "Carrier not supported."}, "Carrier not supported."),
])
def test_error_documents_are_carrier_errors(doc, message):
    out = norm(doc, "generic")
    assert out.ok and not out.shipments and [e.message for e in out.errors] == [message]


def test_soap_fault_gives_the_detailed_error_and_successful_notes_are_ignored():
    xml = b"""<Envelope><Body><Fault><faultcode>Client</faultcode><faultstring>Client data error</faultstring>
      <detail><Errors><ErrorDetail><Severity>Hard</Severity><PrimaryErrorCode><Code>151018</Code>
      <Description>Invalid tracking number</Description></PrimaryErrorCode></ErrorDetail></Errors></detail>
      </Fault></Body></Envelope>"""
    assert [e.message for e in norm(xml, "generic").errors] == ["151018: Invalid tracking number"]
    ok_note = b"<Reply><Notifications><Severity>SUCCESS</Severity><Message>Processed</Message></Notifications></Reply>"
    assert not norm(ok_note, "generic").ok


def test_bounded_work_on_huge_and_wide_documents():
    wide = {"trackingNumber": "WD0000000001"} | {f"k{i}": i for i in range(200_000)}
    wide["events"] = [{"timestamp": "2026-01-01T00:00:00Z", "description": "Delivered"}]
    many = {"trackingNumber": "HG0000000001", "events": [
        {"timestamp": f"2026-01-01T{i % 24:02d}:{i % 60:02d}:00Z", "description": "Arrived at facility"}
        for i in range(MAX_RECORDS + 5_000)]}
    noise = {"a": [[i, str(i), {"x": i}] for i in range(3 * MAX_NODES)]}
    results = []
    for doc in (wide, many, noise):
        data = json.dumps(doc).encode()
        start = time.perf_counter()
        try:
            results.append(PLUGIN.parse(Document(data)))
        except ParseError:
            results.append(None)
        assert time.perf_counter() - start < 5.0
    assert results[0].shipments[0].tracking_number == "WD0000000001"
    assert any("record limit" in s for s in results[1].skipped)
    assert len(results[1].shipments[0].events) == MAX_RECORDS
    assert results[2] is None


def test_deep_nesting_within_the_document_limit():
    doc: dict = {"trackingNumber": "DP0000000001", "events": [{"date": "2026-01-01T00:00:00Z", "text": "Delivered"}]}
    for _ in range(60):
        doc = {"wrap": doc}
    assert one(doc).tracking_number == "DP0000000001"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["2026-01-01T10:00:00Z", "03/04/2026", "10:00", "Delivered",
                                            "1Z4W81E70362458171", "20260101", "1767279600"]),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.sampled_from(["trackingNumber", "events", "date", "time", "description", "status", "code", "city",
                         "country", "location", "id", "carrier", "error", "message", "timestamp"])
        | st.text(max_size=8),
        children, max_size=6),
    max_leaves=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_never_raises_on_arbitrary_json(doc):
    data = json.dumps(doc).encode()
    try:
        out = PLUGIN.parse(Document(data))
    except ParseError:
        out = None
    if out is not None:
        assert not out.empty()
        for s in out.shipments:
            assert isinstance(s.tracking_number, str) and s.carrier  # "" when the document has no number
            for e in s.events:
                assert e.when is not None and isinstance(e.description, str)
    result = normalize_document(data, carrier="generic")
    assert result.ok or result.errors[0].kind == "unparseable"


# --- principles: languages, shapes, nesting, numbers where they are -------------------------------
@pytest.mark.parametrize("doc, number, statuses", [
    ({"numeroColis": "FX4410029387", "evenements": [
        {"dateHeure": "2026-04-03T09:12:00+02:00", "libelle": "Votre colis a été livré à votre gardien"},
        {"dateHeure": "2026-04-02T18:40:00+02:00", "libelle": "Avis de passage déposé, destinataire absent"},
        {"dateHeure": "2026-04-02T08:05:00+02:00", "libelle": "Votre colis est en cours de livraison"}]},
     "FX4410029387", ["delivered", "delivery_attempted", "out_for_delivery"]),
    ({"Sendungsnummer": "00340434161094042557", "Ereignisse": [
        {"Datum": "03.04.2026", "Uhrzeit": "14:05", "Beschreibung": "Die Sendung wurde in der Filiale abgeholt"},
        {"Datum": "02.04.2026", "Uhrzeit": "11:30", "Beschreibung": "Zustellversuch, Empfänger nicht angetroffen"},
        {"Datum": "01.04.2026", "Uhrzeit": "21:10", "Beschreibung": "Die Sendung wurde im Paketzentrum bearbeitet"}]},
     "00340434161094042557", ["delivered", "delivery_attempted", "in_transit"]),
    ({"zendingnummer": "3SBEQ0012345678", "gebeurtenissen": [
        {"datumTijd": "2026-04-03T16:20:00+02:00", "omschrijving": "Pakket is niet afgehaald, bewaartermijn verlopen"},
        {"datumTijd": "2026-04-01T10:00:00+02:00", "omschrijving": "Zending ligt klaar bij het afhaalpunt"}]},
     "3SBEQ0012345678", ["exception", "available_for_pickup"]),
    ({"numeroEnvio": "ES00027710039918", "eventos": [
        {"fecha": "02/04/2026", "hora": "17:45", "descripcion": "Envío devuelto al remitente"},
        {"fecha": "01/04/2026", "hora": "09:30", "descripcion": "Envío rechazado por el destinatario"}]},
     "ES00027710039918", ["returned_to_sender", "exception"]),
    ({"numerPrzesylki": "00659007734118821055", "zdarzenia": [
        {"czas": "2026-04-02 12:00", "opis": "Przesyłka doręczona do adresata"},
        {"czas": "2026-04-01 07:45", "opis": "Przesyłka w doręczeniu"},
        {"czas": "2026-03-31 19:10", "opis": "Przesyłka gotowa do odbioru w punkcie"}]},
     "00659007734118821055", ["delivered", "out_for_delivery", "available_for_pickup"]),
])
def test_keys_and_texts_in_other_languages(doc, number, statuses):
    ship = one(doc)
    assert ship.tracking_number == number
    assert [e.status.value for e in ship.events] == statuses


def test_a_date_field_named_in_another_language_is_read_day_first():
    ship = one({"numeroEnvio": "ES00027710039918", "eventos": [
        {"fecha": "02/04/2026", "hora": "17:45", "descripcion": "Entregado"}]})
    assert ship.events[0].occurred_at_local.date().isoformat() == "2026-04-02"


@pytest.mark.parametrize("dates, days", [
    (["05/03/2026 10:00", "13/03/2026 11:00"], ["2026-03-13", "2026-03-05"]),  # 13 settles day first
    (["03/05/2026 10:00", "03/14/2026 11:00"], ["2026-03-14", "2026-03-05"]),  # 14 settles month first
])
def test_ambiguous_dates_follow_the_unambiguous_ones_of_the_same_list(dates, days):
    ship = one({"trackingNumber": "DD0000000001", "history": [
        {"when": d, "message": "Arrived at facility"} for d in dates]})
    assert [e.occurred_at_local.date().isoformat() for e in ship.events] == days


def test_ambiguous_dates_read_day_first_outside_the_us_and_month_first_otherwise():
    def day(country):
        ship = one({"trackingNumber": "DD0000000001", "history": [
            {"when": "05/03/2026 10:00", "message": "Arrived at facility", "country": country}]})
        return ship.events[0].occurred_at.date().isoformat()
    assert day("FR") == "2026-03-05" and day("US") == "2026-05-03"


def test_shipments_in_a_map_keyed_by_number():
    out = norm({"results": {
        "1Z4W81E70362458171": {"events": [{"time": "2026-02-01T10:00:00Z", "text": "Delivered"}]},
        "1Z4W81E70362458180": {"events": [{"time": "2026-02-01T09:00:00Z", "text": "Out for delivery"}]},
    }}, "generic")
    assert sorted((s.tracking_number, s.status.value) for s in out.shipments) == [
        ("1Z4W81E70362458171", "delivered"), ("1Z4W81E70362458180", "out_for_delivery")]
    plain = norm({"PX00012345601": [{"time": "2026-02-01T10:00:00Z", "text": "Delivered"}],
                  "PX00012345602": [{"time": "2026-02-01T10:00:00Z", "text": "In transit"}]}, "generic")
    assert sorted(s.tracking_number for s in plain.shipments) == ["PX00012345601", "PX00012345602"]
    words = norm({"history_v2": [{"time": "2026-02-01T10:00:00Z", "text": "Delivered"}]}, "generic")
    assert not words.ok  # a key with a digit in it is not a number


def test_the_one_number_the_document_names_beside_the_events():
    ship = one({"order": "SO-77", "pieces": [{"trackingNumber": "QQ77100020003"}],
                "events": [{"dateTime": "2026-02-01T10:00:00Z", "eventText": "Delivered"}]})
    assert ship.tracking_number == "QQ77100020003"
    two = norm({"pieces": [{"trackingNumber": "QQ77100020003"}, {"trackingNumber": "QQ77100020004"}],
                "events": [{"dateTime": "2026-02-01T10:00:00Z", "eventText": "Delivered"}]}, "generic")
    assert not two.ok  # which one of two? neither


def test_without_a_number_the_shipment_comes_back_unnumbered_and_takes_the_requested_one():
    doc = json.dumps({"Tracing": [{"Date": "2026-02-01T10:00:00", "Libelle": "COLIS LIVRE", "Pays": "FR"}]}).encode()
    kept = normalize_document(doc, carrier="generic", keep_unnumbered=True).shipments[0]
    assert (kept.tracking_number, kept.status.value) == ("", "delivered")
    assert kept.events[0].occurred_at_local.isoformat() == "2026-02-01T10:00:00+01:00"
    given = normalize_document(doc, carrier="generic", tracking_number="MR12345678")
    assert given.ok and given.shipments[0].tracking_number == "MR12345678"


def test_records_recognised_by_their_values_when_keys_say_nothing():
    ship = one({"shipmentNumber": "VX000123456", "log": [
        {"a1": "2026-04-01T10:00:00Z", "b2": "Parcel arrived at the depot"},
        {"a1": "2026-04-01T16:30:00Z", "b2": "Parcel delivered to the porter"}]})
    assert [(e.description, e.status.value) for e in ship.events] == [
        ("Parcel delivered to the porter", "delivered"), ("Parcel arrived at the depot", "in_transit")]


def test_records_wrapped_one_by_one_are_one_list():
    ship = one({"AWB": "1490811123000", "Scans": [
        {"ScanDetail": {"ScanDateTime": f"2026-03-1{i}T10:00:00", "Scan": "In Transit", "Instructions": text}}
        for i, text in enumerate(["Bag added to trip", "Shipment picked up"])]})
    assert [(e.description, e.status.value, e.provenance.mapped_by.value) for e in ship.events] == [
        ("Shipment picked up", "picked_up", "keyword"), ("Bag added to trip", "in_transit", "coarse")]


@pytest.mark.parametrize("status, expected", [
    ("ready_to_pickup", "available_for_pickup"), ("OutForDelivery", "out_for_delivery"),
    ("taken_by_courier", "picked_up"), ("DELIVERED", "delivered"), ("collected-from-sender", "picked_up"),
])
def test_status_words_in_snake_camel_or_kebab_case_are_read_as_words(status, expected):
    ship = one({"tracking_number": "TN00099988877", "tracking_details": [
        {"status": status, "datetime": "2026-03-12T10:16:45+01:00"}]})
    assert ship.status.value == expected


def test_short_status_values_are_codes_and_a_state_is_still_a_place():
    ship = one({"Tracking": "D10037240195832", "Events": [
        {"Status": "DW", "Description": "DELIVERED.", "EventTime": "2026-03-13T11:42:08", "City": "RENO",
         "State": "NV"}]})
    e = ship.events[0]
    assert (e.carrier_code, e.description, e.location.region, e.occurred_at_local.isoformat()) == \
        ("DW", "DELIVERED.", "NV", "2026-03-13T11:42:08-07:00")


def test_registry_number_formats_replace_fixed_shapes():
    from parsers.formats.generic_heuristic import shape_score

    assert shape_score("1Z4W81E70362458171") == 5 and shape_score("LX273185646DE") == 5  # check digits right
    assert shape_score("1Z4W81E70362458172") == 2 and shape_score("LX273185647DE") == 2  # the shape alone
    assert shape_score("JJD0001234567890123") == 5  # a registry format without a check digit
    assert shape_score("ABCD1234") == 0  # a format the registry marks too plain to name a carrier
    assert shape_score("x" * 100) == 0


def test_only_numbers_with_letters_name_a_carrier_by_their_format():
    digits = one({"trackingNumber": "00373500489523014716", "events": [
        {"time": "2026-02-01T10:00:00Z", "text": "Delivered"}]})
    letters = one({"trackingNumber": "JJD0001234567890123", "events": [
        {"time": "2026-02-01T10:00:00Z", "text": "Delivered"}]})
    assert (digits.carrier, letters.carrier) == ("unknown", "dhl_parcel_de")
