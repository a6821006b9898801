"""`run_worker`: extra competing normalize consumers, in their own process.

A worker opens its own store on the same SQLite file as `serve` (WAL; the
busy timeout serializes writers) and runs only a normalize consumer: no
relays, since one relay per table is enough and `serve` owns them. Events a
worker produces land in the shared outbox, where the serve process's outbox
relay finds them on its next poll (within a second). Two workers and serve
can take messages for the same document (a redelivery, a retry copy): the
store's idempotency (row state, event ids) makes the second one a no-op.
"""
from __future__ import annotations

import asyncio
import logging
import signal

from ..config import Settings
from ..store import Store
from .consumer import NormalizeConsumer
from .link import Link
from .topology import Topology

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> dict[str, int]:
    """Consume until SIGTERM/SIGINT (or `stop` is set); returns what this worker did."""
    if not settings.amqp_url:
        raise ValueError("a worker needs an AMQP URL (CARRIER_EVENTS_AMQP_URL or --amqp-url)")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals on this platform
            pass
    store = Store(settings.db, synchronous=settings.sqlite_synchronous)
    await store.open()
    link = Link(settings.amqp_url, Topology.from_settings(settings), role="worker")
    consumer = NormalizeConsumer(store, link, settings)
    try:
        link.open()
        consumer.start()
        log.info("worker started (%s), db %s", link.name, settings.db)
        await stop.wait()
        log.info("worker stopping: finishing the batch in hand")
        await consumer.stop(settings.shutdown_timeout)
    finally:
        await link.close()
        await store.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
    stats = {"processed": consumer.processed, "skipped": consumer.skipped, "retried": consumer.retried,
             "dead": consumer.dead}
    log.info("worker stopped: %s", stats)
    return stats
