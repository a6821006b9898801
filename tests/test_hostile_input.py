"""Hostile and malformed documents end as `unparseable` with a reason: never a crash, never a file read."""
from __future__ import annotations

import pytest

from parsers import normalize_document
from parsers.safe import MAX_DOCUMENT_BYTES, UnsafeOrMalformed, json_depth_ok, load_json, load_xml


def _unparseable(data: bytes, **kw) -> str:
    out = normalize_document(data, **kw)
    assert not out.ok and out.shipments == []
    assert [e.kind for e in out.errors] == ["unparseable"]
    return out.errors[0].message


def test_xxe_file_read_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    doc = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<TrackResponse><TrackInfo ID="1"><TrackSummary>&x;</TrackSummary></TrackInfo></TrackResponse>').encode()
    message = _unparseable(doc)
    assert "DOCTYPE" in message and "TOP-SECRET" not in message


def test_billion_laughs_is_refused_quickly():
    ents = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{ents}]><r>&l9;</r>'.encode()
    assert "DOCTYPE" in _unparseable(doc)


def test_quadratic_blowup_is_refused():
    doc = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "x" * 50_000 + '">]><r>' + "&a;" * 5_000
           + "</r>").encode()
    assert "DOCTYPE" in _unparseable(doc)


def test_doctype_hidden_in_utf16_is_refused_after_parsing():
    doc = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r><r/>'.encode("utf-16")
    with pytest.raises(UnsafeOrMalformed, match="DOCTYPE"):
        load_xml(doc)


def test_entities_are_never_expanded_even_without_doctype_check():
    root = load_xml(b"<r><a>&amp;&lt;</a></r>")
    assert root.find("a").text == "&<"


def test_deeply_nested_json_is_refused():
    assert "nested deeper" in _unparseable(b"[" * 5000 + b"]" * 5000)
    assert "nested deeper" in _unparseable(b'{"a":' * 100 + b"1" + b"}" * 100)


def test_brackets_inside_strings_do_not_count_as_nesting():
    doc = b'{"trackResponse": {"shipment": [], "note": "' + b"[" * 500 + b'"}}'
    assert json_depth_ok(doc)
    assert load_json(doc)["trackResponse"]["note"] == "[" * 500


def test_deep_xml_is_refused():
    doc = b"<a>" * 200 + b"</a>" * 200
    assert "nested deeper" in _unparseable(doc)


def test_oversized_document_is_refused_without_parsing():
    big = b'{"a":"' + b"x" * (MAX_DOCUMENT_BYTES + 1) + b'"}'
    assert "exceeds" in _unparseable(big)


@pytest.mark.parametrize("data", [
    b"", b"   ", b"\x00\x01\x02", b"\xff\xfe\xfd garbage", b"{", b"<a>", b"<<<>>>", b"{\"a\": \xff}",
    b"null", b"[]", b"{}", b"42", b'"text"', b"ISA*garbage", b"<?xml version='1.0'?>",
])
def test_malformed_and_empty_documents(data):
    assert _unparseable(data)


def test_invalid_utf8_inside_json_strings():
    assert "malformed JSON" in _unparseable(b'{"trackResponse": "\xc3\x28"}')


def test_unknown_carrier_slug_is_unsupported():
    out = normalize_document(b"{}", carrier="acme-not-a-carrier")
    assert not out.ok and [e.kind for e in out.errors] == ["unsupported"]
