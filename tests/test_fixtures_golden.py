"""Every fixture payload normalizes to its hand-checked golden record."""
from __future__ import annotations

import json

import pytest

from tests.goldens import FIXTURES, actual, golden_path, payloads

CASES = payloads()


@pytest.mark.parametrize("payload", CASES, ids=[p.relative_to(FIXTURES).as_posix() for p in CASES])
def test_fixture_matches_golden(payload):
    gold = golden_path(payload)
    assert gold.exists(), f"{gold.name} missing: write it with `python -m tests.goldens --write` and review it"
    assert actual(payload) == json.loads(gold.read_text("utf-8"))


def test_every_format_has_three_fixtures():
    from parsers.registry import plugins

    for plugin in plugins():
        if plugin.generic:
            continue
        folder = FIXTURES / plugin.name.replace(".", "_")
        assert folder.is_dir(), f"no fixtures/{folder.name} for {plugin.name}"
        assert len(payloads(folder)) >= 3, f"fixtures/{folder.name} needs at least 3 payloads"
