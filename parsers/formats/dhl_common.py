"""What the DHL formats share: service-area places, UTC offsets and error texts.

DHL Express (XML-PI, MyDHL REST) and the Unified tracking API name a scan's
place as one string, in a few spellings:
"Barcelona - Spain", "LEIPZIG - GERMANY", "KINGSTON-JAM", "Brisbane-AU",
"SPRINGFIELD GARDENS,NY-USA", "New York, NY", "Oderweg 2, AMSTERDAM",
or a bare country ("Netherlands"). `place` turns those into a Location; a
part it cannot place stays in the city rather than being guessed.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from taxonomy import Location
from taxonomy.places import country_code, states

from ..fields import code_message, location, text

# ISO 3166-1 alpha-3 codes DHL prints after a service area ("KINGSTON-JAM") that the
# core country table does not carry yet.
_ALPHA3 = {
    "JAM": "JM", "ARE": "AE", "SAU": "SA", "ZAF": "ZA", "TUR": "TR", "THA": "TH", "MYS": "MY",
    "IDN": "ID", "PHL": "PH", "VNM": "VN", "TWN": "TW", "ISR": "IL", "EGY": "EG", "PRT": "PT",
    "GRC": "GR", "CZE": "CZ", "HUN": "HU", "ROU": "RO", "BGR": "BG", "SVK": "SK", "SVN": "SI",
    "HRV": "HR", "LUX": "LU", "RUS": "RU", "UKR": "UA", "ARG": "AR", "CHL": "CL", "COL": "CO",
    "PER": "PE", "NGA": "NG", "KEN": "KE", "PAK": "PK", "BGD": "BD", "LKA": "LK", "QAT": "QA",
    "KWT": "KW", "BHR": "BH", "OMN": "OM", "MAR": "MA", "PRI": "PR", "DOM": "DO", "CRI": "CR",
    "PAN": "PA", "EST": "EE", "LVA": "LV", "LTU": "LT", "ISL": "IS", "CYP": "CY", "MLT": "MT",
}

# "City, ST" with a US state and no country named: DHL's US service areas.
_US_STATES = states("US") | {"PR"}
_REGIONED = frozenset({"US", "CA", "AU", "MX", "BR"})


def country(value: str) -> str | None:
    """ISO alpha-2 for a country as DHL spells it (name, alpha-2 or alpha-3), else None."""
    v = value.strip()
    if not v:
        return None
    return country_code(v) or _ALPHA3.get(v.upper())


@lru_cache(maxsize=4096)
def _parse_place(raw: str, cc_hint: str, postal: str) -> Location | None:
    s = " ".join(raw.split())
    cc = country(cc_hint) if cc_hint else None
    head = s
    if s:
        for sep in (" - ", "-"):
            if sep in s:
                left, right = s.rsplit(sep, 1)
                found = country(right)
                if found and left.strip():
                    head, cc = left.strip(), cc or found
                    break
        else:
            found = country(s)
            if found:  # a bare country name ("Netherlands")
                return location(None, None, postal, cc or found)
    city, region = head, None
    if "," in head:
        first, last = (p.strip() for p in head.rsplit(",", 1))
        if len(last) == 2 and last.isalpha() and last.isupper() and (cc in _REGIONED or cc is None):
            city, region = first, last
            if cc is None and last in _US_STATES:
                cc = "US"
        elif last and any(ch.isdigit() for ch in first):  # "street 2, CITY"
            city = last
    return location(city, region, postal, cc)


def place(description: Any, country_hint: Any = None, postal_code: Any = None) -> Location | None:
    """A Location from a DHL service-area/locality string plus an optional country code and postcode."""
    return _parse_place(text(description), text(country_hint), text(postal_code))


def error_text(code: Any, message: Any) -> str:
    """'CODE: message' with the message's whitespace collapsed, or whichever half DHL gave."""
    c, m = text(code), " ".join(text(message).split())
    return code_message(c, m)


_PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "instance", "message", "additionalDetails"})


def is_problem(data: Any) -> bool:
    """An RFC 7807 problem document ({title, status, detail...}), the error body of DHL's REST APIs."""
    return (isinstance(data, dict) and "title" in data and "status" in data and ("detail" in data or "type" in data)
            and "shipments" not in data and set(data) <= _PROBLEM_KEYS)


def problem_text(data: dict) -> str:
    """'404: No result found - No shipment with given tracking number found.' from a problem document."""
    title, detail = " ".join(text(data.get("title")).split()), " ".join(text(data.get("detail")).split())
    message = f"{title} - {detail}" if title and detail and detail != title else title or detail
    extra = [" ".join(text(d).split()) for d in data.get("additionalDetails") or [] if text(d)] \
        if isinstance(data.get("additionalDetails"), list) else []
    if extra:
        message = "; ".join([message, *extra]) if message else "; ".join(extra)
    return error_text(data.get("status"), message) or "DHL API error without detail"
