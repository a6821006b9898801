"""Which carrier a webhook source may speak for: the rule that keeps one sender's credential from delivering
another carrier's events.

A carrier's source (`/webhooks/ups`, kind `carrier` in the registry) accepts
only documents about that carrier; an aggregator's (`easypost`, `shippo`,
...) and a format channel's (`x12`, `generic`) accept any carrier's, since
reporting other carriers is what they do. The registry
(taxonomy/data/carriers.toml) says which kind each source is. A document
that breaks the rule is quarantined with the reason, never applied: an
operator sees it in the DLQ and can replay it once the sender's setup is
fixed (or the registry says otherwise).

Pure: both bus modes' normalizers call `bind` on each parsed document before
the store applies anything.
"""
from __future__ import annotations

from dataclasses import replace

from parsers.normalize import Outcome
from taxonomy import ErrorEntry
from taxonomy.carriers import registry

KIND = "source_mismatch"


def bound_carrier(source: str) -> str | None:
    """The carrier a source speaks for, or None when it may report any carrier (aggregators, channels)."""
    entry = registry().get(source)
    return entry.slug if entry is not None and entry.kind == "carrier" else None


def foreign_carriers(source: str, outcome: Outcome) -> list[str]:
    """The carriers a document names that its source may not report (empty: the document may be applied)."""
    bound = bound_carrier(source)
    if bound is None:
        return []
    named = {s.carrier for s in outcome.shipments} | {e.carrier for s in outcome.shipments for e in s.events}
    if outcome.carrier:
        named.add(outcome.carrier)
    return sorted(c for c in named if c and c != bound)


def bind(source: str, channel: str, outcome: Outcome | str) -> Outcome | str:
    """The outcome to apply for a document received on `source`: itself, or (a carrier's webhook source
    delivering another carrier's document) a quarantine naming both carriers."""
    if channel != "webhook" or isinstance(outcome, str):
        return outcome  # polls ask a carrier's own API; a failed parse is quarantined anyway
    foreign = foreign_carriers(source, outcome)
    if not foreign:
        return outcome
    message = (f"webhook source {source} accepts {bound_carrier(source)} documents only; this one is "
               f"{', '.join(foreign)} ({outcome.parser or 'unknown parser'}): check which sender uses this "
               f"source's credential, or post it to /webhooks/{foreign[0]} or an aggregator's source")
    return replace(outcome, ok=False, shipments=[], unmapped=[],
                   errors=[ErrorEntry.model_construct(kind=KIND, message=message[:500])])
