"""Carrier API clients (service/carriers): happy paths, tokens, failures, batches, not-found documents.

Most tests replay cassettes (tests/cassettes/*.yaml, vcrpy, record_mode "none":
a run never records and makes no carrier request). The cassettes were recorded
against the fake carrier APIs in tests/fake_carriers.py. To re-record them after
changing a client or the fake:

    RECORD_CASSETTES=1 .venv/bin/python -m pytest -q tests/test_carrier_clients.py

which runs the fake on 127.0.0.1:18765 (the URL the cassettes hold) and
rewrites each cassette the tests use (record_mode "all"). Credentials are
filtered out before anything is written (Authorization, DHL-API-Key headers,
client_id/client_secret body parameters, issued access tokens), and
`test_cassettes_hold_no_secrets` fails if one slipped through.

Tests about timing (single-flight refresh, timeouts) run live against the fake on
a random port: a cassette cannot show concurrency.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import pytest
import vcr
import yaml

from parsers import normalize_document
from service.carriers import (
    CLIENTS,
    AuthFailed,
    CarrierClient,
    CarrierCredentials,
    PollDocument,
    RateLimited,
    Rejected,
    TokenCache,
    Unavailable,
    clients_from_env,
    credentials_from_env,
    parse_retry_after,
)
from service.carriers.base import HttpCarrierClient
from taxonomy import Channel
from tests.fake_carriers import (
    CLIENT_ID,
    CLIENT_SECRET,
    CP_FOUND,
    CP_NOT_FOUND,
    CP_PASSWORD,
    CP_USERNAME,
    DHL_API_KEY,
    DHL_FOUND,
    DHL_NOT_FOUND,
    FEDEX_FOUND,
    FEDEX_NOT_FOUND,
    RECORD_HOST,
    RECORD_PORT,
    SECRETS,
    UPS_FOUND,
    UPS_NOT_FOUND,
    USPS_FOUND,
    USPS_NOT_FOUND,
    FakeCarriers,
)

RECORDING = os.environ.get("RECORD_CASSETTES") == "1"
CASSETTES = Path(__file__).parent / "cassettes"
BASE = f"http://{RECORD_HOST}:{RECORD_PORT}"
CARRIERS = list(CLIENTS)
OAUTH = ["ups", "fedex", "usps"]
FOUND = {"ups": [UPS_FOUND], "fedex": FEDEX_FOUND[:2], "usps": [USPS_FOUND], "dhl": [DHL_FOUND],
         "canadapost": [CP_FOUND]}
NOT_FOUND = {"ups": UPS_NOT_FOUND, "fedex": FEDEX_NOT_FOUND, "usps": USPS_NOT_FOUND, "dhl": DHL_NOT_FOUND,
             "canadapost": CP_NOT_FOUND}
CREDS = {"ups": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
         "fedex": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
         "usps": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
         "dhl": {"api_key": DHL_API_KEY},
         "canadapost": {"username": CP_USERNAME, "password": CP_PASSWORD}}
WRONG = {"ups": {"client_secret": "wrong"}, "fedex": {"client_secret": "wrong"}, "usps": {"client_secret": "wrong"},
         "dhl": {"api_key": "wrong"}, "canadapost": {"password": "wrong"}}
TRACK_PATH = {"ups": "/api/track/v1/details/", "fedex": "/track/v1/trackingnumbers", "usps": "/tracking/v3/tracking/",
              "dhl": "/track/shipments", "canadapost": "/vis/track/pin/"}
TOKEN_PATH = {"ups": "/security/v1/oauth/token", "fedex": "/oauth/token", "usps": "/oauth2/v3/token"}
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def scrub_tokens(response: dict) -> dict:
    """Issued access tokens are credentials too: keep them out of cassettes."""
    body = response["body"].get("string")
    if body and b"access_token" in body:
        data = orjson.loads(body)
        data["access_token"] = "REDACTED"
        response["body"]["string"] = body = orjson.dumps(data)
        response["headers"]["Content-Length"] = [str(len(body))]
    return response


VCR = vcr.VCR(cassette_library_dir=str(CASSETTES), serializer="yaml",
              match_on=["method", "scheme", "host", "port", "path", "query"],
              filter_headers=["authorization", "DHL-API-Key"],
              filter_post_data_parameters=["client_id", "client_secret"],
              before_record_response=scrub_tokens)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., HttpCarrierClient]]:
    made: list[HttpCarrierClient] = []

    def make(carrier: str, base: str = BASE, **kwargs: object) -> HttpCarrierClient:
        client = CLIENTS[carrier](base_url=base, **{**CREDS[carrier], **kwargs})
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def cassette(aiohttp_server):
    """`async with cassette(name, setup)`: replay tests/cassettes/<name>.yaml, or re-record it against the fake."""
    @contextlib.asynccontextmanager
    async def use(name: str, setup: Callable[[FakeCarriers], None] = lambda fake: None):
        path = CASSETTES / f"{name}.yaml"
        if not RECORDING:
            with VCR.use_cassette(path.name, record_mode="none") as cass:
                yield cass
            assert cass.all_played, f"{name}: a recorded request was not made"
            return
        fake = FakeCarriers()
        setup(fake)
        server = await aiohttp_server(fake.app(), host=RECORD_HOST, port=RECORD_PORT)
        path.unlink(missing_ok=True)
        try:
            with VCR.use_cassette(path.name, record_mode="all") as cass:
                yield cass
        finally:
            await server.close()
    return use


@pytest.fixture
async def fake(aiohttp_server) -> AsyncIterator[tuple[FakeCarriers, str]]:
    """The fake carrier APIs, live on a random port (no cassette)."""
    carriers = FakeCarriers()
    server = await aiohttp_server(carriers.app())
    yield carriers, str(server.make_url("")).rstrip("/")


def calls(cass, carrier: str) -> str:
    """The recorded requests in order: 't' a token request, 'x' a tracking request."""
    return "".join("t" if r.path == TOKEN_PATH.get(carrier) else "x" if r.path.startswith(TRACK_PATH[carrier])
                   else "?" for r in cass.requests)


def recorded_body(response: dict) -> bytes:
    body = response["body"].get("string") or b""
    return body.encode() if isinstance(body, str) else body


def normalized(doc: PollDocument):
    return normalize_document(doc.body, carrier=doc.carrier, content_type=doc.content_type, channel=Channel.POLL)


# -- happy paths ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("carrier", CARRIERS)
async def test_happy_path_document_normalizes_to_events(carrier, make_client, cassette):
    client = make_client(carrier)
    async with cassette(f"{carrier}_happy") as cass:
        docs = await client.track(FOUND[carrier])
    assert len(docs) == 1
    doc = docs[0]
    assert (doc.carrier, doc.numbers, doc.status) == (carrier, tuple(FOUND[carrier]), 200)
    assert doc.fetched_at.tzinfo is not None
    assert doc.body == recorded_body(cass.responses[-1])  # verbatim: exactly what the carrier returned
    assert ("xml" if carrier == "canadapost" else "json") in doc.content_type
    assert calls(cass, carrier) == ("tx" if carrier in OAUTH else "x")

    outcome = normalized(doc)
    assert outcome.ok and outcome.carrier == carrier and not outcome.errors
    assert sorted(s.tracking_number for s in outcome.shipments) == sorted(FOUND[carrier])
    for shipment in outcome.shipments:
        assert shipment.carrier == carrier and shipment.events
        assert all(e.provenance.channel == Channel.POLL for e in shipment.events)


async def test_requests_carry_what_each_api_requires(make_client, cassette):
    """Header and body details that the fake checked when recording, visible in the cassettes."""
    async with cassette("ups_happy") as cass:
        await make_client("ups").track([UPS_FOUND])
    token, track = cass.requests
    assert token.body == b"grant_type=client_credentials"  # the id and secret go in HTTP Basic
    assert track.headers["transactionSrc"] == "carrier-events" and len(track.headers["transId"]) <= 32
    assert track.query == [("locale", "en_US")]
    assert "Authorization" not in token.headers and "Authorization" not in track.headers  # filtered

    async with cassette("usps_happy") as cass:
        await make_client("usps").track([USPS_FOUND])
    token, track = cass.requests
    assert orjson.loads(token.body) == {"grant_type": "client_credentials"}  # id/secret filtered out
    assert track.query == [("expand", "DETAIL")]

    async with cassette("dhl_happy") as cass:
        await make_client("dhl").track([DHL_FOUND])
    assert cass.requests[0].query == [("trackingNumber", DHL_FOUND)]
    assert "DHL-API-Key" not in cass.requests[0].headers

    async with cassette("canadapost_happy") as cass:
        await make_client("canadapost").track([CP_FOUND])
    assert cass.requests[0].headers["Accept"] == "application/vnd.cpc.track-v2+xml"


# -- not found: the carrier's error document is a document ----------------------------------------------------

@pytest.mark.parametrize("carrier", CARRIERS)
async def test_not_found_is_a_document_the_parser_reports_as_carrier_error(carrier, make_client, cassette):
    numbers = [NOT_FOUND[carrier]] + (FEDEX_FOUND[:1] if carrier == "fedex" else [])
    async with cassette(f"{carrier}_not_found"):
        (doc,) = await make_client(carrier).track(numbers)
    # UPS answers 200 + TW0001 and FedEx a per-number error inside a 200; USPS, DHL and Canada Post a 404 document.
    assert doc.status == (200 if carrier in ("ups", "fedex") else 404)
    assert doc.numbers == tuple(numbers)
    outcome = normalized(doc)
    assert outcome.ok and outcome.carrier == carrier
    assert [e.kind for e in outcome.errors] == ["carrier_error"]
    assert [s.tracking_number for s in outcome.shipments] == numbers[1:]


async def test_a_404_that_is_not_a_carrier_document_is_rejected(make_client, fake):
    """A wrong base URL answers 404 text/plain: not a tracking document, so not stored."""
    _, base = fake
    with pytest.raises(Rejected) as err:
        await make_client("dhl", base=base + "/nowhere").track([DHL_FOUND])
    assert err.value.status == 404


# -- tokens --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("carrier", OAUTH)
async def test_token_cached_across_calls_and_refreshed_before_expiry(carrier, make_client, cassette):
    clock = Clock()  # the fake issues expires_in=120; with the 60 s margin a token is used for 60 s
    client = make_client(carrier, clock=clock)
    number = FOUND[carrier][:1]
    async with cassette(f"{carrier}_token_lifecycle") as cass:
        await client.track(number)
        assert client.tokens.fetches == 1
        clock.now += 59
        await client.track(number)
        assert client.tokens.fetches == 1  # cached
        clock.now += 2  # 61 s: still 59 s before the carrier's expiry, renewed now
        await client.track(number)
        assert client.tokens.fetches == 2
    assert calls(cass, carrier) == "txxtx"


@pytest.mark.parametrize("carrier", OAUTH)
async def test_401_refreshes_the_token_once_and_retries(carrier, make_client, cassette):
    def setup(fake: FakeCarriers) -> None:
        fake.fail_next(carrier, "unauthorized")  # the carrier dropped the token early

    client = make_client(carrier)
    async with cassette(f"{carrier}_401_refresh", setup) as cass:
        (doc,) = await client.track(FOUND[carrier][:1])
    assert doc.status == 200 and normalized(doc).shipments
    assert client.tokens.fetches == 2
    assert calls(cass, carrier) == "txtx"
    assert [r["status"]["code"] for r in cass.responses] == [200, 401, 200, 200]


@pytest.mark.parametrize("carrier", OAUTH)
async def test_401_after_the_refresh_is_auth_failed(carrier, make_client, cassette):
    def setup(fake: FakeCarriers) -> None:
        fake.fail_next(carrier, "unauthorized", times=2)  # e.g. the app lost its Track API entitlement

    async with cassette(f"{carrier}_401_twice", setup) as cass:
        with pytest.raises(AuthFailed) as err:
            await make_client(carrier).track(FOUND[carrier][:1])
    assert err.value.carrier == carrier
    assert calls(cass, carrier) == "txtx"  # exactly one refresh


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_bad_credentials_are_auth_failed(carrier, make_client, cassette):
    async with cassette(f"{carrier}_bad_credentials") as cass:
        with pytest.raises(AuthFailed) as err:
            await make_client(carrier, **WRONG[carrier]).track(FOUND[carrier][:1])
    assert err.value.carrier == carrier
    assert "wrong" not in str(err.value) and CLIENT_SECRET not in str(err.value)
    # OAuth carriers: refused at the token endpoint, no tracking call; key/password carriers: one 401.
    assert calls(cass, carrier) == ("t" if carrier in OAUTH else "x")


async def test_single_flight_refresh_100_concurrent_calls_one_token_request(make_client, fake):
    carriers, base = fake
    carriers.token_delay = 0.05  # every caller arrives while the first refresh is in flight
    client = make_client("ups", base=base)
    results = await asyncio.gather(*(client.track([UPS_FOUND]) for _ in range(100)))
    assert len(results) == 100 and all(r[0].status == 200 for r in results)
    assert carriers.token_requests["ups"] == 1 and client.tokens.fetches == 1
    assert len({h["transId"] for h in carriers.ups_headers}) == 100  # a transId per request


async def test_concurrent_401s_share_one_refresh(make_client, fake):
    carriers, base = fake
    client = make_client("fedex", base=base)
    await client.track(FEDEX_FOUND[:1])
    carriers.revoke_tokens("fedex")
    carriers.token_delay = 0.05
    results = await asyncio.gather(*(client.track(FEDEX_FOUND[i:i + 1]) for i in range(20)))
    assert all(r[0].status == 200 for r in results)
    assert carriers.token_requests["fedex"] == 2  # the first token and one replacement


async def test_refused_credentials_one_token_request_for_all_waiting_callers(make_client, fake):
    carriers, base = fake
    carriers.token_delay = 0.05
    client = make_client("usps", base=base, client_secret="wrong")
    results = await asyncio.gather(*(client.track([USPS_FOUND]) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, AuthFailed) for r in results)
    assert carriers.token_requests["usps"] == 1 and carriers.track_requests["usps"] == 0
    with pytest.raises(AuthFailed):  # a later call (a later poll cycle) asks again
        await client.track([USPS_FOUND])
    assert carriers.token_requests["usps"] == 2


async def test_token_cache_margin_clock_and_short_tokens():
    clock = Clock()
    issued: list[float] = []

    async def fetch() -> tuple[str, float]:
        issued.append(clock.now)
        return f"t{len(issued)}", 30.0  # shorter than twice the margin: renewed at half its lifetime

    cache = TokenCache(fetch, margin=60, clock=clock)
    assert await cache.get() == "t1"
    clock.now += 14.9
    assert await cache.get() == "t1"
    clock.now += 0.2
    assert await cache.get() == "t2"
    cache.invalidate("t1")  # a stale 401 for an already replaced token changes nothing
    assert await cache.get() == "t2"
    cache.invalidate("t2")
    assert await cache.get() == "t3" and cache.fetches == 3
    assert "t3" not in repr(cache._token)


# -- rate limits and outages ----------------------------------------------------------------------------------

@pytest.mark.parametrize("carrier", CARRIERS)
async def test_429_is_rate_limited_with_the_retry_after_value(carrier, make_client, cassette):
    # DHL's answer gives an HTTP date (90 s after NOW), the others delta-seconds.
    retry_after = "Wed, 01 Jan 2025 00:01:30 GMT" if carrier == "dhl" else "7"

    def setup(fake: FakeCarriers) -> None:
        fake.fail_next(carrier, "rate_limit", retry_after=retry_after)

    async with cassette(f"{carrier}_429", setup):
        with pytest.raises(RateLimited) as err:
            await make_client(carrier, now=lambda: NOW).track(FOUND[carrier][:1])
    assert err.value.retry_after == (90.0 if carrier == "dhl" else 7.0)
    assert err.value.carrier == carrier


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_503_is_unavailable(carrier, make_client, cassette):
    def setup(fake: FakeCarriers) -> None:
        fake.fail_next(carrier, "unavailable", retry_after="30")

    async with cassette(f"{carrier}_503", setup):
        with pytest.raises(Unavailable) as err:
            await make_client(carrier).track(FOUND[carrier][:1])
    assert (err.value.status, err.value.retry_after, err.value.carrier) == (503, 30.0, carrier)


async def test_timeout_is_unavailable(make_client, fake):
    carriers, base = fake
    carriers.fail_next("dhl", "hang")
    client = make_client("dhl", base=base, timeout=aiohttp.ClientTimeout(total=0.3))
    with pytest.raises(Unavailable) as err:
        await client.track([DHL_FOUND])
    assert err.value.status is None and "timed out" in str(err.value)


async def test_connection_refused_is_unavailable(make_client):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unavailable) as err:
        await make_client("canadapost", base=f"http://127.0.0.1:{port}").track([CP_FOUND])
    assert err.value.status is None
    assert CP_PASSWORD not in str(err.value)


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:10 GMT", NOW) == 10.0
    assert parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", NOW) == 0.0  # in the past: now
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


# -- FedEx batches --------------------------------------------------------------------------------------------

async def test_fedex_tracks_30_numbers_in_one_call(make_client, cassette):
    client = make_client("fedex")
    assert client.batch_size == 30
    async with cassette("fedex_batch_30") as cass:
        (doc,) = await client.track(FEDEX_FOUND[:30])
    assert doc.numbers == tuple(FEDEX_FOUND[:30])
    sent = orjson.loads(cass.requests[-1].body)
    assert sent["includeDetailedScans"] is True
    assert [t["trackingNumberInfo"]["trackingNumber"] for t in sent["trackingInfo"]] == FEDEX_FOUND[:30]
    outcome = normalized(doc)
    assert sorted(s.tracking_number for s in outcome.shipments) == sorted(FEDEX_FOUND[:30])


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_more_than_batch_size_is_a_caller_error_and_none_is_no_call(carrier, make_client):
    client = make_client(carrier, base="http://127.0.0.1:9")  # never contacted
    too_many = FEDEX_FOUND[:31] if carrier == "fedex" else FOUND[carrier] * 2
    with pytest.raises(ValueError):
        await client.track(too_many)
    assert await client.track([]) == []


# -- configuration ---------------------------------------------------------------------------------------------

ENV = {"CARRIER_EVENTS_POLL_UPS_CLIENT_ID": CLIENT_ID, "CARRIER_EVENTS_POLL_UPS_CLIENT_SECRET": CLIENT_SECRET,
       "CARRIER_EVENTS_POLL_DHL_API_KEY": DHL_API_KEY, "CARRIER_EVENTS_POLL_DHL_BASE_URL": "http://dhl.test/",
       "CARRIER_EVENTS_POLL_CANADAPOST_USERNAME": CP_USERNAME,
       "CARRIER_EVENTS_POLL_CANADAPOST_PASSWORD": CP_PASSWORD}


async def test_clients_only_for_carriers_with_credentials():
    async with aiohttp.ClientSession() as session:
        clients = clients_from_env(ENV, session, clock=Clock())
        assert sorted(clients) == ["canadapost", "dhl", "ups"]
        assert clients["ups"].base_url == "https://onlinetools.ups.com"  # production by default
        assert clients["dhl"].base_url == "http://dhl.test"
        assert all(isinstance(c, CarrierClient) for c in clients.values())
        for client in clients.values():
            await client.close()  # the shared session is its owner's to close
        assert not session.closed
    assert clients_from_env({}, None) == {}


def test_half_configured_credentials_name_what_is_missing():
    with pytest.raises(ValueError) as err:
        credentials_from_env({"CARRIER_EVENTS_POLL_FEDEX_CLIENT_ID": "x", "CARRIER_EVENTS_POLL_DHL_PASSWORD": "y"})
    assert "CARRIER_EVENTS_POLL_FEDEX_CLIENT_SECRET" in str(err.value)
    assert "CARRIER_EVENTS_POLL_DHL_API_KEY" in str(err.value)


def test_credentials_repr_hides_secrets():
    creds = credentials_from_env(ENV)
    text = repr(creds)
    assert not any(secret in text for secret in SECRETS)
    assert CarrierCredentials.from_env("usps", {}).base_url == "https://apis.usps.com"


def test_registry_and_protocol():
    assert list(CLIENTS) == ["ups", "fedex", "usps", "dhl", "canadapost"]
    assert {c: cls.batch_size for c, cls in CLIENTS.items()} == {"ups": 1, "fedex": 30, "usps": 1, "dhl": 1,
                                                               "canadapost": 1}
    for carrier, cls in CLIENTS.items():
        client = cls(base_url=BASE, **CREDS[carrier])
        assert isinstance(client, CarrierClient) and client.carrier == carrier
        assert not any(secret in repr(client) for secret in SECRETS)


# -- cassette hygiene ------------------------------------------------------------------------------------------

def test_cassettes_hold_no_secrets():
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) >= 30
    basic = [base64.b64encode(f"{u}:{p}".encode()).decode()
             for u, p in ((CLIENT_ID, CLIENT_SECRET), (CP_USERNAME, CP_PASSWORD))]
    for path in files:
        text = path.read_text()
        for secret in (*SECRETS, *basic, "Bearer "):
            assert secret not in text, f"{path.name} contains a credential"
        for interaction in yaml.safe_load(text)["interactions"]:
            headers = {k.lower() for k in interaction["request"]["headers"]}
            assert not headers & {"authorization", "dhl-api-key"}, path.name
            body = recorded_body(interaction["response"])
            if b"access_token" in body:
                assert orjson.loads(body)["access_token"] == "REDACTED", path.name
