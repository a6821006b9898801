"""Carrier/format detection: which plugins could read this document, best first.

All detection lives here. Plugins only declare what their documents look
like (media, top-level JSON keys, XML root names, content types) and may add
a `sniff` score for what declarations cannot express. Declarations are read
once per plugin set into an index, because detection runs for every document
and on small webhooks it would otherwise cost more than parsing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .base import ParserPlugin
from .document import Document


@dataclass(frozen=True, slots=True)
class _Declared:
    order: int
    plugin: ParserPlugin
    keys: frozenset[str]
    roots: frozenset[str]
    content_types: frozenset[str]
    sniffs: bool  # the plugin overrides `sniff`


@lru_cache(maxsize=32)
def _index(plugins: tuple[ParserPlugin, ...]) -> dict[str, tuple[_Declared, ...]]:
    """Non-generic plugins by media, declarations pre-read."""
    by_media: dict[str, list[_Declared]] = {}
    for order, p in enumerate(plugins):
        if p.generic:
            continue
        by_media.setdefault(p.media, []).append(_Declared(
            order, p, frozenset(p.json_keys), frozenset(p.xml_roots), frozenset(p.content_types),
            type(p).sniff is not ParserPlugin.sniff))
    return {media: tuple(entries) for media, entries in by_media.items()}


def _score(d: _Declared, doc: Document, top_keys: frozenset[str], root: str | None) -> float:
    points = 0.0
    if d.keys:
        hits = len(d.keys & top_keys)
        if hits:  # more matching keys is more evidence; a full match beats a partial one
            points += hits + hits / len(d.keys)
    if root is not None and root in d.roots:
        points += 2.0
    if d.content_types and doc.content_type in d.content_types:
        points += 0.5
    if d.sniffs:
        try:
            points += 2.0 * d.plugin.sniff(doc)
        except Exception:  # a sniff is a hint; a broken hint must not stop detection
            pass
    return points


def score(plugin: ParserPlugin, doc: Document) -> float:
    """The evidence that `plugin` reads `doc` (0 when none)."""
    if plugin.generic or plugin.media != doc.media:
        return 0.0
    declared = _index((plugin,))[plugin.media][0]
    media = doc.media
    return _score(declared, doc, doc.top_keys if media == "json" else frozenset(),
                  doc.root_name if media == "xml" else None)


def candidates(plugins: tuple[ParserPlugin, ...], doc: Document) -> list[ParserPlugin]:
    """Plugins with any evidence for this document, most likely first."""
    media = doc.media
    entries = _index(plugins).get(media, ())
    if not entries:
        return []
    top_keys = doc.top_keys if media == "json" else frozenset()
    root = doc.root_name if media == "xml" else None
    scored = [(s, d.order, d.plugin) for d in entries if (s := _score(d, doc, top_keys, root)) > 0]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [p for _, _, p in scored]
