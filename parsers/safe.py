"""Hardened decoding of untrusted documents.

Carrier payloads arrive from the internet. XML is parsed with entity
resolution, DTD loading and network access off, and any DOCTYPE is refused
outright (no legitimate tracking document needs one; every entity attack
needs one). JSON has a size limit and a nesting-depth limit checked before the
parser runs, so hostile nesting costs a few C-speed passes, not a stack.
"""
from __future__ import annotations

import re
import threading

import orjson
from lxml import etree

from .xmlns import mentions_namespaces, strip_namespaces, unqualify

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_XML_DEPTH = 64


class UnsafeOrMalformed(ValueError):
    """The document cannot be decoded safely; the message is the reason shown to operators."""


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _peel(brackets: bytes, limit: int) -> bytes:
    """Remove innermost bracket pairs up to `limit` times; what is left nests deeper or is unbalanced."""
    for _ in range(limit):
        shorter = brackets.replace(b"{}", b"").replace(b"[]", b"")
        if shorter == brackets:
            break
        brackets = shorter
    return brackets


def json_depth_ok(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if no container nests deeper than `limit` (unbalanced input is left to the decoder).

    The quick pass reads every bracket, strings included, and is exact when no
    string holds a bracket; when anything is left over, the exact pass reads
    the brackets with strings removed. Crafted strings could hide nesting from
    the quick pass; the decoder's own hard limit of 1024 levels bounds that.
    """
    brackets = data.translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit or not _peel(brackets, limit):
        return True
    rest = _peel(_JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS), limit)
    return not rest or rest.replace(b"{}", b"").replace(b"[]", b"") == rest


def load_json(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES, max_depth: int = MAX_JSON_DEPTH) -> object:
    if len(data) > max_bytes:
        raise UnsafeOrMalformed(f"document of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    if not json_depth_ok(data, max_depth):
        raise UnsafeOrMalformed(f"JSON nested deeper than {max_depth} levels")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnsafeOrMalformed(f"malformed JSON: {exc}") from None


_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _new_xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, recover=False)


_parsers = threading.local()


def _xml_parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers are reusable but not thread-safe, and building one costs."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = _new_xml_parser()
    return parser


def load_xml(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES, max_depth: int = MAX_XML_DEPTH) -> etree._Element:
    """Parse XML safely and return the root with local names only (see `parsers.xmlns`)."""
    if len(data) > max_bytes:
        raise UnsafeOrMalformed(f"document of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    if _DOCTYPE.search(data):
        raise UnsafeOrMalformed("XML with a DOCTYPE or ENTITY declaration is refused (entity/DTD attacks)")
    data = data.lstrip(b" \t\r\n")  # whitespace before the XML declaration is common and harmless
    qualified = mentions_namespaces(data)
    root = _parse_unqualified(data) if qualified else None
    if root is not None:
        qualified = False
    else:
        try:
            root = etree.fromstring(data, _xml_parser())
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise UnsafeOrMalformed(f"malformed XML: {exc}") from None
    if root is None:
        raise UnsafeOrMalformed("empty XML document")
    if root.getroottree().docinfo.doctype:
        raise UnsafeOrMalformed("XML with a DOCTYPE is refused (entity/DTD attacks)")
    too_deep = _TOO_DEEP if max_depth == MAX_XML_DEPTH else etree.XPath("boolean(" + "/*" * (max_depth + 1) + ")")
    if too_deep(root):
        raise UnsafeOrMalformed(f"XML nested deeper than {max_depth} levels")
    if qualified:
        strip_namespaces(root)
    return root


def _parse_unqualified(data: bytes) -> etree._Element | None:
    """The fast path (namespaces removed from the bytes), or None to take the exact path instead."""
    plain = unqualify(data)
    if plain is None:
        return None
    try:
        return etree.fromstring(plain, _xml_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None


_TOO_DEEP = etree.XPath("boolean(" + "/*" * (MAX_XML_DEPTH + 1) + ")")


def decode_text(data: bytes) -> str:
    """Bytes -> text for line formats (EDI): UTF-8, else Latin-1; BOM dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
