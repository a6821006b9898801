"""Carrier/format detection: which plugins could read this document, best first.

All detection lives here. Plugins only declare what their documents look
like (media, top-level JSON keys, XML root names, content types) and may add
a `sniff` score for what declarations cannot express.
"""
from __future__ import annotations

from .base import ParserPlugin
from .document import Document


def score(plugin: ParserPlugin, doc: Document) -> float:
    if plugin.generic or plugin.media != doc.media:
        return 0.0
    points = 0.0
    if plugin.json_keys:
        hits = sum(1 for k in plugin.json_keys if k in doc.top_keys)
        if hits:  # more matching keys is more evidence; a full match beats a partial one
            points += hits + hits / len(plugin.json_keys)
    if plugin.xml_roots and doc.root_name in plugin.xml_roots:
        points += 2.0
    if plugin.content_types and doc.content_type in plugin.content_types:
        points += 0.5
    try:
        points += 2.0 * plugin.sniff(doc)
    except Exception:  # a sniff is a hint; a broken hint must not stop detection
        pass
    return points


def candidates(plugins: tuple[ParserPlugin, ...], doc: Document) -> list[ParserPlugin]:
    """Plugins with any evidence for this document, most likely first."""
    scored = [(score(p, doc), i, p) for i, p in enumerate(plugins)]
    return [p for s, i, p in sorted(scored, key=lambda t: (-t[0], t[1])) if s > 0]
