"""Namespace-free XML: parsers match on local names only.

Carriers move namespaces between API versions (and SOAP wraps them in more),
so every XML document reaches the parsers with local names only. Renaming
elements after parsing costs lxml more than the parse itself, so the most
common shape, every declaration on the root element (Canada Post's default
namespace, DHL's `req:` root), is handled on the bytes: `unqualify_root`
rewrites just the root's start and end tags. The result is exact or refused:
any other use of a prefix is then undeclared, which the parser rejects, and
the caller falls back to the tree walk `strip_namespaces`.
"""
from __future__ import annotations

import re

from lxml import etree

_QUOTED = rb"(?:\"[^\"]*\"|'[^']*')"
# Prolog (declaration, comments, whitespace), then the root start tag: name, attributes, end.
_ROOT = re.compile(rb"\A((?:<\?[^>]*\?>|<!--.*?-->|\s)*)<([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*" + _QUOTED
                   + rb")*)(\s*/?>)", re.S)
_ATTRIBUTE = re.compile(rb"\s+([^\s=/>]+)\s*=\s*(" + _QUOTED + rb")")


def mentions_namespaces(data: bytes) -> bool:
    """Whether any name in the document could be qualified (a declaration or the predefined xml: prefix)."""
    return b"xmlns" in data or b"xml:" in data


def _local(name: bytes) -> bytes:
    return name.rpartition(b":")[2]


def unqualify_root(data: bytes) -> bytes | None:
    """The bytes with the root's declarations and prefixes removed, or None when others exist."""
    if b"xml:" in data:
        return None
    m = _ROOT.match(data)
    if m is None:
        return None
    prolog, name, attributes, close = m.groups()
    if attributes.count(b"xmlns") != data.count(b"xmlns"):  # declarations (or the word) elsewhere
        return None
    kept = b"".join(b" " + _local(key) + b"=" + value for key, value in _ATTRIBUTE.findall(attributes)
                    if key != b"xmlns" and not key.startswith(b"xmlns:"))
    body = data[m.end():]
    if b":" in name and close.rstrip().endswith(b">") and not close.rstrip().endswith(b"/>"):
        tail = b"</" + name + b">"
        trimmed = body.rstrip()
        if not trimmed.endswith(tail):
            return None
        body = trimmed[:-len(tail)] + b"</" + _local(name) + b">"
    return prolog + b"<" + _local(name) + kept + close + body


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
