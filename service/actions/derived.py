"""Exceptions the carriers never send: a shipment gone silent (`stalled`), or past its promise (`delivery_overdue`).

They become normalized events of their own, so subscribers, the state rules
and the policy treat them like any carrier event. Each one's time is fixed by
the facts (the last scan plus the allowed silence; the estimated delivery
plus the grace), never by when the sweep ran, so its `event_id` is stable:
sweeping again finds the same event and stores nothing new. Never after
`now`: nothing derived is dated in the future of the clock that derived it.

A clock can still be wrong (a start with the clock days ahead dates a
`stalled` days after the scan that, once the clock is fixed, arrives and
refutes it). So a derived event is stored with its basis, the latest real
scan it followed, and any real scan later than that basis voids it in the
state rules, whatever the two events' times (`taxonomy.state.fold`).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from parsers.normalize import NormalizedShipment
from taxonomy import Channel, ExceptionClass, MappedBy, NormalizedEvent, Provenance, Status, TimeBasis, event_id

from .policy import Policy

PARSER = "service.sweep"
VERSION = "1"


def _event(carrier: str, tn: str, cls: ExceptionClass, code: str, description: str, occurred: datetime,
           now: datetime) -> NormalizedShipment:
    event = NormalizedEvent(
        event_id=event_id(carrier, tn, occurred, code, description, None), carrier=carrier, tracking_number=tn,
        status=Status.EXCEPTION, exception_class=cls, occurred_at=occurred, occurred_at_local=occurred,
        time_basis=TimeBasis.OFFSET, description=description, carrier_code=code,
        provenance=Provenance(channel=Channel.DERIVED, received_at=now, parser=PARSER, parser_version=VERSION,
                              mapped_by=MappedBy.CODE))
    return NormalizedShipment(tn, carrier, Status.EXCEPTION, cls, None, None, [event])


def stalled(policy: Policy, carrier: str, tn: str, status: str, last_scan: datetime,
            now: datetime) -> NormalizedShipment | None:
    hours = policy.sweep.stalled_after_hours.get(Status(status))
    if hours is None or now < last_scan + timedelta(hours=hours):
        return None
    description = f"No carrier scan for {hours:g} hours (last status: {status.replace('_', ' ')})"
    return _event(carrier, tn, ExceptionClass.STALLED, "STALLED", description,
                  min(now, last_scan + timedelta(hours=hours)), now)


def overdue(policy: Policy, carrier: str, tn: str, estimated: str, now: datetime,
            horizon: datetime | None = None) -> NormalizedShipment | None:
    """`horizon`: a promise older than this is history (see the policy's `ignore_after_days`)."""
    promised = _promise(estimated)
    if promised is None or (horizon is not None and promised < horizon):
        return None
    due = promised + timedelta(hours=policy.sweep.overdue_after_hours)
    if now < due:
        return None
    description = f"Not delivered by the estimated delivery {estimated}"
    return _event(carrier, tn, ExceptionClass.DELIVERY_OVERDUE, "OVERDUE", description, min(now, due), now)


def _promise(estimated: str) -> datetime | None:
    """The end of the promised day (a date) or the promised moment (a date-time with offset)."""
    try:
        moment = datetime.fromisoformat(estimated)
    except ValueError:
        return None
    if len(estimated) <= 10:  # a date: the whole day counts (in UTC, the carrier gave no zone)
        return datetime.combine(moment.date(), time(23, 59, 59), timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
