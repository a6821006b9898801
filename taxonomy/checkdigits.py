"""Check-digit schemes of tracking numbers, each implemented once and named.

The carrier registry (`taxonomy/data/carriers.toml`) names a scheme per
number pattern; this module is the only place that knows how each one is
computed. A scheme takes the whole number (already stripped of spaces and
dashes, upper-cased, and matched by its pattern) and says whether its check
character is right: a number one typo away from a valid one fits nothing.
"""
from __future__ import annotations

from collections.abc import Callable

_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def _digits(value: str) -> list[int]:
    return [int(c) for c in value]


def ups_1z(tn: str) -> bool:
    """UPS 1Z: 1Z + 15 characters + check digit; letters count as (ordinal - ord('A') + 2) mod 10."""
    if len(tn) != 18 or not tn[17].isdigit():
        return False
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in tn[2:17]]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return (10 - total % 10) % 10 == int(tn[17])


def gs1_mod10(number: str) -> bool:
    """GS1 mod-10 (weights 3,1 from the right): USPS IMpb, SSCC, FedEx 15/20/22-digit numbers."""
    if not number.isdigit() or len(number) < 2:
        return False
    *body, check = _digits(number)
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def fedex_12(number: str) -> bool:
    """FedEx Express 12 digits: weights 1,3,7 from the right over the first 11, mod 11 mod 10."""
    if not number.isdigit() or len(number) != 12:
        return False
    *body, check = _digits(number)
    weights = (1, 3, 7)
    total = sum(d * weights[i % 3] for i, d in enumerate(reversed(body)))
    return total % 11 % 10 == check


def s10(tn: str) -> bool:
    """UPU S10 (e.g. RA123456785CN): weights 8,6,4,2,3,5,9,7 over the serial; 10 -> 0, 11 -> 5."""
    if len(tn) != 13 or not tn[2:11].isdigit():
        return False
    check = 11 - sum(d * w for d, w in zip(_digits(tn[2:10]), _S10_WEIGHTS)) % 11
    check = {10: 0, 11: 5}.get(check, check)
    return check == int(tn[10])


def mod7(number: str) -> bool:
    """DHL Express waybill: 10 digits, the first nine mod 7 give the last."""
    if not number.isdigit() or len(number) != 10:
        return False
    return int(number[:9]) % 7 == int(number[9])


def none(number: str) -> bool:
    """No check character: the pattern alone decides."""
    return True


SCHEMES: dict[str, Callable[[str], bool]] = {
    "ups_1z": ups_1z, "gs1_mod10": gs1_mod10, "fedex_12": fedex_12, "s10": s10, "mod7": mod7, "none": none,
}
