"""The bus port: how stored documents reach the normalizer and events reach subscribers.

Two adapters, one shape (`start`, `close`, `connected`):
- `EmbeddedBus` (default): the inbox is the queue; an in-process normalizer
  drains it; the outbox is the event feed (`GET /v1/events`).
- `service.amqp.RabbitBus`: the inbox is relayed to RabbitMQ, consumers
  normalize, and the outbox is relayed to the `shipment-events` exchange.
"""
from __future__ import annotations

import asyncio
from typing import Protocol

from .config import Settings
from .normalizer import EmbeddedNormalizer
from .store.ports import Store


class Bus(Protocol):
    """What the app needs of either bus: start, drain and stop, and whether a broker is connected
    (`None`: no broker in this mode)."""

    @property
    def connected(self) -> bool | None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class EmbeddedBus:
    connected = None  # no broker to be connected to

    def __init__(self, store: Store, stored: asyncio.Event, settings: Settings) -> None:
        self.normalizer = EmbeddedNormalizer(store, stored, batch=settings.normalize_batch,
                                             linger=settings.batch_linger_ms / 1000,
                                             quarantine_unmapped=settings.quarantine_unmapped,
                                             # a quarter of the shutdown limit: the document in flight, the
                                             # relays and the store close after it
                                             shutdown_budget=settings.shutdown_timeout / 4)
        self._in_process = settings.in_process_normalizer

    async def start(self) -> None:
        if self._in_process:
            self.normalizer.start()

    async def close(self) -> None:
        if self._in_process:
            await self.normalizer.close()


def make_bus(store: Store, stored: asyncio.Event, settings: Settings, escalated: asyncio.Event | None = None) -> Bus:
    """`escalated` wakes the `cs-escalations` publisher (RabbitMQ mode); embedded mode has no exchange:
    escalations are read from `/v1/escalations` (and forwarded to a ticketing webhook if configured)."""
    if settings.amqp_url:
        from .amqp import RabbitBus

        return RabbitBus(store, stored, settings, escalated=escalated)
    return EmbeddedBus(store, stored, settings)
