"""The normalizer's decisions for one batch of documents, as one pure function.

Inputs, loaded by the store adapter inside its transaction: each inbox row's
state (a row already finished is skipped: a redelivery changes nothing) and
the stored history of every shipment the batch names (read under that
shipment's lock where several processes write). Output: a `Plan` of new
event rows, the outbox messages (CloudEvents with the shipment snapshot
after each event), the final state per shipment, the inbox outcomes and the
unknown codes to count. The adapter writes the plan in the same
transaction, so a batch has all its effects or none.

Events already in a history are duplicates: they insert nothing and publish
nothing. New events are applied in time order; a new event later than
everything known extends the state in place (no re-sort of the history), an
earlier one refolds it, so a long history costs O(n log n) once, not per event.

An event with a new id may still be a scan the shipment has, relayed by
another route (an aggregator beside the carrier's own feed): the cross-route
match (`service.core.relay`) turns it into another provenance of the stored
event (`Plan.sources`) instead of a second event.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import orjson

from parsers.normalize import NormalizedShipment, Outcome
from taxonomy import Channel, ExceptionClass, NormalizedEvent, Status
from taxonomy.state import STAGE, ShipmentState, fold

from ..cloudevents import Snapshot, cloud_event, correction_event, encode, event_data, routing_key
from ..rows import Normalized, OutboxRow
from .relay import Candidate, Source, Window, match, place_key, route_of, source

ShipmentKey = tuple[str, str]  # (carrier, tracking number)


@dataclass(frozen=True, slots=True)
class Known:
    """A stored event as the state rules need it."""

    event_id: str
    occurred_at: datetime
    status: Status
    exception_class: ExceptionClass | None
    route: str | None = None  # the parser it arrived through first (None: stored before routes were kept)
    place: str | None = None  # `relay.place_key` of its location
    inbox_id: int | None = None  # the document it came from
    revision: int = 1  # 1 as first published; each correction adds one


class Alias(NamedTuple):
    """A stored further arrival of an event through another route, under its own v1 id."""

    alias_id: str
    event_id: str
    route: str


class InboxState(NamedTuple):
    state: str
    received_epoch: float | None


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    carrier: str
    tracking_number: str
    occurred_at: datetime
    status: str
    exception_class: str | None
    inbox_id: int | None
    body: bytes  # the NormalizedEvent contract as JSON
    route: str | None = None
    place: str | None = None


@dataclass(frozen=True, slots=True)
class Correction:
    """A stored event derived again from its own document with another status, class or time (a replay after a
    mapping or parser fix): the row is rewritten and the event published again as a correction."""

    event_id: str
    carrier: str
    tracking_number: str
    status: str
    exception_class: str | None
    body: bytes
    revision: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxDraft:
    """An outbox message before the store gives it its feed position."""

    event_id: str
    routing_key: str
    body: bytes
    traceparent: str | None
    received_epoch: float | None

    def with_seq(self, seq: int) -> OutboxRow:
        return OutboxRow(seq, self.routing_key, self.body, self.event_id, self.traceparent, self.received_epoch)


@dataclass(frozen=True, slots=True)
class ShipmentRow:
    """A shipment's current state; estimated delivery and signer only overwrite when given."""

    carrier: str
    tracking_number: str
    status: str
    exception_class: str | None
    last_event_id: str | None
    last_occurred_at: datetime | None
    estimated_delivery: str | None
    signed_by: str | None
    anomalies: list[str]

    @property
    def anomalies_json(self) -> str:
        return orjson.dumps(self.anomalies).decode()


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    id: int
    state: str  # done | quarantined
    reason: str | None


@dataclass(slots=True)
class Applied:
    """What one transaction did, for metrics, logs and waking the relay."""

    done: int = 0
    quarantined: int = 0
    skipped: int = 0  # already done: a redelivery
    new_events: int = 0
    duplicate_events: int = 0
    relayed_events: int = 0  # arrivals matched to a stored event through another route
    corrected_events: int = 0  # stored events re-derived with another status or class, published again
    outbox_seqs: list[int] = field(default_factory=list)
    # With a lease: the new outbox rows, already leased to the caller's relay
    outbox_rows: list[OutboxRow] = field(default_factory=list)
    fresh: list[NormalizedEvent] = field(default_factory=list)  # the new events, for metrics
    received: list[float] = field(default_factory=list)  # when documents that yielded new events arrived


@dataclass(slots=True)
class Plan:
    events: list[EventRow] = field(default_factory=list)
    outbox: list[OutboxDraft] = field(default_factory=list)  # in the order subscribers must see them
    shipments: dict[ShipmentKey, ShipmentRow] = field(default_factory=dict)  # the last state of each
    inbox: list[InboxOutcome] = field(default_factory=list)
    unmapped: list[tuple[str, str, str]] = field(default_factory=list)  # (table, code, description)
    sources: list[Source] = field(default_factory=list)  # further provenances of stored events
    corrections: list[Correction] = field(default_factory=list)
    report: Applied = field(default_factory=Applied)


def shipments_named(results: list[Normalized]) -> list[ShipmentKey]:
    """The shipments a batch may change, sorted: the histories to load and the locks to take, in order."""
    keys = {(s.carrier, s.tracking_number) for _, r in results if not isinstance(r, str) and r.ok
            for s in r.shipments}
    return sorted(keys)


def _reason(result: Outcome | str) -> str:
    if isinstance(result, str):
        return result
    return "; ".join(f"{e.kind}: {e.message}" for e in result.errors) or "unparseable"


def plan_batch(results: list[Normalized], inbox: dict[int, InboxState],
               histories: dict[ShipmentKey, list[Known]], traces: dict[int, str] | None = None,
               aliases: dict[ShipmentKey, list[Alias]] | None = None) -> Plan:
    """`results`: (inbox id, outcome or why it failed); `inbox`: the rows' states as stored;
    `histories`: every shipment of `shipments_named(results)` (missing = no events yet);
    `traces`: inbox id -> the normalize span's traceparent, carried into its outbox rows;
    `aliases`: the shipments' stored further arrivals (missing = none)."""
    plan, traces = Plan(), traces or {}
    states = {i: s.state for i, s in inbox.items()}
    histories = {k: list(v) for k, v in histories.items()}
    aliases = {k: list(v) for k, v in (aliases or {}).items()}
    for inbox_id, result in results:
        if states.get(inbox_id) in (None, "done", "quarantined"):
            plan.report.skipped += 1
            continue
        if not isinstance(result, str) and result.unmapped:
            plan.unmapped.extend(result.unmapped)
        if isinstance(result, str) or not result.ok:
            plan.inbox.append(InboxOutcome(inbox_id, "quarantined", _reason(result)[:2000]))
            states[inbox_id] = "quarantined"
            plan.report.quarantined += 1
            continue
        before = plan.report.new_events
        received = inbox[inbox_id].received_epoch
        for shipment in result.shipments:
            key = (shipment.carrier, shipment.tracking_number)
            _plan_shipment(plan, shipment, histories.setdefault(key, []), inbox_id, traces.get(inbox_id), received,
                           aliases.setdefault(key, []))
        if plan.report.new_events > before and received is not None:
            plan.report.received.append(received)
        notes = "; ".join(f"{e.kind}: {e.message}" for e in result.errors) or None
        plan.inbox.append(InboxOutcome(inbox_id, "done", notes))
        states[inbox_id] = "done"  # the same row twice in one batch has one effect
        plan.report.done += 1
    return plan


def plan_derived(shipments: list[NormalizedShipment], histories: dict[ShipmentKey, list[Known]]) -> Plan:
    """Events the service derived itself (no inbox document): the same rules, state and outbox."""
    plan = Plan()
    histories = {k: list(v) for k, v in histories.items()}
    for shipment in shipments:
        history = histories.setdefault((shipment.carrier, shipment.tracking_number), [])
        _plan_shipment(plan, shipment, history, None, None, None, [])
    return plan


def _order(k: Known | NormalizedEvent) -> tuple[datetime, int]:
    return k.occurred_at, STAGE[k.status]


def _plan_shipment(plan: Plan, shipment: NormalizedShipment, history: list[Known], inbox_id: int | None,
                   traceparent: str | None, received_epoch: float | None, aliases: list[Alias]) -> None:
    """Extend `history` (and `aliases`) in place with the shipment's new events, adding their effects to the plan."""
    seen = {k.event_id for k in history} | {a.alias_id for a in aliases}
    candidates: Window | None = None  # built once, only when an event has a new id
    fresh: list[NormalizedEvent] = []
    corrected: dict[str, NormalizedEvent] = {}
    own = {k.event_id: k for k in history if k.inbox_id == inbox_id} if inbox_id is not None else {}
    for event in shipment.events:
        if event.event_id in seen:
            stored = own.get(event.event_id)
            if (stored is not None and event.event_id not in corrected
                    and (stored.status, stored.exception_class) != (event.status, event.exception_class)):
                corrected[event.event_id] = event  # its own document, derived again differently: a correction
            else:
                plan.report.duplicate_events += 1
            continue
        seen.add(event.event_id)
        if history and event.provenance.channel is not Channel.DERIVED:
            candidates = candidates if candidates is not None else _candidates(history, aliases)
            found = match(event, candidates)
            if found is not None:  # the same scan through another route: a provenance, not an event
                relayed = source(event, found, inbox_id)
                plan.sources.append(relayed)
                aliases.append(Alias(relayed.alias_id, found.event_id, relayed.route))
                candidates = _candidates(history, aliases)
                plan.report.relayed_events += 1
                continue
        fresh.append(event)
    if own and fresh:
        fresh = _retimed(plan, shipment, own, fresh, corrected, aliases, inbox_id)
    if not fresh and not corrected and history:
        return
    state = fold(history)
    if corrected:
        state = _correct(plan, history, list(corrected.values()), state, traceparent, received_epoch)
    last = max((_order(k) for k in history), default=None)
    fresh.sort(key=lambda e: e.occurred_at)
    for event in fresh:
        data = event_data(event)
        route, place = route_of(event), place_key(event.location)
        plan.events.append(EventRow(event.event_id, event.carrier, event.tracking_number, event.occurred_at,
                                    event.status.value, event.exception_class.value if event.exception_class
                                    else None, inbox_id, orjson.dumps(data), route, place))
        known = Known(event.event_id, event.occurred_at, event.status, event.exception_class, route, place, inbox_id)
        history.append(known)
        status_before = state.status
        if last is None or _order(known) >= last:
            state.apply(known)  # the latest of all: fold(history) would end with exactly this step
            last = _order(known)
        else:
            state = fold(history)  # an earlier scan arrived late: the state is recomputed from the start
        snapshot = Snapshot(status_before, state.status, state.exception_class,
                            anomaly=event.event_id in state.anomalies)
        plan.outbox.append(OutboxDraft(event.event_id, routing_key(event),
                                       encode(cloud_event(event, snapshot, data)), traceparent, received_epoch))
        plan.report.fresh.append(event)
        plan.report.new_events += 1
    plan.shipments[(shipment.carrier, shipment.tracking_number)] = _shipment_row(shipment, state)


def _retimed(plan: Plan, shipment: NormalizedShipment, own: dict[str, Known], fresh: list[NormalizedEvent],
             corrected: dict[str, NormalizedEvent], aliases: list[Alias], inbox_id: int | None) -> list[NormalizedEvent]:
    """A document derived again whose stored events are no longer among its ids while as many new ones appear:
    a parser fix changed their times (the v1 id hashes the instant). The same bytes yield the same scans in the
    same order, so they pair up in time order and each stored event is corrected, keeping its event_id; its
    new id is recorded as an alias (its later arrivals are duplicates). Other counts pair nothing."""
    derived = {e.event_id for e in shipment.events}
    orphans = sorted((k for k in own.values() if k.event_id not in derived), key=_order)
    if len(orphans) != len(fresh):
        return fresh
    for old, event in zip(orphans, sorted(fresh, key=_order)):
        corrected[old.event_id] = NormalizedEvent.model_validate({**event.model_dump(), "event_id": old.event_id})
        again = source(event, Candidate(old.event_id, old.occurred_at, old.status, old.exception_class, old.place,
                                        frozenset()), inbox_id)
        plan.sources.append(again)
        aliases.append(Alias(again.alias_id, old.event_id, again.route))
    return []


def _correct(plan: Plan, history: list[Known], events: list[NormalizedEvent], state: ShipmentState,
             traceparent: str | None, received_epoch: float | None) -> ShipmentState:
    """Rewrite the corrected events in `history`, refold the state after each, publish each as a correction."""
    index = {k.event_id: i for i, k in enumerate(history)}
    for event in sorted(events, key=lambda e: e.occurred_at):
        old = history[index[event.event_id]]
        revision = old.revision + 1
        history[index[event.event_id]] = Known(event.event_id, event.occurred_at, event.status, event.exception_class,
                                               old.route, old.place, old.inbox_id, revision)
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


def _candidates(history: list[Known], aliases: list[Alias]) -> Window:
    routes: dict[str, set[str]] = {}
    for alias in aliases:
        routes.setdefault(alias.event_id, set()).add(alias.route)
    return Window([Candidate(k.event_id, k.occurred_at, k.status, k.exception_class, k.place,
                             frozenset(routes.get(k.event_id, set()) | ({k.route} if k.route else set())))
                   for k in history])


def _shipment_row(shipment: NormalizedShipment, state: ShipmentState) -> ShipmentRow:
    evented = state.last_event_id is not None
    status = state.status if evented else shipment.status
    cls = state.exception_class if evented else shipment.exception_class
    return ShipmentRow(shipment.carrier, shipment.tracking_number, status.value, cls.value if cls else None,
                       state.last_event_id, state.last_occurred_at, shipment.estimated_delivery,
                       shipment.signed_by, list(state.anomalies))
