"""UN/EDIFACT interchange reading (ISO 9735), shared by the EDIFACT message plugins.

Service characters come from the document. An interchange may open with the
service string advice UNA followed by six characters: component separator,
data element separator, decimal mark, release character (a space: none),
reserved / repetition separator, segment terminator ("UNA:+.? '"). Without UNA
the defaults apply: ":" "+" "." "?" and "'" for syntax levels A and C and
above; level B (UNOB) interchanges without UNA use the information separators
IS1, IS3 and IS4 (0x1F, 0x1D, 0x1C), recognised by the character after "UNB".

The release character makes the next character literal ("?+" is a plus sign,
"??" a question mark); text is split into segments, elements and components
honouring it, and a release character with nothing after it is an error.
Line breaks after a segment terminator only make a file readable and are
dropped.

The syntax identifier (UNB S001 0001, UNOA ... UNOY) names the character set:
bytes that are not valid UTF-8 are decoded with it (UNOC ISO 8859-1, UNOD
8859-2, ...; UNOA/UNOB, nominally 7-bit, as Latin-1). Valid UTF-8 is read as
UTF-8 whatever the identifier says: senders often declare UNOC and write
UTF-8, and text in a single-byte set is almost never valid UTF-8 by chance.
UNOW/UNOY declare UTF-8; bytes that are not are refused.

Structure is checked as a translator would:
- the interchange: UNB first (after UNA), UNZ last; UNZ 0036 counts the
  messages, or the functional groups when groups are used; UNZ 0020 repeats
  UNB 0020; one interchange per document; no data segment outside a message;
- groups: UNG ... UNE, UNE 0060 counts its messages and 0048 repeats UNG 0048;
- messages: UNH ... UNT, UNT 0074 counts the segments from UNH to UNT
  inclusive and UNT 0062 repeats UNH 0062.
A fault of the interchange or of a group raises ParseError with the reason; a
faulty message keeps its problems so the plugin can refuse it and say why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..base import ParseError

Segment = list[list[str]]  # elements, each a list of components; segment[0][0] is the tag
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
_SYNTAX = re.compile(r"[A-Z]{4}")
# Syntax identifier -> codec (ISO 9735 part 1, annex; UNOA/UNOB handled separately).
CODECS = {
    "UNOC": "latin-1", "UNOD": "iso8859-2", "UNOE": "iso8859-5", "UNOF": "iso8859-7", "UNOG": "iso8859-3",
    "UNOH": "iso8859-4", "UNOI": "iso8859-6", "UNOJ": "iso8859-8", "UNOK": "iso8859-9", "UNOL": "iso8859-15",
    "UNOW": "utf-8", "UNOY": "utf-8",
}
LEVEL_B = ("\x1f", "\x1d", ".", None, " ", "\x1c")


@dataclass(frozen=True, slots=True)
class Delimiters:
    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str = " "
    terminator: str = "'"


@dataclass(slots=True)
class Message:
    """One UNH..UNT message: its reference, type and version, and body segments (UNH and UNT left out)."""

    reference: str
    kind: str  # 0065, e.g. IFTSTA
    version: str  # S009 0052:0054:0051[:0057], e.g. "D:04A:UN:BIG07"
    segments: list[Segment] = field(default_factory=list)
    group: str = ""  # UNG 0038 of the enclosing functional group
    problems: list[str] = field(default_factory=list)  # structural faults: the message is not to be used


@dataclass(slots=True)
class Interchange:
    delimiters: Delimiters
    syntax: str  # UNOC
    syntax_version: str  # 3
    sender: str
    sender_qualifier: str
    recipient: str
    recipient_qualifier: str
    prepared: str  # S004 "date:time" as written
    control: str  # 0020
    messages: list[Message] = field(default_factory=list)
    groups: int = 0


def component(seg: Segment, element: int, comp: int = 0) -> str:
    """Component `comp` of element `element` (0 = the tag), stripped; '' when absent."""
    if element < len(seg) and comp < len(seg[element]):
        return seg[element][comp].strip()
    return ""


def service_string(text: str) -> tuple[Delimiters, str]:
    """(delimiters, the text after UNA) from a UNA, or the defaults and the text unchanged."""
    if not text.startswith("UNA"):
        if text.startswith("UNB\x1d"):
            return Delimiters(*LEVEL_B), text
        return Delimiters(), text
    if len(text) < 9:
        raise ParseError("UNA service string advice is truncated (it needs six characters)")
    comp, elem, decimal, release, reserved, term = text[3:9]
    chosen = {"component separator": comp, "data element separator": elem, "segment terminator": term}
    for name, char in chosen.items():
        if char.isalnum() or char.isspace():
            raise ParseError(f"UNA {name} {char!r} cannot be a delimiter")
    if len(set(chosen.values())) < 3:
        raise ParseError(f"UNA delimiters are not distinct: {comp!r} {elem!r} {term!r}")
    if decimal not in ".,":
        raise ParseError(f"UNA decimal mark {decimal!r} is neither '.' nor ','")
    if release == " ":
        release_char: str | None = None
    elif release.isalnum() or release in chosen.values():
        raise ParseError(f"UNA release character {release!r} cannot be used")
    else:
        release_char = release
    return Delimiters(comp, elem, decimal, release_char, reserved, term), text[9:]


def decode(data: bytes) -> str:
    """Bytes -> text by the syntax identifier in UNB (read from the ASCII header), BOM dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:64].lstrip(b" \t\r\n")
    at = head.find(b"UNB")
    syntax = head[at + 4:at + 8].decode("ascii", "replace") if at >= 0 else ""
    codec = CODECS.get(syntax)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if codec == "utf-8":
            raise ParseError(f"syntax identifier {syntax} declares UTF-8 but the bytes are not UTF-8") from None
        return data.decode(codec or "latin-1", "replace")


def _tokenizer(d: Delimiters) -> re.Pattern[str]:
    """Tokens (released character, delimiter, run of plain text); a lone release character at the end
    matches with all three empty."""
    release = re.escape(d.release or "")
    delimiters = re.escape(d.element + d.component + d.terminator)
    return re.compile(f"{release}(.?)|([{delimiters}])|([^{delimiters}{release}]+)", re.DOTALL)


def segments(text: str, d: Delimiters) -> list[Segment]:
    """Split into segments -> elements -> components, honouring the release character."""
    restore = None
    if d.release is not None and d.release in text and not any(p in text for p in _PLACEHOLDERS):
        text, restore = _hide_released(text, d)
    if restore is not None or d.release is None or d.release not in text:
        raw = text.split(d.terminator)
        if raw[-1].strip():
            raise ParseError(f"the last segment {raw[-1].strip()[:10]!r} has no segment terminator (truncated?)")
        if restore is None:
            return [[el.split(d.component) for el in s.lstrip(" \t\r\n").split(d.element)] for s in raw[:-1]]
        return [[[c.translate(restore) for c in el.split(d.component)] for el in s.lstrip(" \t\r\n").split(d.element)]
                for s in raw[:-1]]
    return _tokenized(text, d)


# Private-use characters standing in for released service characters while the text is split.
_PLACEHOLDERS = ("\ue000", "\ue001", "\ue002", "\ue003")


def _hide_released(text: str, d: Delimiters) -> tuple[str, dict[int, str]]:
    """Released characters replaced by placeholders (and other releases dropped), so plain splits work."""
    release = d.release or ""
    specials = (release, d.terminator, d.element, d.component)
    for placeholder, char in zip(_PLACEHOLDERS, specials):
        text = text.replace(release + char, placeholder)  # "??" first: "??'" is a "?" then the terminator
    if release in text:
        text = re.sub(re.escape(release) + "(.)", r"\1", text, flags=re.DOTALL)  # releasing anything else
        if release in text:
            raise ParseError("a release character ends the document (nothing left to release)")
    return text, {ord(p): c for p, c in zip(_PLACEHOLDERS, specials)}


def _tokenized(text: str, d: Delimiters) -> list[Segment]:
    """The same split, token by token: for texts that already hold the placeholder characters."""
    out: list[Segment] = []
    seg: Segment = []
    element: list[str] = []
    pieces: list[str] = []  # the component being read; joined once, never grown by concatenation
    for released, delimiter, chunk in _tokenizer(d).findall(text):
        if chunk:
            pieces.append(chunk)
        elif released:
            pieces.append(released)
        elif not delimiter:
            raise ParseError("a release character ends the document (nothing left to release)")
        else:
            element.append("".join(pieces))
            pieces = []
            if delimiter == d.component:
                continue
            seg.append(element)
            element = []
            if delimiter == d.terminator:
                seg[0][0] = seg[0][0].lstrip(" \t\r\n")
                out.append(seg)
                seg = []
    rest = "".join(pieces).strip()
    if seg or element or rest:
        head = seg[0][0] if seg else element[0] if element else rest
        raise ParseError(f"the last segment {head.strip()[:10]!r} has no segment terminator (truncated?)")
    return out


def read(text: str) -> Interchange:
    """Read one interchange; ParseError when it is not UN/EDIFACT or its envelope is broken."""
    text = text.lstrip("\ufeff \t\r\n")
    delimiters, rest = service_string(text)
    segs = segments(rest, delimiters)
    if not segs or component(segs[0], 0) != "UNB":
        first = component(segs[0], 0) if segs else "nothing"
        raise ParseError(f"not a UN/EDIFACT interchange: it begins with {first[:10]!r}, not UNB")
    for n, seg in enumerate(segs, 1):
        if not _TAG.fullmatch(component(seg, 0)):
            raise ParseError(f"segment {n} {component(seg, 0)[:10]!r} has no valid segment tag (wrong delimiters?)")
    interchange = _header(segs[0], delimiters)
    _body(segs, interchange)
    return interchange


def _header(unb: Segment, d: Delimiters) -> Interchange:
    syntax = component(unb, 1, 0)
    if not _SYNTAX.fullmatch(syntax):
        raise ParseError(f"UNB syntax identifier {syntax!r} is not a syntax identifier (UNOA ... UNOY)")
    control = component(unb, 5)
    if not control:
        raise ParseError("UNB has no interchange control reference (0020)")
    if not component(unb, 2):
        raise ParseError("UNB names no sender (S002)")
    prepared = ":".join(p for p in (component(unb, 4, 0), component(unb, 4, 1)) if p)
    return Interchange(d, syntax, component(unb, 1, 1), component(unb, 2, 0), component(unb, 2, 1),
                       component(unb, 3, 0), component(unb, 3, 1), prepared, control)


def _body(segs: list[Segment], ix: Interchange) -> None:
    current: Message | None = None
    count = 0
    group: tuple[str, str, int] | None = None  # (0038, 0048, messages so far)
    for n, seg in enumerate(segs[1:], 2):
        tag = seg[0][0]
        if tag == "UNH":
            if current is not None:
                current.problems.append("not closed by UNT before the next UNH")
            s009 = seg[2] if len(seg) > 2 else []
            current = Message(component(seg, 1), component(seg, 2, 0), ":".join(c.strip() for c in s009[1:]),
                              group=group[0] if group else "")
            ix.messages.append(current)
            if group is not None:
                group = (group[0], group[1], group[2] + 1)
            count = 1
        elif tag == "UNT":
            if current is None:
                raise ParseError(f"segment {n}: UNT without UNH")
            _close(current, seg, count + 1)
            current = None
        elif tag in ("UNG", "UNE", "UNZ", "UNB", "UNA"):
            if current is not None:
                current.problems.append(f"{tag} inside the message: not closed by UNT")
                current = None
            if tag == "UNG":
                if group is not None:
                    raise ParseError(f"segment {n}: UNG before the UNE of group {group[1]!r}")
                group = (component(seg, 1), component(seg, 5), 0)
                ix.groups += 1
            elif tag == "UNE":
                if group is None:
                    raise ParseError(f"segment {n}: UNE without UNG")
                _close_group(seg, group)
                group = None
            elif tag == "UNZ":
                if group is not None:
                    raise ParseError(f"group {group[1]!r} is not closed by UNE before UNZ")
                if n != len(segs):
                    raise ParseError(f"{len(segs) - n} segment(s) after UNZ (one interchange per document)")
                _close_interchange(seg, ix)
                return
            else:
                raise ParseError(f"segment {n}: a second {tag} (one interchange per document)")
        elif current is None:
            raise ParseError(f"segment {n} {tag} is outside a message (no UNH before it)")
        else:
            current.segments.append(seg)
            count += 1
    if current is not None:
        current.problems.append("not closed by UNT (truncated?)")
    raise ParseError("the interchange is not closed by UNZ (truncated?)")


def _close(msg: Message, unt: Segment, count: int) -> None:
    said, reference = component(unt, 1), component(unt, 2)
    if not said.isdigit() or int(said) != count:
        msg.problems.append(f"UNT says {said or 'nothing'} segments, the message has {count}")
    if reference != msg.reference:
        msg.problems.append(f"UNT reference {reference!r} differs from UNH {msg.reference!r}")


def _close_group(une: Segment, group: tuple[str, str, int]) -> None:
    said, reference = component(une, 1), component(une, 2)
    if not said.isdigit() or int(said) != group[2]:
        raise ParseError(f"UNE says {said or 'nothing'} messages, group {group[1]!r} has {group[2]}")
    if reference != group[1]:
        raise ParseError(f"UNE reference {reference!r} differs from UNG {group[1]!r}")


def _close_interchange(unz: Segment, ix: Interchange) -> None:
    said, control = component(unz, 1), component(unz, 2)
    expected, what = (ix.groups, "groups") if ix.groups else (len(ix.messages), "messages")
    if not said.isdigit() or int(said) != expected:
        raise ParseError(f"UNZ says {said or 'nothing'} {what}, the interchange has {expected}")
    if control != ix.control:
        raise ParseError(f"UNZ control reference {control!r} differs from UNB {ix.control!r}")
