"""What USPS Web Tools XML and the USPS Tracking API v3 JSON share.

- Places: USPS leaves the country empty for domestic scans and sometimes puts
  a facility name in the city with no state ("QUEENS NY DISTRIBUTION CENTER").
  Domestic scans get country US, and the state is read from such a facility
  name, so that the core can infer the zone of the wall-clock time.
- Times: Web Tools writes "April 28, 2015" and "9:01 am"; both APIs write
  local wall-clock time with no zone.
- Errors: "CODE: message".
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from taxonomy import Location
from taxonomy.places import regions

from ..fields import code_message, location, text
from ..timeparse import iso_date

# USPS state and territory codes, armed-forces codes included (the zone table's US regions), and the
# freely associated states USPS serves as domestic (FM, MH, PW).
US_STATES = regions("US") | {"FM", "MH", "PW"}

MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), start=1)}
MONTHS.update({name[:3]: n for name, n in list(MONTHS.items())})
MONTHS["sept"] = 9

# "<CITY> <ST> [REGIONAL|NETWORK|...] DISTRIBUTION CENTER", "<CITY> <ST> INTERNATIONAL SERVICE CENTER", "... ANNEX"
_FACILITY = re.compile(r"^[A-Z][A-Z .'-]*?\s([A-Z]{2})\s+(?:[A-Z&]+\s+)*?(?:CENTER|CENTRE|CTR|FACILITY|ANNEX|HUB|"
                       r"P&DC|P&DF|NDC|ISC|PDC|RPDC|LPC|SCF)$")


def error_text(code: Any, message: Any) -> str:
    """'CODE: message', or whichever half USPS gave; whitespace collapsed."""
    c, m = text(code), " ".join(text(message).split())
    m = m.rstrip(" -")  # v3 messages end in a dangling " - " separator
    return code_message(c, m)


@lru_cache(maxsize=4096)
def facility_state(city: str) -> str | None:
    """The state a USPS facility name carries: 'JACKSONVILLE FL DISTRIBUTION CENTER' -> 'FL'."""
    m = _FACILITY.match(city.upper())
    if m and m.group(1) in US_STATES:
        return m.group(1)
    return None


def usps_location(city: Any, state: Any, postal: Any, country: Any) -> Location | None:
    """A scan's place; an empty country means a domestic scan (USPS prints countries only abroad)."""
    c, s, p, k = text(city), text(state), text(postal), text(country)
    if not k:
        if not s and c:
            s = facility_state(c) or ""
        if s.upper() in US_STATES or (not s and (c or p)):
            k = "US"
    return location(c, s, p, k)


@lru_cache(maxsize=4096)
def parse_day(value: str) -> date | None:
    """'April 28, 2015', 'Apr 28 2015', '2015-04-28'; None when unreadable or year-less."""
    s = value.strip()
    if not s:
        return None
    if s[0].isdigit():
        try:
            return date.fromisoformat(s[:10])
        except ValueError:
            return None
    parts = s.replace(",", " ").split()
    if len(parts) != 3:
        return None
    month = MONTHS.get(parts[0].lower().rstrip("."))
    if month is None or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    try:
        return date(int(parts[2]), month, int(parts[1]))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def parse_clock(value: str) -> tuple[int, int] | None:
    """'9:01 am', '10:45 PM', '10:45 p.m.', '14:05' -> (hour, minute)."""
    s = value.strip().lower().replace(".", "")
    if not s:
        return None
    suffix = None
    if s.endswith(("am", "pm")):
        suffix, s = s[-2:], s[:-2].strip()
    hh, _, mm = s.partition(":")
    mm = mm[:2]
    if not (hh.isdigit() and mm.isdigit()):
        return None
    hour, minute = int(hh), int(mm)
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def year_less(month: int, day: int, today: date | None = None) -> date | None:
    """A date printed without its year: the latest such day not after tomorrow (tracking looks back)."""
    today = today or datetime.now(timezone.utc).date()
    for year in (today.year, today.year - 1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29 February of a common year
            continue
        if candidate <= today + timedelta(days=1):
            return candidate
    return None


def wall_clock(day: str, clock: str) -> datetime | None:
    """Web Tools' EventDate + EventTime as a naive local datetime (midnight when the time is missing)."""
    d = parse_day(day)
    if d is None:
        return None
    hm = parse_clock(clock) if clock else (0, 0)
    if hm is None:
        return None
    return datetime(d.year, d.month, d.day, hm[0], hm[1])


def estimate(*values: Any) -> str | None:
    """The first readable estimated-delivery value, as an ISO date or date-time."""
    for value in values:
        s = text(value)
        if not s:
            continue
        d = parse_day(s) if not (s[0].isdigit() and len(s) > 10) else None
        found = d.isoformat() if d is not None else iso_date(s)
        if found:
            return found
    return None
