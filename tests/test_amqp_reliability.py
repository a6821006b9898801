"""RabbitMQ mode under trouble: broker outage, failing normalizations, competing workers, shutdown and restart."""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from service import normalizer
from service.amqp import bus as amqp_bus
from service.amqp.relay import raw_message
from service.amqp.topology import NORMALIZE_KEY
from service.amqp.worker import run_worker
from service.app import create_app
from service.keys import BUS, STORE
from service.store import Incoming, StoreUnavailable, open_store
from tests.backend import counts_of
from tests.docs import stream_number, ups_track
from tests.test_amqp import post, settled
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    AMQP_URL, aiohttp_client, broker, client, close_connections_named, eventually, queue_depth, settings, subscriber,
    topology)

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": "Bearer s3cret"}


def docs(first: int, count: int) -> list[bytes]:
    """One document per shipment, one scan each: one event per document."""
    return [ups_track(stream_number(i), [("origin", "20260301", "180000")]) for i in range(first, first + count)]


async def post_all(client, bodies: list[bytes]) -> list[dict]:
    return list(await asyncio.gather(*(post(client, body) for body in bodies)))


async def test_broker_outage_intake_keeps_accepting_and_everything_goes_out_after_reconnect(
        aiohttp_client, settings, subscriber):
    # A 5 s reconnect interval keeps the outage open long enough to look at it, even on a loaded machine.
    client = await aiohttp_client(create_app(replace(settings, amqp_url=AMQP_URL + "?reconnect_interval=5")))
    bus, store = client.app[BUS], client.app[STORE]
    await post_all(client, docs(0, 10))
    await subscriber.wait_for(10)

    assert await close_connections_named(bus.connection_name) == 1
    await eventually(lambda: not bus.connected, 15, lambda: "the bus never noticed the outage")
    answers = await post_all(client, docs(10, 20))  # intake only needs SQLite
    assert all(not a["duplicate"] for a in answers)
    ready = await client.get("/readyz")
    assert not bus.connected, "reconnected too early to observe the outage"
    # still ready for intake (a balancer keeps sending webhooks), the outage reported
    assert ready.status == 200 and (await ready.json())["broker"] == "disconnected"
    assert (await store.counts()).get("inbox_pending") == 20  # relays paused: nothing claimed as sent

    await eventually(lambda: bus.connected, 10, lambda: "never reconnected")
    await subscriber.wait_for(30, timeout=20)
    await settled(client)
    # At-least-once: a subscriber may see an id twice; it must see every id.
    assert len(set(subscriber.ids)) == 30
    assert (await store.counts())["events"] == 30
    assert (await client.get("/readyz")).status == 200


async def test_a_transient_failure_goes_through_a_retry_tier_then_succeeds(client, subscriber, monkeypatch):
    real = normalizer.process
    failures: list[int] = []  # sizes of the failed calls

    async def flaky(store, rows, **options):
        # Fails any batch holding the row, and the row alone once: the consumer first isolates the row
        # (its batch mates succeed), then sends it to the retry tier; the copy from the tier succeeds.
        if any(b"1ZTEST000000000001" in r.body for r in rows) and (len(rows) > 1 or 1 not in failures):
            failures.append(len(rows))
            raise ValueError("this document trips a bug (injected)")
        return await real(store, rows, **options)

    monkeypatch.setattr(normalizer, "process", flaky)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = await post_all(client, docs(0, 3))
    await subscriber.wait_for(3)
    await settled(client)
    consumer = client.app[BUS].consumer
    assert failures[-1] == 1 and failures.count(1) == 1 and consumer.retried == 1 and consumer.dead == 0
    assert loop.time() - started >= 0.2  # the first tier's delay was waited out
    rows = await client.app[STORE].inbox_rows([int(a["id"]) for a in answers])
    assert [r.state for r in rows] == ["done"] * 3
    assert sorted(r.attempts for r in rows) == [0, 0, 1]  # the failure is recorded on its row only
    assert len(set(subscriber.ids)) == 3 == len(subscriber.ids)


async def test_a_store_failure_is_not_the_documents_fault_and_never_counts(client, subscriber, monkeypatch):
    """The store locked or away while a batch is normalized: the deliveries go back after a pause, no
    attempt is counted, no retry tier is used, and the documents are normalized once the store answers."""
    real = normalizer.process
    failures: list[int] = []

    async def locked(store, rows, **options):
        if len(failures) < 3:
            failures.append(len(rows))
            raise StoreUnavailable("database is locked (injected)")
        return await real(store, rows, **options)

    monkeypatch.setattr(normalizer, "process", locked)
    answers = await post_all(client, docs(40, 3))
    await subscriber.wait_for(3)
    await settled(client)
    consumer = client.app[BUS].consumer
    assert len(failures) == 3 and consumer.retried == 0 and consumer.dead == 0
    rows = await client.app[STORE].inbox_rows([int(a["id"]) for a in answers])
    assert [r.state for r in rows] == ["done"] * 3
    # only the attempt that succeeded stays recorded: the two made while the store failed were taken back
    assert [r.attempts for r in rows] == [1, 1, 1]
    assert len(set(subscriber.ids)) == 3 == len(subscriber.ids)


async def test_a_persistent_failure_ends_dead_after_the_tiers_and_can_be_replayed(
        client, subscriber, broker, topology, monkeypatch):
    real = normalizer.process

    async def broken(store, rows, **options):
        if any(b"1ZTEST000000000007" in r.body for r in rows):
            raise RuntimeError("this document trips a bug (injected)")
        return await real(store, rows, **options)

    monkeypatch.setattr(normalizer, "process", broken)
    [answer] = await post_all(client, docs(7, 1))
    store, consumer = client.app[STORE], client.app[BUS].consumer

    async def dead() -> bool:
        return (await store.inbox_rows([int(answer["id"])]))[0].state == "dead"

    await eventually(dead, 10, lambda: f"retried {consumer.retried}, dead {consumer.dead}")
    row = (await store.inbox_rows([int(answer["id"])]))[0]
    assert row.attempts == 1 + len(topology.retry_tiers) and "trips a bug (injected)" in row.reason
    assert consumer.retried == len(topology.retry_tiers) and consumer.dead == 1
    await asyncio.sleep(sum(topology.retry_delays_ms) / 1000 + 0.2)  # nothing is still going round
    for queue in (topology.normalize, *topology.retry_tiers):
        assert await queue_depth(broker, queue) == 0, queue
    assert subscriber.messages == [] and consumer.retried == len(topology.retry_tiers)

    listed = await (await client.get("/v1/admin/dlq", headers=ADMIN)).json()
    assert [(i["id"], i["state"]) for i in listed["items"]] == [(answer["id"], "dead")]
    monkeypatch.setattr(normalizer, "process", real)  # "the fix is deployed"
    replay = await client.post(f"/v1/admin/dlq/{answer['id']}/replay", headers=ADMIN)
    assert replay.status == 202
    await subscriber.wait_for(1)
    await settled(client)
    assert (await store.inbox_rows([int(answer["id"])]))[0].state == "done"


WORKER = """
import asyncio, json, logging, sys
import service.amqp.topology as topology
topology.NAME_PREFIX = sys.argv[1]
from service.amqp.worker import run_worker
from service.config import Settings
logging.basicConfig(level=logging.WARNING)
settings = Settings(db=sys.argv[2], amqp_url=sys.argv[3], prefetch=8, normalize_batch=8,
                    retry_delays_ms=(200, 400))
print(json.dumps(asyncio.run(run_worker(settings))), flush=True)
"""


async def test_two_workers_and_serve_share_the_load_without_double_effects(
        aiohttp_client, settings, subscriber, broker, topology):
    settings = replace(settings, prefetch=8, normalize_batch=8)
    client = await aiohttp_client(create_app(settings))  # creates the schema before the workers open the file
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, topology.prefix, settings.db, AMQP_URL, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    try:
        async def three_consumers() -> bool:
            channel = await broker.channel()
            ok = await (await channel.get_underlay_channel()).queue_declare(queue=topology.normalize, passive=True)
            await channel.close()
            return ok.consumer_count == 3

        await eventually(three_consumers, 15, lambda: "workers did not subscribe")
        total = 150
        for start in range(0, total, 50):
            await post_all(client, docs(start, 50))
        await subscriber.wait_for(total, timeout=20)
        await settled(client)
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(w.communicate(), 20) for w in workers]
    stats = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert all(w.returncode == 0 for w in workers), [err.decode()[-2000:] for _, err in outputs]
    serve = client.app[BUS].consumer
    assert all(s["processed"] > 0 for s in stats), stats  # both workers took a share
    assert serve.processed + sum(s["processed"] for s in stats) == total  # each document exactly once
    assert len(set(subscriber.ids)) == total
    assert (await client.app[STORE].counts())["events"] == total


async def test_serve_without_an_in_process_normalizer_leaves_the_documents_to_a_worker(
        aiohttp_client, settings, subscriber, broker, topology):
    settings = replace(settings, in_process_normalizer=False)
    client = await aiohttp_client(create_app(settings))
    await post_all(client, docs(0, 10))

    async def all_queued() -> bool:  # in the broker, and marked so once the confirms were recorded
        return (await queue_depth(broker, topology.normalize) == 10
                and (await client.app[STORE].counts()).get("inbox_queued") == 10)

    await eventually(all_queued, 10, lambda: "the documents did not reach the normalize queue")
    assert subscriber.messages == []
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    await subscriber.wait_for(10)  # normalized by the worker, published by serve's outbox relay
    stop.set()
    stats = await asyncio.wait_for(worker, 10)
    assert stats == {"processed": 10, "skipped": 0, "retried": 0, "dead": 0}
    await settled(client)


async def test_shutdown_loses_nothing_and_a_restart_finishes_the_work(aiohttp_client, settings, subscriber, broker,
                                                                     topology):
    first = await aiohttp_client(create_app(settings))
    answers = await post_all(first, docs(0, 30))
    await subscriber.wait_for(1)  # normalizing is under way
    answers += await post_all(first, docs(30, 30))
    await first.close()  # graceful: stop consuming, finish the batch in hand, flush the relays

    counts = await counts_of(settings.db)
    states = {k.removeprefix("inbox_"): v for k, v in counts.items() if k.startswith("inbox_")}
    unsent = counts["outbox_unsent"]
    assert sum(states.values()) == len(answers) == 60
    assert states.get("done", 0) >= 1 and states.get("pending", 0) == 0 and unsent == 0, (states, unsent)
    # ... done rows' events and the stored documents were published by the closing flush
    assert await queue_depth(broker, topology.normalize) == states.get("queued", 0)  # waiting in the broker

    second = await aiohttp_client(create_app(settings))
    await subscriber.wait_for(60, timeout=20)
    await settled(second)
    assert len(set(subscriber.ids)) == 60


async def test_the_service_starts_and_accepts_while_the_broker_is_down(aiohttp_client, settings, subscriber,
                                                                       unused_tcp_port, monkeypatch):
    monkeypatch.setattr(amqp_bus, "START_WAIT", 0.2)
    down = replace(settings, amqp_url=f"amqp://guest:guest@127.0.0.1:{unused_tcp_port}/")
    first = await aiohttp_client(create_app(down))
    await post_all(first, docs(0, 5))
    ready = await first.get("/readyz")
    assert ready.status == 200 and (await ready.json())["broker"] == "disconnected"  # intake works meanwhile
    started = time.monotonic()
    await first.close()
    assert time.monotonic() - started < 3  # no waiting on a broker that is not there
    assert {k: v for k, v in (await counts_of(settings.db)).items() if k.startswith("inbox_")} == {"inbox_pending": 5}

    second = await aiohttp_client(create_app(settings))  # the broker is back
    await subscriber.wait_for(5)
    await settled(second)


async def test_marking_queued_never_overwrites_a_row_a_consumer_already_settled(db):
    """The confirm can reach the relay after a consumer finished the row; the row must keep its outcome."""
    store = open_store(db)
    await store.open()
    try:
        ids = [a.id for a in await store.accept(
            [Incoming("ups", body, "application/json", {}) for body in (b"1", b"2", b"3", b"4")])]
        await store.mark([ids[0]], "quarantined", "unparseable")
        await store.mark([ids[1]], "done")
        await store.mark([ids[2]], "dead", "failed 3 times")
        await store.mark_queued(ids)
        rows = sorted(await store.inbox_rows(ids), key=lambda r: r.id)
        assert [r.state for r in rows] == ["quarantined", "done", "dead", "queued"]
        assert rows[0].reason == "unparseable"
    finally:
        await store.close()


async def _queued_row(settings, broker, topology, n: int):
    """A stored document the relay has handed to the broker (published by the test itself)."""
    store = open_store(settings.db)
    await store.open()
    [accepted] = await store.accept([Incoming("ups", docs(n, 1)[0], "application/json", {})])
    await store.mark([accepted.id], "queued")  # what the relay does after the confirm
    [row] = await store.inbox_rows([accepted.id])
    await store.close()
    channel = await broker.channel(publisher_confirms=True, on_return_raises=True)
    raw = await channel.get_exchange(topology.raw, ensure=False)
    await raw.publish(raw_message(row), routing_key=NORMALIZE_KEY, mandatory=True)
    await channel.close()
    return row


async def test_a_document_returned_unprocessed_by_many_restarts_is_normalized_not_dead(
        aiohttp_client, settings, broker, topology):
    """Consumers killed while a valid document sat in their prefetch return it with its delivery count
    raised, again and again: that is not the document's fault, and it must not end dead."""
    row = await _queued_row(settings, broker, topology, 3)
    channel = await broker.channel()
    normalize = await channel.get_queue(topology.normalize, ensure=False)
    # delivered to consumers that died before looking at it, as often as the broker allows (once more and
    # the queue's own x-delivery-limit dead-letters it; the store publishes such rows again, see README)
    for _ in range(settings.delivery_limit):
        message = None
        while message is None:
            message = await normalize.get(fail=False)
        await message.nack(requeue=True)
    await channel.close()

    client = await aiohttp_client(create_app(settings))
    app_store, consumer = client.app[STORE], client.app[BUS].consumer

    async def done() -> bool:
        return (await app_store.inbox_rows([row.id]))[0].state == "done"

    await eventually(done, 10, lambda: "the document was not normalized")
    assert consumer.dead == 0 and consumer.processed == 1
    assert (await app_store.inbox_rows([row.id]))[0].attempts == 1  # one attempt, on its own content


async def test_a_document_its_consumer_dies_on_each_time_ends_dead_and_its_batch_mates_do_not(
        aiohttp_client, settings, broker, topology, monkeypatch):
    """A consumer that dies while normalizing (the process killed mid-batch) each time: the document it dies
    on reaches the limit of attempts and is marked dead; the documents of its first batch are normalized."""
    settings = replace(settings, shutdown_timeout=1.0)  # delivery_limit 5, as the test topology's queue
    poison = await _queued_row(settings, broker, topology, 5)
    mate = await _queued_row(settings, broker, topology, 6)
    real = normalizer.process

    async def dies_on_poison(store, rows, **kwargs):
        if any(r.id == poison.id for r in rows):
            await asyncio.Event().wait()  # stuck until the consumer is stopped: a death while working
        return await real(store, rows, **kwargs)

    monkeypatch.setattr(normalizer, "process", dies_on_poison)
    attempts: list[int] = []
    # fresh (both, together), then suspects (both, together, an attempt recorded), then the poison alone
    for _ in range(settings.delivery_limit):
        client = await aiohttp_client(create_app(settings))
        app_store = client.app[STORE]

        async def attempted() -> bool:
            await asyncio.sleep(0.5)  # the consumer has taken the delivery and is stuck on it
            return True

        await eventually(attempted, 5)
        await client.close()  # the consumer dies: its unacked deliveries go back with their count raised
        store = open_store(settings.db)
        await store.open()
        attempts.append((await store.inbox_rows([poison.id]))[0].attempts)
        await store.close()
    monkeypatch.setattr(normalizer, "process", real)
    client = await aiohttp_client(create_app(settings))
    app_store, consumer = client.app[STORE], client.app[BUS].consumer

    async def settled_both() -> bool:
        rows = await app_store.inbox_rows([poison.id, mate.id])
        return {r.id: r.state for r in rows} == {poison.id: "dead", mate.id: "done"}

    await eventually(settled_both, 15, lambda: f"attempts seen {attempts}")
    assert attempts == [0, 1, 2, 3, 4], attempts  # nothing counted for the first (fresh) delivery
    [dead] = await app_store.inbox_rows([poison.id])
    assert "failed 5 times" in dead.reason and consumer.dead == 1
    assert await queue_depth(broker, topology.dlq) == 0  # recorded in the store, not left to the broker


async def test_a_document_the_broker_lost_after_confirming_is_published_again(client, subscriber, broker, topology):
    """Confirmed, then gone (an operator purged the queue): the sweep republishes the row."""
    from service.amqp.relay import InboxRelay

    await client.app[BUS].consumer.stop(5.0)  # no normalizer: the message stays ready in the queue
    body = (ROOT / "fixtures" / "ups_track_json" / "delivered_received_by.json").read_bytes()
    row_id = int((await (await client.post("/webhooks/ups", data=body,
                                           headers={"Content-Type": "application/json"})).json())["id"])
    store = client.app[STORE]
    await eventually(lambda: _state(store, row_id, "queued"), 10, lambda: "the row was never queued")
    channel = await broker.channel()
    await (await channel.get_underlay_channel()).queue_purge(topology.normalize)  # the loss
    await channel.close()
    assert await store.requeue_stale(0) == 1  # what the relay's periodic sweep does after STALE_AFTER
    assert InboxRelay.STALE_AFTER > 0 and InboxRelay.SWEEP_EVERY > 0
    await eventually(lambda: _state(store, row_id, "queued"), 10, lambda: "the row was not published again")
    assert await queue_depth(broker, topology.normalize) == 1  # back in the queue for a normalizer


async def _state(store, row_id: int, state: str) -> bool:
    return (await store.inbox_rows([row_id]))[0].state == state
