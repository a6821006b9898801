"""Shipment state rules: the current status from a set of events, whatever their arrival order.

Events apply in `occurred_at` order. The current status is the latest
informative event's, except that a terminal status is left only by an allowed
transition with a later timestamp; anything else is kept as history and
flagged as an anomaly, never a regression. `unknown` events carry no
information about the lifecycle and do not move the state.

One exception, from real payloads: a delivery followed by the carrier's own
*later* scans of renewed movement (processed at a facility, in transit, out
for delivery again, delivery attempted, available for pickup) was not final.
The shipment follows those later scans and the delivery scans are flagged as
anomalies instead. Scans that happened *before* the delivery never move the
state, however late they arrive: in time order they come first. An
exception, a pickup or a label scan after a delivery is not renewed movement
and stays an anomaly (carriers post notices after delivering, such as UPS's
type-X "guaranteed service refund" days later), unless renewed movement
follows it: then the delivery was the mistake, and the scans between it and
the renewed movement are ordinary history (Canada Post reports "item
successfully delivered", then a customer addressing error, "item processed at
postal facility", "out for delivery" and a second delivery). `fold` remains a
function of the set of events alone, and extending a state with an event
later than all others (`ShipmentState.apply`) equals refolding the whole
history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Protocol

from .enums import CLASSED_STATUSES, TERMINAL_STATUSES, ExceptionClass, Status

# Transitions out of a terminal status that a later scan may make.
ALLOWED_FROM_TERMINAL: dict[Status, frozenset[Status]] = {
    Status.DELIVERED: frozenset({Status.RETURNED_TO_SENDER}),
    Status.RETURNED_TO_SENDER: frozenset(),
    # A voided label whose parcel was shipped anyway: physical scans win.
    Status.CANCELLED: frozenset({Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY,
                                 Status.AVAILABLE_FOR_PICKUP, Status.DELIVERY_ATTEMPTED, Status.DELIVERED,
                                 Status.RETURNED_TO_SENDER, Status.EXCEPTION}),
}

# Later scans that show a delivered parcel still moving: the delivery was not final.
RENEWED_AFTER_DELIVERY = frozenset({Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERY_ATTEMPTED,
                                    Status.AVAILABLE_FOR_PICKUP})

# Tie-break for scans with the same instant: the later lifecycle stage is applied last.
STAGE = {
    Status.UNKNOWN: 0, Status.LABEL_CREATED: 1, Status.CANCELLED: 2, Status.PICKED_UP: 3, Status.IN_TRANSIT: 4,
    Status.EXCEPTION: 5, Status.OUT_FOR_DELIVERY: 6, Status.DELIVERY_ATTEMPTED: 7,
    Status.AVAILABLE_FOR_PICKUP: 8, Status.RETURNED_TO_SENDER: 9, Status.DELIVERED: 10,
}


class StateEvent(Protocol):
    event_id: str
    occurred_at: datetime
    status: Status
    exception_class: ExceptionClass | None


def _basis(event: StateEvent) -> datetime | None:
    """A derived event's basis (the latest real scan it followed), None for a real event."""
    return getattr(event, "basis", None)


@dataclass(slots=True)
class ShipmentState:
    status: Status = Status.UNKNOWN
    exception_class: ExceptionClass | None = None
    last_event_id: str | None = None
    last_occurred_at: datetime | None = None
    anomalies: list[str] = field(default_factory=list)
    # While delivered: the delivery scans, and the scans flagged only because of them
    deliveries: list[str] = field(default_factory=list)
    flagged_after_delivery: list[str] = field(default_factory=list)
    # The earliest basis among the derived events applied: a real scan later than it voids them
    derived_basis: datetime | None = None

    def supersedes(self, event: StateEvent) -> bool:
        """True if `event` is a real scan that voids a derived event applied so far (refold to apply it)."""
        return (self.derived_basis is not None and _basis(event) is None
                and event.occurred_at > self.derived_basis)

    def apply(self, event: StateEvent) -> bool:
        """Apply one event in time order; True if it changed the current status or reason."""
        if event.status is Status.UNKNOWN:
            return False
        basis = _basis(event)
        if basis is not None:
            self.derived_basis = basis if self.derived_basis is None else min(self.derived_basis, basis)
        current = self.status
        if current in TERMINAL_STATUSES and event.status is not current:
            later = self.last_occurred_at is None or event.occurred_at > self.last_occurred_at
            if later and current is Status.DELIVERED and event.status in RENEWED_AFTER_DELIVERY:
                self._delivery_was_not_final()
            elif not (later and event.status in ALLOWED_FROM_TERMINAL[current]):
                self.anomalies.append(event.event_id)
                if current is Status.DELIVERED:
                    self.flagged_after_delivery.append(event.event_id)
                return False
        if event.status is Status.DELIVERED and current is not Status.DELIVERED:
            self.deliveries, self.flagged_after_delivery = [], []
        if event.status is Status.DELIVERED:
            self.deliveries.append(event.event_id)
        cls = event.exception_class if event.status in CLASSED_STATUSES else None
        changed = (event.status, cls) != (self.status, self.exception_class)
        self.status, self.exception_class = event.status, cls
        self.last_event_id, self.last_occurred_at = event.event_id, event.occurred_at
        return changed

    def _delivery_was_not_final(self) -> None:
        """The delivery scans become the anomalies; what was flagged only for contradicting them is history."""
        flagged = self.flagged_after_delivery
        if flagged and self.anomalies[-len(flagged):] == flagged:  # always so: flagged last, in order
            del self.anomalies[-len(flagged):]
        elif flagged:
            cleared = set(flagged)
            self.anomalies = [a for a in self.anomalies if a not in cleared]
        self.anomalies.extend(self.deliveries)
        self.deliveries, self.flagged_after_delivery = [], []


def fold(events: Iterable[StateEvent]) -> ShipmentState:
    """The state after all `events`, applied in time order (ties by lifecycle stage).

    A derived event (one with a basis: the service's own `stalled` or
    `delivery_overdue`, made from the silence after the latest real scan it
    saw) is void once a real scan later than that basis exists, whatever
    the two events' times: the carrier has spoken since, so the silence was
    not what it seemed (a sweep run with a clock ahead dates its event after
    the scan that refutes it).
    """
    events = list(events)
    latest_real = max((e.occurred_at for e in events if _basis(e) is None), default=None)
    state = ShipmentState()
    for event in sorted(events, key=lambda e: (e.occurred_at, STAGE[e.status])):
        basis = _basis(event)
        if basis is not None and latest_real is not None and latest_real > basis:
            continue
        state.apply(event)
    return state
