"""Backends as fixtures: a scenario test that takes `db` runs once on SQLite and once on PostgreSQL.

PostgreSQL tests use the local server (`CARRIER_EVENTS_TEST_PG`, default
postgresql://postgres@127.0.0.1:5432/postgres): a template database is
migrated once per session, and each test gets its own copy, dropped after.
Without a server they are skipped with the reason; under CI (`CI=true`) a
missing server fails them instead, so a gap never passes as green.
"""
from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("CARRIER_EVENTS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")
_counter = itertools.count(1)


def _url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def _admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrated(name: str) -> None:
    import asyncpg

    from service.store.postgres import migrations

    conn = await asyncpg.connect(_url(name))
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database to copy per test; skipped (or, under CI, failed) without a PostgreSQL server."""
    name = f"ce_test_template_{os.getpid()}"
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
        asyncio.run(_migrated(name))
    except Exception as exc:  # no server, refused, no asyncpg: say which
        reason = f"PostgreSQL not available at {PG_ADMIN}: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield name
    while _used:
        drop_postgres(_used.pop())
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def fresh_postgres(template: str) -> str:
    """A new database copied from the template; the caller drops it with `drop_postgres`."""
    name = f"ce_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                       f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name


def drop_postgres(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_used: list[str] = []  # databases of finished tests, dropped by the next test (or at the session's end)


@pytest.fixture
def pg_url(pg_template: str) -> str:
    """A fresh database for one test. It is dropped when the next test starts, not at this test's teardown:
    an app's cleanup (which still writes to it) may run after this fixture's own teardown."""
    while _used:
        drop_postgres(_used.pop())
    name = fresh_postgres(pg_template)
    _used.append(name)
    return _url(name)


@pytest.fixture
def pg_empty_url(pg_template: str) -> str:
    """A database with no tables at all (migrations start from nothing)."""
    while _used:
        drop_postgres(_used.pop())
    name = f"ce_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    _used.append(name)
    return _url(name)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store location for one scenario: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    return request.getfixturevalue("pg_url")
