"""The dry run of a replay: what re-normalizing the chosen documents would change, by carrier and code.

Parses the stored documents again in this process (the same code and mapping
tables, local overlays included, as the normalizer that would do the replay)
and compares each derived event with the stored event of the same id through
the store's shipment read; nothing is written. Decisions: `service.core.preview`.
"""
from __future__ import annotations

from .core.preview import Change, change, summarize
from .normalizer import normalize_row
from .store.ports import Store

BATCH = 200


async def preview(store: Store, ids: list[int]) -> list[dict]:
    """The changes a replay of these inbox rows would make, summarized by carrier and carrier code."""
    stored: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {}
    changes: list[Change] = []
    seen: set[tuple[tuple[str, str], str]] = set()
    for start in range(0, len(ids), BATCH):
        for row in await store.inbox_rows(ids[start:start + BATCH]):
            outcome = normalize_row(row)
            if isinstance(outcome, str) or not outcome.ok:
                continue
            for shipment in outcome.shipments:
                key = (shipment.carrier, shipment.tracking_number)
                if key not in stored:
                    stored[key] = await _stored(store, key)
                for event in shipment.events:
                    if (key, event.event_id) in seen:
                        continue
                    seen.add((key, event.event_id))
                    found = change(event, stored[key].get(event.event_id))
                    if found is not None:
                        changes.append(found)
    return summarize(changes)


async def _stored(store: Store, key: tuple[str, str]) -> dict[str, tuple[str, str | None]]:
    """event id -> (status, class) of a shipment's stored events; a relayed arrival's id counts as its event."""
    read = await store.shipment(*key) or {}
    known = {e["event_id"]: (e["status"], e.get("exception_class")) for e in read.get("events", [])}
    for source in read.get("sources", []):
        if source["event_id"] in known:
            known[source["provenance"]["event_id"]] = known[source["event_id"]]
    return known
