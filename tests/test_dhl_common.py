"""DHL place strings, offsets and problem documents shared by the DHL formats."""
from __future__ import annotations

import pytest

from parsers.formats.dhl_common import is_problem, place, problem_text
from parsers.timeparse import parse_offset


@pytest.mark.parametrize("raw, hint, expected", [
    ("Barcelona - Spain ", None, ("Barcelona", None, "ES")),
    ("LEIPZIG - GERMANY", None, ("LEIPZIG", None, "DE")),
    ("KINGSTON-JAM", None, ("KINGSTON", None, "JM")),  # alpha-3 the core table lacks
    ("Brisbane-AU", None, ("Brisbane", None, "AU")),
    ("SPRINGFIELD GARDENS,NY-USA", None, ("SPRINGFIELD GARDENS", "NY", "US")),
    ("New York, NY", None, ("New York", "NY", "US")),  # a US state with no country named
    ("Oderweg 2, AMSTERDAM", "NL", ("AMSTERDAM", None, "NL")),  # street, city
    ("Hong Kong - Hong Kong ", None, ("Hong Kong", None, "HK")),
    ("Netherlands", None, (None, None, "NL")),  # a bare country
    ("Saint-Denis", None, ("Saint-Denis", None, None)),  # a hyphenated city is not split
    ("Aix-en-Provence - France", None, ("Aix-en-Provence", None, "FR")),
])
def test_place(raw, hint, expected):
    loc = place(raw, hint)
    assert (loc.city, loc.region, loc.country) == expected


def test_place_empty_and_odd_values():
    assert place("") is None and place(None) is None and place({"x": 1}) is None
    assert place("", "DE").country == "DE"
    assert place("Köln", "DE", "50667").postal_code == "50667"


def test_offsets():
    assert parse_offset("+09:00").utcoffset(None).total_seconds() == 9 * 3600
    assert parse_offset("GMT-04:00").utcoffset(None).total_seconds() == -4 * 3600
    assert parse_offset("-0530").utcoffset(None).total_seconds() == -(5 * 3600 + 1800)
    assert parse_offset("") is None and parse_offset("09:00") is None and parse_offset("+15:00") is None


def test_problem_documents():
    doc = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "Unauthorized for given resource."}
    assert is_problem(doc) and problem_text(doc) == "401: Unauthorized - Unauthorized for given resource."
    assert problem_text({"title": "Bad Request", "status": "400", "detail": "Bad Request",
                         "additionalDetails": ["trackingNumber is missing"]}) == "400: Bad Request; trackingNumber is missing"
    assert not is_problem({"title": "x", "status": 1, "detail": "y", "shipments": []})
    assert not is_problem({"title": "x", "status": 1, "detail": "y", "orderId": 5})
