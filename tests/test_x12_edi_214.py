"""X12 214: envelope reading, structure checks, time codes, tracking number, carrier and code decisions."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from parsers.base import ParseError
from parsers.document import Document
from parsers.formats.x12_edi_214 import PLUGINS, _data, carrier_slug
from parsers.formats.x12_envelope import read, separators
from taxonomy.mapping import classify, load_table
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "x12_edi_214"
PLUGIN = PLUGINS[0]


def isa(sep="*", comp=">", ctrl="000000001") -> str:
    fields = ["ISA", "00", " " * 10, "00", " " * 10, "02", "QKLT".ljust(15), "ZZ", "SHIPPER".ljust(15), "250101",
              "1200", "U", "00401", ctrl, "0", "P", comp]
    return sep.join(fields)


def tx(*body: str, ctrl="0001", b10="B10*PRO123*BOL9*QKLT", kind="214", count=None) -> list[str]:
    segs = [f"ST*{kind}*{ctrl}"] + ([b10] if b10 else []) + list(body)
    return segs + [f"SE*{count if count is not None else len(segs) + 1}*{ctrl}"]


def interchange(*sets: list[str], sep="*", term="~", eol="\n", with_isa=True) -> bytes:
    segs = ([isa(sep)] if with_isa else []) + ["GS*QM*QKLT*SHIPPER*20250101*1200*1*X*004010"]
    for s in sets:
        segs += s
    segs += ["GE*1*1"] + (["IEA*1*000000001"] if with_isa else [])
    return "".join(s.replace("*", sep) + term + eol for s in segs).encode()


def at7(status="X6", reason="NS", day="20250115", clock="1030", code="", ms1="MS1*DENVER*CO*US") -> tuple[str, ...]:
    return ("LX*1", f"AT7*{status}*{reason}***{day}*{clock}*{code}") + ((ms1,) if ms1 else ())


def run(data: bytes, carrier="auto"):
    return normalize_document(data, carrier=carrier)


def one_event(*body: str, **kw):
    out = run(interchange(tx(*body, **kw)))
    assert out.ok, out.errors
    return out.shipments[0].events[0]


# --- detection and envelope ------------------------------------------------------------

@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_the_214_parser(payload):
    out = run(payload.read_bytes())
    if payload.name.startswith("rejected"):
        assert not out.ok and out.errors[0].kind == "unparseable" and "x12.edi_214" in out.errors[0].message
    else:
        assert out.ok and out.parser == "x12.edi_214" and out.carrier == "x12"


def test_carrier_hint_x12_selects_the_plugin():
    out = run(interchange(tx(*at7())), carrier="x12")
    assert out.ok and out.parser == "x12.edi_214"


def test_isa_gives_element_component_and_terminator():
    text = isa("|", ":") + "~\nGS|QM~"
    assert separators(text) == ("|", "~", ":", True)


def test_newline_terminator_and_crlf():
    data = interchange(tx(*at7()), term="\r\n", eol="")
    assert run(data).ok
    assert separators(data.decode())[1] == "\r"


def test_mis_padded_isa_is_read_by_counting_separators():
    short = isa().replace("QKLT           ", "QKLT          ")  # ISA06 one character short
    data = (short + "~" + interchange(tx(*at7())).decode().split("~", 1)[1]).encode()
    assert run(data).ok


def test_missing_isa_gs_or_bare_st():
    assert run(interchange(tx(*at7()), with_isa=False)).ok
    bare = "".join(s + "~" for s in tx(*at7())).encode()
    assert run(bare).ok


def test_leading_bom_and_blank_lines_are_tolerated():
    assert run(b"\xef\xbb\xbf\r\n" + interchange(tx(*at7()))).ok


# --- structure checks -------------------------------------------------------------------

def test_a_set_without_b10_is_refused_with_the_reason():
    out = run(interchange(tx("B2**SCAC*PRO1", *at7(), b10="")))
    assert not out.ok and "no B10 segment" in out.errors[0].message and "begins with B2" in out.errors[0].message


def test_wrong_se_count_refuses_only_that_set():
    good = tx(*at7(), ctrl="0001", b10="B10*PRO1*B*QKLT")
    bad = tx(*at7(), ctrl="0002", b10="B10*PRO2*B*QKLT", count=99)
    out = run(interchange(good, bad))
    assert out.ok and [s.tracking_number for s in out.shipments] == ["PRO1"]


def test_wrong_se_count_alone_makes_the_document_unparseable():
    out = run(interchange(tx(*at7(), count=3)))
    assert not out.ok and "SE01 says 3 segments" in out.errors[0].message


def test_an_invalid_status_code_is_named():
    out = run(interchange(tx("LX*1", "AT7*1*TRAILER*X")))
    assert not out.ok and "AT701 '1' is not an X12 shipment status code" in out.errors[0].message


def test_no_214_in_the_interchange():
    out = run(interchange(tx("B3**INV1*BOL*PP", kind="210", b10="")))
    assert not out.ok and "no ST*214 transaction set (sets found: 210)" in out.errors[0].message


@pytest.mark.parametrize("data", [b"ISA", b"ISA*00*", b"ISA*" + b"x" * 200, b"GS*QM", b"ST*214*1",
                                  b"ISA" + bytes(range(256)), "ISA*00*\u00e9\u4e2d~~~".encode()])
def test_garbage_never_escapes_as_an_exception(data):
    out = run(data)
    assert not out.ok


def test_plugin_parse_raises_parse_error_for_non_x12():
    with pytest.raises(ParseError):
        PLUGIN.parse(Document(b"GS?QM?X"))


def test_read_keeps_transactions_and_control_numbers():
    ic = read(interchange(tx(*at7(), ctrl="0007")).decode())
    assert [(t.kind, t.control, t.problems) for t in ic.transactions] == [("214", "0007", [])]


# --- tracking number and carrier -----------------------------------------------------------

def test_tracking_number_is_the_pro_then_the_shipment_id():
    assert run(interchange(tx(*at7(), b10="B10*PRO55 *BOL9*QKLT"))).shipments[0].tracking_number == "PRO55"
    assert run(interchange(tx(*at7(), b10="B10**BOL9*QKLT"))).shipments[0].tracking_number == "BOL9"


def test_scac_map_and_fallback():
    assert carrier_slug("CPCC") == "canadapost" and carrier_slug("FXFE") == "fedex"
    assert carrier_slug("ODFL") == "odfl"
    out = run(interchange(tx(*at7(), "MS2*ABCD*TRL1", b10="B10*PRO1*BOL1")))
    assert out.shipments[0].carrier == "abcd"


# --- time codes ---------------------------------------------------------------------------

@pytest.mark.parametrize("code,ms1,local,basis", [
    ("", "MS1*DENVER*CO*US", "2025-01-15T10:30:00-07:00", "location"),
    ("LT", "MS1*TORONTO*ON", "2025-01-15T10:30:00-05:00", "location"),
    ("LT", "", "2025-01-15T10:30:00+00:00", "assumed_utc"),
    ("ET", "MS1*DENVER*CO*US", "2025-01-15T10:30:00-05:00", "zone"),
    ("ED", "", "2025-01-15T10:30:00-04:00", "zone"),
    ("MT", "MS1*TUCSON*AZ*US", "2025-01-15T10:30:00-07:00", "zone"),
    ("UT", "MS1*DENVER*CO*US", "2025-01-15T10:30:00+00:00", "zone"),
    ("GM", "", "2025-01-15T10:30:00+00:00", "zone"),
    ("NS", "", "2025-01-15T10:30:00-03:30", "zone"),
    ("HD", "", "2025-01-15T10:30:00-09:00", "zone"),
    ("01", "", "2025-01-15T10:30:00+01:00", "offset"),
    ("12", "", "2025-01-15T10:30:00+12:00", "offset"),
    ("13", "", "2025-01-15T10:30:00-12:00", "offset"),
    ("24", "", "2025-01-15T10:30:00-01:00", "offset"),
])
def test_time_codes(code, ms1, local, basis):
    ev = one_event(*at7(code=code, ms1=ms1))
    assert (ev.occurred_at_local.isoformat(), ev.time_basis.value) == (local, basis)


def test_regional_code_keeps_the_places_own_rules_in_summer():
    phoenix = one_event(*at7(day="20250715", code="MT", ms1="MS1*PHOENIX*AZ*US"))
    denver = one_event(*at7(day="20250715", code="MT", ms1="MS1*DENVER*CO*US"))
    regina = one_event(*at7(day="20250715", code="CT", ms1="MS1*REGINA*SK*CA"))
    assert [e.occurred_at_local.utcoffset().total_seconds() / 3600 for e in (phoenix, denver, regina)] == [-7, -6, -6]


def test_seconds_are_read_and_bad_times_skip_the_scan():
    out = run(interchange(tx("LX*1", "AT7*X6*NS***20250115*103015*ET", "LX*2", "AT7*X4*NS***20250115*2561*ET")))
    assert [e.occurred_at_local.isoformat() for e in out.shipments[0].events] == ["2025-01-15T10:30:15-05:00"]


# --- codes, reasons, estimates --------------------------------------------------------------

@pytest.mark.parametrize("status,reason,expected", [
    ("D1", "NS", ("delivered", None)),
    ("AH", "A2", ("delivery_attempted", "address_issue")),
    ("AH", "AG", ("delivery_attempted", "recipient_unavailable")),
    ("AH", "BS", ("exception", "refused")),
    ("AH", "Q9", ("delivery_attempted", None)),
    ("SD", "AO", ("exception", "weather_delay")),
    ("SD", "", ("exception", "carrier_delay")),
    ("A3", "BS", ("returned_to_sender", "refused")),
    ("CA", "BT", ("returned_to_sender", None)),
    ("CA", "NS", ("cancelled", None)),
    ("J1", "NS", ("in_transit", None)),
    ("XB", "NS", ("label_created", None)),
])
def test_reason_refines_the_status(status, reason, expected):
    ev = one_event(*at7(status=status, reason=reason))
    assert (ev.status.value, ev.exception_class and ev.exception_class.value) == expected


def test_unknown_status_is_unknown_and_counted():
    out = run(interchange(tx(*at7(status="ZZ"))))
    assert out.shipments[0].events[0].status.value == "unknown"
    assert out.unmapped == [("x12_214", "ZZ", "")]


def test_estimate_is_not_an_event():
    out = run(interchange(tx(*at7(status="X6"), "LX*2", "AT7*AG*NS***20250120*1700*ET")))
    ship = out.shipments[0]
    assert len(ship.events) == 1 and ship.estimated_delivery == "2025-01-20T17:00:00"


def test_delivery_site_status_without_ms1_takes_the_consignee_address():
    ev = one_event("N1*ST*R. ROE", "N4*BOISE*ID*83702", *at7(status="D1", ms1=""))
    assert (ev.location.city, ev.location.region, ev.location.postal_code, ev.location.country) == (
        "BOISE", "ID", "83702", "US")
    assert ev.time_basis.value == "location" and ev.occurred_at_local.utcoffset().total_seconds() == -7 * 3600


def test_description_is_the_x12_name_and_carrier_code_the_pair():
    ev = one_event(*at7(status="AH", reason="A2"))
    assert (ev.description, ev.carrier_code) == ("Attempted Delivery - Incorrect Address", "AH/A2")


def test_table_combined_keys_name_known_codes():
    table = load_table("x12_214")
    reasons = _data()[1]
    for key in table.codes:
        if ":" in key:
            status, reason = key.split(":")
            assert status in table.codes and reason in reasons, key
    assert classify("x12_214", ("AP:AO", "AP"), "", None).exception_class.value == "weather_delay"


def test_sets_sharing_a_pro_merge_into_one_shipment():
    """Several sets for the same PRO merge into one shipment with all their scans."""
    a = tx(*at7(status="AF", clock="0900"), ctrl="0001", b10="B10*PRO7*PRO7*CPCC")
    b = tx(*at7(status="D1", clock="1500"), ctrl="0002", b10="B10*PRO7*PRO7*CPCC")
    out = run(interchange(a, b))
    assert len(out.shipments) == 1 and out.shipments[0].carrier == "canadapost"
    assert [e.status.value for e in out.shipments[0].events] == ["delivered", "picked_up"]
