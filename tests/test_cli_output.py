"""The CLI's output line (`record_json`, `normalize_file`) is byte for byte the contract record as JSON.

`record` builds the contract record from plain values, as its readable
reference; the CLI writes `record_json`, which lets orjson spell enums and
datetimes. These tests hold the two to the same bytes: on every fixture, and
on generated events over the time-zone corners where orjson and Python spell
a time differently (fractional seconds, zero offsets, offsets with seconds,
ambiguous wall times, naive and non-UTC instants).
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import normalize_document, record
from parsers.normalize import NormalizedShipment, Outcome, record_json
from service import cli
from taxonomy import (Channel, ErrorEntry, ExceptionClass, Location, MappedBy, NormalizedEvent, Provenance, Status,
                      TimeBasis)
from tests.goldens import FIXTURES, carrier_hint, payloads

CASES = payloads()


def reference(outcome: Outcome, path: str) -> bytes:
    return orjson.dumps(record(outcome, path)) + b"\n"


@pytest.mark.parametrize("payload", CASES, ids=[p.relative_to(FIXTURES).as_posix() for p in CASES])
def test_every_fixture_gives_the_reference_bytes(payload):
    outcome = normalize_document(payload.read_bytes(), carrier=carrier_hint(payload), keep_unnumbered=True)
    assert record_json(outcome, str(payload)) == reference(outcome, str(payload))
    assert cli.normalize_file(str(payload), carrier_hint(payload)) == reference(outcome, str(payload))


ZONES = [timezone.utc, timezone(timedelta(0)), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45)),
         timezone(timedelta(hours=-3, seconds=-20)), timezone(timedelta(minutes=30, microseconds=5)),
         ZoneInfo("UTC"), ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Europe/Amsterdam"),
         ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kathmandu"), None]
PLACES = [None, Location(city="Adrian", region="MI", country="US"), Location(postal_code="1012 AB")]
PROVENANCES = [Provenance(channel=Channel.FILE, parser="t", parser_version="1", mapped_by=m) for m in MappedBy]

moments = st.builds(lambda at, micro, fold: at.replace(microsecond=micro, fold=fold),
                    st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2200, 1, 1)),
                    st.sampled_from([0, 0, 1, 999999]), st.integers(0, 1))


@st.composite
def events(draw) -> NormalizedEvent:
    zone = draw(st.sampled_from(ZONES))
    local = draw(moments).replace(tzinfo=zone)
    utc_zone = draw(st.sampled_from([timezone.utc, timezone.utc, timezone(timedelta(hours=2)), ZoneInfo("UTC")]))
    at = local.astimezone(utc_zone) if zone is not None else local.replace(tzinfo=utc_zone)
    status = draw(st.sampled_from(list(Status)))
    return NormalizedEvent.model_construct(
        event_id="0" * 32, carrier="ups", tracking_number="1Z", status=status,
        exception_class=draw(st.none() | st.sampled_from(list(ExceptionClass))), occurred_at=at,
        occurred_at_local=local, time_basis=draw(st.sampled_from(list(TimeBasis))),
        description=draw(st.text(max_size=20)), carrier_code=draw(st.none() | st.text(max_size=4)),
        location=draw(st.sampled_from(PLACES)), provenance=draw(st.sampled_from(PROVENANCES)))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(events(), max_size=6), max_size=3), st.text(max_size=10),
       st.none() | st.sampled_from(list(ExceptionClass)), st.booleans())
def test_generated_records_give_the_reference_bytes(shipments, path, cls, ok):
    outcome = Outcome("ups", "ups.track_json", ok, [
        NormalizedShipment(f"1Z{i}", "ups", Status.IN_TRANSIT, cls, "2026-03-12", None, evs)
        for i, evs in enumerate(shipments)], [ErrorEntry(kind="carrier_error", message="x\u00e9")])
    assert record_json(outcome, path) == reference(outcome, path)


def reference_unreadable(path: str, limit: int) -> bytes:
    """What the CLI printed for a file it cannot read: pathlib's message, with the path as pathlib spells it."""
    from pathlib import Path

    try:
        size = Path(path).stat().st_size
        if size > limit:
            raise ValueError(f"file of {size} bytes exceeds the {limit}-byte limit")
        Path(path).read_bytes()
    except (OSError, ValueError) as exc:
        return orjson.dumps({"path": path, "carrier": None, "parser": None, "ok": False, "shipments": [],
                             "errors": [{"kind": "unparseable", "message": f"cannot read file: {exc}"}]}) + b"\n"
    raise AssertionError(f"{path} is readable")


def test_files_that_cannot_be_read_keep_their_messages(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    big.write_bytes(b"{}" * 64)
    monkeypatch.setattr(cli, "MAX_DOCUMENT_BYTES", 100)
    for path in [str(tmp_path / "missing.json"), f"{tmp_path}//./missing.json", str(tmp_path), str(big),
                 "bad\x00name.json"]:
        line = cli.normalize_file(path)
        assert line == reference_unreadable(path, 100), path
        assert orjson.loads(line)["errors"][0]["message"].startswith("cannot read file: ")


def test_a_file_without_a_size_is_read_to_its_end():
    """/dev/stdin, pipes and /proc files report size 0: they are read until EOF, like any file."""
    payload = min(CASES, key=lambda p: p.stat().st_size)  # fits in a pipe's buffer
    read, write = os.pipe()
    with open(write, "wb") as w:
        w.write(payload.read_bytes())
    try:
        line = cli.normalize_file(f"/dev/fd/{read}", carrier_hint(payload))
    finally:
        os.close(read)
    outcome = normalize_document(payload.read_bytes(), carrier=carrier_hint(payload))
    assert line == reference(outcome, f"/dev/fd/{read}") and outcome.ok
