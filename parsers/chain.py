"""The fallback chain, in one place.

specific parser (best detected) -> alternate/older formats of the same carrier
-> other detected formats -> the generic heuristic parser -> unparseable, with
the reason each step gave. Nothing a plugin does can escape as an exception.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .base import ParseError, ParseOutput, ParserPlugin
from .detect import candidates
from .document import Document
from .registry import plugins


@dataclass(slots=True)
class ChainResult:
    plugin: ParserPlugin | None
    output: ParseOutput | None
    level: int = 0  # 0 specific, 1 alternate of the same carrier, 2 other detected format, 3 generic
    reasons: list[str] = field(default_factory=list)
    unsupported: str | None = None


class UnknownCarrier(ValueError):
    pass


@lru_cache(maxsize=256)
def _eligible(every: tuple[ParserPlugin, ...], hint: str) -> tuple[tuple[ParserPlugin, ...], tuple[ParserPlugin, ...]]:
    """(specific plugins the carrier hint allows, generic plugins); the hint is checked once per value."""
    generic = tuple(p for p in every if p.generic)
    specific = tuple(p for p in every if not p.generic)
    if hint != "auto":
        chosen = tuple(p for p in specific if hint in (p.family, p.name) or hint in p.slugs)
        if not chosen and not any(hint in (p.family, p.name) or hint in p.slugs for p in generic):
            raise UnknownCarrier(hint)
        specific = chosen
    return specific, generic


def plan(doc: Document, carrier: str | None) -> list[tuple[int, ParserPlugin]]:
    """The ordered (level, plugin) attempts for a document."""
    hint = (carrier or "auto").strip().lower()
    specific, generic = _eligible(plugins(), hint)
    detected = candidates(specific, doc)
    order: list[tuple[int, ParserPlugin]] = []
    if detected:
        best = detected[0]
        order.append((0, best))
        order += [(1, p) for p in detected[1:] if p.family == best.family]
        order += [(1, p) for p in specific
                  if p.family == best.family and p.media == doc.media and p not in detected]
        order += [(2, p) for p in detected[1:] if p.family != best.family]
    elif hint != "auto":
        order += [(1, p) for p in specific if p.media == doc.media]
    order += [(3, p) for p in generic]
    return order


def run(doc: Document, carrier: str | None = None) -> ChainResult:
    try:
        attempts = plan(doc, carrier)
    except UnknownCarrier as exc:
        return ChainResult(None, None, unsupported=f"no parser for carrier {exc.args[0]!r}")
    if not doc.decoded():
        return ChainResult(None, None, reasons=[doc.error or "undecodable document"])
    reasons: list[str] = []
    for level, plugin in attempts:
        try:
            output = plugin.parse(doc)
        except ParseError as exc:
            reasons.append(f"{plugin.name}: {exc}")
            continue
        except RecursionError:
            reasons.append(f"{plugin.name}: document too deeply nested")
            continue
        except Exception as exc:  # a plugin bug is a reason, never a crash of the pipeline
            reasons.append(f"{plugin.name}: {type(exc).__name__}: {exc}")
            continue
        if output.empty():
            reasons.append(f"{plugin.name}: no shipments or carrier errors found")
            continue
        return ChainResult(plugin, output, level, reasons)
    if not attempts:
        reasons.append("no parser recognizes this document")
    return ChainResult(None, None, reasons=reasons)
