"""Shipment state rules: time order, no regressions out of terminal states, anomalies kept."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from taxonomy import ExceptionClass, Status
from taxonomy.state import fold

T0 = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)


@dataclass
class Ev:
    event_id: str
    hours: int
    status: Status
    exception_class: ExceptionClass | None = None

    @property
    def occurred_at(self):
        return T0 + timedelta(hours=self.hours)


def test_arrival_order_does_not_matter():
    events = [Ev("c", 5, Status.OUT_FOR_DELIVERY), Ev("a", 1, Status.PICKED_UP), Ev("b", 3, Status.IN_TRANSIT)]
    assert fold(events).status is Status.OUT_FOR_DELIVERY
    assert fold(reversed(events)).status is Status.OUT_FOR_DELIVERY


def test_exception_then_ordinary_scan_returns_to_the_lifecycle():
    state = fold([Ev("a", 1, Status.EXCEPTION, ExceptionClass.WEATHER_DELAY), Ev("b", 2, Status.IN_TRANSIT)])
    assert (state.status, state.exception_class) == (Status.IN_TRANSIT, None)
    state = fold([Ev("a", 1, Status.IN_TRANSIT), Ev("b", 2, Status.EXCEPTION, ExceptionClass.WEATHER_DELAY)])
    assert (state.status, state.exception_class) == (Status.EXCEPTION, ExceptionClass.WEATHER_DELAY)


def test_delivered_is_not_left_by_a_later_ordinary_scan_and_the_scan_is_flagged():
    state = fold([Ev("a", 1, Status.DELIVERED), Ev("b", 2, Status.IN_TRANSIT)])
    assert state.status is Status.DELIVERED and state.anomalies == ["b"]


def test_delivered_then_returned_is_allowed():
    state = fold([Ev("a", 1, Status.DELIVERED), Ev("b", 9, Status.RETURNED_TO_SENDER, ExceptionClass.REFUSED)])
    assert (state.status, state.exception_class, state.anomalies) == (
        Status.RETURNED_TO_SENDER, ExceptionClass.REFUSED, [])


def test_unknown_events_do_not_move_the_state():
    assert fold([Ev("a", 1, Status.IN_TRANSIT), Ev("b", 2, Status.UNKNOWN)]).status is Status.IN_TRANSIT
    assert fold([Ev("b", 2, Status.UNKNOWN)]).last_event_id is None


def test_same_instant_ties_resolve_to_the_later_stage():
    events = [Ev("a", 1, Status.DELIVERED), Ev("b", 1, Status.OUT_FOR_DELIVERY)]
    assert fold(events).status is Status.DELIVERED
    assert fold(list(reversed(events))).status is Status.DELIVERED


def test_cancelled_label_then_physical_scan():
    assert fold([Ev("a", 1, Status.CANCELLED), Ev("b", 2, Status.PICKED_UP)]).status is Status.PICKED_UP
    state = fold([Ev("a", 1, Status.CANCELLED), Ev("b", 2, Status.LABEL_CREATED)])
    assert state.status is Status.CANCELLED and state.anomalies == ["b"]
