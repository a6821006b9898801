"""Carriers without a plugin, read by the generic parser alone: scored against the facts read by hand."""
from __future__ import annotations

import pytest

from bench.generic import FOLDER, evaluate
from parsers import normalize_document
from tests.goldens import payloads


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_no_plugin_claims_them(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto", keep_unnumbered=True)
    assert out.ok and out.parser == "generic.heuristic" and out.fallback_level == 3


def test_every_document_is_listed_with_its_facts():
    scores, _ = evaluate()
    assert sorted(s.name for s in scores) == sorted(p.name for p in payloads(FOLDER))


def test_the_generic_parser_reads_them_by_principle():
    """Numbers and shipment statuses all right; at most one event status in twenty missed (texts no rule knows)."""
    scores, totals = evaluate()
    misses = {s.name: s.notes for s in scores if s.notes}
    assert totals["parsed"] == totals["tn"] == totals["status"] == totals["generic"] == 1.0, misses
    assert totals["events"] >= 0.95, misses
