"""What a replay would change, decided without writing anything: the dry run's report.

Pure: given the events the stored documents yield now (with today's parsers
and mapping tables, local overlays included) and the stored status and class
of the events with the same ids, count per (carrier, mapping table code):
events that would be corrected (with the status and class before and after)
and events that would be new. The store adapter's reads and the parsing
happen in `service.replay_preview`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from taxonomy import NormalizedEvent

StatusClass = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Change:
    carrier: str
    carrier_code: str | None
    before: StatusClass | None  # None: the event would be new
    after: StatusClass


def change(event: NormalizedEvent, stored: StatusClass | None) -> Change | None:
    """How one derived event compares with its stored self; None: nothing would change."""
    after = (event.status.value, event.exception_class.value if event.exception_class else None)
    if stored == after:
        return None
    return Change(event.carrier, event.carrier_code, stored, after)


def summarize(changes: list[Change]) -> list[dict]:
    """By carrier and code, most frequent first: `{carrier, carrier_code, change, from, to, events}`."""
    counts = Counter(changes)
    rows = [{"carrier": c.carrier, "carrier_code": c.carrier_code, "change": "new" if c.before is None else "corrected",
             "from": None if c.before is None else {"status": c.before[0], "exception_class": c.before[1]},
             "to": {"status": c.after[0], "exception_class": c.after[1]}, "events": n} for c, n in counts.items()]
    return sorted(rows, key=lambda r: (-r["events"], r["carrier"], r["carrier_code"] or "", r["change"]))
