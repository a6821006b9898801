"""What the normalizer's plan is made of: the rows a store adapter loads into `service.core.apply` and the
effects it writes back (events, corrections, further provenances, outbox messages, shipment rows)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from taxonomy import ExceptionClass, NormalizedEvent, Status

from ..rows import OutboxRow
from .relay import Source

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
    # Derived events only (a sweep's `stalled`, `delivery_overdue`): the latest real scan it followed
    basis: datetime | None = None


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
    basis: datetime | None = None  # derived events: see `Known.basis`


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
    tracks: dict[ShipmentKey, Any] = field(default_factory=dict)  # each shipment's `apply.Track` after the plan
