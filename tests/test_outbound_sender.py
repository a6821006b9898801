"""One outbound delivery against a real receiver: Standard Webhooks signatures the reference package accepts
(also during a rotation overlap), the answer classified, redirects and private addresses never reached."""
from __future__ import annotations

import time

import aiohttp
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.outbound.guard import GuardedResolver, parse_nets
from service.outbound.sender import USER_AGENT, Sender
from service.rows import Subscription
from service.signatures import StandardWebhooks
from tests.receivers import Receiver, new_secret, redirect, status

LOOPBACK = parse_nets("127.0.0.0/8")
BODY = orjson.dumps({"specversion": "1.0", "id": "evt_1", "type": "shipment.event.v1", "data": {"x": 1}})


def subscription(url: str, secret: str, **changes) -> Subscription:
    base = dict(id="sub_" + "0" * 24, url=url, filter=("#",), description="", enabled=True, secret=secret,
                cursor=0, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
    return Subscription(**{**base, **changes})


@pytest.fixture
async def receiver():
    rec = await Receiver().start()
    yield rec
    await rec.stop()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=GuardedResolver(LOOPBACK))) as s:
        yield s


async def test_a_delivery_is_signed_as_the_reference_verifier_expects(receiver, session):
    secret = new_secret()
    outcome = await Sender(session, LOOPBACK).send(subscription(receiver.url, secret), "evt_1", BODY)
    assert outcome.ok and outcome.status == 204 and outcome.error is None and outcome.latency_ms > 0
    [request] = receiver.received
    assert request.body == BODY
    assert Webhook(secret).verify(request.body, request.headers) == orjson.loads(BODY)
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("carrier-events/")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.body, request.headers)


async def test_during_a_rotation_overlap_either_secret_verifies(receiver, session):
    old, new = new_secret(), new_secret()
    sub = subscription(receiver.url, new, previous_secret=old, previous_secret_until="2999-01-01T00:00:00Z")
    assert (await Sender(session, LOOPBACK).send(sub, "evt_1", BODY)).ok
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split()) == 2
    for secret in (old, new):  # a receiver still on the old secret, and one already on the new
        assert Webhook(secret).verify(request.body, request.headers) == orjson.loads(BODY)
    # and the service's own verifier (what a carrier-events receiving these would run) agrees
    assert StandardWebhooks([old]).verify(request.body, request.headers, {}, time.time()).ok


async def test_after_the_overlap_only_the_new_secret_signs(receiver, session):
    old, new = new_secret(), new_secret()
    sub = subscription(receiver.url, new, previous_secret=old, previous_secret_until="2020-01-01T00:00:00Z")
    assert (await Sender(session, LOOPBACK).send(sub, "evt_1", BODY)).ok
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split()) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


@pytest.mark.parametrize(("code", "retry_after", "seconds"), [(429, "7", 7.0), (503, "2", 2.0), (500, None, None)])
async def test_failures_carry_status_and_retry_after(receiver, session, code, retry_after, seconds):
    receiver.behaviour = status(code, retry_after)
    outcome = await Sender(session, LOOPBACK).send(subscription(receiver.url, new_secret()), "evt_1", BODY)
    assert not outcome.ok and outcome.status == code and outcome.retry_after == seconds
    assert outcome.error is not None and str(code) in outcome.error


async def test_a_client_error_is_a_failure_too(receiver, session):
    receiver.behaviour = status(410)
    outcome = await Sender(session, LOOPBACK).send(subscription(receiver.url, new_secret()), "evt_1", BODY)
    assert not outcome.ok and outcome.status == 410


async def test_a_redirect_to_a_private_address_is_not_followed(receiver, session):
    private = await Receiver().start()  # an internal service the redirect points at
    try:
        receiver.behaviour = redirect(private.url + "?token=abc")
        outcome = await Sender(session, LOOPBACK).send(subscription(receiver.url, new_secret()), "evt_1", BODY)
        assert not outcome.ok and outcome.status == 307
        assert "redirect to http://127.0.0.1" in outcome.error and "not followed" in outcome.error
        assert private.received == []
    finally:
        await private.stop()


async def test_a_private_target_is_not_reached_without_allow_nets(receiver):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=GuardedResolver(()))) as session:
        sender = Sender(session, ())
        literal = await sender.send(subscription(receiver.url, new_secret()), "evt_1", BODY)
        named = await sender.send(subscription(receiver.url.replace("127.0.0.1", "localhost"), new_secret()),
                                  "evt_1", BODY)
    assert not literal.ok and literal.status is None and "not a public address" in literal.error
    assert not named.ok and named.status is None and "non-public" in named.error
    assert receiver.received == []


async def test_a_refused_connection_is_a_failure_without_status(session):
    gone = await Receiver().start()
    await gone.stop()
    outcome = await Sender(session, LOOPBACK).send(subscription(gone.url, new_secret()), "evt_1", BODY)
    assert not outcome.ok and outcome.status is None and outcome.error


async def test_a_timeout_is_a_failure(receiver, session):
    from tests.receivers import slow
    receiver.behaviour = slow(2)
    outcome = await Sender(session, LOOPBACK, timeout=0.2).send(subscription(receiver.url, new_secret()), "e", BODY)
    assert not outcome.ok and outcome.status is None and "timed out" in outcome.error
