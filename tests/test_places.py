"""Country codes: one reader for every parser, assigned ISO codes only, the spellings carriers use."""
from __future__ import annotations

import pytest

from parsers.fields import location
from parsers.formats.generic_record import parse_place
from taxonomy.places import country_code, zone_for


@pytest.mark.parametrize("value, code", [
    ("GB", "GB"), ("gb", "GB"), ("UK", "GB"), (" uk ", "GB"), ("United Kingdom", "GB"), ("GBR", "GB"),
    ("US", "US"), ("USA", "US"), ("Deutschland", "DE"), ("CA", "CA"), ("Canada", "CA"), ("XK", None),
])
def test_codes_names_and_variants(value, code):
    assert country_code(value) == code


@pytest.mark.parametrize("value", ["ON", "QC", "BC", "NSW", "VIC", "ZZ", "XX", "EU", "1A", "", None, "O N"])
def test_provinces_and_unassigned_letters_are_not_countries(value):
    assert country_code(value) is None


def test_not_text_is_not_a_country():
    assert country_code(42) is None  # type: ignore[arg-type]


def test_locations_carry_only_real_countries():
    assert location("Reading", None, "RG1 1AA", "UK").country == "GB"
    assert location("Toronto", "ON", None, "ON").country is None
    assert zone_for(location("Leeds", None, None, "UK").country, None).key == "Europe/London"


def test_a_one_line_place_ending_in_a_province_keeps_it_as_the_region():
    assert parse_place("Halifax, Nova Scotia, NS") == ("Halifax, Nova Scotia", "NS", None, None)
    assert parse_place("Leeds, West Yorkshire, UK") == ("Leeds, West Yorkshire", None, None, "GB")
    assert parse_place("Ottawa, ON K1A 0B1, CA") == ("Ottawa", "ON", "K1A 0B1", "CA")
