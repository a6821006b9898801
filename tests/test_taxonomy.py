"""Taxonomy v1 contract: vocabularies, crosswalk, mapping tables and the mapping ladder."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxonomy import ExceptionClass, Location, MappedBy, NormalizedEvent, Status, classify, event_id
from taxonomy.crosswalk import crosswalk
from taxonomy.mapping import MappingError, global_rules, load_table, parse_table, table_names
from taxonomy.models import builder

DESIGN_STATUSES = ["label_created", "picked_up", "in_transit", "out_for_delivery", "available_for_pickup",
                   "delivery_attempted", "delivered", "exception", "returned_to_sender", "cancelled", "unknown"]
DESIGN_CLASSES = ["address_issue", "recipient_unavailable", "access_issue", "refused", "unclaimed",
                  "customs_hold", "payment_due", "damaged", "lost", "disposed", "weather_delay", "carrier_delay",
                  "held_by_carrier", "prohibited_item", "stalled", "delivery_overdue", "other"]


def test_vocabularies_are_exactly_the_design():
    assert [s.value for s in Status] == DESIGN_STATUSES
    assert [c.value for c in ExceptionClass] == DESIGN_CLASSES


@pytest.mark.parametrize("status,aftership,easypost,shippo", [
    ("label_created", "InfoReceived", "pre_transit", "PRE_TRANSIT"),
    ("picked_up", "InTransit", "in_transit", "TRANSIT"),
    ("out_for_delivery", "OutForDelivery", "out_for_delivery", "TRANSIT"),
    ("available_for_pickup", "AvailableForPickup", "available_for_pickup", "TRANSIT"),
    ("delivery_attempted", "AttemptFail", "in_transit/failure", "FAILURE"),
    ("delivered", "Delivered", "delivered", "DELIVERED"),
    ("returned_to_sender", "Exception", "return_to_sender", "RETURNED"),
    ("cancelled", "Exception", "cancelled", "UNKNOWN"),
    ("unknown", "Pending", "unknown", "UNKNOWN"),
])
def test_crosswalk_matches_design(status, aftership, easypost, shippo):
    row = crosswalk()[Status(status)]
    assert (row.aftership, row.easypost, row.shippo) == (aftership, easypost, shippo)
    assert set(crosswalk()) == set(Status)


@pytest.mark.parametrize("name", table_names())
def test_every_mapping_table_loads_and_keeps_carrier_text(name):
    table = load_table(name)
    assert table.carrier
    for code, entry in table.codes.items():
        assert entry.text.strip(), f"{name}: code {code} lacks the carrier's description (text)"
    for parent in table.extends:
        load_table(parent)


def test_invalid_tables_are_refused_with_the_place_named():
    with pytest.raises(MappingError, match=r"codes\['X'\].*unknown status 'lost'"):
        parse_table("t", '[codes]\nX = { status = "lost", text = "x" }')
    with pytest.raises(MappingError, match="not allowed with status 'in_transit'"):
        parse_table("t", '[codes]\nX = { status = "in_transit", exception_class = "lost", text = "x" }')
    with pytest.raises(MappingError, match="bad or missing 'match'"):
        parse_table("t", '[[keywords]]\nmatch = "("\nstatus = "exception"')


def test_global_keyword_rules_cover_every_exception_class():
    covered = {r.exception_class for r in global_rules() if r.exception_class}
    assert covered == set(ExceptionClass)


@pytest.mark.parametrize("text,status,cls", [
    ("Delivered", "delivered", None),
    ("Out for delivery", "out_for_delivery", None),
    ("The delivery was not completed; business closed", "delivery_attempted", "recipient_unavailable"),
    ("Delivery attempted - no access to the building", "delivery_attempted", "access_issue"),
    ("Delivery attempted, notice left", "delivery_attempted", "recipient_unavailable"),
    ("Incorrect address - unable to deliver", "delivery_attempted", "address_issue"),
    ("The address is incomplete", "exception", "address_issue"),
    ("Refused by recipient", "exception", "refused"),
    ("Returned to sender: refused by recipient", "returned_to_sender", "refused"),
    ("Package not collected from pickup point", "exception", "unclaimed"),
    ("Held by customs", "exception", "customs_hold"),
    ("Released by customs", "in_transit", None),
    ("Inbound Out of Customs", "in_transit", None),
    ("Processed through customs", "in_transit", None),
    ("Customs status updated", "in_transit", None),
    ("Import duties due before delivery", "exception", "payment_due"),
    ("Package damaged in transit", "exception", "damaged"),
    ("Package cannot be located", "exception", "lost"),
    ("Item disposed of", "exception", "disposed"),
    ("Delayed due to severe weather", "exception", "weather_delay"),
    ("Missed connecting flight", "exception", "carrier_delay"),
    ("Security hold at facility", "exception", "held_by_carrier"),
    ("Hazardous materials: prohibited item", "exception", "prohibited_item"),
    ("Ready for pickup at the Access Point", "available_for_pickup", None),
    ("Delivered to UPS Access Point, awaiting customer pickup", "available_for_pickup", None),
    ("Shipment information received", "label_created", None),
    ("Picked up", "picked_up", None),
    ("Arrived at sort facility", "in_transit", None),
    ("Shipment cancelled by sender", "cancelled", None),
    ("Shipment exception", "exception", "other"),
])
def test_global_keywords(text, status, cls):
    got = classify("generic", (), text, None)
    assert (got.status.value, got.exception_class.value if got.exception_class else None) == (status, cls)
    assert got.mapped_by is MappedBy.KEYWORD


def test_ladder_code_then_keyword_then_coarse_then_unknown():
    code = classify("ups", ("D:FS",), "something odd", "I")
    assert (code.status, code.mapped_by, code.code_known) == (Status.DELIVERED, MappedBy.CODE, True)
    kw = classify("ups", ("I:ZZ",), "Out for delivery", "I")
    assert (kw.status, kw.mapped_by, kw.code_known) == (Status.OUT_FOR_DELIVERY, MappedBy.KEYWORD, False)
    coarse = classify("ups", ("I:ZZ",), "Zzz", "I")
    assert (coarse.status, coarse.mapped_by) == (Status.IN_TRANSIT, MappedBy.COARSE)
    unknown = classify("ups", ("Q:ZZ",), "Zzz", "Q")
    assert (unknown.status, unknown.exception_class, unknown.mapped_by) == (Status.UNKNOWN, None, MappedBy.UNKNOWN)


@pytest.mark.parametrize("text, status, cls", [
    # English phrasings added for carriers without a parser
    ("The shipment has been handed in at the post office", "picked_up", None),
    ("Parcel taken over by the courier", "picked_up", None),
    ("The shipment has been pre-notified by the sender", "label_created", None),
    ("Ready to be picked up at the locker", "available_for_pickup", None),
    ("The shipment item is under transportation", "in_transit", None),
    # French
    ("Colis pris en charge par La Poste", "picked_up", None),
    ("Votre colis est disponible au bureau de poste", "available_for_pickup", None),
    ("Colis non livré : destinataire absent, avis de passage déposé", "delivery_attempted", "recipient_unavailable"),
    ("Colis retourné à l'expéditeur", "returned_to_sender", None),
    ("Colis retenu en douane", "exception", "customs_hold"),
    # German
    ("Die Sendung wurde vom Empfänger abgeholt", "delivered", None),
    ("Die Sendung wurde abgeholt", "picked_up", None),
    ("Die Sendung konnte nicht zugestellt werden", "delivery_attempted", None),
    ("Die Sendung ist in Zustellung", "out_for_delivery", None),
    ("Annahme verweigert", "exception", "refused"),
    # Dutch
    ("Pakket is niet bezorgd", "delivery_attempted", None),
    ("Pakket is bezorgd bij de buren", "delivered", None),
    ("Zending ligt klaar bij het Pakketpunt", "available_for_pickup", None),
    ("Vertraging in de sortering", "exception", "carrier_delay"),
    # Spanish
    ("Envío no entregado", "delivery_attempted", None),
    ("Envío entregado", "delivered", None),
    ("En reparto", "out_for_delivery", None),
    ("Retenido en aduanas", "exception", "customs_hold"),
    ("Dirección incorrecta", "exception", "address_issue"),
    # Polish
    ("Przesyłka nieodebrana w terminie", "exception", "unclaimed"),
    ("Przekazano do doręczenia", "out_for_delivery", None),
    ("Doręczenie", "delivered", None),
    ("Awizo", "delivery_attempted", "recipient_unavailable"),
    ("Przesyłka uszkodzona", "exception", "damaged"),
    ("Zwrot do nadawcy", "returned_to_sender", None),
])
def test_generic_keywords_in_several_languages(text, status, cls):
    """The generic table's rules hear carriers without a parser in their own language, negatives first."""
    got = classify("generic", (), text, None)
    assert (got.status.value, got.exception_class.value if got.exception_class else None) == (status, cls)


def test_coarse_words_read_an_unknown_coarse_status_by_the_keyword_rules():
    ready = classify("generic", (), "", "READY_TO_PICKUP")
    assert (ready.status, ready.mapped_by) == (Status.AVAILABLE_FOR_PICKUP, MappedBy.COARSE)
    camel = classify("generic", (), "zzz", "OutForDelivery")
    assert (camel.status, camel.mapped_by) == (Status.OUT_FOR_DELIVERY, MappedBy.COARSE)
    assert classify("generic", (), "", "ZZZ_QQQ").status is Status.UNKNOWN
    plain = parse_table("plain", 'carrier = "plain"\n')
    assert not plain.coarse_words and load_table("generic").coarse_words
    assert classify("ups", (), "", "READY_TO_PICKUP").status is Status.UNKNOWN  # only tables that ask for it
    with pytest.raises(MappingError, match="coarse_words"):
        parse_table("bad", 'carrier = "bad"\ncoarse_words = "yes"\n')


def test_code_without_reason_takes_the_reason_from_the_text():
    got = classify("ups", ("X:Q9",), "Severe weather has delayed delivery", "X")
    assert (got.status, got.exception_class) == (Status.EXCEPTION, ExceptionClass.WEATHER_DELAY)
    bare = classify("ups", ("Q:QQ",), "Zzz", "X")
    assert (bare.status, bare.exception_class, bare.mapped_by) == (Status.EXCEPTION, ExceptionClass.OTHER,
                                                                   MappedBy.COARSE)


def test_a_generic_code_yields_to_the_milestone_its_text_names():
    """UPS prints movement code I:DS both for "DESTINATION SCAN" and for "OUT FOR DELIVERY"."""
    ofd = classify("ups", ("I:DS",), "OUT FOR DELIVERY", "I")
    assert (ofd.status, ofd.mapped_by, ofd.code_known) == (Status.OUT_FOR_DELIVERY, MappedBy.KEYWORD, True)
    scan = classify("ups", ("I:DS",), "DESTINATION SCAN", "I")
    assert (scan.status, scan.mapped_by) == (Status.IN_TRANSIT, MappedBy.CODE)
    assert classify("ups", ("I:DS",), "", None).status is Status.IN_TRANSIT
    # a more specific code the scan also carries decides before the text
    coded = classify("ups", ("I:DS", "SC:011"), "OUT FOR DELIVERY", "I")
    assert (coded.status, coded.mapped_by) == (Status.DELIVERED, MappedBy.CODE)
    # a reason the text gives comes with the status it names
    weather = classify("fedex", ("IX",), "Delay due to severe weather", None)
    assert (weather.status, weather.exception_class) == (Status.EXCEPTION, ExceptionClass.WEATHER_DELAY)


def test_an_ordinary_code_is_not_overruled_by_its_text():
    got = classify("ups", ("I:AR",), "OUT FOR DELIVERY", "I")
    assert (got.status, got.mapped_by) == (Status.IN_TRANSIT, MappedBy.CODE)


def test_generic_flags_are_data_and_validated():
    table = parse_table("t", '[codes]\nA = { status = "in_transit", generic = true, text = "x" }\n'
                             'B = { status = "in_transit", text = "y" }')
    assert (table.codes["A"].generic, table.codes["B"].generic) == (True, False)
    with pytest.raises(MappingError, match=r"codes\['A'\].*'generic' must be true or false"):
        parse_table("t", '[codes]\nA = { status = "in_transit", generic = "yes", text = "x" }')
    assert {c for c, e in load_table("ups").codes.items() if e.generic} == {"I:DS", "X:KB"}


def test_event_id_is_stable_across_cosmetic_differences():
    at = datetime(2026, 3, 1, 14, 0, 5, tzinfo=timezone(timedelta(hours=-5)))
    loc = Location(city="Adrian", region="MI", country="US")
    a = event_id("ups", "1Z999", at, "FS", "Delivered  ", loc)
    b = event_id("ups", "1z999", at.astimezone(timezone.utc), "fs", "DELIVERED",
                 Location(city="ADRIAN", region="MI", country="US"))
    assert a == b and len(a) == 32
    assert a != event_id("ups", "1Z999", at + timedelta(seconds=1), "FS", "Delivered", loc)
    assert a != event_id("ups", "1Z999", at, "FS", "Delivered", Location(city="Toledo", region="OH", country="US"))
    assert a != event_id("fedex", "1Z999", at, "FS", "Delivered", loc)


def test_fast_builder_equals_a_validated_model():
    utc = datetime(2026, 3, 1, 19, 0, tzinfo=timezone.utc)
    values = dict(
        event_id="0" * 32, carrier="ups", tracking_number="1Z9", status=Status.DELIVERED, exception_class=None,
        occurred_at=utc, occurred_at_local=utc.astimezone(timezone(timedelta(hours=-5))), time_basis="offset",
        description="Delivered", carrier_code="FS", location=Location(city="A", country="US"),
        estimated_delivery=None, signed_by=None,
        provenance={"channel": "file", "inbox_id": None, "received_at": None, "parser": "ups.track_json",
                    "parser_version": "1", "mapped_by": "code"}, taxonomy_version="1")
    validated = NormalizedEvent.model_validate(values)
    built = builder(NormalizedEvent)(**{**values, "time_basis": validated.time_basis,
                                        "provenance": validated.provenance})
    assert built == validated
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
    assert NormalizedEvent.model_validate_json(built.model_dump_json()) == validated


def _event_id_by_definition(carrier, tn, at, code, description, loc) -> str:
    """The v1 rule as taxonomy/identity.py documents it, over the whole key at once."""
    from hashlib import blake2b
    place = "\x00".join(x or "" for x in ((loc.city, loc.region, loc.postal_code, loc.country) if loc else
                                          (None,) * 4))
    key = f"v1\x00{carrier}\x00{tn}\x00{int(at.timestamp())}\x00{code or ''}\x00{description}\x00{place}"
    folded = " ".join(key.split()).replace(" \x00", "\x00").replace("\x00 ", "\x00").casefold()
    return blake2b(folded.encode("utf-8"), digest_size=16).hexdigest()


_id_text = st.text(alphabet=st.sampled_from(list(" \t\n\x00aAßİé1-")), max_size=8)


@settings(max_examples=400, deadline=None)
@given(_id_text, _id_text, st.none() | _id_text, _id_text,
       st.none() | st.tuples(st.none() | _id_text, st.none() | _id_text, st.none() | _id_text))
def test_event_id_follows_the_v1_definition(carrier, tn, code, description, place):
    at = datetime(2026, 3, 1, 12, 30, 15, tzinfo=timezone.utc)
    loc = None if place is None else Location.model_construct(city=place[0], region=place[1],
                                                              postal_code=place[2], country=None)
    assert event_id(carrier, tn, at, code, description, loc) == \
        _event_id_by_definition(carrier, tn, at, code, description, loc)
