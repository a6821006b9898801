"""Country codes and time-zone inference from a location (data in taxonomy/data/)."""
from __future__ import annotations

import tomllib
from datetime import timedelta, timezone, tzinfo
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _data(name: str) -> dict:
    return tomllib.loads(resources.files("taxonomy").joinpath(f"data/{name}.toml").read_text("utf-8"))


@cache
def _country_names() -> dict[str, str]:
    return _data("countries")["names"]


@cache
def _codes() -> frozenset[str]:
    """The assigned ISO 3166-1 alpha-2 codes: every code the names table leads to."""
    return frozenset(_country_names().values())


@cache
def _zones() -> dict:
    return _data("zones")


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for a code, alpha-3 code or English name as carriers spell it; None if unknown.

    A two-letter value is a country only when it is an assigned alpha-2 code
    or a name the table lists ("UK" -> "GB"): a province or state code ("ON",
    "QC", "NSW" is longer anyway) is not taken for a country.
    """
    if not value or not isinstance(value, str):
        return None
    text = " ".join(value.split()).upper()
    found = _country_names().get(text)
    if found is not None:
        return found
    return text if len(text) == 2 and text in _codes() else None


@cache
def states(country: str) -> frozenset[str]:
    """A country's states proper (US: the 50 and DC), without territories or military codes."""
    return frozenset(_data("countries").get("states", {}).get(country, ()))


@cache
def regions(country: str) -> frozenset[str]:
    """The region codes (states, provinces, territories) of a country that zones.toml lists, upper case."""
    return frozenset(_zones().get("regions", {}).get(country, {}))


@lru_cache(maxsize=1024)
def zone_for(country: str | None, region: str | None) -> ZoneInfo | None:
    """The zone a wall-clock time at this place most likely used, or None if not knowable."""
    if not country:
        return None
    zones = _zones()
    name = None
    if region:
        name = zones.get("regions", {}).get(country, {}).get(region.strip().upper())
    if name is None:
        name = zones["countries"].get(country)
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return None


@lru_cache(maxsize=256)
def named_zone(name: str | None) -> tzinfo | None:
    """An IANA zone name or a printed abbreviation (EST, CEST, GM...) -> tzinfo, else None."""
    if not name:
        return None
    text = name.strip()
    offset = _zones()["abbreviations"].get(text.upper())
    if offset is not None:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = offset[1:].split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    if "/" in text:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None
