"""The RabbitMQ topology of the bus (a contract: OMS queues bind to `shipment-events`).

Declared idempotently by every process at start-up and again after every
reconnect, so a broker that lost its definitions (fresh node, reset) is
repaired by the first client that reaches it. Declarations go through the
raw protocol channel, not aio-pika's robust bookkeeping: the topology is
re-declared on purpose by `Link`, and robust channels would otherwise keep
one more copy of every queue object per reconnect.

| name                          | kind                 | arguments / binding                                      |
|-------------------------------|----------------------|----------------------------------------------------------|
| `carrier-events.raw`          | direct exchange      | durable                                                  |
| `carrier-events.normalize`    | quorum queue         | bound to raw with `normalize`; `x-delivery-limit`        |
|                               |                      | (settings.delivery_limit), `x-dead-letter-exchange:      |
|                               |                      | carrier-events.dlx`, `x-dead-letter-strategy:            |
|                               |                      | at-least-once`, `x-overflow: reject-publish`             |
| `carrier-events.retry`        | direct exchange      | durable                                                  |
| `carrier-events.retry.<ms>ms` | quorum queue, 1/tier | bound to retry with its own name; `x-message-ttl: <ms>`, |
|                               |                      | `x-dead-letter-exchange: carrier-events.raw`,            |
|                               |                      | `x-dead-letter-routing-key: normalize`, at-least-once,   |
|                               |                      | reject-publish                                           |
| `carrier-events.dlx`          | fanout exchange      | durable                                                  |
| `carrier-events.dlq`          | quorum queue         | bound to dlx                                             |
| `shipment-events`             | topic exchange       | durable; key `<status>.<exception_class|none>.<carrier>` |
| `cs-escalations`              | topic exchange       | durable; key `<severity>.<owner_role>.<exception_class>` |

Why each one:
- raw: the inbox relay publishes each stored document here (routing key
  `normalize`, mandatory: the normalize queue must exist, or the row stays pending).
- normalize: competing normalizers (serve + workers). The explicit delivery
  limit (3.10 has no default) ends a consumer crash loop: the message is
  dead-lettered, at-least-once, never dropped. at-least-once dead-lettering
  requires `reject-publish` overflow.
- retry + tiers (settings.retry_delays_ms): a failed normalization is
  republished to tier N with routing key = the tier's name; the TTL is the
  delay, and expiry dead-letters it back to raw as `normalize` (without the
  routing-key override it would keep the tier name and match nothing).
- dlx / dlq: what the broker dead-letters, kept for an operator. The store
  stays the DLQ of record (rows `quarantined`/`dead`, admin API, replay).
- shipment-events: normalized CloudEvents; subscribers bring their own queues
  and bindings (OMS, actions worker).
- cs-escalations: escalation changes (opened, repeated, acknowledged,
  assigned, resolved, SLA breached) as CloudEvents of type
  `escalation.changed.v1`; CS tooling binds e.g. `critical.#` or `*.cs_claims.*`.

Tests isolate themselves by setting `NAME_PREFIX` (prepended to every name)
before a bus is built; production leaves it empty.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiormq.abc

from ..config import Settings

NAME_PREFIX = ""  # prepended to every exchange and queue name; "" in production
NORMALIZE_KEY = "normalize"  # routing key of raw documents on the raw exchange

Arguments = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Topology:
    """Names and arguments of every exchange and queue, derived from the settings."""

    delivery_limit: int = 5
    retry_delays_ms: tuple[int, ...] = (1_000, 10_000, 60_000)
    prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, prefix: str | None = None) -> Topology:
        return cls(delivery_limit=settings.delivery_limit, retry_delays_ms=tuple(settings.retry_delays_ms),
                   prefix=(NAME_PREFIX or settings.amqp_prefix) if prefix is None else prefix)

    # --- names ---------------------------------------------------------------------------
    @property
    def raw(self) -> str:
        return f"{self.prefix}carrier-events.raw"

    @property
    def normalize(self) -> str:
        return f"{self.prefix}carrier-events.normalize"

    @property
    def retry(self) -> str:
        return f"{self.prefix}carrier-events.retry"

    @property
    def retry_tiers(self) -> tuple[str, ...]:
        """Tier queue names in attempt order; each is also its routing key on the retry exchange."""
        return tuple(f"{self.prefix}carrier-events.retry.{ms}ms" for ms in self.retry_delays_ms)

    @property
    def dlx(self) -> str:
        return f"{self.prefix}carrier-events.dlx"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}carrier-events.dlq"

    @property
    def events(self) -> str:
        return f"{self.prefix}shipment-events"

    @property
    def escalations(self) -> str:
        return f"{self.prefix}cs-escalations"

    # --- arguments -----------------------------------------------------------------------
    def normalize_arguments(self) -> Arguments:
        """Consumers declare the queue too (robust channels restore it), so it must match exactly."""
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dlx,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # at-least-once dead-lettering requires it
        }

    def retry_arguments(self, delay_ms: int) -> Arguments:
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": self.raw,
            "x-dead-letter-routing-key": NORMALIZE_KEY,  # else the tier name would be routed, and match nothing
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    @staticmethod
    def dlq_arguments() -> Arguments:
        return {"x-queue-type": "quorum"}

    # --- declaration ---------------------------------------------------------------------
    async def declare(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Declare everything; safe to repeat (same names, same arguments)."""
        for name, kind in ((self.raw, "direct"), (self.retry, "direct"), (self.dlx, "fanout"),
                           (self.events, "topic"), (self.escalations, "topic")):
            await channel.exchange_declare(exchange=name, exchange_type=kind, durable=True)
        await channel.queue_declare(queue=self.dlq, durable=True, arguments=self.dlq_arguments())
        await channel.queue_bind(queue=self.dlq, exchange=self.dlx, routing_key="")
        await channel.queue_declare(queue=self.normalize, durable=True, arguments=self.normalize_arguments())
        await channel.queue_bind(queue=self.normalize, exchange=self.raw, routing_key=NORMALIZE_KEY)
        for delay, tier in zip(self.retry_delays_ms, self.retry_tiers):
            await channel.queue_declare(queue=tier, durable=True, arguments=self.retry_arguments(delay))
            await channel.queue_bind(queue=tier, exchange=self.retry, routing_key=tier)

    async def delete(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Remove everything (tests, with a prefix); never called by the service."""
        for queue in (self.normalize, self.dlq, *self.retry_tiers):
            await channel.queue_delete(queue=queue)
        for exchange in (self.raw, self.retry, self.dlx, self.events, self.escalations):
            await channel.exchange_delete(exchange=exchange)
