"""Which PostgreSQL driver for the store: asyncpg against psycopg 3 (async, with and without pipeline mode).

    python -m bench.pg_drivers [--dsn postgresql://postgres@127.0.0.1:5432/postgres] [--rounds 300]

Both drivers run the store's two hot transactions on a scratch database
created and dropped by the run, interleaved round by round so a noisy machine
slows both alike:

- intake: one group commit of 32 webhook bodies (1.5 KB each) with the
  duplicate check (`INSERT ... ON CONFLICT DO NOTHING RETURNING`);
- normalize: one batch of 64 documents: lock the inbox rows, read 64
  shipments' histories, insert 128 events and 128 outbox rows, upsert 64
  shipments, mark the rows done.

It prints transactions/s and CPU µs per transaction in this process (the
driver's own cost; the server's is the same SQL for both). Needs
`pip install asyncpg 'psycopg[binary]'`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

SCHEMA = """
CREATE TABLE inbox (id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, digest BYTEA NOT NULL, body BYTEA NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending', UNIQUE (digest, source));
CREATE TABLE events (carrier TEXT, tracking_number TEXT, event_id TEXT, occurred_at TIMESTAMPTZ, status TEXT,
                     body BYTEA, PRIMARY KEY (carrier, tracking_number, event_id));
CREATE TABLE outbox (seq BIGINT PRIMARY KEY, event_id TEXT, routing_key TEXT, body BYTEA);
CREATE TABLE shipments (carrier TEXT, tracking_number TEXT, status TEXT, updated_at TIMESTAMPTZ,
                        PRIMARY KEY (carrier, tracking_number));
CREATE TABLE feed (id INT PRIMARY KEY, last BIGINT NOT NULL);
INSERT INTO feed VALUES (1, 0);
"""
INTAKE = 32
DOCS = 64


def _bodies(n: int) -> list[tuple[str, bytes, bytes]]:
    out = []
    for _ in range(n):
        body = os.urandom(750).hex().encode()
        out.append(("ups", uuid.uuid4().bytes + uuid.uuid4().bytes, body))
    return out


class AsyncpgRunner:
    name = "asyncpg"

    async def open(self, dsn: str) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(dsn)

    async def close(self) -> None:
        await self.conn.close()

    async def intake(self, items) -> list[int]:
        async with self.conn.transaction():
            rows = await self.conn.fetch(
                "INSERT INTO inbox (source, digest, body) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) "
                "ON CONFLICT DO NOTHING RETURNING id", [i[0] for i in items], [i[1] for i in items],
                [i[2] for i in items])
        return [r[0] for r in rows]

    async def normalize(self, ids: list[int], batch: int) -> None:
        c = self.conn
        async with c.transaction():
            await c.fetch("SELECT id, state FROM inbox WHERE id = ANY($1::bigint[]) FOR UPDATE", ids)
            tns = [f"TN{batch}-{i}" for i in range(DOCS)]
            await c.fetch("SELECT tracking_number, event_id, occurred_at, status FROM events "
                          "WHERE carrier = 'ups' AND tracking_number = ANY($1::text[])", tns)
            now = time.time()
            evs = [(tn, f"{tn}-{k}") for tn in tns for k in range(2)]
            await c.execute("INSERT INTO events (carrier, tracking_number, event_id, occurred_at, status, body) "
                            "SELECT 'ups', t, e, now(), 'in_transit', b FROM unnest($1::text[], $2::text[], "
                            "$3::bytea[]) AS x(t, e, b)", [e[0] for e in evs], [e[1] for e in evs],
                            [b"x" * 600] * len(evs))
            await c.execute("INSERT INTO shipments SELECT 'ups', t, 'in_transit', now() FROM unnest($1::text[]) t "
                            "ON CONFLICT (carrier, tracking_number) DO UPDATE SET status = excluded.status, "
                            "updated_at = excluded.updated_at", tns)
            await c.execute("UPDATE inbox SET state = 'done' WHERE id = ANY($1::bigint[])", ids)
            last = await c.fetchval("UPDATE feed SET last = last + $1 WHERE id = 1 RETURNING last", len(evs))
            await c.execute("INSERT INTO outbox SELECT s, e, 'in_transit.none.ups', b FROM unnest($1::bigint[], "
                            "$2::text[], $3::bytea[]) AS x(s, e, b)", list(range(last - len(evs) + 1, last + 1)),
                            [e[1] for e in evs], [b"y" * 800] * len(evs))
        del now


class PsycopgRunner:
    def __init__(self, pipeline: bool) -> None:
        self.pipeline = pipeline
        self.name = "psycopg3 async" + (" + pipeline" if pipeline else "")

    async def open(self, dsn: str) -> None:
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(dsn)

    async def close(self) -> None:
        await self.conn.close()

    async def intake(self, items) -> list[int]:
        async with self.conn.transaction():
            cur = await self.conn.execute(
                "INSERT INTO inbox (source, digest, body) SELECT * FROM unnest(%s::text[], %s::bytea[], %s::bytea[]) "
                "ON CONFLICT DO NOTHING RETURNING id", ([i[0] for i in items], [i[1] for i in items],
                                                       [i[2] for i in items]))
            return [r[0] for r in await cur.fetchall()]

    async def normalize(self, ids: list[int], batch: int) -> None:
        c = self.conn
        async with c.transaction():
            if self.pipeline:
                async with c.pipeline():
                    await self._statements(c, ids, batch)
            else:
                await self._statements(c, ids, batch)

    async def _statements(self, c, ids, batch) -> None:
        await c.execute("SELECT id, state FROM inbox WHERE id = ANY(%s) FOR UPDATE", (ids,))
        tns = [f"TN{batch}-{i}" for i in range(DOCS)]
        await c.execute("SELECT tracking_number, event_id, occurred_at, status FROM events "
                        "WHERE carrier = 'ups' AND tracking_number = ANY(%s)", (tns,))
        evs = [(tn, f"{tn}-{k}") for tn in tns for k in range(2)]
        await c.execute("INSERT INTO events (carrier, tracking_number, event_id, occurred_at, status, body) "
                        "SELECT 'ups', t, e, now(), 'in_transit', b FROM unnest(%s::text[], %s::text[], "
                        "%s::bytea[]) AS x(t, e, b)", ([e[0] for e in evs], [e[1] for e in evs],
                                                        [b"x" * 600] * len(evs)))
        await c.execute("INSERT INTO shipments SELECT 'ups', t, 'in_transit', now() FROM unnest(%s::text[]) t "
                        "ON CONFLICT (carrier, tracking_number) DO UPDATE SET status = excluded.status, "
                        "updated_at = excluded.updated_at", (tns,))
        await c.execute("UPDATE inbox SET state = 'done' WHERE id = ANY(%s)", (ids,))
        cur = await c.execute("UPDATE feed SET last = last + %s WHERE id = 1 RETURNING last", (len(evs),))
        last = (await cur.fetchone())[0]
        await c.execute("INSERT INTO outbox SELECT s, e, 'in_transit.none.ups', b FROM unnest(%s::bigint[], "
                        "%s::text[], %s::bytea[]) AS x(s, e, b)",
                        (list(range(last - len(evs) + 1, last + 1)), [e[1] for e in evs], [b"y" * 800] * len(evs)))


async def _scratch(dsn: str, name: str, create: bool) -> None:
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def main(dsn: str, rounds: int) -> None:
    name = f"bench_drivers_{os.getpid()}"
    await _scratch(dsn, name, True)
    target = dsn.rsplit("/", 1)[0] + "/" + name
    try:
        import asyncpg

        conn = await asyncpg.connect(target)
        await conn.execute(SCHEMA)
        await conn.close()
        runners = [AsyncpgRunner(), PsycopgRunner(False), PsycopgRunner(True)]
        for r in runners:
            await r.open(target)
        stats = {r.name: {"intake": [0.0, 0.0], "normalize": [0.0, 0.0]} for r in runners}
        for batch in range(rounds):
            for r in runners:
                items = _bodies(INTAKE)
                w, c = time.perf_counter(), time.process_time()
                ids = await r.intake(items)
                stats[r.name]["intake"][0] += time.perf_counter() - w
                stats[r.name]["intake"][1] += time.process_time() - c
                w, c = time.perf_counter(), time.process_time()
                await r.normalize(ids, f"{r.name}{batch}")
                stats[r.name]["normalize"][0] += time.perf_counter() - w
                stats[r.name]["normalize"][1] += time.process_time() - c
        for r in runners:
            await r.close()
        base = stats["asyncpg"]
        print(f"{'driver':28} {'intake tx/s':>12} {'cpu µs/tx':>10} {'normalize tx/s':>15} {'cpu µs/tx':>10}"
              f" {'vs asyncpg (normalize)':>23}")
        for r in runners:
            s = stats[r.name]
            print(f"{r.name:28} {rounds / s['intake'][0]:12.0f} {s['intake'][1] / rounds * 1e6:10.0f} "
                  f"{rounds / s['normalize'][0]:15.0f} {s['normalize'][1] / rounds * 1e6:10.0f} "
                  f"{base['normalize'][0] / s['normalize'][0]:22.2f}x")
    finally:
        await _scratch(dsn, name, False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.dsn, args.rounds))
