"""Property tests: nothing a sender can put in a document escapes the normalize path as an exception.

Every input ends as a result (ok, with shipments or carrier errors) or as an
`unparseable`/`unsupported` error, for auto detection and for every carrier
forced, over arbitrary bytes, truncated fixtures and mutated fixtures.
"""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import normalize_document, record
from parsers.registry import plugins
from tests.goldens import payloads

FIXTURE_BYTES = [p.read_bytes() for p in payloads()] or [b'{"trackResponse": {"shipment": []}}']
HINTS = ["auto"] + sorted({p.family for p in plugins()})
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes, hint: str) -> None:
    out = normalize_document(data, carrier=hint)
    rec = record(out, "fuzz")
    json.dumps(rec)  # the record is always serializable
    if out.ok:
        assert out.shipments or any(e.kind == "carrier_error" for e in out.errors)
    else:
        assert out.errors and out.errors[0].kind in {"unparseable", "unsupported"}
    for s in out.shipments:
        for e in s.events:
            assert e.occurred_at.tzinfo is not None and e.occurred_at_local.tzinfo is not None


@SETTINGS
@given(st.binary(max_size=2048), st.sampled_from(HINTS))
def test_arbitrary_bytes(data, hint):
    check(data, hint)


@SETTINGS
@given(st.sampled_from(FIXTURE_BYTES), st.floats(0, 1), st.sampled_from(HINTS))
def test_truncated_fixtures(doc, fraction, hint):
    check(doc[: int(len(doc) * fraction)], hint)


@SETTINGS
@given(st.sampled_from(FIXTURE_BYTES), st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=8)),
                                                 min_size=1, max_size=6), st.sampled_from(HINTS))
def test_byte_mutated_fixtures(doc, edits, hint):
    data = bytearray(doc)
    for where, chunk in edits:
        i = int(len(data) * where)
        data[i:i + len(chunk)] = chunk
    check(bytes(data), hint)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)


def _swap_values(obj, replacement, path):
    """Replace the node at `path` (a list of child indexes, wrapping) with `replacement`."""
    if not path or not isinstance(obj, (dict, list)) or not obj:
        return replacement
    keys = list(obj) if isinstance(obj, dict) else list(range(len(obj)))
    key = keys[path[0] % len(keys)]
    obj[key] = _swap_values(obj[key], replacement, path[1:])
    return obj


JSON_FIXTURES = [json.loads(b) for b in FIXTURE_BYTES if b.lstrip()[:1] in (b"{", b"[")]


@SETTINGS
@given(st.sampled_from(JSON_FIXTURES or [{}]), st.lists(st.integers(0, 50), max_size=8),
       st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                        max_size=3), max_leaves=6),
       st.sampled_from(HINTS))
def test_structurally_mutated_json_fixtures(doc, path, replacement, hint):
    mutated = _swap_values(json.loads(json.dumps(doc)), replacement, path)
    check(json.dumps(mutated).encode(), hint)
