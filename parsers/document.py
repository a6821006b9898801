"""A raw document, decoded once and shared by detection and every parser tried."""
from __future__ import annotations

from typing import Any

from lxml import etree

from .safe import UnsafeOrMalformed, decode_text, load_json, load_xml

_UNSET: Any = object()


class Document:
    """Raw bytes plus lazily, safely decoded views.

    `media` is guessed from the first significant byte (and the content type),
    never from a file name. Decoding errors are kept, not raised, so the chain
    can report them as the reason a document is unparseable.
    """

    __slots__ = ("data", "content_type", "error", "_media", "_json", "_xml", "_text", "_top_keys", "_root_name")

    def __init__(self, data: bytes, content_type: str | None = None) -> None:
        self.data = data
        self.content_type = (content_type or "").split(";")[0].strip().lower() if content_type else ""
        self.error: str | None = None
        self._media = self._json = self._xml = self._text = self._top_keys = self._root_name = _UNSET

    # Each view is computed on first use and kept: detection and every parser tried share one decode.

    @property
    def media(self) -> str:
        if self._media is _UNSET:
            self._media = self._guess_media()
        return self._media

    @property
    def json(self) -> object:
        if self._json is _UNSET:
            self._json = self._load(load_json) if self.media == "json" else None
        return self._json

    @property
    def xml(self) -> etree._Element | None:
        if self._xml is _UNSET:
            self._xml = self._load(load_xml) if self.media == "xml" else None
        return self._xml

    @property
    def text(self) -> str:
        if self._text is _UNSET:
            self._text = decode_text(self.data)
        return self._text

    @property
    def top_keys(self) -> frozenset[str]:
        if self._top_keys is _UNSET:
            obj = self.json
            if isinstance(obj, list) and obj and isinstance(obj[0], dict):
                obj = obj[0]
            self._top_keys = frozenset(obj) if isinstance(obj, dict) else frozenset()
        return self._top_keys

    @property
    def root_name(self) -> str | None:
        if self._root_name is _UNSET:
            root = self.xml
            self._root_name = root.tag if root is not None else None
        return self._root_name

    def _guess_media(self) -> str:
        head = self.data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:1] in (b"{", b"["):
            return "json"
        if head[:1] == b"<":
            return "xml"
        if head[:3] in (b"ISA", b"ST*", b"UNA", b"UNB") or head[:2] == b"GS":  # X12, UN/EDIFACT
            return "edi"
        if "json" in self.content_type:
            return "json"
        if "xml" in self.content_type:
            return "xml"
        if "edi" in self.content_type or "x12" in self.content_type:
            return "edi"
        return "unknown"

    def _load(self, loader):
        try:
            return loader(self.data)
        except UnsafeOrMalformed as exc:
            self.error = str(exc)
            return None

    def decoded(self) -> bool:
        """Decode by media; False (with `error` set) when the bytes are not a safe, well-formed document."""
        media = self.media
        if media == "json":
            return self.json is not None or self.error is None
        if media == "xml":
            return self.xml is not None
        if media == "edi":
            return True
        self.error = self.error or "not JSON, XML or EDI (X12, UN/EDIFACT)"
        return False
