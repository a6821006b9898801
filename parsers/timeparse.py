"""Carrier timestamps: parsing the many spellings, then pinning them to UTC.

Parsing never raises: an unreadable time is None and the caller decides.
Resolution records how the offset was known (`time_basis`): the carrier said
it (offset), the carrier named a zone (zone), we inferred the zone from the
scan's place (location), or nothing was known and UTC was assumed.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo

from dateutil import parser as du_parser

from taxonomy import Location, TimeBasis
from taxonomy.places import named_zone, zone_for

UTC = timezone.utc
_SPACE_OFFSET = re.compile(r"^(.*\d)\s+([+-]\d{2}:?\d{2}|Z)$")
_TZ_SUFFIX = re.compile(r"^(.*\d)\s+([A-Za-z]{1,5})$")


def parse_datetime(text: object) -> datetime | None:
    """ISO 8601 first (fast), then common carrier spellings; naive when no offset was written."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s or len(s) > 64:
        return None
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        pass
    m = _SPACE_OFFSET.match(s)
    if m:
        try:
            return datetime.fromisoformat(m.group(1) + (m.group(2) if m.group(2) != "Z" else "+00:00"))
        except ValueError:
            pass
    try:
        value = du_parser.parse(s, fuzzy=False)
    except (ValueError, OverflowError, TypeError):
        return None
    if value.tzinfo is not None and value.utcoffset() is None:
        value = value.replace(tzinfo=None)
    return value


def parse_offset(value: object) -> timezone | None:
    """A UTC offset as carriers print it ('+08:00', '-0500', '+01', 'GMT-04:00') -> tzinfo, else None."""
    s = (value.strip() if isinstance(value, str) else "").upper().removeprefix("GMT").removeprefix("UTC").strip()
    if len(s) < 3 or s[0] not in "+-":
        return None
    body = s[1:].replace(":", "")
    if not body.isdigit() or len(body) not in (2, 4):
        return None
    minutes = int(body[:2]) * 60 + (int(body[2:]) if len(body) == 4 else 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=minutes if s[0] == "+" else -minutes))


def split_zone_suffix(text: str) -> tuple[str, str | None]:
    """'2021-10-21 14:33 EST' -> ('2021-10-21 14:33', 'EST') when the suffix is a known zone."""
    m = _TZ_SUFFIX.match(text.strip())
    if m and named_zone(m.group(2)) is not None:
        return m.group(1), m.group(2)
    return text, None


def combine(day: object, clock: object = None) -> datetime | None:
    """A date and an optional time given separately ('20211021' + '143316', '2021-10-21' + '14:33:16')."""
    if not isinstance(day, str):
        return None
    d = day.strip()
    if not d:
        return None
    t = clock.strip() if isinstance(clock, str) else ""
    if t:
        try:  # ISO basic or extended forms, the common case, at C speed
            return datetime.fromisoformat(f"{d}T{t}")
        except ValueError:
            pass
        if len(d) == 8 and d.isdigit():
            d = f"{d[:4]}-{d[4:6]}-{d[6:]}"
        return parse_datetime(f"{d}T{t}") or parse_datetime(f"{d} {t}")
    return parse_datetime(d)


def iso_date(text: object) -> str | None:
    """An estimated-delivery value as ISO date or date-time text, or None."""
    if isinstance(text, (datetime, date)):
        return text.isoformat()
    value = parse_datetime(text) if isinstance(text, str) else None
    if value is None and isinstance(text, str):
        value = combine(text)
    if value is None:
        return None
    if value.tzinfo is None and value.hour == value.minute == value.second == 0:
        return value.date().isoformat()
    return value.isoformat()


def _aware(when: datetime, tz: tzinfo) -> datetime:
    """`when.replace(tzinfo=tz)` at half the cost (the keyword parsing of replace dominates per scan)."""
    if when.fold:
        return when.replace(tzinfo=tz)
    return datetime(when.year, when.month, when.day, when.hour, when.minute, when.second, when.microsecond, tz)


def resolve(when: datetime, zone: str | None, utc: datetime | None,
            location: Location | None) -> tuple[datetime, datetime, TimeBasis]:
    """(occurred_at in UTC, occurred_at_local aware, time_basis) for one carrier timestamp."""
    if when.tzinfo is not None:
        if when.utcoffset() is not None:
            return when.astimezone(UTC), when, TimeBasis.OFFSET
        when = when.replace(tzinfo=None)
    if utc is not None:
        instant = utc.astimezone(UTC) if utc.tzinfo else utc.replace(tzinfo=UTC)
        offset = when - instant.replace(tzinfo=None)
        minutes = round(offset.total_seconds() / 60)
        if abs(minutes) <= 14 * 60:
            local = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
            return local.astimezone(UTC), local, TimeBasis.OFFSET
    if zone:
        tz = named_zone(zone)
        if tz is not None:
            local = _aware(when, tz)
            return local.astimezone(UTC), local, TimeBasis.ZONE
    if location is not None and location.country:
        tz = zone_for(location.country, location.region)
        if tz is not None:
            local = _aware(when, tz)
            return local.astimezone(UTC), local, TimeBasis.LOCATION
    local = when.replace(tzinfo=UTC)
    return local, local, TimeBasis.ASSUMED_UTC
