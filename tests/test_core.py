"""The functional core without a database: the normalizer's plan, the policy's effects, the small rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.normalize import NormalizedShipment, Outcome
from service.actions.policy import load_policy
from service.core.actions import (ActiveEscalation, Notify, Open, RecentNotification, Refs, Registration, Repeat,
                                  Resolve, ShipmentView, Supersede, decide, message)
from service.core.apply import Alias, InboxState, Known, plan_batch, plan_derived
from service.core.rules import Budget, TransitionRefused, pause_budget, raised, take_token, transition_target
from taxonomy import Channel, ExceptionClass, MappedBy, NormalizedEvent, Provenance, Status, TimeBasis, event_id
from taxonomy.state import fold

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
TN = "1ZCORE0000000001"
STATUSES = [Status.LABEL_CREATED, Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED,
            Status.EXCEPTION, Status.RETURNED_TO_SENDER, Status.UNKNOWN]


def event(minutes: int, status: Status, cls: ExceptionClass | None = None, code: str = "X") -> NormalizedEvent:
    at = T0 + timedelta(minutes=minutes)
    cls = cls if status is Status.EXCEPTION else None
    return NormalizedEvent(
        event_id=event_id("ups", TN, at, f"{code}{status.value}", status.value, None), carrier="ups",
        tracking_number=TN, status=status, exception_class=cls, occurred_at=at, occurred_at_local=at,
        time_basis=TimeBasis.OFFSET, description=status.value, carrier_code=code,
        provenance=Provenance(channel=Channel.WEBHOOK, parser="test", parser_version="1", mapped_by=MappedBy.CODE))


def shipment(*events: NormalizedEvent) -> NormalizedShipment:
    return NormalizedShipment(TN, "ups", Status.UNKNOWN, None, None, None, list(events))


def outcome(*events: NormalizedEvent) -> Outcome:
    return Outcome("ups", "test", True, [shipment(*events)])


def known(e: NormalizedEvent) -> Known:
    return Known(e.event_id, e.occurred_at, e.status, e.exception_class)


def test_a_finished_row_is_skipped_and_a_failed_one_quarantined_with_its_reason():
    plan = plan_batch([(1, outcome(event(0, Status.PICKED_UP))), (2, "normalizer error: boom"), (3, outcome())],
                      {1: InboxState("done", None), 2: InboxState("claimed", 5.0), 3: InboxState("claimed", 6.0)}, {})
    assert (plan.report.skipped, plan.report.quarantined, plan.report.done) == (1, 1, 1)
    assert [(o.id, o.state, o.reason) for o in plan.inbox] == [(2, "quarantined", "normalizer error: boom"),
                                                              (3, "done", None)]
    assert plan.events == [] and plan.outbox == []


def test_known_events_are_duplicates_and_new_ones_are_published_in_time_order():
    old = event(0, Status.PICKED_UP)
    newer, newest = event(60, Status.IN_TRANSIT), event(120, Status.OUT_FOR_DELIVERY)
    plan = plan_batch([(1, outcome(newest, old, newer))], {1: InboxState("claimed", 1.0)},
                      {("ups", TN): [known(old)]}, traces={1: "00-trace"})
    assert plan.report.duplicate_events == 1 and plan.report.new_events == 2
    bodies = [orjson.loads(d.body) for d in plan.outbox]
    assert [b["data"]["shipment"]["status_before"] for b in bodies] == ["picked_up", "in_transit"]
    assert all(d.traceparent == "00-trace" and d.received_epoch == 1.0 for d in plan.outbox)
    assert plan.shipments[("ups", TN)].status == "out_for_delivery"


def test_the_same_document_twice_in_a_batch_has_one_effect():
    doc = outcome(event(0, Status.PICKED_UP))
    plan = plan_batch([(1, doc), (1, doc)], {1: InboxState("claimed", None)}, {})
    assert plan.report.new_events == 1 and plan.report.skipped == 1


def stored_from(inbox_id: int, e: NormalizedEvent) -> Known:
    return Known(e.event_id, e.occurred_at, e.status, e.exception_class, "test", None, inbox_id)


def test_a_document_derived_again_with_another_class_corrects_its_event_and_others_are_duplicates():
    scan, lost = event(0, Status.IN_TRANSIT), event(60, Status.EXCEPTION, ExceptionClass.OTHER)
    fixed = NormalizedEvent.model_validate({**lost.model_dump(), "exception_class": "lost"})
    history = {("ups", TN): [stored_from(1, scan), stored_from(1, lost)]}
    plan = plan_batch([(1, outcome(scan, fixed))], {1: InboxState("claimed", None)}, history)
    [correction] = plan.corrections
    assert (correction.event_id, correction.exception_class, correction.revision) == (lost.event_id, "lost", 2)
    [message] = [orjson.loads(d.body) for d in plan.outbox]
    assert (message["id"], message["type"], message["revision"]) == (
        f"{lost.event_id}-r2", "shipment.event.corrected.v1", 2)
    assert message["data"]["shipment"]["exception_class"] == "lost"
    assert plan.shipments[("ups", TN)].exception_class == "lost"
    assert (plan.report.duplicate_events, plan.report.corrected_events, plan.events) == (1, 1, [])
    # the same document from another row is a plain duplicate: only its own document corrects an event
    other = plan_batch([(2, outcome(scan, fixed))], {2: InboxState("claimed", None)}, history)
    assert other.corrections == [] and other.outbox == []


def test_a_document_derived_again_with_other_times_corrects_its_events_keeping_their_ids():
    first, second = event(0, Status.PICKED_UP), event(60, Status.IN_TRANSIT)
    history = {("ups", TN): [stored_from(1, first), stored_from(1, second)]}
    shifted = [event(300, Status.PICKED_UP), event(360, Status.IN_TRANSIT)]  # a time zone fixed: five hours on
    plan = plan_batch([(1, outcome(*shifted))], {1: InboxState("claimed", None)}, history)
    assert [(c.event_id, c.occurred_at, c.revision) for c in plan.corrections] == [
        (first.event_id, shifted[0].occurred_at, 2), (second.event_id, shifted[1].occurred_at, 2)]
    assert plan.events == [] and [s.alias_id for s in plan.sources] == [e.event_id for e in shifted]
    assert plan.shipments[("ups", TN)].last_occurred_at == shifted[1].occurred_at
    # once more: the new ids are known aliases, nothing happens
    again = plan_batch([(1, outcome(*shifted))], {1: InboxState("claimed", None)},
                       {("ups", TN): [stored_from(1, e) for e in (first, second)]},
                       aliases={("ups", TN): [Alias(s.alias_id, s.event_id, s.route) for s in plan.sources]})
    assert again.outbox == [] and again.report.duplicate_events == 2
    # a document now yielding another number of scans pairs nothing: new events, the old ones stay
    more = plan_batch([(1, outcome(*shifted, event(420, Status.OUT_FOR_DELIVERY)))],
                      {1: InboxState("claimed", None)}, history)
    assert more.corrections == [] and len(more.events) == 3


def test_derived_events_follow_the_same_rules():
    delivered = event(0, Status.DELIVERED)
    plan = plan_derived([shipment(event(-60, Status.EXCEPTION, ExceptionClass.STALLED))],
                        {("ups", TN): [known(delivered)]})
    [body] = [orjson.loads(d.body) for d in plan.outbox]
    assert body["data"]["shipment"]["status"] == "delivered"  # a late exception never regresses a delivery


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(STATUSES)), min_size=1, max_size=12,
                unique_by=lambda t: t), st.integers(1, 4))
def test_extending_the_state_in_place_equals_refolding_the_whole_history(scans, batches):
    """Whatever order scans arrive in (split into documents), each snapshot and the final state are exactly
    what folding the full history at that point gives."""
    events = [event(m * 10, s, ExceptionClass.CARRIER_DELAY) for m, s in scans]
    history: list[Known] = []
    size = max(1, len(events) // batches)
    for start in range(0, len(events), size):
        part = events[start:start + size]
        plan = plan_batch([(1, outcome(*part))], {1: InboxState("claimed", None)}, {("ups", TN): history})
        seen = list(history)
        for draft in plan.outbox:
            body = orjson.loads(draft.body)
            before = fold(seen).status
            seen.append(next(known(e) for e in part if e.event_id == draft.event_id))
            after = fold(seen)
            assert (body["data"]["shipment"]["status_before"], body["data"]["shipment"]["status"]) == (
                before.value, after.status.value)
            assert body["data"]["shipment"]["anomaly"] == (draft.event_id in after.anomalies)
        history = seen
        row = plan.shipments.get(("ups", TN))
        if row is not None and row.last_event_id is not None:
            final = fold(history)
            assert (row.status, row.last_event_id, row.anomalies) == (final.status.value, final.last_event_id,
                                                                        final.anomalies)


POLICY = load_policy()
NOW = datetime(2026, 3, 11, 12, tzinfo=timezone.utc)


def cloud(status: Status, cls: ExceptionClass | None = None, *, current: bool = True, eid: str = "e1",
          at: str = "2026-03-11T09:00:00Z", after: tuple[str, str | None] | None = None) -> dict:
    """An outbox message; `after` is the shipment's state after it (default: the event's own, or delivered)."""
    shown = after or ((status.value, cls.value if cls else None) if current else ("delivered", None))
    return {"id": eid, "data": {
        "event": {"event_id": eid, "carrier": "ups", "tracking_number": TN, "status": status.value,
                  "exception_class": cls.value if cls else None, "description": "d", "occurred_at": at},
        "shipment": {"status": shown[0], "exception_class": shown[1], "anomaly": False}}}


def walk(view: ShipmentView, *events: dict, now: datetime = NOW) -> list:
    """What the actions stage does with a batch of one shipment: decide each event, then the one message."""
    effects = [e for cloud_event in events for e in decide(cloud_event, view, POLICY, now, Refs())]
    return effects + message(view, POLICY, now)


ADA = Registration("100", {"email": "ada@example.com", "name": "Ada"}, "en", "Shop")


def test_an_event_that_is_not_the_shipments_state_does_nothing():
    assert decide(cloud(Status.EXCEPTION, ExceptionClass.LOST, current=False), ShipmentView(), POLICY, NOW,
                  Refs()) == []


def test_a_problem_opens_one_escalation_and_the_same_problem_again_repeats_it():
    view, refs = ShipmentView(registration=ADA), Refs()
    [opened] = decide(cloud(Status.EXCEPTION, ExceptionClass.LOST), view, POLICY, NOW, refs)
    assert isinstance(opened, Open) and opened.ref < 0 and (opened.kind, opened.state) == ("lost", "open")
    [again] = decide(cloud(Status.EXCEPTION, ExceptionClass.LOST, eid="e2"), view, POLICY, NOW, refs)
    assert isinstance(again, Repeat) and again.escalation == opened.ref


def test_a_delivery_resolves_what_it_clears_and_notifies_once_per_channel():
    view = ShipmentView([ActiveEscalation(7, 0, "weather_delay")], ADA)
    effects = walk(view, cloud(Status.DELIVERED))
    assert isinstance(effects[0], Resolve) and effects[0].escalation == 7 and view.escalations == []
    notes = [e for e in effects if isinstance(e, Notify)]
    assert [(n.template, n.state, n.recipient) for n in notes] == [("delivered", "pending", "ada@example.com")]


def test_a_notification_already_sent_lately_is_suppressed_and_one_without_recipient_skipped():
    recent = [RecentNotification("other", "delivered", "file", "2026-03-11T11:00:00Z")]
    [note] = [e for e in walk(ShipmentView([], ADA, recent), cloud(Status.DELIVERED)) if isinstance(e, Notify)]
    assert note.state == "suppressed"
    [bare] = [e for e in walk(ShipmentView(), cloud(Status.DELIVERED)) if isinstance(e, Notify)]
    assert bare.state == "skipped" and "no recipient" in bare.reason


def test_a_document_of_several_scans_is_one_message_about_the_last_state():
    view = ShipmentView(registration=ADA)
    effects = walk(view, cloud(Status.IN_TRANSIT, eid="a", at="2026-03-11T06:00:00Z"),
                   cloud(Status.OUT_FOR_DELIVERY, eid="b", at="2026-03-11T07:00:00Z"),
                   cloud(Status.DELIVERY_ATTEMPTED, ExceptionClass.RECIPIENT_UNAVAILABLE, eid="c"))
    notes = [e for e in effects if isinstance(e, Notify)]
    assert [(n.event_id, n.template, n.state) for n in notes] == [("c", "delivery_attempted", "pending")]
    [supersede] = [e for e in effects if isinstance(e, Supersede)]
    assert supersede.keep == {notes[0].key}
    assert walk(view) == []  # the next batch starts without a candidate


def test_a_problem_cleared_in_the_same_document_sends_nothing_but_customer_service_still_sees_it():
    view = ShipmentView(registration=ADA)
    effects = walk(view, cloud(Status.EXCEPTION, ExceptionClass.ADDRESS_ISSUE, eid="a", at="2026-03-11T06:00:00Z"),
                   cloud(Status.IN_TRANSIT, eid="b"))
    assert [type(e) for e in effects] == [Open, Resolve]  # opened (waiting) and cleared: no message
    # a late scan of the batch leaves the state elsewhere than the candidate's: nothing either
    late = cloud(Status.IN_TRANSIT, eid="z", at="2026-03-10T06:00:00Z", after=("exception", "weather_delay"))
    assert [e for e in walk(ShipmentView(registration=ADA), cloud(Status.DELIVERED), late)
            if isinstance(e, Notify)] == []


def test_events_older_than_the_freshness_horizon_notify_nobody_but_still_escalate():
    assert POLICY.defaults.fresh_hours == 72
    stale = cloud(Status.EXCEPTION, ExceptionClass.WEATHER_DELAY, at="2026-03-08T11:59:00Z")  # 72 h 1 min before
    effects = walk(ShipmentView(registration=ADA), stale)
    assert [type(e) for e in effects] == [Open]
    fresh = cloud(Status.EXCEPTION, ExceptionClass.WEATHER_DELAY, at="2026-03-08T12:01:00Z")
    assert [n.template for n in walk(ShipmentView(registration=ADA), fresh) if isinstance(n, Notify)] == ["delay"]


def test_escalation_transitions_and_severity_steps():
    assert transition_target("open", "acknowledge") == "acknowledged"
    assert transition_target("waiting", "resolve") == "resolved"
    assert transition_target("open", "assign") == "open"
    with pytest.raises(TransitionRefused):
        transition_target("resolved", "assign")
    with pytest.raises(TransitionRefused):
        transition_target("waiting", "acknowledge")
    assert [raised(s) for s in ("low", "medium", "high", "critical")] == ["medium", "high", "critical", "critical"]


def test_a_budget_refills_at_its_rate_and_a_pause_holds_it():
    budget, wait = take_token(None, 100.0, rate=10.0, capacity=2.0)
    assert wait == 0 and budget.tokens == 1.0
    budget, wait = take_token(budget, 100.0, 10.0, 2.0)
    budget, wait = take_token(budget, 100.0, 10.0, 2.0)
    assert wait == pytest.approx(0.1)  # empty: a token in a tenth of a second
    budget, wait = take_token(budget, 100.11, 10.0, 2.0)
    assert wait == 0
    paused = pause_budget(budget, 100.11, 5.0)
    assert take_token(paused, 104.0, 10.0, 2.0)[1] == pytest.approx(1.11)
    assert take_token(paused, 105.25, 10.0, 2.0)[1] == 0  # after the pause, refilled from its end
    assert take_token(Budget(0, 0), 0.0, 0.0, 1.0)[1] == 0  # rate 0: unlimited


def test_intake_routes_a_group_by_delivery_id_then_by_body():
    from service.core import intake
    from service.rows import Accepted, Incoming

    items = [Incoming("usps", b"a", None, {}, delivery_id="m1"), Incoming("usps", b"b", None, {}, delivery_id="m1"),
             Incoming("usps", b"c", None, {}, delivery_id="m0"), Incoming("ups", b"a", None, {}),
             Incoming("ups", b"a", None, {})]
    routing = intake.route(items, {("usps", "m0"): 7})
    assert routing.by_body == [0, 3, 4] and routing.first_of == {("usps", "m1"): 0}
    keys = [(items[i].source, items[i].digest) for i in routing.by_body]
    stored = dict(zip(routing.by_body, intake.by_body(keys, {}, {keys[0]: 10, keys[1]: 11})))
    assert intake.answers(items, routing, stored, {("usps", "m0"): 7}) == [
        Accepted(10, False), Accepted(10, True), Accepted(7, True), Accepted(11, False), Accepted(11, True)]
