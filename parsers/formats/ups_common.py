"""What the UPS formats share: how an activity status becomes lookup keys.

Every UPS format (Track API JSON, Track Alert webhook, legacy XML/SOAP) reports
an activity as a type letter (D, I, M, MV, X, P, U ...), a two-letter code and
often a 3-digit Status/Description code. The two-letter codes are unique only
within a type, so the keys are "<type>:<code>" first, then "SC:<nnn>".
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..fields import code_message, text

# UPS "Package Activity Types", plus P (pickup), which UPS sends although its list omits it.
TYPES = frozenset({"D", "I", "M", "MV", "X", "DO", "DD", "W", "NA", "U", "P"})


def sc_key(value: Any) -> str | None:
    """'011', 11 or '11' -> 'SC:011'; anything that is not a code -> None."""
    if isinstance(value, bool):
        return None
    s = value.strip() if type(value) is str else text(value)
    if not s or len(s) > 3 or not s.isdigit():
        return None
    return f"SC:{s.zfill(3)}"


def status_keys(kind: Any, code: Any, status_code: Any = None) -> tuple[tuple[str, ...], str | None, str | None]:
    """(lookup keys most specific first, coarse type, carrier code as printed) for one activity status."""
    try:  # a few dozen statuses recur across every document
        return _cached_status_keys(kind, code, status_code)
    except TypeError:  # an unhashable part (an object where a code belongs)
        return _status_keys(kind, code, status_code)


def _status_keys(kind: Any, code: Any, status_code: Any) -> tuple[tuple[str, ...], str | None, str | None]:
    """See `status_keys`.

    Older responses sometimes put the type letter in the code field and leave
    the type out ("<Code>X</Code>"); that letter is then the type.
    """
    printed = code.strip() if type(code) is str else text(code)
    kind_s = (kind.strip() if type(kind) is str else text(kind)).upper()
    code_s = printed.upper()
    if not kind_s and code_s in TYPES:
        kind_s, code_s = code_s, ""
    sc = sc_key(status_code) if status_code is not None else None
    if sc is None and not kind_s and code_s.isdigit():  # a bare 3-digit code is a Status/Description code
        sc = sc_key(code_s)
    if kind_s and code_s:
        keys: tuple[str, ...] = (f"{kind_s}:{code_s}", sc) if sc else (f"{kind_s}:{code_s}",)
    else:
        keys = (sc,) if sc else ()
    return keys, kind_s or None, printed or text(status_code) or None


_cached_status_keys = lru_cache(maxsize=4096, typed=True)(_status_keys)


def error_text(code: Any, message: Any) -> str:
    """'CODE: message', or whichever half the carrier gave."""
    c, m = text(code), " ".join(text(message).split())
    return code_message(c, m)
