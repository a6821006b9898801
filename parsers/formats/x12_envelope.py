"""X12 interchange reading shared by the X12 transaction-set plugins.

Separators come from the document itself. With an ISA header (fixed width,
106 characters): the element separator is ISA position 3, the component
separator is ISA16 (position 104) and the segment terminator the character
right after it (position 105), possibly followed by CR/LF that only make the
file readable. Senders that pad ISA06/ISA08 wrongly shift ISA16; the 16th
element separator is then used to find it instead of the fixed position.
Without ISA (a bare GS or ST, as some systems post), the element separator
is the character after the segment id and the terminator the character that
ends the first segment (after GS08, the version, or after ST02/ST03).

The text is split on the terminator once and each segment on the element
separator once; transaction sets (ST..SE) are checked for the structure a
translator would reject: SE01 must count the segments from ST to SE and SE02
must repeat ST02. A set that fails keeps its reasons so the plugin can say why
it refused the document.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..base import ParseError

ISA_LENGTH = 106
_ENVELOPE = frozenset(("ISA", "IEA", "GS", "GE", "TA1"))


@dataclass(slots=True)
class Transaction:
    """One ST..SE set: its type, control number and body segments (ST and SE left out)."""

    kind: str
    control: str
    segments: list[list[str]] = field(default_factory=list)
    group: str = ""  # GS01 functional identifier of the enclosing group
    problems: list[str] = field(default_factory=list)  # structural faults: the set is not to be used


@dataclass(slots=True)
class Interchange:
    element: str
    terminator: str
    component: str | None
    has_isa: bool
    transactions: list[Transaction] = field(default_factory=list)
    stray: int = 0  # non-envelope segments found outside any ST..SE


def separators(text: str) -> tuple[str, str, str | None, bool]:
    """(element separator, segment terminator, component separator, has ISA) or ParseError."""
    if text.startswith("ISA"):
        return (*_isa_separators(text), True)
    if text[:2] in ("GS", "ST") and len(text) > 3:
        sep = text[2]
        if sep.isalnum() or sep.isspace():
            raise ParseError(f"no element separator after {text[:2]!r}")
        return sep, _guess_terminator(text, sep), None, False
    raise ParseError("not an X12 interchange (no ISA, GS or ST header)")


def _isa_separators(text: str) -> tuple[str, str, str]:
    if len(text) < 16:
        raise ParseError("ISA header is truncated")
    sep = text[3]
    if sep.isalnum() or sep.isspace():
        raise ParseError(f"ISA position 3 {sep!r} cannot be an element separator")
    if len(text) >= ISA_LENGTH and text[103] == sep and text.count(sep, 0, 104) == 16:
        component, term = text[104], text[105]
    else:  # mis-padded ISA: find ISA16 by counting separators
        pos = 2
        for _ in range(16):
            pos = text.find(sep, pos + 1, 400)
            if pos < 0:
                raise ParseError("ISA header has fewer than 16 elements")
        if pos + 2 >= len(text):
            raise ParseError("ISA header is truncated after ISA16")
        component, term = text[pos + 1], text[pos + 2]
    if term.isalnum() or term == sep or term == " ":
        raise ParseError(f"ISA segment terminator {term!r} is not a delimiter")
    if component.isalnum() or component in (sep, term):
        component = None
    return sep, term, component


def _after_alnum(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isalnum():
        pos += 1
    return pos


def _guess_terminator(text: str, sep: str) -> str:
    """The character ending the first segment: after GS08 (the version) or after ST02 (and ST03)."""
    pos = 1
    for _ in range(8 if text.startswith("GS") else 2):
        pos = text.find(sep, pos + 1, 1024)
        if pos < 0:
            raise ParseError(f"the {text[:2]} segment is truncated (cannot find the segment terminator)")
    pos = _after_alnum(text, pos + 1)
    if text.startswith("ST") and pos < len(text) and text[pos] == sep:  # ST03 implementation reference
        pos = _after_alnum(text, pos + 1)
    if pos >= len(text):
        raise ParseError("cannot find the segment terminator (no second segment)")
    term = text[pos]
    if term == " ":
        raise ParseError("a space cannot be the segment terminator")
    return term


_SEEN_IDS: set[str] = set()


def _valid_id(sid: str) -> bool:
    if sid in _SEEN_IDS:
        return True
    ok = 2 <= len(sid) <= 3 and sid.isalnum() and sid.isupper() and sid[0].isalpha()
    if ok and len(_SEEN_IDS) < 4096:
        _SEEN_IDS.add(sid)
    return ok


def read(text: str) -> Interchange:
    """Split an interchange into transaction sets; ParseError when it is not X12 at all."""
    text = text.lstrip("\ufeff \t\r\n")
    element, terminator, component, has_isa = separators(text)
    out = Interchange(element, terminator, component, has_isa)
    current: Transaction | None = None
    count = 0
    group = ""
    for n, raw in enumerate(text.split(terminator), 1):
        seg = raw.strip()
        if not seg:
            continue
        els = seg.split(element)
        sid = els[0]
        if not _valid_id(sid):
            if current is not None:
                current.problems.append(f"segment {n} {seg[:20]!r} has no valid segment id")
                continue
            raise ParseError(f"segment {n} {seg[:20]!r} has no valid segment id (wrong separators?)")
        if sid == "ST":
            if current is not None:
                current.problems.append("not closed by SE before the next ST")
            current = Transaction(els[1].strip() if len(els) > 1 else "", els[2].strip() if len(els) > 2 else "",
                                  group=group)
            out.transactions.append(current)
            count = 1
            continue
        if current is None:
            if sid == "GS":
                group = els[1].strip() if len(els) > 1 else ""
            elif sid not in _ENVELOPE and sid != "SE":
                out.stray += 1
            continue
        count += 1
        if sid == "SE":
            _close(current, els, count)
            current = None
        elif sid in _ENVELOPE:
            current.problems.append(f"{sid} inside the set: not closed by SE")
            current = None
        else:
            current.segments.append(els)
    if current is not None:
        current.problems.append("not closed by SE (truncated?)")
    return out


def _close(tx: Transaction, els: list[str], count: int) -> None:
    said = els[1].strip() if len(els) > 1 else ""
    control = els[2].strip() if len(els) > 2 else ""
    if not said.isdigit() or int(said) != count:
        tx.problems.append(f"SE01 says {said or 'nothing'} segments, the set has {count}")
    if control != tx.control:
        tx.problems.append(f"SE02 control number {control!r} differs from ST02 {tx.control!r}")


def element(els: list[str], i: int) -> str:
    """Element i of a split segment (1-based like X12 positions), stripped; '' when absent."""
    return els[i].strip() if len(els) > i else ""
