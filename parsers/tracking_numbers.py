"""Which carriers a tracking number's shape (and check digit) fits.

Used to guess the carrier of documents that do not say it (generic parser)
and of registrations without a carrier. The formats are the registry's
(`taxonomy/data/carriers.toml`, those not marked `detect = false`); the
check-digit schemes are `taxonomy.checkdigits`. Ambiguous numbers return
several candidates, owners of a format before carriers that borrow it;
nothing is returned for shapes we cannot tell apart.
"""
from __future__ import annotations

import re
import re._parser
from functools import cache

from taxonomy.carriers import NumberFormat, compact, registry
from taxonomy.checkdigits import fedex_12, gs1_mod10, mod7, s10, ups_1z

# Kept under their former names for callers that compute test numbers.
ups_check_ok, mod10_31_ok, fedex12_ok, s10_ok, dhl10_ok = ups_1z, gs1_mod10, fedex_12, s10, mod7

_S10 = re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}")
UPU = "upu"  # a valid S10 number of a postal operator the registry does not know


Formats = tuple[tuple[str, NumberFormat], ...]


@cache
def _formats() -> Formats:
    """(slug, format) for every detecting format: owners first, borrowers after, file order within each."""
    pairs = [(c.slug, f) for c in registry() for f in c.numbers if f.detect]
    return tuple(sorted(pairs, key=lambda pair: pair[1].borrowed))


def _widths(form: NumberFormat) -> tuple[int, int]:
    """The shortest and longest number a format's regex can match (unbounded: a large maximum)."""
    try:
        low, high = re._parser.parse(form.pattern.pattern).getwidth()  # type: ignore[attr-defined]
    except Exception:  # an interpreter without the parser: no length filter
        return 0, 1 << 30
    return low, high


@cache
def _by_length(length: int) -> Formats:
    """The formats a number of this length can fit: generic parsing tries many values, most of no format."""
    return tuple(pair for pair in _formats() if _widths(pair[1])[0] <= length <= _widths(pair[1])[1])


def candidates(tracking_number: str) -> list[str]:
    """Carrier slugs whose number format (with its check digit, where there is one) fits."""
    tn = compact(tracking_number)
    if not tn:
        return []
    found: list[str] = []
    for slug, form in _by_length(len(tn)) if len(tn) <= 64 else _formats():
        if slug not in found and form.fits(tn):
            found.append(slug)
    if not found and _S10.fullmatch(tn) and s10(tn):
        return [UPU]
    return found


def guess(tracking_number: str) -> str | None:
    """The one carrier the number can belong to, or None when unknown or ambiguous."""
    found = candidates(tracking_number)
    return found[0] if len(found) == 1 else None
