"""X12 dates, times and time codes (data elements 373, 337 and 623).

Element 623 says how to read a time:
- LT (local time), or no code at all: wall-clock time at the place of the
  status; the core infers the zone from the location (time_basis "location").
- ET, CT, MT, PT, AT (Alaska), HT (Hawaii-Aleutian), NT (Newfoundland) and TT
  (Atlantic): the region's civil time, daylight saving included, so an IANA
  zone. When the status's place lies in a zone with the same standard offset
  that zone is used instead, so "CT" in Saskatchewan or "MT" in Arizona keeps
  their year-round standard time (time_basis "zone").
- The S/D variants (ES/ED, CS/CD, MS/MD, PS/PD, AS/AD, HS/HD, NS/ND, TS/TD):
  standard or daylight time explicitly, a fixed offset named by its
  abbreviation (time_basis "zone").
- UT and GM: UTC (time_basis "zone").
- 01-12 = ISO P01..P12 (UTC+1..+12), 13-24 = ISO M12..M01 (UTC-12..-1): a
  fixed offset written into the timestamp (time_basis "offset").
Unknown codes are read as local time.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from taxonomy.places import zone_for

# Generic regional codes -> (IANA zone, standard offset in minutes).
GENERIC = {
    "ET": ("America/New_York", -300), "CT": ("America/Chicago", -360), "MT": ("America/Denver", -420),
    "PT": ("America/Los_Angeles", -480), "AT": ("America/Anchorage", -540), "HT": ("Pacific/Honolulu", -600),
    "NT": ("America/St_Johns", -210), "TT": ("America/Halifax", -240),
}
# Standard/daylight codes -> a zone name the core knows (abbreviation, or Etc/ for HDT which has none).
EXPLICIT = {
    "ES": "EST", "ED": "EDT", "CS": "CST", "CD": "CDT", "MS": "MST", "MD": "MDT", "PS": "PST", "PD": "PDT",
    "AS": "AKST", "AD": "AKDT", "HS": "HST", "HD": "Etc/GMT+9", "NS": "NST", "ND": "NDT", "TS": "AST",
    "TD": "ADT", "UT": "UTC", "GM": "UTC",
}
_FIXED = {f"{n:02d}": timezone(timedelta(hours=n if n <= 12 else n - 25)) for n in range(1, 25)}
_JAN, _JUL = datetime(2021, 1, 15, 12), datetime(2021, 7, 15, 12)


def stamp(day: str, clock: str) -> datetime | None:
    """CCYYMMDD + HHMM[SS[D[D]]] -> naive datetime; None when either is malformed."""
    if len(day) != 8 or not day.isdigit():
        return None
    n = len(clock)
    if clock and (n not in (4, 6, 7, 8) or not clock.isdigit()):
        return None
    try:
        return datetime(int(day[:4]), int(day[4:6]), int(day[6:]),
                        int(clock[:2]) if n else 0, int(clock[2:4]) if n else 0, int(clock[4:6]) if n >= 6 else 0)
    except ValueError:
        return None


@lru_cache(maxsize=512)
def _regional(code: str, country: str | None, region: str | None) -> str:
    name, standard = GENERIC[code]
    tz = zone_for(country, region) if country else None
    if tz is not None:
        offsets = (tz.utcoffset(_JAN), tz.utcoffset(_JUL))
        if None not in offsets and int(min(offsets).total_seconds()) // 60 == standard:
            return tz.key
    return name


def apply(when: datetime, code: str, country: str | None, region: str | None) -> tuple[datetime, str | None]:
    """(timestamp, zone name) for a time code: aware for fixed offsets, a zone name for named ones."""
    if not code or code == "LT":
        return when, None
    fixed = _FIXED.get(code)
    if fixed is not None:
        return when.replace(tzinfo=fixed), None
    if code in GENERIC:
        return when, _regional(code, country, region)
    return when, EXPLICIT.get(code)


def known(code: str) -> bool:
    return not code or code == "LT" or code in _FIXED or code in GENERIC or code in EXPLICIT
