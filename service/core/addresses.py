"""What counts as one customer e-mail address: a bare `local@domain`, nothing a mail library could read as
a display name, a group or a list.

`x>,<someone@else.example` looks like one address to a loose pattern and is
two recipients to an SMTP library; an address registered for one customer
must reach that customer only. The rule is the dot-atom form of RFC 5322
(no quoted local parts, no comments, no IP literals) with a dotted host name.
"""
from __future__ import annotations

import re

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
MAX_LENGTH = 254  # RFC 5321's path limit less the angle brackets


def is_single_address(value: str) -> bool:
    """True for exactly one bare address (ASCII; local part at most 64 characters)."""
    if not value or len(value) > MAX_LENGTH or not value.isascii() or ADDRESS.fullmatch(value) is None:
        return False
    return len(value.rsplit("@", 1)[0]) <= 64
