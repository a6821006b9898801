"""The poller: adaptive schedule, rate limits, 429s, circuit breaker, restarts, reconciliation, dedupe with webhooks.

The carrier here is an in-test client object (the HTTP clients have their own
tests against a fake carrier server); the store, the schedule and the
normalizer are the real ones.
"""
from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from service import normalizer
from service.app import create_app
from service.carriers.base import PollDocument, RateLimited, Unavailable
from service.config import SOURCES, Settings
from service.keys import BUS, POLLER, STORE
from service.polling.breaker import CircuitBreaker
from service.polling.poller import Poller
from service.polling.schedule import PollPolicy, after_failure, after_success
from service.ratelimit import TokenBucket
from service.store import Incoming, Store, Tracking, open_store
from tests.docs import ups_track

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


class FakeUps:
    """A CarrierClient answering with Track API documents (or the failures it is told to raise)."""

    carrier, batch_size = "ups", 1

    def __init__(self, scans: dict[str, list[tuple[str, str, str]]] | None = None) -> None:
        self.scans = scans or {}
        self.calls: list[tuple[str, ...]] = []
        self.fail_with: list[Exception] = []
        self.closed = False

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        self.calls.append(tuple(numbers))
        if self.fail_with:
            raise self.fail_with.pop(0)
        return [PollDocument("ups", (n,), ups_track(n, self.scans.get(n, [("origin", "20260310", "080000")])),
                             "application/json", datetime.now(timezone.utc)) for n in numbers]

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(db):
    s = open_store(db)
    await s.open()
    yield s
    await s.close()


def poller(store: Store, client, clock: Clock, **kwargs) -> Poller:
    kwargs.setdefault("default_rate", 1000.0)
    return Poller(store, asyncio.Event(), {"ups": client}, now=clock, rng=random.Random(7), **kwargs)


async def normalize_all(store: Store) -> None:
    while rows := await store.claim(64):
        await normalizer.process(store, rows)


# -- the pure parts --------------------------------------------------------------------------------

def test_intervals_follow_the_status_and_stop_at_the_end():
    policy, rng = PollPolicy(), random.Random(1)
    out = after_success(policy, "out_for_delivery", T0, T0 + timedelta(hours=1), rng)
    assert out.state == "scheduled" and timedelta(minutes=27) <= out.at - (T0 + timedelta(hours=1)) <= timedelta(
        minutes=33)
    label = after_success(policy, "label_created", T0, T0, rng)
    assert timedelta(hours=3.6) <= label.at - T0 <= timedelta(hours=4.4)
    assert after_success(policy, "delivered", T0, T0, rng) == after_success(policy, "cancelled", T0, T0, rng)
    assert after_success(policy, "delivered", T0, T0, rng).state == "done"
    expired = after_success(policy, "in_transit", T0, T0 + timedelta(days=30), rng)
    assert (expired.at, expired.state) == (None, "expired")
    spread = {after_success(policy, "in_transit", T0, T0, rng).at for _ in range(50)}
    assert len(spread) == 50  # jittered: shipments registered together drift apart


def test_backoff_grows_with_failures_and_honours_retry_after():
    policy, rng = PollPolicy(), random.Random(2)
    waits = [(after_failure(policy, n, None, T0, rng) - T0).total_seconds() for n in (1, 2, 3, 4, 10)]
    assert 30 <= waits[0] <= 90 and waits[1] > waits[0] * 1.2 and waits[-1] <= policy.backoff_max * 1.5
    assert (after_failure(policy, 1, 900.0, T0, rng) - T0).total_seconds() >= 900


def test_breaker_opens_after_threshold_half_opens_later_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, reset_after=60, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow() and breaker.retry_in() == 60
    now[0] = 61
    assert breaker.state == "half_open" and breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # the trial failed: open for another period
    assert breaker.state == "open"
    now[0] = 122
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_bucket_never_hands_out_more_than_the_rate_and_honours_a_pause():
    now = [0.0]
    bucket = TokenBucket(10.0, capacity=1.0, clock=lambda: now[0])
    taken = 0
    for step in range(1000):  # 10 s in 10 ms steps
        now[0] = step / 100
        if bucket.take() == 0:
            taken += 1
    assert 90 <= taken <= 101  # never over 10/s (+1: the token it starts with)
    bucket.pause(5.0)
    assert bucket.take() == pytest.approx(5.0)


# -- the poller against the store ----------------------------------------------------------------------

async def test_a_poll_lands_in_the_inbox_and_the_next_one_follows_the_status(store):
    clock, client = Clock(), FakeUps({"1ZTEST000000000001": [("out", "20260310", "080000")]})
    await store.register([Tracking("ups", "1ZTEST000000000001")])
    p = poller(store, client, clock)
    clock.now = datetime.now(timezone.utc)  # registration set "due now" on the real clock
    assert await p.poll_once("ups") is True
    rows = await store.claim(10)
    assert [(r.channel, r.source) for r in rows] == [("poll", "ups")]
    await normalizer.process(store, rows)
    assert (await store.shipment("ups", "1ZTEST000000000001"))["status"] == "out_for_delivery"
    tracking = await store.tracking("ups", "1ZTEST000000000001")
    assert tracking["poll_state"] == "scheduled" and tracking["last_polled_at"] is not None
    # nothing is due until the next poll time; then the schedule uses the new status (out for delivery: 30 min)
    assert await p.poll_once("ups") is False
    clock.now += timedelta(hours=1, minutes=10)  # the first interval (no scan known yet): 1 h +-10 %
    assert await p.poll_once("ups") is True
    nxt = datetime.fromisoformat((await store.tracking("ups", "1ZTEST000000000001"))["next_poll_at"])
    assert timedelta(minutes=26) <= nxt - clock.now <= timedelta(minutes=34)
    # the second answer is byte-identical: a duplicate of the stored one, so nothing new to normalize
    await normalize_all(store)
    counts = await store.counts()
    assert (counts["inbox_done"], counts.get("inbox_pending", 0), counts["events"]) == (1, 0, 1)


async def test_a_429_is_honoured_and_does_not_trip_the_breaker(store):
    clock, client = Clock(datetime.now(timezone.utc)), FakeUps()
    client.fail_with = [RateLimited(120.0)]
    await store.register([Tracking("ups", "1ZTEST000000000002")])
    p = poller(store, client, clock)
    await p.poll_once("ups")
    tracking = await store.tracking("ups", "1ZTEST000000000002")
    assert tracking["poll_state"] == "rate_limited"
    assert datetime.fromisoformat(tracking["next_poll_at"]) - clock.now >= timedelta(seconds=120)
    assert p.breakers["ups"].state == "closed"
    assert 119 <= await p.buckets["ups"].take() <= 120.5  # no call to this carrier before its Retry-After


async def test_the_breaker_opens_after_failures_and_closes_after_recovery(store):
    clock, client = Clock(datetime.now(timezone.utc)), FakeUps()
    client.fail_with = [Unavailable(503) for _ in range(3)]
    numbers = [f"1ZTEST00000000001{i}" for i in range(4)]  # one round: in_flight 1 x 4
    await store.register([Tracking("ups", n) for n in numbers])
    p = poller(store, client, clock, breaker_threshold=3, breaker_reset=0.2, in_flight=1)
    await p.poll_once("ups")
    assert len(client.calls) == 3 and p.breakers["ups"].state == "open"
    states = {(await store.tracking("ups", n))["poll_state"] for n in numbers}
    assert states == {"unavailable", "breaker_open"}  # the rest were put back, not called
    assert await p.poll_once("ups") is False  # open: no call at all
    await asyncio.sleep(0.25)
    clock.now += timedelta(hours=3)  # everything due again
    assert await p.poll_once("ups") is True  # half-open: a trial call succeeded and closed it
    assert p.breakers["ups"].state == "closed" and len(client.calls) == 3 + 4


async def test_the_schedule_survives_a_restart_and_a_dead_poller_lease(db):
    first = open_store(db)
    await first.open()
    await first.register([Tracking("ups", "1ZTEST000000000003"), Tracking("ups", "1ZTEST000000000004")])
    now = datetime.now(timezone.utc)
    clock = Clock(now)
    p = poller(first, FakeUps(), clock)
    await p.poll_once("ups")
    polled = {n: (await first.tracking("ups", n))["next_poll_at"] for n in ("1ZTEST000000000003",
                                                                            "1ZTEST000000000004")}
    await first.close()

    again = open_store(db)  # a restart
    await again.open()
    client = FakeUps()
    p = poller(again, client, clock)
    assert await p.poll_once("ups") is False and client.calls == []  # not due yet: nothing polled early
    assert {n: (await again.tracking("ups", n))["next_poll_at"] for n in polled} == polled
    clock.now = now + timedelta(hours=2)
    assert await p.poll_once("ups") is True and len(client.calls) == 2
    # a poller that took rows and died: the rows wait for the lease, then are due again
    await again.register([Tracking("ups", "1ZTEST000000000005")])
    clock.now = datetime.now(timezone.utc) + timedelta(seconds=1)
    taken = await again.claim_due("ups", clock.now.isoformat().replace("+00:00", "Z"),
                                  (clock.now + timedelta(seconds=300)).isoformat().replace("+00:00", "Z"), 10)
    assert [d.tracking_number for d in taken] == ["1ZTEST000000000005"]
    assert await p.poll_once("ups") is False
    clock.now += timedelta(seconds=301)
    assert await p.poll_once("ups") is True and client.calls[-1] == ("1ZTEST000000000005",)
    await again.close()


async def test_carriers_without_credentials_are_parked_and_silent_shipments_reconciled(store):
    await store.register([Tracking("fedex", "738488882438"), Tracking("ups", "1ZTEST000000000006")])
    # a webhook-fed UPS shipment that went silent, and a fresh one
    clock = Clock(datetime.now(timezone.utc) + timedelta(days=3))
    for n in ("1ZTEST000000000007", "1ZTEST000000000008"):
        await store.accept([Incoming("ups", ups_track(n, [("arrived", "20260301", "080000")]), None, {})])
    await normalize_all(store)
    p = poller(store, FakeUps(), clock, reconcile_every=0)  # the sweep is called by hand below
    await p.start()
    try:
        assert (await store.tracking("fedex", "738488882438"))["poll_state"] == "no_credentials"
        added = await p.reconcile()
        assert added == 2
        reconciled = await store.tracking("ups", "1ZTEST000000000007")
        assert reconciled["poll_state"] == "reconcile" and reconciled["next_poll_at"] is not None
        assert await p.reconcile() == 0  # registered now: not added twice
    finally:
        await p.close()


async def test_a_scan_first_by_webhook_then_by_poll_is_one_event(aiohttp_client, tmp_path, db):
    alert = FIXTURES / "ups_track_alert_json/delivered_fs.json"
    scan = json.loads(alert.read_text("utf-8"))
    number = scan["trackingNumber"]
    api = {"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [{
        "trackingNumber": number, "activity": [{
            "location": {"address": {"city": "TUCSON", "stateProvince": "AZ", "postalCode": "85719",
                                     "country": "US"}},
            "status": {"type": "D", "code": "FS", "description": "Delivered"},
            "date": "20250614", "time": "153012", "gmtDate": "20250614", "gmtTime": "22:30:12",
            "gmtOffset": "-07:00"}]}]}]}}

    class ApiUps(FakeUps):
        async def track(self, numbers):
            self.calls.append(tuple(numbers))
            return [PollDocument("ups", (number,), json.dumps(api).encode(), "application/json",
                                 datetime.now(timezone.utc))]

    client_api = ApiUps()
    settings = Settings(db=db, open_sources=frozenset(SOURCES), api_token="t")
    client = await aiohttp_client(create_app(settings, carrier_clients={"ups": client_api}))
    assert (await client.post("/webhooks/ups", data=alert.read_bytes())).status == 202
    await client.app[BUS].normalizer.drain()
    resp = await client.post("/v1/trackings", json={"tracking_number": number}, headers={"Authorization": "Bearer t"})
    assert resp.status == 201
    for _ in range(200):  # the poller takes it (due now) and the normalizer stores its document
        await asyncio.sleep(0.02)
        await client.app[BUS].normalizer.drain()
        counts = await client.app[STORE].counts()
        if client_api.calls and counts.get("inbox_done") == 2:
            break
    assert client_api.calls == [(number,)]
    counts = await client.app[STORE].counts()
    assert (counts["inbox_done"], counts["events"]) == (2, 1)  # two documents, one event
    ready = await (await client.get("/readyz")).json()
    assert ready["carrier_apis"] == {"ups": "closed"} and client.app[POLLER] is not None
