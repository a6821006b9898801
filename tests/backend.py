"""What scenario tests need to reach either store directly: counts by a fresh connection, raw statements."""
from __future__ import annotations

from service.store import open_store


async def counts_of(db: str) -> dict[str, int]:
    """Backlog counts read by a store of its own (as another process would see them)."""
    store = open_store(db)
    await store.open()
    try:
        return await store.counts()
    finally:
        await store.close()


async def execute(store, statement: str) -> None:
    """One raw SQL statement written the same for both backends (test set-up only)."""
    if store.kind == "sqlite":
        def run(conn):
            with conn:
                conn.execute(statement)
        await store._write(run)
    else:
        async def run(conn):
            await conn.execute(statement)
        await store._run(run)


async def feed_of(db: str) -> list[dict]:
    """Every CloudEvent of the feed, oldest first, read by a store of its own."""
    import orjson

    store = open_store(db)
    await store.open()
    try:
        events, cursor = [], 0
        while batch := await store.events_after(cursor, 1000):
            events += [orjson.loads(item.body) for item in batch]
            cursor = batch[-1].seq
        return events
    finally:
        await store.close()
