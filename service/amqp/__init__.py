"""RabbitMQ mode of the bus port (`service.bus.make_bus` picks it when an AMQP URL is set).

- `topology`: the exchanges and queues (a documented contract), declared idempotently.
- `link`: one robust connection; `ready` gates every publish and consume.
- `relay`: inbox -> raw exchange and outbox -> `shipment-events`, windows of confirmed publishes.
- `consumer`: the normalize consumer (batches, ack after commit, retry tiers, dead rows).
- `bus`: `RabbitBus` for `serve`; `worker`: `run_worker` for extra competing consumers.
- `coalesce`: frames waiting for the socket go out in one write (installed here, for every connection).
"""
from . import coalesce
from .bus import RabbitBus
from .topology import Topology
from .worker import run_worker

coalesce.install()

__all__ = ["RabbitBus", "Topology", "run_worker"]
