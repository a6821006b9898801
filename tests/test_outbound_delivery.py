"""Outbound webhooks end to end over both stores: events posted as webhooks reach real receivers on 127.0.0.1,
filtered, signed, in order per shipment, through outages, rate limits, slow peers, restarts and give-up."""
from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from service import metrics
from service.app import create_app
from service.keys import OUTBOUND, STORE
from tests.outbound_support import (app_settings, eventually, fill, first_deliveries, new_subscription, per_shipment,
                                    receivers, running)
from tests.receivers import Receiver, redirect, slow, status


@pytest.fixture
async def client(aiohttp_client, db):
    """The service with its own dispatcher off: each test runs a dispatcher with a short schedule."""
    return await aiohttp_client(create_app(app_settings(db, webhooks_out=False)))


async def test_filtered_signed_in_order_and_the_cursor_follows(client, receivers, running):
    store = client.app[STORE]
    everything, delivered_only = await receivers(), await receivers()
    old_secret = new_subscription("").secret
    all_sub = new_subscription(everything.url, ("#",))
    # a receiver during a secret rotation: the previous secret still verifies
    some_sub = new_subscription(delivered_only.url, ("delivered.#", "*.*.fedex"), previous_secret=old_secret,
                                previous_secret_until="2999-01-01T00:00:00Z")
    await store.create_subscription(all_sub)
    await store.create_subscription(some_sub)
    feed = await fill(client, 3)
    await running(store)
    await everything.wait_for(lambda: len(everything.accepted()) >= len(feed), what="every event")
    await delivered_only.wait_for(lambda: len(delivered_only.accepted()) >= 3, what="the delivered events")
    await eventually(lambda: _cursor_at(store, all_sub.id, feed[-1].seq), what="cursor at the feed head")
    await eventually(lambda: _cursor_at(store, some_sub.id, feed[-1].seq), what="cursor at the feed head")

    events = everything.verified_events(all_sub.secret)
    assert [e["id"] for e in events] == first_deliveries([e["id"] for e in events])  # nothing twice
    assert sorted(e["id"] for e in events) == sorted(e.event_id for e in feed)
    by_shipment = per_shipment(events)
    feed_order = per_shipment([_cloud(e) for e in feed])
    assert by_shipment == feed_order  # each shipment's events in feed order

    picked = delivered_only.verified_events(some_sub.secret)
    assert {e["data"]["event"]["status"] for e in picked} == {"delivered"} and len(picked) == 3
    for secret in (old_secret, some_sub.secret):
        for request in delivered_only.received:
            Webhook(secret).verify(request.body, request.headers)
    assert {r.headers["webhook-id"] for r in delivered_only.received} == {
        e.event_id for e in feed if e.routing_key.startswith("delivered.")}

    log = await store.delivery_log(all_sub.id, limit=100)
    assert len(log) == len(feed) and all(a.ok and a.status == 204 and a.attempt == 1 for a in log)
    assert metrics.WEBHOOK_DELIVERIES.labels(all_sub.id, "delivered")._value.get() == len(feed)


async def test_a_receiver_down_then_back_gets_everything_in_order(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers()
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    port = rec.port
    await rec.stop()  # down: connections refused
    feed = await fill(client, 4)
    await running(store)
    await eventually(lambda: _failing(store, sub.id), what="the failing streak recorded")
    failing = await store.subscription(sub.id)
    assert failing.failing_since and failing.next_attempt_at and failing.last_error
    lag = metrics.WEBHOOK_LAG.labels(sub.id)
    await eventually(lambda: lag._value.get() == feed[-1].seq, what="the lag gauge at the whole feed")
    await rec.start(port)
    rec.behaviour = status(503)  # up but unavailable for a while
    await rec.wait_for(lambda: len(rec.received) >= 4, what="503s")
    rec.behaviour = _ok
    await rec.wait_for(lambda: len({r.headers["webhook-id"] for r in rec.accepted()}) >= len(feed),
                       what="every event after the outage")
    await eventually(lambda: _cursor_at(store, sub.id, feed[-1].seq), what="cursor at the head")

    accepted = [r.event for r in rec.accepted()]
    assert {e["id"] for e in accepted} == {e.event_id for e in feed}  # no gap
    expected = per_shipment([_cloud(e) for e in feed])
    got = {k: first_deliveries(v) for k, v in per_shipment(accepted).items()}
    assert got == expected  # in order per shipment
    healthy = await store.subscription(sub.id)
    assert healthy.failing_since is None and healthy.last_error is None and healthy.enabled
    await eventually(lambda: lag._value.get() == 0, what="the lag gauge back to 0")
    log = await store.delivery_log(sub.id, limit=1000)
    assert any(not a.ok and a.status is None for a in log) and any(a.status == 503 for a in log)


async def test_a_failing_event_holds_its_shipment_and_the_cursor_but_not_the_others(client, receivers, running):
    store = client.app[STORE]
    feed = await fill(client, 3)
    poison = feed[1]  # the second event of the first shipment

    async def refuse_one(receiver, request):
        return web.Response(status=400 if request.headers["webhook-id"] == poison.event_id else 204)

    rec = await receivers(refuse_one)
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    await running(store)
    held = per_shipment([_cloud(e) for e in feed])[f"{_cloud(poison)['source']} {_cloud(poison)['subject']}"]
    others = {e.event_id for e in feed} - set(held)
    await rec.wait_for(lambda: {r.headers["webhook-id"] for r in rec.accepted()} >= others | {held[0]},
                       what="the other shipments delivered")
    await rec.wait_for(lambda: rec.delivered_ids().count(poison.event_id) >= 3, what="the failing event retried")
    delivered = {r.headers["webhook-id"] for r in rec.accepted()}
    assert not delivered & set(held[1:])  # nothing after the failing event in its shipment
    current = await store.subscription(sub.id)
    assert current.cursor == 0 and current.failing_since and "400" in current.last_error


async def test_a_receiver_that_is_down_gets_at_most_concurrency_requests_at_a_time(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers(status(503))
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    await fill(client, 6)
    await running(store, concurrency=2, delay=lambda *args, **kwargs: 0.2)
    await rec.wait_for(lambda: len(rec.received) >= 8, what="retries")
    # two events, each retried; the other shipments' first events wait for a slot instead of failing too
    assert len(set(rec.delivered_ids())) == 2


async def test_a_slow_subscriber_does_not_delay_a_fast_one(client, receivers, running):
    store = client.app[STORE]
    slow_rec, fast_rec = await receivers(slow(5)), await receivers()
    await store.create_subscription(new_subscription(slow_rec.url))
    await store.create_subscription(new_subscription(fast_rec.url))
    feed = await fill(client, 2)
    await running(store)
    await fast_rec.wait_for(lambda: len(fast_rec.accepted()) >= len(feed), what="the fast receiver's events")
    # every event reached the fast receiver before the slow one answered even one request
    assert all(r.status is None for r in slow_rec.received)
    assert len(slow_rec.received) <= 2  # one request per shipment in flight, each shipment in order


@pytest.mark.parametrize("code", [429, 503])
async def test_retry_after_is_honoured(client, receivers, running, code):
    store = client.app[STORE]
    answers = iter([status(code, "1")])

    async def once_then_ok(receiver, request):
        return await next(answers, _ok)(receiver, request)

    rec = await receivers(once_then_ok)
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    feed = await fill(client, 1, scans=[("delivered", "20260303", "141500")])
    await running(store)
    await rec.wait_for(lambda: len(rec.accepted()) == 1, what="the retried event")
    first, second = rec.received[0], rec.received[1]
    assert first.status == code and second.headers["webhook-id"] == first.headers["webhook-id"] == feed[0].event_id
    assert second.at - first.at >= 1.0  # the short test schedule would have retried after 0.1 s
    await eventually(lambda: _cursor_at(store, sub.id, feed[-1].seq), what="cursor at the head")
    log = sorted(await store.delivery_log(sub.id), key=lambda a: a.attempt)
    assert [(a.attempt, a.ok, a.status) for a in log] == [(1, False, code), (2, True, 204)]
    assert "Retry-After 1 s" in log[0].error


async def test_a_redirect_is_not_followed(client, receivers, running):
    store = client.app[STORE]
    internal = await receivers()
    bouncer = await receivers(redirect(internal.url))
    sub = new_subscription(bouncer.url)
    await store.create_subscription(sub)
    await fill(client, 1, scans=[("delivered", "20260303", "141500")])
    await running(store)
    await bouncer.wait_for(lambda: len(bouncer.received) >= 2, what="retried attempts")
    assert internal.received == []
    current = await store.subscription(sub.id)
    assert current.cursor == 0 and "redirect to http://127.0.0.1" in current.last_error
    assert "not followed" in current.last_error


async def test_a_private_target_is_refused_without_allow_nets(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers()
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    await fill(client, 1, scans=[("delivered", "20260303", "141500")])
    d = await running(store, allow_nets=())
    assert "not a public address" in d.check_url(rec.url)
    assert "non-public address" in d.check_url(rec.url.replace("127.0.0.1", "localhost"))
    assert d.check_url("ftp://example.com/") == "the URL scheme must be http or https"
    await eventually(lambda: _failing(store, sub.id), what="the refusal recorded")
    assert rec.received == []
    assert "not a public address" in (await store.subscription(sub.id)).last_error


async def test_give_up_disables_with_the_reason(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers(status(503))
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    await fill(client, 1)
    await running(store, give_up=1.0)
    await eventually(lambda: _disabled(store, sub.id), timeout=10, what="the subscription disabled")
    gone = await store.subscription(sub.id)
    assert not gone.enabled and gone.cursor == 0 and gone.disabled_at
    assert "gave up" in gone.disabled_reason and "503" in gone.disabled_reason
    await eventually(lambda: metrics.WEBHOOK_DISABLED.labels(sub.id)._value.get() == 1, what="the gauge")
    seen = len(rec.received)
    await asyncio.sleep(0.5)
    assert len(rec.received) == seen  # no more attempts once disabled


async def test_a_stop_mid_batch_then_a_restart_loses_nothing(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers(slow(0.05))
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    feed = await fill(client, 6)
    first = await running(store, concurrency=2)
    await rec.wait_for(lambda: len(rec.accepted()) >= 5, what="part of the batch")
    await first.close()  # cancelled mid-batch: requests in flight abandoned
    assert len({r.headers["webhook-id"] for r in rec.accepted()}) < len(feed)
    assert (await store.subscription(sub.id)).cursor == 0  # the batch was not finished: the cursor stayed
    restarted = time.monotonic()
    await running(store)
    await rec.wait_for(lambda: {r.headers["webhook-id"] for r in rec.accepted()} >= {e.event_id for e in feed},
                       what="every event after the restart")
    await eventually(lambda: _cursor_at(store, sub.id, feed[-1].seq), what="cursor at the head")
    # the restarted dispatcher sent the unfinished batch again, each shipment in feed order
    again = [r.event for r in rec.accepted() if r.at >= restarted]
    assert per_shipment(again) == per_shipment([_cloud(e) for e in feed])


async def test_a_corrected_url_is_tried_at_once_not_after_the_backoff(client, receivers, running):
    store = client.app[STORE]
    gone = await receivers()
    await gone.stop()
    rec = await receivers()
    sub = new_subscription(gone.url)
    await store.create_subscription(sub)
    feed = await fill(client, 1, scans=[("delivered", "20260303", "141500")])
    d = await running(store, delay=lambda *args, **kwargs: 600.0)  # the next try would be ten minutes away
    await eventually(lambda: _failing(store, sub.id), what="the first failure")
    await store.update_subscription(sub.id, {"url": rec.url})
    d.wake()  # what the API does after a change
    await rec.wait_for(lambda: len(rec.accepted()) == 1, timeout=5, what="the delivery to the corrected URL")
    assert rec.delivered_ids() == [feed[0].event_id]


async def test_two_service_instances_over_one_store_deliver_each_event_once(aiohttp_client, db, receivers):
    one = await aiohttp_client(create_app(app_settings(db)))
    two = await aiohttp_client(create_app(app_settings(db)))
    assert one.app[OUTBOUND] is not None and two.app[OUTBOUND] is not None
    rec = await receivers()
    sub = new_subscription(rec.url)
    await one.app[STORE].create_subscription(sub)
    one.app[OUTBOUND].wake()
    two.app[OUTBOUND].wake()  # both follow it at once
    feed = await fill(one, 3)
    feed += (await fill(two, 2, first=3))[len(feed):]
    await rec.wait_for(lambda: len(rec.accepted()) >= len(feed), what="every event")
    await eventually(lambda: _cursor_at(one.app[STORE], sub.id, feed[-1].seq), what="cursor at the head")
    await asyncio.sleep(0.3)  # a duplicate sender, if there were one, would have sent by now
    ids = rec.delivered_ids()
    assert sorted(ids) == sorted(e.event_id for e in feed)


async def test_a_batch_longer_than_the_lease_keeps_one_sender(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers(slow(0.3))
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    feed = await fill(client, 1)  # one shipment: five events one after the other, 1.5 s > the 1 s lease
    await running(store, lease_ttl=1.0)
    await running(store, lease_ttl=1.0)
    await rec.wait_for(lambda: len(rec.accepted()) >= len(feed), what="every event")
    await eventually(lambda: _cursor_at(store, sub.id, feed[-1].seq), what="cursor at the head")
    await asyncio.sleep(0.5)
    assert rec.delivered_ids() == [e.event_id for e in feed]  # each once, in order


async def test_the_dispatcher_can_be_switched_off(aiohttp_client, db):
    client = await aiohttp_client(create_app(app_settings(db, webhooks_out=False)))
    assert client.app[OUTBOUND] is None


async def test_a_test_delivery_is_signed_and_logged(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers()
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    d = await running(store)
    attempt = await d.send_test(sub)
    assert attempt.ok and attempt.seq == 0 and attempt.status == 204
    [event] = rec.verified_events(sub.secret)
    assert event["type"] == "shipment.event.test.v1" and event["id"] == attempt.event_id
    assert [a.event_id for a in await store.delivery_log(sub.id)] == [attempt.event_id]


async def test_a_queued_redelivery_is_sent_again(client, receivers, running):
    store = client.app[STORE]
    rec = await receivers()
    sub = new_subscription(rec.url)
    await store.create_subscription(sub)
    feed = await fill(client, 1, scans=[("delivered", "20260303", "141500")])
    await running(store)
    await rec.wait_for(lambda: len(rec.accepted()) == 1, what="the first delivery")
    assert await store.queue_redelivery(sub.id, feed[0].event_id)
    await rec.wait_for(lambda: len(rec.accepted()) == 2, what="the redelivery")
    assert rec.delivered_ids() == [feed[0].event_id] * 2
    await eventually(lambda: _no_redeliveries(store, sub.id), what="the queue emptied")


# --- helpers --------------------------------------------------------------------------------------------------

async def _ok(receiver, request):
    return web.Response(status=204)


def _cloud(event) -> dict:
    return orjson.loads(event.body)


async def _cursor_at(store, sub_id: str, seq: int) -> bool:
    return (await store.subscription(sub_id)).cursor == seq


async def _failing(store, sub_id: str) -> bool:
    return (await store.subscription(sub_id)).failing_since is not None


async def _disabled(store, sub_id: str) -> bool:
    return not (await store.subscription(sub_id)).enabled


async def _no_redeliveries(store, sub_id: str) -> bool:
    return await store.take_redeliveries(sub_id) == []
