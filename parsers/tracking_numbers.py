"""Which carriers a tracking number's shape (and check digit) fits.

Used to guess the carrier of documents that do not say it (generic parser)
and, later, of registrations without a carrier. Ambiguous numbers return
several candidates; nothing is returned for shapes we cannot tell apart.
"""
from __future__ import annotations

import re

_UPS = re.compile(r"^1Z[0-9A-Z]{16}$")
_S10 = re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def _digits(value: str) -> list[int]:
    return [int(c) for c in value]


def ups_check_ok(tn: str) -> bool:
    """1Z + 15 characters + check digit; letters count as (ordinal - ord('A') + 2) mod 10."""
    body = tn[2:17]
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return (10 - total % 10) % 10 == int(tn[17]) if tn[17].isdigit() else False


def mod10_31_ok(number: str) -> bool:
    """GS1 mod-10 (weights 3,1 from the right): USPS IMpb, SSCC, FedEx 15/20/22-digit."""
    *body, check = _digits(number)
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def fedex12_ok(number: str) -> bool:
    """FedEx Express 12 digits: weights 1,3,7 from the right over the first 11, mod 11 mod 10."""
    *body, check = _digits(number)
    weights = (1, 3, 7)
    total = sum(d * weights[i % 3] for i, d in enumerate(reversed(body)))
    return total % 11 % 10 == check


def s10_ok(tn: str) -> bool:
    """UPU S10 (e.g. RA123456785CN): weights 8,6,4,2,3,5,9,7; 10 -> 0, 11 -> 5."""
    digits = _digits(tn[2:10])
    check = 11 - sum(d * w for d, w in zip(digits, _S10_WEIGHTS)) % 11
    check = {10: 0, 11: 5}.get(check, check)
    return check == int(tn[10])


def dhl10_ok(number: str) -> bool:
    """DHL Express waybill: 10 digits, the first nine mod 7 give the last."""
    return int(number[:9]) % 7 == int(number[9])


def candidates(tracking_number: str) -> list[str]:
    """Carrier slugs whose number format (with its check digit, where there is one) fits."""
    tn = re.sub(r"[\s-]", "", tracking_number or "").upper()
    if _UPS.match(tn):
        return ["ups"] if ups_check_ok(tn) else []
    if _S10.match(tn):
        if not s10_ok(tn):
            return []
        country = tn[-2:]
        return {"US": ["usps"], "CA": ["canadapost"], "DE": ["dhl"], "NL": ["postnl"]}.get(country, ["upu"])
    if not tn.isdigit():
        return []
    found: list[str] = []
    n = len(tn)
    if n in (20, 22, 26, 30, 34) and mod10_31_ok(tn):
        found.append("usps" if tn.startswith(("9", "82", "420")) else "fedex")
        if n == 22 and tn.startswith("92"):
            # IMpb channel-application 92 is also what FedEx Ground Economy (SmartPost) labels carry:
            # the format alone cannot tell the two apart.
            found.append("fedex")
    if n == 12 and fedex12_ok(tn):
        found.append("fedex")
    if n == 15 and mod10_31_ok(tn):
        found.append("fedex")
    if n == 10 and dhl10_ok(tn):
        found.append("dhl")
    if n == 16 and tn.startswith(("70", "40", "10")):
        found.append("canadapost")
    return found


def guess(tracking_number: str) -> str | None:
    """The one carrier the number can belong to, or None when unknown or ambiguous."""
    found = candidates(tracking_number)
    return found[0] if len(found) == 1 else None
