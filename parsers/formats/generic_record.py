"""One event-like record of an unknown carrier -> a CarrierEvent, by what its keys say.

A record is read to a bounded depth: its own fields, then fields of objects
inside it (`status.description`, `location.address.city`). Objects named
like a place (location, address, facility...) give the event's place; objects
about other parties (origin, destination, recipient, shipper...) are ignored.
Fields no key rule names still count by their values: a date-time is the
event's time, a sentence its text, when nothing named says so.

A record often carries a short status label beside a sentence ("In Transit"
and "Shipment picked up"): the sentence is the description and the label
the coarse status, so both are heard when the scan is mapped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, time, timedelta, timezone
from itertools import islice
from typing import Any

from taxonomy.places import country_code, regions, states

from ..base import CarrierEvent
from ..fields import location, text
from ..timeparse import combine, parse_datetime, split_zone_suffix
from .generic_keys import context, fold, profile
from .generic_walk import prose, time_value, unnamed

UTC = timezone.utc
_UTC_MARK = "!"  # prefixed to the keys of times the carrier gave in UTC (gmtDate, eventTimeUtc)
MAX_LEAVES = 80  # fields read per record
_TIME_ONLY = re.compile(r"^\d{1,2}(:\d{2}){1,2}(\.\d+)?\s*([aApP]\.?\s?[mM]\.?)?$|^\d{1,2}\s*[aApP]\.?[mM]\.?$")
_YEARISH = re.compile(r"\d{4}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2}")
_MONTH = re.compile(r"(?i)(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)")
_DAY_FIRST = re.compile(r"^(\d{1,2})[.-](\d{1,2})[.-](\d{4})(\s.*|T.*)?$")
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T]+(\d{1,2}:\d{2}(?::\d{2})?(?:\s*[aApP]\.?\s?[mM]\.?)?))?$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?(?:\.\d+)?\s*([aApP])\.?\s?[mM]\.?$")
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?$")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_PLACE_NAMES = frozenset(("name", "description", "text", "value", "locationname", "displayname", "nazwa", "naam",
                          "nom", "nombre", "nome", "libelle", "bezeichnung"))
_STATUS_CODE = re.compile(r"(?=.{0,2}[A-Z])[A-Z0-9]{1,3}")  # "UG", "D1"; digits alone are a phase or step
_CODE_SLOTS = range(40)  # status codes rank after every named code key
_TN_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{3,38}[A-Za-z0-9]$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
_US = states("US") | {"PR"}
_CANADA = regions("CA")
_US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_CA_POSTAL = re.compile(r"^[A-Za-z]\d[A-Za-z]\s?\d[A-Za-z]\d$")
_REGION_POSTAL = re.compile(r"^([A-Za-z]{2,3})(?:\s+([A-Za-z0-9][A-Za-z0-9 -]{2,9}))?$")


def sane(value: datetime | None) -> datetime | None:
    """Carrier times from 1970 to 2100 only: anything else is a misread field, not a scan."""
    return value if value is not None and 1970 <= value.year <= 2100 else None


def tn_value(value: Any) -> str | None:
    """A value that could be a tracking number: 5-40 letters/digits (some separators), with a digit."""
    if type(value) is int and 0 <= value < 10**40:
        s = str(value)
    elif type(value) is str:
        s = value.strip()
    else:
        return None
    if not _TN_OK.match(s) or not any(c.isdigit() for c in s) or _ISO_DAY.match(s):
        return None
    return s


def slashed_order(value: Any) -> bool | None:
    """For a date written a/b/yyyy: True when it can only be day first, False month first, None either."""
    m = _SLASHED.match(value.strip()) if type(value) is str else None
    if m is None:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    if a > 12 >= b:
        return True
    if b > 12 >= a:
        return False
    return None


def read_time(value: Any, key: str, day_first: bool | None = None) -> tuple[str, Any, str | None] | None:
    """('full', datetime, zone) | ('date', 'YYYY-MM-DD', zone) | ('time', text, None) | None.

    `day_first` settles a/b/yyyy dates that could be read both ways (09/03/2026):
    the caller knows it from the other dates of the same list or the places.
    Without it they are read month first, as US carriers write them.
    """
    if type(value) is int or type(value) is float:
        if 1e9 <= value < 4e9:
            return "full", datetime.fromtimestamp(value, UTC), None
        if 1e12 <= value < 4e12:
            return "full", datetime.fromtimestamp(value / 1000, UTC), None
        if type(value) is int and 19700101 <= value <= 21001231:
            value = str(value)
        else:
            return None
    if type(value) is not str:
        return None
    s = value.strip()
    if not s or len(s) > 64 or not any(c.isdigit() for c in s):
        return None
    if _TIME_ONLY.match(s):
        return "time", clock24(s), None
    if s.isdigit():
        n = len(s)
        if n == 8:
            day = sane(combine(s))
            return ("date", day.date().isoformat(), None) if day else None
        if n in (4, 6) and "date" not in key:
            return "time", s, None
        if n == 14:
            full = sane(combine(s[:8], s[8:]))
            return ("full", full, None) if full else None
        return None
    if not (_YEARISH.search(s) or _MONTH.search(s)):
        return None
    m = _DAY_FIRST.match(s)
    if m:  # 26-03-2021 / 26.03.2021: day first, as Europe writes it (dateutil would read month first)
        s = f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}{m.group(4) or ''}"
    else:
        m = _SLASHED.match(s)
        if m:  # 03/14/2026 [4:05 PM]: month first as US carriers write it, unless the first part cannot be a month
            a, b = int(m.group(1)), int(m.group(2))
            month, day = (a, b) if a <= 12 and not (day_first and b <= 12) else (b, a)
            rest = clock24(m.group(4)) if m.group(4) else ""
            s = f"{m.group(3)}-{month:02d}-{day:02d}" + (f"T{rest}" if rest else "")
    zone = None
    if s[-1].isalpha():
        s, zone = split_zone_suffix(s)
    try:
        dt = sane(parse_datetime(s))
    except Exception:  # dateutil has more ways to fail than it documents
        return None
    if dt is None:
        return None
    if ":" in s or dt.tzinfo is not None or dt.time() != time(0):
        return "full", dt, zone
    return "date", dt.date().isoformat(), zone


def clock24(value: str) -> str:
    """'4:05 PM' -> '16:05', '12:30 am' -> '00:30'; other spellings unchanged (ISO combine reads them)."""
    m = _CLOCK.match(value.strip())
    if not m:
        return value.strip()
    hour = int(m.group(1)) % 12 + (12 if m.group(4) in "pP" else 0)
    if hour > 23 or int(m.group(2) or 0) > 59:
        return value.strip()
    return f"{hour:02d}:{m.group(2) or '00'}" + (f":{m.group(3)}" if m.group(3) else "")


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def coarse_key(value: str) -> str | None:
    """A status word as the coarse tables spell it: 'OutForDelivery', 'out-for-delivery' -> 'OUT_FOR_DELIVERY'."""
    key = _NON_ALNUM.sub("_", _CAMEL.sub("_", value)).strip("_").upper()
    return key[:40] or None


def _offset(value: str) -> timezone | None:
    m = _OFFSET.match(value.strip())
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))


def parse_place(value: str) -> tuple[str | None, str | None, str | None, str | None]:
    """'Memphis, TN, US' / 'HANNA CITY, IL 61536' / 'Lyon' -> (city, region, postal, country)."""
    parts = [p.strip() for p in value.split(",") if p.strip()][:5]
    if not parts:
        return None, None, None, None
    country = region = postal = None
    if len(parts) >= 2:
        last = parts[-1]
        cc = country_code(last) if len(last) > 2 or len(parts) >= 3 else None
        if cc:
            country = cc
            parts.pop()
    if len(parts) >= 2:
        m = _REGION_POSTAL.match(parts[-1])
        if m:
            region, postal = m.group(1), m.group(2)
            parts.pop()
        elif parts[-1].replace(" ", "").isdigit():
            postal = parts.pop()
    return ", ".join(parts) or None, region, postal, country


def infer_country(region: Any, postal: Any) -> str | None:
    """North American addresses often omit the country; the state/province or postal code tells it."""
    r = text(region).upper()
    p = text(postal)
    if r in _US or (not r and _US_ZIP.match(p)):
        return "US"
    if r in _CANADA or (not r and _CA_POSTAL.match(p)):
        return "CA"
    return None


def flatten(record: dict) -> list[tuple[str | None, str, str, Any]]:
    """(context, parent key, key, value) for the scalar fields of a record, two objects deep at most."""
    out: list[tuple[str | None, str, str, Any]] = []
    stack: list[tuple[dict, str | None, str, int]] = [(record, None, "", 0)]
    while stack and len(out) < MAX_LEAVES:
        obj, ctx, parent, depth = stack.pop(0)
        for key, value in islice(obj.items(), 400):
            t = type(value)
            if t is list:
                if len(value) != 1 or type(value[0]) is not dict:
                    continue
                value, t = value[0], dict
            k = fold(key)
            if t is dict:
                where = context(k)
                if depth < 2 and where != "skip" and len(stack) < 8:
                    stack.append((value, ctx or where, k, depth + 1))
                continue
            if value is None or t is bool or value == "":
                continue
            out.append((ctx, parent, k, value))
            if len(out) >= MAX_LEAVES:
                break
    return out


@dataclass(slots=True)
class Extracted:
    event: CarrierEvent
    signature: tuple[str, ...]  # the keys that gave time and text, to recognise sibling lists of one kind
    tracking_number: str | None  # when the record names its own shipment
    carrier: str | None


def extract(record: dict, day_first: bool | None = None) -> Extracted | None:
    """The record as a CarrierEvent, or None when it has no readable time or no text."""
    fulls: list[tuple[int, int, datetime, str, str | None]] = []
    dates: list[tuple[int, int, str, str, str | None]] = []
    times: list[tuple[int, int, str, str]] = []
    descs: list[tuple[int, int, str, str]] = []
    codes: list[tuple[int, int, str]] = []
    coarse: list[str] = []
    places: dict[str, Any] = {}
    zone: str | None = None
    offset: timezone | None = None
    signer = tn = carrier = None
    tn_score = 0
    for i, (ctx, parent, k, v) in enumerate(flatten(record)):
        key = profile(k)
        if key.zone:  # also inside a location object: {"location": {"timeZone": ...}}
            if type(v) is str and v.strip():
                offset = offset or _offset(v)
                zone = zone or (None if offset else v.strip())
            continue
        role = key.role
        if ctx == "place":
            if role is None and k in _PLACE_NAMES:
                role = "place"
            if role:
                places.setdefault("region" if role == "state" else role, v)
            continue
        if role is not None and role != "state":
            places.setdefault(role, v)
            continue
        rank = key.time_rank
        if rank < 0 and type(v) is str and key.code_rank < 0 and not key.coarse and unnamed(k):
            if time_value(v):
                rank = 3  # a date-time under a key that says nothing: the event's time if nothing better
            elif prose(v) and not parent:
                descs.append((6, i, v.strip(), k))  # a sentence under such a key: its text, likewise
                continue
        if rank >= 0:
            got = read_time(v, k, day_first)
            if got is not None:
                kind, value, z = got
                name = _UTC_MARK + k if key.utc else k
                if kind == "full":
                    fulls.append((rank, i, value, name, z))
                elif kind == "date":
                    dates.append((rank, i, value, name, z))
                else:
                    times.append((rank, i, value, name))
            continue
        rank = key.code_rank
        if rank >= 0 and parent and not _text_parent(parent, 0):
            continue  # a code of the response, a notification or a product, not of the scan
        if rank >= 0 or (k == "type" and "status" in parent):
            s = text(v) if type(v) is not int or abs(v) < 10**12 else ""
            if _prose(s):  # 'eventType': 'Delivered, Parcel Locker' is the scan's text, not a code
                descs.append((4, i, s, k))
            elif s and len(s) <= 24:
                if rank >= 0:
                    codes.append((rank, i, s))
                else:
                    coarse.append(s)
            continue
        rank = key.desc_rank
        if rank >= 0 and parent and not _text_parent(parent, rank):
            continue
        if key.coarse and role != "state" and type(v) is str and _STATUS_CODE.fullmatch(v):
            codes.append((len(_CODE_SLOTS), i, v))  # "UG", "DL" in a status field: a status code, not a word
            continue
        if rank >= 0 and type(v) is str and any(c.isalpha() for c in v) and len(v) <= 1000:
            if role == "state":
                places.setdefault("state", v)
            descs.append((rank, i, v.strip(), k))
            if key.coarse:
                coarse.append(v)
            continue
        if key.coarse and type(v) is str:
            coarse.append(v)
            continue
        if role == "state":
            places.setdefault("state", v)
            continue
        if key.signer:
            signer = signer or text(v) or None
            continue
        if not parent:
            score = key.tracking
            if score >= 6 and score > tn_score and tn_value(v):
                tn, tn_score = tn_value(v), score
            elif key.names_carrier and type(v) is str:
                carrier = carrier or v
    if not descs and not codes:
        return None
    when, utc, sig_time = _when(fulls, dates, times)
    if when is None:
        return None
    if offset is not None and when.tzinfo is None:
        when, utc = when.replace(tzinfo=offset), None
    if zone is None:
        zone = next((f[4] for f in fulls if f[4]), None) or next((d[4] for d in dates if d[4]), None)
    descs.sort()
    description, desc_key = _description(descs)
    codes.sort()
    code_values = tuple(dict.fromkeys(c[2] for c in codes))
    coarse_value = next((c for c in map(coarse_key, coarse) if c), None) or _label(descs, description)
    event = CarrierEvent(when=when, description=description, codes=code_values,
                         carrier_code=code_values[0] if code_values else None, coarse=coarse_value,
                         location=_location(places), zone=zone, utc=utc, signed_by=signer)
    return Extracted(event, (sig_time, desc_key), tn, carrier)


def _description(descs: list) -> tuple[str, str]:
    """(text, key) of the best-ranked text; among texts of that rank, the longest says the most."""
    if not descs:
        return "", ""  # a coded scan with empty text
    best = descs[0][0]
    chosen = max((d for d in descs if d[0] == best), key=lambda d: (len(d[2]), -d[1]))
    return chosen[2], chosen[3]


def _label(descs: list, description: str) -> str | None:
    """Another, short text of the record (a status label beside the sentence), as its coarse status."""
    other = min((d for d in descs if d[2] != description and len(d[2]) <= 40 and d[0] <= 4),
                key=lambda d: (d[0], len(d[2])), default=None)
    return coarse_key(other[2]) if other else None


_EVENT_PARENTS = ("status", "event", "activity", "scan", "checkpoint", "milestone", "track", "state", "detail",
                  "info", "progress", "history", "update")
_NOT_EVENT_PARENTS = ("product", "packag", "service", "item", "content", "commodit", "goods", "sign", "proof",
                      "pod", "document", "image", "piece", "customs", "special", "handling", "option",
                      "notification", "response", "header", "meta", "error", "warning", "transaction", "request",
                      "reference", "subscription", "file")


@lru_cache(maxsize=4096)
def _text_parent(parent: str, rank: int) -> bool:
    """Text inside a nested object counts when the object is about the scan (status.description)."""
    if any(w in parent for w in _EVENT_PARENTS):
        return True
    return rank <= 1 and not any(w in parent for w in _NOT_EVENT_PARENTS)


def _prose(s: str) -> bool:
    return sum(c.isalpha() for c in s) >= 6 and (len(s) > 24 or " " in s)


def _stem(key: str) -> str:
    return key.replace("date", "").replace("time", "")


def _when(fulls: list, dates: list, times: list) -> tuple[datetime | None, datetime | None, str]:
    """(local wall-clock or aware time, UTC instant given separately, the keys used)."""
    local = sorted(f for f in fulls if not f[3].startswith(_UTC_MARK))
    days = sorted(d for d in dates if not d[3].startswith(_UTC_MARK))
    when, used = (local[0][2], local[0][3]) if local else (None, "")
    if when is None and days:
        clock = _pick_time(times, days[0][3], utc=False)
        when = sane(combine(days[0][2], clock[2] if clock else None))
        used = days[0][3] + (clock[3] if clock else "")
    elif when is not None and when.tzinfo is None and when.time() == time(0):
        clock = _pick_time(times, used, utc=False)  # a date written as midnight, the time beside it
        joined = sane(combine(when.date().isoformat(), clock[2])) if clock else None
        if joined is not None:
            when, used = joined, used + clock[3]
    utc = None
    utc_fulls = sorted(f for f in fulls if f[3].startswith(_UTC_MARK))
    utc_days = sorted(d for d in dates if d[3].startswith(_UTC_MARK))
    if utc_fulls:
        utc = utc_fulls[0][2]
    elif utc_days:
        clock = _pick_time(times, utc_days[0][3], utc=True)
        utc = sane(combine(utc_days[0][2], clock[2] if clock else None))
    if when is None:
        if utc is None:
            return None, None, ""
        return (utc if utc.tzinfo else utc.replace(tzinfo=UTC)), None, "utc"
    if when.tzinfo is not None:
        utc = None
    return when, utc, used


def _pick_time(times: list, day_key: str, utc: bool) -> tuple | None:
    pool = sorted(t for t in times if t[3].startswith(_UTC_MARK) == utc)
    stem = _stem(day_key)
    return next((t for t in pool if _stem(t[3]) == stem), pool[0] if pool else None)


def _location(places: dict[str, Any]):
    city, region, postal, country = (places.get("city"), places.get("region"), places.get("postal"),
                                     places.get("country"))
    if region is None and places.get("state") is not None and (city is not None or postal is not None):
        region = places["state"]
    if city is None and type(places.get("place")) is str:  # a one-line place fills what the named parts leave
        c, r, p, cc = parse_place(places["place"])
        city, region, postal, country = c, region or r, postal or p, country or cc
    if not text(country):
        country = infer_country(region, postal)
    return location(city, region, postal, country)
