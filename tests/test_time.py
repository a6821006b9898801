"""Carrier timestamps become UTC instants with the carrier's local time and how we knew it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parsers.fields import location
from parsers.timeparse import combine, iso_date, parse_datetime, resolve, split_zone_suffix
from taxonomy import TimeBasis

UTC = timezone.utc


def test_explicit_offset_wins():
    when = parse_datetime("2026-03-10T09:15:00-05:00")
    occurred, local, basis = resolve(when, "PST", None, location("Paris", None, None, "FR"))
    assert occurred == datetime(2026, 3, 10, 14, 15, tzinfo=UTC)
    assert local.isoformat() == "2026-03-10T09:15:00-05:00"
    assert basis is TimeBasis.OFFSET


def test_utc_given_beside_local_time_gives_the_offset():
    occurred, local, basis = resolve(datetime(2026, 3, 10, 9, 15), None, datetime(2026, 3, 10, 14, 15), None)
    assert (occurred, local.isoformat(), basis) == (
        datetime(2026, 3, 10, 14, 15, tzinfo=UTC), "2026-03-10T09:15:00-05:00", TimeBasis.OFFSET)


@pytest.mark.parametrize("zone,expected_utc", [("EST", 14), ("EDT", 13), ("America/Toronto", 13), ("GMT", 9)])
def test_named_zone(zone, expected_utc):
    # 2026-07-01 is daylight time in Toronto: the IANA zone applies its rules, an abbreviation its fixed offset.
    occurred, local, basis = resolve(datetime(2026, 7, 1, 9, 0), zone, None, None)
    assert occurred.hour == expected_utc and basis is TimeBasis.ZONE
    assert local.replace(tzinfo=None) == datetime(2026, 7, 1, 9, 0)


@pytest.mark.parametrize("place,winter_offset,summer_offset", [
    (("ADRIAN", "MI", None, "US"), -5, -4),
    (("PHOENIX", "AZ", None, "US"), -7, -7),
    (("Calgary", "AB", None, "CA"), -7, -6),
    (("Leipzig", None, None, "DE"), 1, 2),
    (("Amsterdam", None, None, "Netherlands"), 1, 2),
])
def test_zone_inferred_from_location_follows_dst(place, winter_offset, summer_offset):
    loc = location(*place)
    for when, hours in ((datetime(2026, 1, 15, 12), winter_offset), (datetime(2026, 7, 15, 12), summer_offset)):
        occurred, local, basis = resolve(when, None, None, loc)
        assert basis is TimeBasis.LOCATION
        assert local.utcoffset() == timedelta(hours=hours)
        assert occurred == when.replace(tzinfo=UTC) - timedelta(hours=hours)


def test_nothing_known_assumes_utc_and_says_so():
    occurred, local, basis = resolve(datetime(2026, 1, 15, 12), None, None, location("Somewhere", None, None, "US"))
    assert basis is TimeBasis.ASSUMED_UTC  # the US spans zones: no region, no guess
    assert occurred.tzinfo is not None and local.tzinfo is not None
    assert occurred == datetime(2026, 1, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize("text,expected", [
    ("2024-08-15T00:00:00", datetime(2024, 8, 15)),
    ("2024-08-12T15:18:10 -0500", datetime(2024, 8, 12, 15, 18, 10, tzinfo=timezone(timedelta(hours=-5)))),
    ("2024-08-12T15:18:10Z", datetime(2024, 8, 12, 15, 18, 10, tzinfo=UTC)),
    ("June 1, 2016 8:10 am", datetime(2016, 6, 1, 8, 10)),
    ("not a date", None),
    ("", None),
    (None, None),
    ("9" * 200, None),
])
def test_parse_datetime(text, expected):
    assert parse_datetime(text) == expected


def test_combine_date_and_time_fields():
    assert combine("20211021", "143316") == datetime(2021, 10, 21, 14, 33, 16)
    assert combine("2021-10-21", "14:33") == datetime(2021, 10, 21, 14, 33)
    assert combine("October 21, 2021", "2:33 pm") == datetime(2021, 10, 21, 14, 33)
    assert combine("", "14:33") is None and combine("garbage", "x") is None


def test_zone_suffix_and_estimated_dates():
    assert split_zone_suffix("2021-10-21 14:33 EST") == ("2021-10-21 14:33", "EST")
    assert split_zone_suffix("2021-10-21 14:33 XYZQ") == ("2021-10-21 14:33 XYZQ", None)
    assert iso_date("20211021") == "2021-10-21"
    assert iso_date("2021-10-21T17:00:00-04:00") == "2021-10-21T17:00:00-04:00"
    assert iso_date("string") is None
