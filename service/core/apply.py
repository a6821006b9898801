"""The normalizer's decisions for one batch of documents, as one pure function.

Inputs, loaded by the store adapter inside its transaction: each inbox row's
state (a row already finished is skipped: a redelivery changes nothing), the
stored history of every shipment the batch names (read under that
shipment's lock where several processes write) and its further arrivals
(aliases). Output: a `Plan` (`service.core.plan`) of new event rows,
corrections, further provenances, the outbox messages (CloudEvents with the
shipment snapshot after each event), the final state per shipment, the inbox
outcomes and the unknown codes to count. The adapter writes the plan in the
same transaction, so a batch has all its effects or none.

Events already in a history are duplicates: they insert nothing and publish
nothing. New events are applied in time order; a new event later than
everything known extends the state in place (no re-sort of the history), an
earlier one refolds it, so a long history costs O(n log n) once, not per event.

An event with a new id may still be a scan the shipment has, relayed by
another route (an aggregator beside the carrier's own feed): the cross-route
match (`service.core.relay`) turns it into another provenance of the stored
event (`Plan.sources`) instead of a second event. A whole document derived
again with other results corrects its stored events (`service.core.corrections`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from parsers.normalize import NormalizedShipment, Outcome
from taxonomy import Channel, NormalizedEvent, Status
from taxonomy.state import STAGE, ShipmentState, fold

from ..cardinality import unmapped_code
from ..cloudevents import Snapshot, cloud_event, encode, event_data, routing_key
from ..rows import Normalized
from .corrections import correct, retimed
from .plan import (Alias, Applied, Correction, EventRow, InboxOutcome, InboxState, Known, OutboxDraft, Plan,
                   ShipmentKey, ShipmentRow)
from .relay import Candidate, Window, is_relay, match, place_key, route_of, source

__all__ = ["Alias", "Applied", "Correction", "EventRow", "InboxOutcome", "InboxState", "Known", "OutboxDraft", "Plan",
           "ShipmentKey", "ShipmentRow", "Track", "TrackCache", "plan_batch", "plan_derived", "shipments_named",
           "split"]


def shipments_named(results: list[Normalized]) -> list[ShipmentKey]:
    """The shipments a batch may change, sorted: the histories to load and the locks to take, in order."""
    keys = {(s.carrier, s.tracking_number) for n in results if not isinstance(r := n[1], str) and r.ok
            for s in r.shipments}
    return sorted(keys)


def _reason(result: Outcome | str) -> str:
    if isinstance(result, str):
        return result
    return "; ".join(f"{e.kind}: {e.message}" for e in result.errors) or "unparseable"


def plan_batch(results: list[Normalized], inbox: dict[int, InboxState],
               histories: dict[ShipmentKey, list[Known]], traces: dict[int, str] | None = None,
               tracks: dict[ShipmentKey, Track] | None = None,
               aliases: dict[ShipmentKey, list[Alias]] | None = None) -> Plan:
    """`results`: (inbox id, outcome or why it failed); `inbox`: the rows' states as stored;
    `histories`: every shipment of `shipments_named(results)` (missing = no events yet), except those
    given in `tracks` (still valid tracks from a `TrackCache`, extended in place);
    `traces`: inbox id -> the normalize span's traceparent, carried into its outbox rows;
    `aliases`: the shipments' stored further arrivals (missing = none)."""
    plan, traces, aliases = Plan(), traces or {}, aliases or {}
    states = {i: s.state for i, s in inbox.items()}
    tracks = plan.tracks = dict(tracks or {})
    for item in results:
        inbox_id, result, final = item[0], item[1], getattr(item, "final", True)
        whole = getattr(item, "whole", True)  # False: one of the parts of a large document
        if states.get(inbox_id) in (None, "done", "quarantined"):
            plan.report.skipped += 1
            continue
        if not final and not isinstance(result, str):  # a part of a large document: its events only
            for shipment in result.shipments:
                track = _track(tracks, histories, aliases, (shipment.carrier, shipment.tracking_number))
                _plan_shipment(plan, shipment, track, inbox_id, traces.get(inbox_id), inbox[inbox_id].received_epoch,
                               whole=False)
            continue
        if not isinstance(result, str) and result.unmapped:
            plan.unmapped.extend((table, unmapped_code(code), text) for table, code, text in result.unmapped)
        if isinstance(result, str) or not result.ok:
            plan.inbox.append(InboxOutcome(inbox_id, "quarantined", _reason(result)[:2000]))
            states[inbox_id] = "quarantined"
            plan.report.quarantined += 1
            continue
        before = plan.report.new_events
        received = inbox[inbox_id].received_epoch
        for shipment in result.shipments:
            track = _track(tracks, histories, aliases, (shipment.carrier, shipment.tracking_number))
            _plan_shipment(plan, shipment, track, inbox_id, traces.get(inbox_id), received, whole=whole)
        if plan.report.new_events > before and received is not None:
            plan.report.received.append(received)
        notes = "; ".join(f"{e.kind}: {e.message}" for e in result.errors) or None
        plan.inbox.append(InboxOutcome(inbox_id, "done", notes))
        states[inbox_id] = "done"  # the same row twice in one batch has one effect
        plan.report.done += 1
    _finish_rows(plan, tracks)
    return plan


# A document with more events than this is applied in parts of about this many events, each its own
# transaction, so a 20,000-scan document never holds the store (and intake's commits) for long.
PART_EVENTS = 100


def split(outcome: Outcome | str, size: int | None = None) -> list[Outcome | str]:
    """A large outcome as parts of at most `size` events (in time order per shipment), the last one final.

    Every part but the last holds only events; the last holds the rest, with
    the document's errors and unknown codes, and finishes the inbox row. A
    crash between parts loses nothing: the row is still unfinished, and its
    redelivery finds the parts already stored as duplicates.
    """
    size = size or PART_EVENTS
    if isinstance(outcome, str) or not outcome.ok or sum(len(s.events) for s in outcome.shipments) <= size:
        return [outcome]
    parts: list[Outcome | str] = []
    current: list[NormalizedShipment] = []
    room = size
    for shipment in outcome.shipments:
        events = sorted(shipment.events, key=_order)
        while len(events) > room:
            if room:
                current.append(replace(shipment, events=events[:room][::-1]))
            parts.append(replace(outcome, shipments=current, errors=[], unmapped=[]))
            events, current, room = events[room:], [], size
        if events or not shipment.events:
            current.append(replace(shipment, events=events[::-1]))
            room -= len(events)
    parts.append(replace(outcome, shipments=current))
    return parts


def plan_derived(shipments: list[NormalizedShipment], histories: dict[ShipmentKey, list[Known]]) -> Plan:
    """Events the service derived itself (no inbox document): the same rules, state and outbox."""
    plan = Plan()
    tracks: dict[ShipmentKey, Track] = {}
    for shipment in shipments:
        track = _track(tracks, histories, {}, (shipment.carrier, shipment.tracking_number))
        _plan_shipment(plan, shipment, track, None, None, None, derived=True)
    _finish_rows(plan, tracks)
    return plan


def _order(k: Known | NormalizedEvent) -> tuple[datetime, int]:
    return k.occurred_at, STAGE[k.status]


# Late scans (earlier than the latest known) of one shipment in one batch that each refold the history
# exactly; past this many the rest are folded in once (see `_plan_shipment`), so no document costs
# O(history) per event.
REFOLD_LIMIT = 32


@dataclass(slots=True)
class Track:
    """One shipment while a batch is planned: its history folded once, then extended event by event."""

    history: list[Known]
    seen: set[str]
    state: ShipmentState
    last: tuple[datetime, int] | None
    shipment: NormalizedShipment | None = None  # the latest document's view, for the shipments row
    refolds: int = 0
    aliases: list[Alias] = field(default_factory=list)  # its stored further arrivals (cross-route match)
    relayed: bool = False  # some of its events came through an aggregator: arrivals may be relays of them


class TrackCache:
    """Long histories kept between the transactions of one large document's parts.

    Each part would otherwise read and refold the whole history written by
    the parts before it (O(n^2) over the document). A track is taken out
    while a transaction uses it and put back only after its commit; it is
    used again only if the store still holds exactly as many events for the
    shipment as the track knows (events are never deleted, so equal counts
    mean the same set: nobody else wrote in between).
    """

    MIN_HISTORY = 500  # shorter histories are cheap to read again
    SIZE = 8

    def __init__(self) -> None:
        self._tracks: dict[ShipmentKey, Track] = {}

    def candidates(self) -> set[ShipmentKey]:
        return set(self._tracks)

    def take(self, key: ShipmentKey, stored_events: int) -> Track | None:
        track = self._tracks.pop(key, None)
        if track is None or len(track.history) != stored_events:
            return None
        track.shipment, track.refolds = None, 0  # a new batch: its own row and its own refolds
        return track

    def put(self, tracks: dict[ShipmentKey, Track]) -> None:
        for key, track in tracks.items():
            if len(track.history) >= self.MIN_HISTORY:
                self._tracks.pop(key, None)
                self._tracks[key] = track
        while len(self._tracks) > self.SIZE:
            del self._tracks[next(iter(self._tracks))]


def _track(tracks: dict[ShipmentKey, Track], histories: dict[ShipmentKey, list[Known]],
           aliases: dict[ShipmentKey, list[Alias]], key: ShipmentKey) -> Track:
    track = tracks.get(key)
    if track is None:
        history, known_aliases = list(histories.get(key, ())), list(aliases.get(key, ()))
        track = tracks[key] = Track(history, {k.event_id for k in history} | {a.alias_id for a in known_aliases},
                                    fold(history), max((_order(k) for k in history), default=None),
                                    aliases=known_aliases,
                                    relayed=bool(known_aliases) or any(k.route and is_relay(k.route) for k in history))
    return track


def _plan_shipment(plan: Plan, shipment: NormalizedShipment, track: Track, inbox_id: int | None,
                   traceparent: str | None, received_epoch: float | None, derived: bool = False,
                   whole: bool = True) -> None:
    """Extend the shipment's track with its new events, adding their effects to the plan.

    An arrival with a new id that the cross-route match pairs with a stored
    event becomes a further provenance of it, not an event. A whole document
    derived again with another status, class or time for its own stored
    events corrects them (`whole`: a part of a large document never does).

    Events later than everything known extend the state in place (what a
    refold would end with); an earlier one (a late scan) refolds the history,
    at most `REFOLD_LIMIT` times per shipment and batch. Late scans beyond that
    are added together: each is published with the state as it stood, and the
    last of them with the state after all of them (one refold), so the feed
    still tells every status change, once.
    """
    history = track.history
    candidates: Window | None = None  # built once, only when an arrival could be a relay
    fresh: list[NormalizedEvent] = []
    corrected: dict[str, NormalizedEvent] = {}
    own = ({k.event_id: k for k in history if k.inbox_id == inbox_id}
           if whole and inbox_id is not None and history else {})
    for event in shipment.events:
        if event.event_id in track.seen:
            stored = own.get(event.event_id)
            if (stored is not None and event.event_id not in corrected
                    and (stored.status, stored.exception_class) != (event.status, event.exception_class)):
                corrected[event.event_id] = event  # its own document, derived again differently: a correction
            else:
                plan.report.duplicate_events += 1
            continue
        track.seen.add(event.event_id)
        if (history and not derived and event.provenance.channel is not Channel.DERIVED
                and (track.relayed or is_relay(route_of(event)))):
            candidates = candidates if candidates is not None else _candidates(history, track.aliases)
            found = match(event, candidates)
            if found is not None:  # the same scan through another route: a provenance, not an event
                relayed = source(event, found, inbox_id)
                plan.sources.append(relayed)
                track.aliases.append(Alias(relayed.alias_id, found.event_id, relayed.route))
                candidates = _candidates(history, track.aliases)
                plan.report.relayed_events += 1
                continue
        fresh.append(event)
    if own and fresh:
        fresh = retimed(plan, shipment, own, fresh, corrected, track.aliases, inbox_id, _order)
    if not fresh and not corrected and history:
        return
    track.shipment = shipment
    if corrected:
        track.state = correct(plan, history, list(corrected.values()), track.state, traceparent, received_epoch)
        track.last = max((_order(k) for k in history), default=None)
    fresh.sort(key=_order)
    deferred: tuple[int, NormalizedEvent, dict, Status] | None = None  # the last late scan added together
    for event in fresh:
        data = event_data(event)
        route, place = route_of(event), place_key(event.location)
        known = Known(event.event_id, event.occurred_at, event.status, event.exception_class, route, place,
                      inbox_id, 1, _basis(track) if derived else None)
        plan.events.append(EventRow(event.event_id, event.carrier, event.tracking_number, event.occurred_at,
                                    event.status.value, event.exception_class.value if event.exception_class
                                    else None, inbox_id, orjson.dumps(data), route, place, known.basis))
        track.history.append(known)
        track.relayed = track.relayed or is_relay(route)
        state, order = track.state, _order(known)
        status_before = state.status
        if track.last is None or order >= track.last:
            if deferred is not None:
                deferred = _settle_deferred(plan, track, deferred)
                state, status_before = track.state, track.state.status
            if state.supersedes(known):
                track.state = state = fold(track.history)  # a real scan voids a derived event: refold
            else:
                state.apply(known)  # the latest of all: fold(history) would end with exactly this step
            track.last = order
            anomaly = bool(state.anomalies) and state.anomalies[-1] == event.event_id
        elif track.refolds < REFOLD_LIMIT:
            track.refolds += 1
            track.state = state = fold(track.history)  # an earlier scan arrived late: recomputed from the start
            anomaly = event.event_id in state.anomalies
        else:
            if deferred is None:
                deferred = (len(plan.outbox), event, data, status_before)
            else:
                deferred = (len(plan.outbox), event, data, deferred[3])
            anomaly = False
        snapshot = Snapshot(status_before, state.status, state.exception_class, anomaly=anomaly)
        plan.outbox.append(OutboxDraft(event.event_id, routing_key(event),
                                       encode(cloud_event(event, snapshot, data)), traceparent, received_epoch))
        plan.report.fresh.append(event)
        plan.report.new_events += 1
    if deferred is not None:
        _settle_deferred(plan, track, deferred)


def _basis(track: Track) -> datetime | None:
    """The latest real scan a derived event follows: a real scan later than it voids the derived one."""
    return max((k.occurred_at for k in track.history if k.basis is None), default=None)


def _settle_deferred(plan: Plan, track: Track, deferred: tuple[int, NormalizedEvent, dict, Status]) -> None:
    """Fold once after late scans added together; the last of them is published with the resulting state."""
    index, event, data, status_before = deferred
    track.state = state = fold(track.history)
    snapshot = Snapshot(status_before, state.status, state.exception_class,
                        anomaly=event.event_id in state.anomalies)
    draft = plan.outbox[index]
    plan.outbox[index] = OutboxDraft(draft.event_id, draft.routing_key, encode(cloud_event(event, snapshot, data)),
                                     draft.traceparent, draft.received_epoch)
    return None


def _candidates(history: list[Known], aliases: list[Alias]) -> Window:
    routes: dict[str, set[str]] = {}
    for alias in aliases:
        routes.setdefault(alias.event_id, set()).add(alias.route)
    return Window([Candidate(k.event_id, k.occurred_at, k.status, k.exception_class, k.place,
                             frozenset(routes.get(k.event_id, set()) | ({k.route} if k.route else set())))
                   for k in history])


def _finish_rows(plan: Plan, tracks: dict[ShipmentKey, Track]) -> None:
    """Each shipment's row once, after the batch: its final state and the latest document's details."""
    for key, track in tracks.items():
        if track.shipment is not None:
            plan.shipments[key] = _shipment_row(track.shipment, track.state)


def _shipment_row(shipment: NormalizedShipment, state: ShipmentState) -> ShipmentRow:
    evented = state.last_event_id is not None
    status = state.status if evented else shipment.status
    cls = state.exception_class if evented else shipment.exception_class
    return ShipmentRow(shipment.carrier, shipment.tracking_number, status.value, cls.value if cls else None,
                       state.last_event_id, state.last_occurred_at, shipment.estimated_delivery,
                       shipment.signed_by, list(state.anomalies))
