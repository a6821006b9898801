"""The byte-level namespace rewrite must give exactly the tree the tree-walking strip gives."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from parsers.safe import _new_xml_parser, _parse_unqualified, load_xml
from parsers.xmlns import strip_namespaces, unqualify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _exact(data: bytes) -> etree._Element:
    root = etree.fromstring(data.lstrip(), _new_xml_parser())
    strip_namespaces(root)
    return root


def _shape(el: etree._Element) -> tuple:
    return (el.tag, sorted(el.attrib.items()), el.text, el.tail, [_shape(c) for c in el])


def _xml_fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.xml"))


@pytest.mark.parametrize("path", _xml_fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixtures_read_the_same_either_way(path: Path) -> None:
    data = path.read_bytes()
    assert _shape(load_xml(data)) == _shape(_exact(data))


SOAP = b"""<?xml version="1.0"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:v14="http://fedex.com/ws/track/v14" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soapenv:Body>
    <v14:TrackReply xsi:type="v14:TrackReply" id='1' xml:lang="en">
      <v14:Note>Driver said: ref:abc=1 &lt;b:c&gt; p:q="r"</v14:Note>
      <Plain a:b="declared here" xmlns:a="urn:a"/>
    </v14:TrackReply>
  </soapenv:Body>
</soapenv:Envelope>"""

ROOT_ONLY = b"""<?xml version="1.0"?>
<!-- a comment -->
<req:TrackingResponse xmlns:req="http://www.dhl.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.dhl.com TrackingResponse.xsd" id='7'>
  <AWBInfo><Status>ok: p:q="r"</Status></AWBInfo>
</req:TrackingResponse>
"""


def test_root_only_namespaces_take_the_fast_path() -> None:
    assert _parse_unqualified(ROOT_ONLY) is not None
    root = load_xml(ROOT_ONLY)
    assert root.tag == "TrackingResponse" and not root.nsmap
    assert dict(root.attrib) == {"schemaLocation": "http://www.dhl.com TrackingResponse.xsd", "id": "7"}
    assert root.find("AWBInfo/Status").text == 'ok: p:q="r"'
    assert _shape(root) == _shape(_exact(ROOT_ONLY))
    default = b'<tracking-detail xmlns="http://www.canadapost.ca/ws/track"><pin>1</pin></tracking-detail>'
    assert _parse_unqualified(default) is not None
    assert _shape(load_xml(default)) == _shape(_exact(default)) == ("tracking-detail", [], None, None,
                                                                   [("pin", [], "1", None, [])])


def test_the_xml_prefix_takes_the_exact_path() -> None:
    assert unqualify(SOAP) is None  # xml:lang needs no declaration, so the rewrite cannot see it
    root = load_xml(SOAP)
    assert root.find("Body/TrackReply/Note").text == 'Driver said: ref:abc=1 <b:c> p:q="r"'
    assert dict(root.find("Body/TrackReply").attrib) == {"type": "v14:TrackReply", "id": "1", "lang": "en"}
    assert root.find("Body/TrackReply/Plain").attrib == {"b": "declared here"}
    assert _shape(root) == _shape(_exact(SOAP))


def test_prefix_used_below_the_root_is_unqualified_everywhere() -> None:
    data = b'<a:r xmlns:a="urn:a"><a:t>x</a:t></a:r>'
    assert _parse_unqualified(data) is not None
    assert _shape(load_xml(data)) == ("r", [], None, None, [("t", [], "x", None, [])])


def test_a_missed_prefix_falls_back_to_the_exact_path() -> None:
    # The attribute sits after a value holding ">", so the rewrite cannot be sure it is in a tag and
    # leaves it; its prefix is then undeclared, the parser refuses, and the tree walk does the work.
    data = b'<r xmlns:a="urn:a"><t v="1>0" a:k="v">x</t></r>'
    assert _parse_unqualified(data) is None
    assert load_xml(data).find("t").attrib == {"v": "1>0", "k": "v"}


def test_text_that_mentions_xmlns_is_kept() -> None:
    data = b'<r xmlns="urn:a"><t>see xmlns="urn:x" here</t></r>'
    assert load_xml(data).find("t").text == 'see xmlns="urn:x" here'


def test_clashing_attributes_take_the_exact_path() -> None:
    clash = b'<r xmlns:a="urn:a" xmlns:b="urn:b" a:id="1" b:id="2"/>'
    assert _parse_unqualified(clash) is None  # the rewrite has a duplicate attribute
    assert load_xml(clash).get("id") in ("1", "2")


_names = st.sampled_from(["a", "b", "Track", "pin", "x-y", "n.m", "Straße"])
_prefixes = st.sampled_from(["", "", "p", "q", "soap"])
_texts = st.text(alphabet=st.sampled_from(list('ab :="<>&\' xmlnsé')), max_size=12)


@st.composite
def _documents(draw) -> bytes:
    declared = {"p": "urn:p", "q": "urn:q", "soap": "urn:s"}

    def element(depth: int) -> str:
        prefix, name = draw(_prefixes), draw(_names)
        qname = f"{prefix}:{name}" if prefix else name
        attrs = []
        for i, (ap, an) in enumerate(draw(st.lists(st.tuples(_prefixes, _names), max_size=3, unique=True))):
            value = draw(_texts).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            attrs.append(f' {ap + ":" if ap else ""}{an}{i}="{value}"')
        if draw(st.booleans()):
            attrs.append(f' xmlns="urn:default{depth}"')
        body = draw(_texts).replace("&", "&amp;").replace("<", "&lt;")
        children = "".join(element(depth + 1) for _ in range(draw(st.integers(0, 2 if depth < 3 else 0))))
        return f"<{qname}{''.join(attrs)}>{body}{children}</{qname}>"

    root = element(0)
    head, rest = root.split(">", 1)
    decls = "".join(f' xmlns:{p}="{u}"' for p, u in declared.items())
    if head.endswith("/"):
        head = head[:-1]
    return f"{head}{decls}>{rest}".encode()


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_rewrite_matches_the_tree_walk_on_generated_documents(data: bytes) -> None:
    try:
        expected = _shape(_exact(data))
    except etree.XMLSyntaxError:  # e.g. two attributes that become the same name: not a document
        return
    assert _shape(load_xml(data)) == expected


def test_declarations_inside_values_or_text_are_not_touched() -> None:
    in_value = b'<r xmlns="urn:r"><t note="a xmlns=\'b\' c:d=\'e\'" xmlns:c="urn:c" c:k="v">x</t></r>'
    root = load_xml(in_value)
    assert root.find("t").attrib == {"note": "a xmlns='b' c:d='e'", "k": "v"}
    assert _shape(root) == _shape(_exact(in_value))


def test_soap_with_nested_declarations_takes_the_fast_path() -> None:
    soap = (b'<s:Envelope xmlns:s="urn:s"><s:Body><v:Reply xmlns:v="urn:v" xmlns:xsi="urn:xsi">'
            b'<v:Note xsi:type="v:Text">a&gt;b</v:Note></v:Reply></s:Body></s:Envelope>')
    assert _parse_unqualified(soap) is not None
    assert _shape(load_xml(soap)) == _shape(_exact(soap))
