"""`RabbitBus`: the bus port in RabbitMQ mode, for the `serve` process.

Inbox relay (pending rows -> raw exchange), one normalize consumer (workers
add more, see `worker.py`; `in_process_normalizer=False` leaves normalizing
to them), the outbox relay (outbox -> `shipment-events`) and the escalation
relay (escalation changes -> `cs-escalations`) share one robust connection.
The relays and the consumer do not care whether the broker is there: they
wait on `Link.ready`, and the store keeps everything until a confirm says
otherwise. `connected` is what `/readyz` reports.
"""
from __future__ import annotations

import asyncio
import logging
import time

from ..config import Settings
from ..store.ports import Store
from .consumer import NormalizeConsumer
from .link import Link
from .relay import EscalationRelay, InboxRelay, OutboxRelay
from .topology import Topology

log = logging.getLogger(__name__)

START_WAIT = 5.0  # seconds start() waits for the broker before carrying on without it
FLUSH_SHARE = 0.5  # of the shutdown timeout, for publishing what is left at close


class RabbitBus:
    def __init__(self, store: Store, stored: asyncio.Event, settings: Settings,
                 topology: Topology | None = None, escalated: asyncio.Event | None = None) -> None:
        if not settings.amqp_url:
            raise ValueError("RabbitBus needs settings.amqp_url")
        self.settings = settings
        self.topology = topology or Topology.from_settings(settings)
        self.link = Link(settings.amqp_url, self.topology, role="serve")
        self.events_waiting = asyncio.Event()  # the consumer produced outbox rows
        self.inbox_relay = InboxRelay(store, self.link, stored, settings.publish_window,
                                      settings.batch_linger_ms / 1000)
        self.outbox_relay = OutboxRelay(store, self.link, self.events_waiting, settings.publish_window,
                                        settings.batch_linger_ms / 1000)
        self.escalation_relay = EscalationRelay(store, store, self.link, escalated or asyncio.Event(),
                                                settings.publish_window)
        self.consumer = NormalizeConsumer(store, self.link, settings, on_events=self.outbox_relay.offer)
        self._consuming = settings.in_process_normalizer  # False: only `worker` processes normalize

    @property
    def connected(self) -> bool:
        """Connected and topology declared; False while the broker is away."""
        return self.link.connected

    @property
    def connection_name(self) -> str:
        return self.link.name

    async def start(self) -> None:
        """Connect (briefly waiting for the broker, not depending on it) and start the three loops."""
        self.link.open()
        if not await self.link.wait_ready(START_WAIT):
            log.warning("broker not reachable yet; accepting anyway, relaying once it is (%s)", self.link.name)
        if self._consuming:
            self.consumer.start()
        self.inbox_relay.start()
        self.outbox_relay.start()
        self.escalation_relay.start()
        if self._consuming and self.link.connected:  # deterministic start with a broker: consuming on return
            try:
                await asyncio.wait_for(self.consumer.subscribed.wait(), START_WAIT)
            except asyncio.TimeoutError:
                log.warning("normalize consumer not subscribed yet; it keeps trying")

    async def close(self) -> None:
        """Stop consuming and finish the batch in hand, publish what is left once (bounded), disconnect."""
        budget = max(1.0, self.settings.shutdown_timeout)
        if self._consuming:
            await self.consumer.stop(budget * (1 - FLUSH_SHARE))
        await self.inbox_relay.stop(budget * FLUSH_SHARE / 2)
        await self.outbox_relay.stop(budget * FLUSH_SHARE / 2)
        await self.escalation_relay.stop(budget * FLUSH_SHARE / 2)
        deadline = time.monotonic() + budget * FLUSH_SHARE
        await self.outbox_relay.flush(deadline)  # events of the last batches first: subscribers wait for them
        await self.escalation_relay.flush(deadline)
        await self.inbox_relay.flush(deadline)  # documents go to the queue for workers / the next start
        try:
            await self.escalation_relay.duty.release()
        except Exception as exc:  # the lease then simply runs out
            log.warning("could not release the escalation relay's duty (%s)", exc)
        if self.link.connected:
            for relay in (self.inbox_relay, self.outbox_relay, self.escalation_relay):
                await relay.close_channel()
        await self.link.close()
