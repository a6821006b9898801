"""Shipment state rules: time order, no regressions out of terminal states, anomalies kept."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

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


def test_delivered_then_out_for_delivery_later_was_not_final_and_the_delivery_is_flagged():
    events = [Ev("a", 1, Status.IN_TRANSIT), Ev("d", 3, Status.DELIVERED), Ev("o", 5, Status.OUT_FOR_DELIVERY)]
    for order in (events, list(reversed(events))):
        state = fold(order)
        assert (state.status, state.last_event_id, state.anomalies) == (Status.OUT_FOR_DELIVERY, "o", ["d"])


@pytest.mark.parametrize("renewed", [Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERY_ATTEMPTED,
                                     Status.AVAILABLE_FOR_PICKUP])
def test_every_scan_of_renewed_movement_after_a_delivery_is_followed(renewed):
    cls = ExceptionClass.RECIPIENT_UNAVAILABLE if renewed is Status.DELIVERY_ATTEMPTED else None
    state = fold([Ev("d", 1, Status.DELIVERED), Ev("r", 2, renewed, cls)])
    assert (state.status, state.exception_class, state.anomalies) == (renewed, cls, ["d"])


def test_a_redelivery_after_renewed_movement_is_final_again():
    state = fold([Ev("d1", 1, Status.DELIVERED), Ev("d2", 2, Status.DELIVERED), Ev("p", 4, Status.IN_TRANSIT),
                  Ev("o", 6, Status.OUT_FOR_DELIVERY), Ev("d3", 7, Status.DELIVERED), Ev("x", 8, Status.IN_TRANSIT),
                  Ev("y", 9, Status.DELIVERED)])
    assert state.status is Status.DELIVERED and state.last_event_id == "y"
    assert state.anomalies == ["d1", "d2", "d3"]  # every delivery scan that turned out not to be final


def test_a_problem_between_a_delivery_and_renewed_movement_is_history_not_an_anomaly():
    """A delivery, an addressing error, processed at a facility, out for delivery, delivered again."""
    events = [Ev("d1", 1, Status.DELIVERED), Ev("x", 2, Status.EXCEPTION, ExceptionClass.ADDRESS_ISSUE),
              Ev("p", 3, Status.IN_TRANSIT), Ev("o", 4, Status.OUT_FOR_DELIVERY), Ev("d2", 5, Status.DELIVERED)]
    assert fold(events[:2]).anomalies == ["x"]  # until something moves, the delivery stands
    state = fold(events)
    assert (state.status, state.last_event_id, state.anomalies) == (Status.DELIVERED, "d2", ["d1"])


def test_delivered_then_an_earlier_scan_arriving_late_never_regresses():
    history = [Ev("d", 5, Status.DELIVERED)]
    for late in (Ev("o", 4, Status.OUT_FOR_DELIVERY), Ev("t", 2, Status.IN_TRANSIT)):
        history.append(late)
        state = fold(history)
        assert (state.status, state.last_event_id, state.anomalies) == (Status.DELIVERED, "d", [])
    # the same instant as the delivery is not later: the delivery stands
    state = fold([Ev("d", 5, Status.DELIVERED), Ev("t", 5, Status.IN_TRANSIT)])
    assert (state.status, state.anomalies) == (Status.DELIVERED, [])


@pytest.mark.parametrize("after", [Status.EXCEPTION, Status.PICKED_UP, Status.LABEL_CREATED])
def test_what_is_not_renewed_movement_after_a_delivery_stays_an_anomaly(after):
    cls = ExceptionClass.OTHER if after is Status.EXCEPTION else None
    state = fold([Ev("d", 1, Status.DELIVERED), Ev("b", 2, after, cls)])
    assert (state.status, state.last_event_id, state.anomalies) == (Status.DELIVERED, "d", ["b"])


def test_delivered_then_returned_is_allowed():
    state = fold([Ev("a", 1, Status.DELIVERED), Ev("b", 9, Status.RETURNED_TO_SENDER, ExceptionClass.REFUSED)])
    assert (state.status, state.exception_class, state.anomalies) == (
        Status.RETURNED_TO_SENDER, ExceptionClass.REFUSED, [])


def test_returned_after_delivered_stays_returned_whatever_moves_after():
    state = fold([Ev("a", 1, Status.DELIVERED), Ev("b", 9, Status.RETURNED_TO_SENDER),
                  Ev("c", 11, Status.IN_TRANSIT), Ev("e", 12, Status.DELIVERED)])
    assert (state.status, state.last_event_id, state.anomalies) == (Status.RETURNED_TO_SENDER, "b", ["c", "e"])


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


def test_the_normalizer_publishes_renewed_movement_after_a_delivery_as_a_status_change():
    """Extending a stored history in place: the later scan moves the shipment, the stored delivery is flagged."""
    import orjson

    from service.core.apply import InboxState, Known, plan_batch
    from tests.test_core import TN, event, outcome

    delivered, again = event(0, Status.DELIVERED), event(90, Status.OUT_FOR_DELIVERY)
    history = [Known(delivered.event_id, delivered.occurred_at, delivered.status, None)]
    plan = plan_batch([(1, outcome(again))], {1: InboxState("claimed", None)}, {("ups", TN): history})
    [body] = [orjson.loads(d.body)["data"]["shipment"] for d in plan.outbox]
    assert (body["status_before"], body["status"], body["anomaly"]) == ("delivered", "out_for_delivery", False)
    row = plan.shipments[("ups", TN)]
    assert (row.status, row.last_event_id, row.anomalies) == ("out_for_delivery", again.event_id,
                                                              [delivered.event_id])
