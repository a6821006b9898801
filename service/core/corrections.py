"""Corrections: a stored document derived again (a replay after a mapping or parser fix) whose events came out
differently. The store keeps each event's `event_id`; the row is rewritten with a new revision, the shipment's
state refolded, and the event published again as `shipment.event.corrected.v1`."""
from __future__ import annotations

from collections.abc import Callable

import orjson

from parsers.normalize import NormalizedShipment
from taxonomy import NormalizedEvent
from taxonomy.state import ShipmentState, fold

from ..cloudevents import Snapshot, cloud_event, correction_event, encode, event_data, routing_key
from .plan import Alias, Correction, Known, OutboxDraft, Plan
from .relay import Candidate, source

Order = Callable[[Known | NormalizedEvent], tuple]


def retimed(plan: Plan, shipment: NormalizedShipment, own: dict[str, Known], fresh: list[NormalizedEvent],
            corrected: dict[str, NormalizedEvent], aliases: list[Alias], inbox_id: int | None,
            order: Order) -> list[NormalizedEvent]:
    """A document derived again whose stored events are no longer among its ids while as many new ones appear:
    a parser fix changed their times (the v1 id hashes the instant). The same bytes yield the same scans in the
    same order, so they pair up in time order and each stored event is corrected, keeping its event_id; its
    new id is recorded as an alias (its later arrivals are duplicates). Other counts pair nothing."""
    derived = {e.event_id for e in shipment.events}
    orphans = sorted((k for k in own.values() if k.event_id not in derived), key=order)
    if len(orphans) != len(fresh):
        return fresh
    for old, event in zip(orphans, sorted(fresh, key=order)):
        corrected[old.event_id] = NormalizedEvent.model_validate({**event.model_dump(), "event_id": old.event_id})
        again = source(event, Candidate(old.event_id, old.occurred_at, old.status, old.exception_class, old.place,
                                        frozenset()), inbox_id)
        plan.sources.append(again)
        aliases.append(Alias(again.alias_id, old.event_id, again.route))
    return []


def correct(plan: Plan, history: list[Known], events: list[NormalizedEvent], state: ShipmentState,
            traceparent: str | None, received_epoch: float | None) -> ShipmentState:
    """Rewrite the corrected events in `history`, refold the state after each, publish each as a correction."""
    index = {k.event_id: i for i, k in enumerate(history)}
    for event in sorted(events, key=lambda e: e.occurred_at):
        old = history[index[event.event_id]]
        revision = old.revision + 1
        history[index[event.event_id]] = Known(event.event_id, event.occurred_at, event.status, event.exception_class,
                                               old.route, old.place, old.inbox_id, revision, old.basis)
        status_before, state = state.status, fold(history)
        data = event_data(event)
        plan.corrections.append(Correction(event.event_id, event.carrier, event.tracking_number, event.status.value,
                                           event.exception_class.value if event.exception_class else None,
                                           orjson.dumps(data), revision, event.occurred_at))
        snapshot = Snapshot(status_before, state.status, state.exception_class,
                            anomaly=event.event_id in state.anomalies)
        message = correction_event(cloud_event(event, snapshot, data), revision)
        plan.outbox.append(OutboxDraft(message["id"], routing_key(event), encode(message), traceparent,
                                       received_epoch))
        plan.report.corrected_events += 1
    return state
