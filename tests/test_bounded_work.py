"""Work bounded by a document's size, whatever the document: counted calls, not seconds.

A 20,000-scan document once re-sorted the shipment's history for every new
event on the store's one writer; a megabyte of scan text went through every
keyword rule on the event loop. These tests count what the code does (folds,
state steps, transactions, text lengths, threads) so a regression fails here
on any machine.
"""
from __future__ import annotations

import gc
import threading
from datetime import datetime, timedelta, timezone

import orjson
import pytest

import service.normalizer as normalizer_module
import taxonomy.mapping as mapping
import taxonomy.state as state_module
from bench.documents import long_description, many_scans
from parsers import normalize_document
from parsers.normalize import DESCRIPTION_LIMIT, TRUNCATED
from service.cardinality import carrier_label
from service.cloudevents import routing_key
from service.core import apply as core
from service.core.apply import Applied, InboxState, Known, plan_batch, split
from service.rows import InboxRow, Normalized
from taxonomy import Status


@pytest.fixture
def counted(monkeypatch):
    """How often the state rules fold a history and apply one event."""
    calls = {"fold": 0, "apply": 0}
    fold, step = state_module.fold, state_module.ShipmentState.apply

    def counting_fold(events):
        calls["fold"] += 1
        return fold(events)

    def counting_apply(self, event):
        calls["apply"] += 1
        return step(self, event)

    monkeypatch.setattr(core, "fold", counting_fold)
    monkeypatch.setattr(state_module.ShipmentState, "apply", counting_apply)
    return calls


def _plan(doc: bytes, counted: dict, histories=None):
    outcome = normalize_document(doc)
    counted.update(fold=0, apply=0)  # the parser's own fold is not the planner's work
    return plan_batch([Normalized(1, outcome)], {1: InboxState("claimed", None)}, histories or {})


def test_planning_n_new_scans_of_one_shipment_folds_once_and_steps_n_times(counted):
    plan = _plan(many_scans(2_000), counted)
    assert len(plan.events) == 2_000 and len(plan.outbox) == 2_000
    assert counted["fold"] == 1  # the (empty) stored history, once
    assert counted["apply"] <= 2_000  # each new event one step, never a refold


def test_late_scans_refold_a_bounded_number_of_times_then_together(counted):
    doc = many_scans(2_000)
    outcome = normalize_document(doc)
    [shipment] = outcome.shipments
    latest = max(e.occurred_at for e in shipment.events)
    history = [Known("stored-latest", latest + timedelta(days=1), Status.IN_TRANSIT, None)]
    plan = _plan(doc, counted, {(shipment.carrier, shipment.tracking_number): history})
    assert len(plan.events) == 2_000
    assert counted["fold"] <= core.REFOLD_LIMIT + 3
    assert counted["apply"] <= (core.REFOLD_LIMIT + 3) * 2_001
    changes = [orjson.loads(d.body)["data"]["shipment"] for d in plan.outbox]
    assert sum(c["status"] != c["status_before"] for c in changes) <= 1  # no phantom status changes


def test_one_shipment_named_many_times_in_a_batch_is_folded_once(counted):
    docs = [many_scans(3, tn="1Z4F7W390361553013") for _ in range(50)]
    results = [Normalized(i, normalize_document(d)) for i, d in enumerate(docs)]
    counted.update(fold=0, apply=0)
    plan_batch(results, {i: InboxState("claimed", None) for i in range(50)}, {})
    assert counted["fold"] == 1


def test_a_large_document_is_applied_in_parts_with_one_final_part():
    outcome = normalize_document(many_scans(1_000))
    parts = split(outcome, 300)
    assert [sum(len(s.events) for s in p.shipments) for p in parts] == [300, 300, 300, 100]
    ids = [e.event_id for p in parts for s in p.shipments for e in s.events]
    assert sorted(ids) == sorted(e.event_id for s in outcome.shipments for e in s.events)
    times = [min(e.occurred_at for s in p.shipments for e in s.events) for p in parts]
    assert times == sorted(times)  # oldest first: each part extends the state in place
    assert split(normalize_document(many_scans(10)), 300) == [normalize_document(many_scans(10))]


def test_long_texts_are_cut_for_storage_and_for_the_keyword_rules(monkeypatch):
    seen: list[int] = []
    classify = mapping._classify

    def recording(table, codes, description, coarse):
        seen.append(len(description or ""))
        return classify(table, codes, description, coarse)

    monkeypatch.setattr(mapping, "_classify", recording)
    outcome = normalize_document(long_description(1_000_000))
    [event] = outcome.shipments[0].events
    assert len(event.description) == DESCRIPTION_LIMIT and event.description.endswith(TRUNCATED)
    assert seen and max(seen) <= mapping.KEYWORD_TEXT_LIMIT
    assert mapping.classify("ups", ("X" * 10_000,), "y" * 10_000, "z" * 10_000).status is Status.UNKNOWN


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[list[Normalized]] = []

        self.collecting: list[bool] = []

    async def apply(self, results, traces=None, lease_seconds=None) -> Applied:
        self.calls.append(list(results))
        self.collecting.append(gc.isenabled())
        return Applied()


async def test_the_normalizer_parses_large_documents_off_the_event_loop(monkeypatch):
    threads: list[int] = []
    parse = normalizer_module.normalize_document

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return parse(*args, **kwargs)

    monkeypatch.setattr(normalizer_module, "normalize_document", recording)
    now = datetime.now(timezone.utc).isoformat()
    big = InboxRow(1, "ups", now, "webhook", "application/json", many_scans(700), "claimed", 0, None)
    small = InboxRow(2, "ups", now, "webhook", "application/json", many_scans(1), "claimed", 0, None)
    store = _Recorder()
    await normalizer_module.process(store, [big, small])
    loop_thread = threading.get_ident()
    assert threads[0] != loop_thread  # the large one on a worker thread
    assert threads[1] == loop_thread  # a small one is cheaper in place
    # the large document's leading parts each in their own transaction, its last part with the batch
    leading = -(-700 // core.PART_EVENTS) - 1
    assert [len(c) for c in store.calls] == [1] * leading + [2]
    assert [n.final for c in store.calls for n in c] == [False] * leading + [True, True]
    # no full garbage collection walks the document's objects meanwhile; collection is back afterwards
    assert not any(store.collecting) and gc.isenabled()


def test_unknown_carriers_are_one_label_and_one_routing_key_part():
    doc = orjson.dumps({"shipments": [{"carrier": f"madeup{i}", "tracking_number": f"MU{i:08d}X", "events": [
        {"timestamp": "2026-03-10T08:00:00Z", "status": "in_transit", "description": "Arrived"}]}
        for i in range(20)]})
    outcome = normalize_document(doc, content_type="application/json")
    keys = {routing_key(e) for s in outcome.shipments for e in s.events}
    assert keys == {"in_transit.none.other"}
    assert {e.carrier for s in outcome.shipments for e in s.events} == {f"madeup{i}" for i in range(20)}
    assert (carrier_label("ups"), carrier_label("dhl"), carrier_label(None)) == ("ups", "dhl", "unknown")
