"""Namespace-free XML: parsers match on local names only.

Carriers move namespaces between API versions (and SOAP wraps them in more),
so every XML document reaches the parsers with local names only. Renaming
elements after parsing costs lxml more than the parse itself, so `unqualify`
does it on the bytes: it drops the namespace declarations and the declared
prefixes from tags. The result is exact or refused (None), and the caller
then falls back to the tree walk `strip_namespaces`:

- text content cannot hold a raw `<`, so `<p:` and `</p:` occur only in tags
  (and in comments, which are dropped anyway); CDATA can, so CDATA is refused;
- a declaration or prefixed attribute counts only where an attribute name
  starts in a start tag (`<name`, whole quoted attributes, whitespace before
  it); a declaration anywhere else refuses the rewrite, a prefixed
  attribute anywhere else is left alone;
- whatever was missed leaves a prefix undeclared, which the parser rejects;
- the predefined `xml:` prefix needs no declaration, so it is refused.
"""
from __future__ import annotations

import re

from lxml import etree

_DECLARATION = re.compile(rb"xmlns(?::([^\s=/>]+))?\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_ATTRIBUTE_TAIL = re.compile(rb"[^\s=/>:]+\s*=")
# A start tag up to an attribute name: `<name`, whole quoted attributes, whitespace.
_TAG_HEAD = re.compile(rb"<[^\s/>!?<]+(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s+")


def mentions_namespaces(data: bytes) -> bool:
    """Whether any name in the document could be qualified (a declaration or the predefined xml: prefix)."""
    return b"xmlns" in data or b"xml:" in data


def _at_attribute_name(data: bytes, at: int) -> bool:
    """Whether `at` is where an attribute name starts in a start tag (exact, or False when unsure)."""
    lt = data.rfind(b"<", 0, at)
    return lt > data.rfind(b">", 0, at) and _TAG_HEAD.fullmatch(data, lt, at) is not None


def unqualify(data: bytes) -> bytes | None:
    """The bytes with namespace declarations and prefixes removed from tags; None when that is not safe."""
    if b"<![CDATA[" in data or b"xml:" in data:
        return None
    pieces: list[bytes] = []
    prefixes: set[bytes] = set()
    kept = 0
    for m in _DECLARATION.finditer(data):
        start = m.start()
        if not _at_attribute_name(data, start):
            return None  # the word in text, a comment or an attribute value: not ours to touch
        if m.group(1):
            prefixes.add(m.group(1))
        pieces.append(data[kept:start - 1])
        kept = m.end()
    pieces.append(data[kept:])
    data = b"".join(pieces)
    for prefix in prefixes:
        data = data.replace(b"<" + prefix + b":", b"<").replace(b"</" + prefix + b":", b"</")
        data = _unprefix_attributes(data, prefix + b":")
    return None if mentions_namespaces(data) else data


def _unprefix_attributes(data: bytes, qualifier: bytes) -> bytes:
    """Drop `qualifier` from attribute names in start tags (`xsi:type=` -> `type=`)."""
    pieces: list[bytes] = []
    kept, at = 0, data.find(qualifier)
    while at != -1:
        end = at + len(qualifier)
        if _ATTRIBUTE_TAIL.match(data, end) and _at_attribute_name(data, at):
            pieces.append(data[kept:at])
            kept = end
        at = data.find(qualifier, end)
    if not pieces:
        return data
    pieces.append(data[kept:])
    return b"".join(pieces)


def strip_namespaces(root: etree._Element) -> None:
    """Rename every element and attribute of a parsed tree to its local name (exact, and slower)."""
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):  # comments / PIs
            continue
        if tag[0] == "{":
            el.tag = tag.rpartition("}")[2]
        if el.attrib:
            for key in [k for k in el.attrib if k[0] == "{"]:
                el.attrib[key.rpartition("}")[2]] = el.attrib.pop(key)
    etree.cleanup_namespaces(root)
