"""`run_worker`: extra competing normalize consumers, in their own process.

A worker opens its own store on the same database as `serve` (a SQLite file
on this machine, or PostgreSQL anywhere) and runs a normalize consumer plus an
outbox relay it hands each batch's new events to, so they go out at once; relays
claim outbox rows with leases, so the serve process's relay and this one
never publish the same row twice (unless a lease expires: then at least
once). The inbox relay stays with `serve`. Two workers and serve
can take messages for the same document (a redelivery, a retry copy): the
store's idempotency (row state, event ids) makes the second one a no-op.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time

from aiohttp import web

from .. import heap
from ..config import Settings
from ..ops import start_ops
from ..store import open_store
from .consumer import NormalizeConsumer
from .link import Link
from .relay import OutboxRelay
from .topology import Topology

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None,
                     settle_heap: bool = False, serve_ops: bool = False) -> dict[str, int]:
    """Consume until SIGTERM/SIGINT (or `stop` is set); returns what this worker did.

    `settle_heap`: this is the process's main work (`python -m service worker`): see `service.heap`.
    `serve_ops`: serve `/metrics`, `/healthz`, `/readyz` on `settings.worker_port` (`service.ops`)."""
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
    store = open_store(settings.db, sqlite_synchronous=settings.sqlite_synchronous)
    await store.open()
    link = Link(settings.amqp_url, Topology.from_settings(settings), role="worker")
    events_waiting = asyncio.Event()
    relay = OutboxRelay(store, link, events_waiting, settings.publish_window, settings.batch_linger_ms / 1000)
    consumer = NormalizeConsumer(store, link, settings, on_events=relay.offer)
    ops: web.AppRunner | None = None
    try:
        link.open()
        if serve_ops:
            ops = await start_ops(settings, store, lambda: link.connected, stop.is_set)
        consumer.start()
        relay.start()
        if settle_heap:
            heap.settle()
        log.info("worker started (%s), db %s", link.name, settings.db)
        await stop.wait()
        log.info("worker stopping: finishing the batch in hand")
        await consumer.stop(settings.shutdown_timeout)
        await relay.stop(settings.shutdown_timeout / 2)
        await relay.flush(time.monotonic() + settings.shutdown_timeout / 2)
        if link.connected:
            await relay.close_channel()
    finally:
        if ops is not None:
            await ops.cleanup()
        await link.close()
        await store.close()
        for sig in handled:
            loop.remove_signal_handler(sig)
    stats = {"processed": consumer.processed, "skipped": consumer.skipped, "retried": consumer.retried,
             "dead": consumer.dead}
    log.info("worker stopped: %s", stats)
    return stats
