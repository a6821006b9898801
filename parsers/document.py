"""A raw document, decoded once and shared by detection and every parser tried."""
from __future__ import annotations

from functools import cached_property

from lxml import etree

from .safe import UnsafeOrMalformed, decode_text, load_json, load_xml


class Document:
    """Raw bytes plus lazily, safely decoded views.

    `media` is guessed from the first significant byte (and the content type),
    never from a file name. Decoding errors are kept, not raised, so the chain
    can report them as the reason a document is unparseable.
    """

    __slots__ = ("data", "content_type", "error", "__dict__")

    def __init__(self, data: bytes, content_type: str | None = None) -> None:
        self.data = data
        self.content_type = (content_type or "").split(";")[0].strip().lower()
        self.error: str | None = None

    @cached_property
    def media(self) -> str:
        head = self.data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:1] in (b"{", b"["):
            return "json"
        if head[:1] == b"<":
            return "xml"
        if head[:3] == b"ISA" or head[:2] == b"GS" or head[:3] == b"ST*":
            return "edi"
        if "json" in self.content_type:
            return "json"
        if "xml" in self.content_type:
            return "xml"
        if "edi" in self.content_type or "x12" in self.content_type:
            return "edi"
        return "unknown"

    @cached_property
    def json(self) -> object:
        if self.media != "json":
            return None
        try:
            return load_json(self.data)
        except UnsafeOrMalformed as exc:
            self.error = str(exc)
            return None

    @cached_property
    def xml(self) -> etree._Element | None:
        if self.media != "xml":
            return None
        try:
            return load_xml(self.data)
        except UnsafeOrMalformed as exc:
            self.error = str(exc)
            return None

    @cached_property
    def text(self) -> str:
        return decode_text(self.data)

    @cached_property
    def top_keys(self) -> frozenset[str]:
        obj = self.json
        if isinstance(obj, list) and obj and isinstance(obj[0], dict):
            obj = obj[0]
        return frozenset(obj) if isinstance(obj, dict) else frozenset()

    @cached_property
    def root_name(self) -> str | None:
        root = self.xml
        return root.tag if root is not None else None

    def decoded(self) -> bool:
        """Decode by media; False (with `error` set) when the bytes are not a safe, well-formed document."""
        media = self.media
        if media == "json":
            return self.json is not None or self.error is None
        if media == "xml":
            return self.xml is not None
        if media == "edi":
            return True
        self.error = self.error or "not JSON, XML or X12 EDI"
        return False
