"""Small helpers plugins share for reading loosely typed carrier documents."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from lxml import etree

from taxonomy import Location
from taxonomy.models import builder
from taxonomy.places import country_code

_new_location = builder(Location)


def text(value: Any) -> str:
    """A scalar as stripped text; containers and None as ''."""
    if type(value) is str:
        return value.strip()
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def code_message(code: str, message: str) -> str:
    """A carrier's error as 'CODE: message', or whichever half it gave ('' for neither)."""
    return f"{code}: {message}" if code and message else code or message


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """obj[path0][path1]... tolerating missing keys, wrong types and short lists."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or not -len(obj) <= key < len(obj):
                return default
            obj = obj[key]
        else:
            if not isinstance(obj, dict):
                return default
            obj = obj.get(key)
            if obj is None:
                return default
    return obj


def as_list(value: Any) -> list:
    """Carriers send one object where they usually send a list; treat both alike."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def dicts(value: Any) -> list[dict]:
    return [v for v in as_list(value) if isinstance(v, dict)]


def location(city: Any = None, region: Any = None, postal_code: Any = None, country: Any = None) -> Location | None:
    """A Location from carrier parts, None when every part is empty; country to ISO alpha-2.

    Scans repeat the same few places, and Location is immutable, so equal
    parts share one instance.
    """
    try:
        return _cached_location(city, region, postal_code, country)
    except TypeError:  # an unhashable part (a carrier sent an object where text belongs)
        return _location(city, region, postal_code, country)


def _location(city: Any, region: Any, postal_code: Any, country: Any) -> Location | None:
    c, r, p = text(city), text(region), text(postal_code)
    cc = country_code(text(country)) if country else None
    if not (c or r or p or cc):
        return None
    return _new_location(city=c or None, region=r or None, postal_code=p or None, country=cc)


def xtext(el: etree._Element | None, path: str) -> str:
    """Text of the first element at `path` (local names, '/'-separated) under `el`, stripped."""
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


_cached_location = lru_cache(maxsize=8192, typed=True)(_location)
