"""Large bodies at intake, on both stores (the `db` fixture): stored verbatim through their own commit lane,
normalized whole, recognized when delivered again, and read back byte for byte. On SQLite such a body is
kept apart from its inbox row (the row is rewritten on each state change), and a file from before that
gains the table when opened, its stored bodies untouched."""
from __future__ import annotations

import asyncio
import sqlite3

from bench.documents import many_scans
from service.core.intake import LARGE_BODY_BYTES
from service.keys import STORE
from service.store import Incoming, SqliteStore
from service.store.sqlite.schema import DDL, VERSION
from tests.reading import READER
from tests.test_actions import settle
from tests.test_bounded_scenarios import client, settings  # noqa: F401 - fixtures (both stores)

TN = "1Z4F7W390361553013"
SCANS = 2_000  # about 400 KiB: over the large-body threshold


async def test_a_large_body_is_stored_verbatim_normalized_whole_and_a_redelivery_is_a_duplicate(client):
    body = many_scans(SCANS, tn=TN)
    assert len(body) > LARGE_BODY_BYTES
    small = [b'{"trackResponse":{"shipment":[{"inquiryNumber":"1ZSMALL%04d"}]}}' % n for n in range(5)]
    answers = await asyncio.gather(client.post("/webhooks/ups", data=body),
                                   *(client.post("/webhooks/ups", data=s) for s in small))
    assert [r.status for r in answers] == [202] * 6
    first = await answers[0].json()
    assert first["duplicate"] is False
    again = await client.post("/webhooks/ups", data=body)
    assert again.status == 202
    assert await again.json() == {"id": first["id"], "duplicate": True}  # hashed ahead: the same digest
    await settle(client)
    [row] = await client.app[STORE].inbox_rows([int(first["id"])])
    assert row.body == body and row.state == "done"
    shipment = await (await client.get(f"/v1/shipments/ups/{TN}", headers=READER)).json()
    assert len(shipment["events"]) == SCANS


async def test_sqlite_keeps_a_large_body_apart_from_its_row(tmp_path):
    path = str(tmp_path / "events.db")
    store = SqliteStore(path)
    await store.open()
    large, small = b"x" * (LARGE_BODY_BYTES + 1), b'{"small": true}'
    try:
        accepted = await store.accept([Incoming("ups", small, "application/json", {}),
                                       Incoming("ups", large, "application/json", {}),
                                       Incoming("ups", small + b" ", "application/json", {})])
        assert [a.duplicate for a in accepted] == [False, False, False]
        assert [a.id for a in accepted] == sorted(a.id for a in accepted)  # arrival order kept
        claimed = await store.claim(10)
        assert [r.body for r in claimed] == [small, large, small + b" "]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        rows = dict(conn.execute("SELECT id, length(body) FROM inbox").fetchall())
        assert rows == {accepted[0].id: len(small), accepted[1].id: 0, accepted[2].id: len(small) + 1}
        assert conn.execute("SELECT inbox_id, length(body) FROM inbox_bodies").fetchall() == [
            (accepted[1].id, len(large))]
    finally:
        conn.close()


async def test_a_schema_6_file_gains_the_bodies_table_and_keeps_its_stored_bodies(tmp_path):
    path = str(tmp_path / "before.db")
    conn = sqlite3.connect(path)
    conn.executescript(DDL.replace("CREATE TABLE IF NOT EXISTS inbox_bodies", "CREATE TABLE IF NOT EXISTS unused"))
    old = b"y" * (LARGE_BODY_BYTES + 10)  # stored in its row, as before
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '6')")
        conn.execute("INSERT INTO inbox (source, digest, received_at, channel, headers, body) "
                     "VALUES ('ups', x'00', '2026-03-01T08:00:00Z', 'webhook', '{}', ?)", (old,))
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'inbox_bodies'").fetchone() is None
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        [row] = await store.claim(10)
        assert row.body == old
        [accepted] = await store.accept([Incoming("ups", b"z" * (LARGE_BODY_BYTES + 1), None, {})])
        [again] = await store.inbox_rows([accepted.id])
        assert again.body == b"z" * (LARGE_BODY_BYTES + 1)
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(VERSION)
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'inbox_bodies'").fetchone() is not None
    finally:
        conn.close()
