"""UN/EDIFACT: the interchange reader (delimiters, release character, envelope checks) and the IFTSTA plugin."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import normalize_document
from parsers.base import ParseError
from parsers.document import Document
from parsers.formats import edifact_iftsta
from parsers.formats.edifact_envelope import Delimiters, _tokenized, decode, read, segments, service_string
from parsers.formats.edifact_iftsta import PLUGINS, edi_datetime
from parsers.formats.x12_edi_214 import PLUGINS as X12_PLUGINS
from taxonomy.mapping import classify
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "edifact_iftsta"
PLUGIN = PLUGINS[0]


def message(*body: str, ref="1", kind="IFTSTA", count=None) -> list[str]:
    segs = [f"UNH+{ref}+{kind}:D:04A:UN"] + list(body)
    return segs + [f"UNT+{count if count is not None else len(segs) + 1}+{ref}"]


def interchange(*messages: list[str], sender="5790000000001:14", una=True, control="42", unz_count=None,
                syntax="UNOC:3") -> str:
    segs = [f"UNB+{syntax}+{sender}+RECIPIENT:ZZZ+250314:1630+{control}"]
    for m in messages:
        segs += m
    segs.append(f"UNZ+{unz_count if unz_count is not None else len(messages)}+{control}")
    return ("UNA:+.? '" if una else "") + "'\n".join(segs) + "'\n"


def consignment(number="NPF500123987", *statuses: str) -> tuple[str, ...]:
    return ("BGM+23+DOC1+9", f"CNI+1+{number}") + (statuses or ("STS+1+21", "DTM+334:202503141205:203",
                                                              "LOC+14+0150:::OSLO+NO"))


def run(text: str | bytes, carrier="auto"):
    return normalize_document(text.encode() if isinstance(text, str) else text, carrier=carrier)


# --- the interchange reader --------------------------------------------------------------

def test_default_delimiters_without_una():
    ix = read(interchange(message(*consignment()), una=False))
    assert ix.delimiters.element == "+" and ix.syntax == "UNOC" and ix.syntax_version == "3"
    assert (ix.sender, ix.sender_qualifier, ix.control) == ("5790000000001", "14", "42")
    assert [m.kind for m in ix.messages] == ["IFTSTA"] and ix.messages[0].version == "D:04A:UN"


def test_release_character_keeps_delimiters_literal():
    d, rest = service_string("UNA:+.? 'FTX+AAI+++a?+b?:c??d?'e'")
    seg = segments(rest, d)[0]
    assert seg[4] == ["a+b:c?d'e"]


def test_dangling_release_character_is_refused():
    d, rest = service_string("UNA:+.? 'FTX+AAI+++abc?")
    with pytest.raises(ParseError, match="release character ends"):
        segments(rest, d)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab?+:' \n\ue000", max_size=40))
def test_the_fast_split_reads_like_the_token_by_token_one(text):
    def outcome(split):
        try:
            return split(text, Delimiters())
        except ParseError:
            return "refused"
    assert outcome(segments) == outcome(_tokenized)


def test_a_long_run_of_released_characters_reads_in_linear_time():
    started = time.monotonic()
    seg = segments("FTX+" + "?+" * 1_000_000 + "'", Delimiters())[0]
    assert seg[1] == ["+" * 1_000_000] and time.monotonic() - started < 15


def test_una_with_custom_delimiters_and_no_release_character():
    d, rest = service_string("UNA|*,  ~UNB*UNOC|3")
    assert (d.component, d.element, d.decimal, d.release, d.terminator) == ("|", "*", ",", None, "~")
    assert segments("FTX*A?B~", d)[0][1] == ["A?B"]


@pytest.mark.parametrize("una, reason", [
    ("UNA:+.?", "truncated"), ("UNA:A.? '", "cannot be a delimiter"), ("UNA::.? '", "not distinct"),
    ("UNA:+;? '", "decimal mark"), ("UNA:+.+ '", "release character"),
])
def test_bad_service_string_advice(una, reason):
    with pytest.raises(ParseError, match=reason):
        service_string(una)


def test_level_b_information_separators():
    text = "UNB\x1dUNOB\x1f3\x1dS\x1dR\x1d250314\x1f1630\x1d7\x1cUNH\x1d1\x1dIFTSTA\x1fD\x1f04A\x1fUN\x1c" \
           "UNT\x1d2\x1d1\x1cUNZ\x1d1\x1d7\x1c"
    ix = read(text)
    assert ix.syntax == "UNOB" and ix.messages[0].kind == "IFTSTA" and not ix.messages[0].problems


def test_syntax_identifier_decides_the_character_set():
    latin = interchange(message(*consignment(), "FTX+AAI+++Tr\xf8ndelag"), syntax="UNOC:3").encode("latin-1")
    assert "Tr\u00f8ndelag" in decode(latin)
    declared_latin_written_utf8 = interchange(message(*consignment(), "FTX+AAI+++Tr\xf8ndelag")).encode()
    assert "Tr\u00f8ndelag" in decode(declared_latin_written_utf8)
    latin2 = interchange(message(*consignment(), "FTX+AAI+++\u0141\xf3d\u017a"), syntax="UNOD:3").encode("iso8859-2")
    assert "\u0141\xf3d\u017a" in decode(latin2)
    utf8 = interchange(message(*consignment()), syntax="UNOW:4").encode() + b"\xff"
    with pytest.raises(ParseError, match="declares UTF-8"):
        decode(utf8)


def test_unt_count_and_reference_are_checked_per_message():
    ix = read(interchange(message(*consignment(), count=3), message(*consignment(), ref="2")))
    assert ix.messages[0].problems == ["UNT says 3 segments, the message has 7"] and not ix.messages[1].problems
    wrong_ref = read(interchange(["UNH+1+IFTSTA:D:04A:UN", "UNT+2+9"]))
    assert "differs from UNH" in wrong_ref.messages[0].problems[0]


@pytest.mark.parametrize("text, reason", [
    (interchange(message(*consignment()), unz_count=2), "UNZ says 2 messages, the interchange has 1"),
    (interchange(message(*consignment())).replace("UNZ+1+42", "UNZ+1+43"), "control reference '43' differs"),
    (interchange(message(*consignment())).split("UNZ")[0], "not closed by UNZ"),
    (interchange(message(*consignment())) + "UNB+UNOC:3+A+B+250314:1630+43'", "after UNZ"),
    (interchange(["DTM+137:20250314:102"]), "outside a message"),
    ("UNA:+.? 'UNH+1+IFTSTA:D:04A:UN'UNT+2+1'", "begins with 'UNH', not UNB"),
    ("UNA:+.? 'UNB+UNOC:3+S+R+250314:1630+1'UNH+1+IFTSTA'dtm+1'UNT+3+1'UNZ+1+1'", "no valid segment tag"),
    ("UNA:+.? 'UNB+UNOC:3+S+R+250314:1630+1'UNZ+0+1", "no segment terminator"),
    ("UNA:+.? 'UNB+9999:3+S+R+250314:1630+1'UNZ+0+1'", "syntax identifier"),
    ("UNA:+.? 'UNB+UNOC:3+S+R+250314:1630'UNZ+0+1'", "control reference"),
])
def test_broken_interchanges_are_refused_with_the_reason(text, reason):
    with pytest.raises(ParseError, match=reason):
        read(text)


def test_groups_are_counted_and_checked():
    grouped = "UNA:+.? 'UNB+UNOC:3+S+R+250314:1630+9'UNG+IFTSTA+S+R+250314:1630+G1+UN+D:04A'" \
              "UNH+1+IFTSTA:D:04A:UN'UNT+2+1'UNH+2+IFTSTA:D:04A:UN'UNT+2+2'UNE+2+G1'UNZ+1+9'"
    ix = read(grouped)
    assert ix.groups == 1 and [m.group for m in ix.messages] == ["IFTSTA", "IFTSTA"]
    with pytest.raises(ParseError, match="UNE says 1 messages"):
        read(grouped.replace("UNE+2+G1", "UNE+1+G1"))
    with pytest.raises(ParseError, match="UNE reference"):
        read(grouped.replace("UNE+2+G1", "UNE+2+G2"))
    with pytest.raises(ParseError, match="UNZ says 2 groups"):
        read(grouped.replace("UNZ+1+9", "UNZ+2+9"))


# --- detection: X12 and EDIFACT never take each other's documents ----------------------------

def test_edifact_is_edi_media_and_only_ours():
    doc = Document(interchange(message(*consignment())).encode())
    assert doc.media == "edi" and PLUGIN.sniff(doc) == 1.0 and X12_PLUGINS[0].sniff(doc) == 0.0
    x12 = Document(b"ISA*00*          *00*          *02*QKLT           *ZZ*SHIPPER        *250101*1200*U*00401*"
                   b"000000001*0*P*>~GS*QM*QKLT*SHIPPER*20250101*1200*1*X*004010~")
    assert PLUGIN.sniff(x12) == 0.0


def test_other_edifact_messages_get_our_reason():
    out = run(interchange(message("BGM+220+PO1+9", kind="ORDERS")))
    assert not out.ok and "no IFTSTA message in the interchange (messages found: ORDERS)" in out.errors[0].message


# --- the IFTSTA plugin ----------------------------------------------------------------------

@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_fixtures_are_read_by_the_iftsta_plugin(payload):
    out = run(payload.read_bytes())
    if "mismatch" in payload.name:
        assert not out.ok and "edifact.iftsta: malformed IFTSTA" in out.errors[0].message
    else:
        assert out.ok and out.parser == "edifact.iftsta"


@pytest.mark.parametrize("value, fmt, expected, zone", [
    ("20250314", "102", datetime(2025, 3, 14), None),
    ("202503141205", "203", datetime(2025, 3, 14, 12, 5), None),
    ("20250314120530", "204", datetime(2025, 3, 14, 12, 5, 30), None),
    ("2503141205", "201", datetime(2025, 3, 14, 12, 5), None),
    ("20250314T1205", "10", datetime(2025, 3, 14, 12, 5), None),
    ("202503141205", "", datetime(2025, 3, 14, 12, 5), None),
    ("202503141205+0100", "205", datetime(2025, 3, 14, 12, 5, tzinfo=timezone(timedelta(hours=1))), None),
    ("202503141205UTC", "303", datetime(2025, 3, 14, 12, 5), "UTC"),
    ("202503141205-05", "303", datetime(2025, 3, 14, 12, 5, tzinfo=timezone(timedelta(hours=-5))), None),
])
def test_date_formats(value, fmt, expected, zone):
    assert edi_datetime(value, fmt) == (expected, zone)


@pytest.mark.parametrize("value, fmt", [("202025021715", "203"), ("2025", "102"), ("202503141205", "999"),
                                        ("202503141205XYZ", "203"), ("202503141205+99", "205")])
def test_unreadable_dates(value, fmt):
    assert edi_datetime(value, fmt)[0] is None


def test_un_codes_map_by_code_and_reasons_state_the_class():
    out = run(interchange(message(*consignment("NPF1", "STS+1+56+7", "DTM+334:202503141205:203",
                                               "LOC+14+5003:::BERGEN+NO"))))
    ev = out.shipments[0].events[0]
    assert (ev.status.value, ev.exception_class.value, ev.provenance.mapped_by.value) == \
        ("delivery_attempted", "recipient_unavailable", "code")
    assert ev.description == "Not delivered - Business closed" and ev.carrier_code == "56/7"
    assert ev.occurred_at_local.isoformat() == "2025-03-14T12:05:00+01:00" and ev.time_basis.value == "location"


def test_carrier_assigned_codes_are_the_carriers_and_the_text_decides():
    out = run(interchange(message(*consignment("NPF1", "STS+1+D5::87:HANDED TO RECIPIENT", "DTM+78:202411071344:203"))))
    ev = out.shipments[0].events[0]
    assert (ev.status.value, ev.provenance.mapped_by.value) == ("delivered", "keyword")
    assert out.unmapped == [("edifact_iftsta", "edifact:D5", "HANDED TO RECIPIENT")]


def test_sender_that_is_a_known_carrier_names_the_carrier():
    out = run(interchange(message(*consignment()), sender="POSTNL:ZZZ"))
    assert out.shipments[0].carrier == "postnl"
    assert run(interchange(message(*consignment()), sender="DHL:ZZZ")).shipments[0].carrier == "edifact"
    assert run(interchange(message(*consignment()), sender="ROYALMAIL:ZZZ")).shipments[0].carrier == "royalmail"


@pytest.mark.parametrize("sender", ["SHIPENGINE", "EASYPOST", "X12", "GENERIC", "UNKNOWN"])
def test_senders_that_are_aggregators_or_channels_name_no_carrier(sender):
    """Only the registry's carriers count: an aggregator or a document channel moves no parcel."""
    assert run(interchange(message(*consignment()), sender=f"{sender}:ZZZ")).shipments[0].carrier == "edifact"


def test_senders_table_names_trading_partners(monkeypatch):
    names, reasons, _ = edifact_iftsta._data()
    monkeypatch.setattr(edifact_iftsta, "_data", lambda: (names, reasons, {"5790000000099:14": "acme_freight"}))
    out = run(interchange(message(*consignment()), sender="5790000000099:14"))
    assert out.shipments[0].carrier == "acme_freight"


def test_time_prefers_the_status_change_and_estimates_set_the_estimate():
    out = run(interchange(message(*consignment("NPF1", "STS+1+24", "DTM+137:202503140000:203",
                                               "DTM+17:20250318:102", "DTM+78:202503121940:203",
                                               "DTM+334:202503121941:203"))))
    shipment = out.shipments[0]
    assert shipment.events[0].occurred_at_local.replace(tzinfo=None) == datetime(2025, 3, 12, 19, 41)
    assert shipment.estimated_delivery == "2025-03-18"


@pytest.mark.parametrize("body, number", [
    (("BGM+23+DOC1+9", "CNI+1", "RFF+CN:CARRIER-REF", "STS+1+21", "DTM+334:202503141205:203"), "CARRIER-REF"),
    (("BGM+23+DOC1+9", "CNI+1", "STS+1+21", "DTM+334:202503141205:203"), "DOC1"),
    (("BGM+23", "STS+1+21", "DTM+334:202503141205:203", "GIN+BN+370726200000000118"), "370726200000000118"),
])
def test_tracking_number_fallbacks(body, number):
    assert run(interchange(message(*body))).shipments[0].tracking_number == number


def test_locode_gives_the_country():
    out = run(interchange(message(*consignment("NPF1", "STS+1+24", "DTM+334:202503121940:203",
                                               "LOC+175+SEGOT:139:6:Goteborg"))))
    loc = out.shipments[0].events[0].location
    assert (loc.city, loc.country, loc.postal_code) == ("Goteborg", "SE", None)


def test_a_faulty_message_is_refused_and_the_good_one_kept():
    out = run(interchange(message(*consignment("NPF1"), count=2), message(*consignment("NPF2"), ref="2")))
    assert out.ok and [s.tracking_number for s in out.shipments] == ["NPF2"]


@pytest.mark.parametrize("code, status, cls", [
    ("13", "picked_up", None), ("21", "delivered", None), ("22", "delivered", None),
    ("23", "delivery_attempted", None), ("45", "available_for_pickup", None), ("49", "exception", "lost"),
    ("55", "exception", "unclaimed"), ("68", "label_created", None), ("77", "exception", "refused"),
    ("82", "returned_to_sender", None), ("12", "in_transit", None), ("17", "exception", "customs_hold"),
])
def test_table_decisions(code, status, cls):
    mapped = classify("edifact_iftsta", (code,), "", None)
    assert mapped.status.value == status
    assert (mapped.exception_class.value if mapped.exception_class else None) == cls


@pytest.mark.parametrize("text", [
    "UNA:+.? 'UNB+UNOC:3+S+R+1+1'UNH+1+IFTSTA'CNI'STS'STS+'DTM+'DTM+334'LOC+'GIN+'RFF+'UNT+10+1'UNZ+1+1'",
    "UNA:+.? 'UNB+UNOC:3+S+R+1+1'UNH+1+IFTSTA'STS+1+21:::::::::::'DTM+334:::::'UNT+4+1'UNZ+1+1'",
    "UNA:+.? 'UNB+UNOC:3+S+R+1+1'UNH'UNT'UNZ'",
    "UNA", "UNB", "UNA:+.? '",
])
def test_odd_shapes_never_raise(text):
    out = run(text, carrier="edifact")
    assert out is not None and (out.ok or out.errors)
