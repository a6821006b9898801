"""`worker`: extra normalizers beside `serve`, sharing its store (and its broker, in RabbitMQ mode).

Embedded mode: the worker claims inbox rows from the shared store (a SQLite
file on this machine, or PostgreSQL; leases keep two normalizers off the same rows; effects are idempotent
anyway). RabbitMQ mode: competing consumers on the normalize queue
(`service.amqp.worker`). SIGTERM/SIGINT finish the batch in flight, then exit.
Either way the process serves `/metrics`, `/healthz` and `/readyz` on
`CARRIER_EVENTS_WORKER_PORT` (`service.ops`).
"""
from __future__ import annotations

import asyncio
import logging
import signal

from taxonomy.mapping import use_local_tables

from . import heap
from .config import Settings
from .normalizer import EmbeddedNormalizer
from .ops import start_ops
from .store import open_store

log = logging.getLogger(__name__)


async def run_embedded_worker(settings: Settings, stop: asyncio.Event | None = None,
                              settle_heap: bool = False, serve_ops: bool = False) -> None:
    """Normalize until SIGTERM/SIGINT (or `stop`); `serve_ops`: `/metrics` and probes (`service.ops`)."""
    stop = stop or _stop_on_signals()
    store = open_store(settings.db, sqlite_synchronous=settings.sqlite_synchronous)
    await store.open()
    try:
        ops = await start_ops(settings, store, lambda: None, stop.is_set) if serve_ops else None
    except BaseException:
        await store.close()
        raise
    normalizer = EmbeddedNormalizer(store, asyncio.Event(), batch=settings.normalize_batch, idle_poll=0.02,
                                    linger=settings.batch_linger_ms / 1000,
                                    quarantine_unmapped=settings.quarantine_unmapped,
                                    shutdown_budget=settings.shutdown_timeout / 4)
    normalizer.start()
    if settle_heap:
        heap.settle()
    log.info("embedded worker normalizing from %s", settings.db)
    try:
        await stop.wait()
    finally:
        if ops is not None:
            await ops.cleanup()
        await normalizer.close()
        await store.close()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run(settings: Settings) -> None:
    use_local_tables(settings.maps_dir)
    if settings.amqp_url:
        from .amqp.worker import run_worker

        await run_worker(settings, settle_heap=True, serve_ops=True)
    else:
        await run_embedded_worker(settings, settle_heap=True, serve_ops=True)
