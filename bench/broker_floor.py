"""The broker's own floor for the RabbitMQ end-to-end figure: the same hops, none of the service's work.

    python -m bench.broker_floor AMQP_URL PREFIX RATE SECONDS

Run as its own process by `bench.service` beside the real measurement. At
RATE messages/s it publishes persistent, confirmed messages (windowed, as the
inbox relay does) to a quorum queue; a consumer in the same process (prefetch
64, manual acks) republishes each, confirmed, to a topic exchange, where the
bench's subscriber measures publish -> delivery. No HTTP, no SQLite, no
parsing: what is left is the broker, the client library and this machine.
"""
from __future__ import annotations

import asyncio
import sys
import time

import aio_pika

from service.amqp import coalesce


async def run(url: str, prefix: str, rate: float, seconds: float) -> None:
    coalesce.install()
    connection = await aio_pika.connect(url)
    publisher = await connection.channel(publisher_confirms=True)
    consumer = await connection.channel(publisher_confirms=True)
    await consumer.set_qos(prefetch_count=64)
    queue = await consumer.declare_queue(f"{prefix}floor.normalize", durable=True,
                                         arguments={"x-queue-type": "quorum"})
    events = await consumer.get_exchange(f"{prefix}shipment-events", ensure=False)
    raw = publisher.default_exchange

    async def forward(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await events.publish(aio_pika.Message(message.body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                             routing_key="floor.none.bench")
        await message.ack()

    tag = await queue.consume(forward)
    start, sent, pending = time.perf_counter(), 0, set()
    while True:
        due = start + sent / rate
        if due - start >= seconds:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        body = f'{{"subject": "floor-{sent}", "t": {time.time()}}}'.encode()
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        task = asyncio.ensure_future(raw.publish(message, routing_key=queue.name))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    await asyncio.gather(*pending)
    await asyncio.sleep(2.0)  # the last messages through the second hop
    await queue.cancel(tag)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
