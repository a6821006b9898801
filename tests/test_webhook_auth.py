"""Webhook authentication: every scheme against the live intake, rotation, replays, refusals, limits, logs.

Signatures here are computed independently of `service.signatures` (hmac and
base64 by hand, from each vendor's documented recipe), so a mistake in the
service's recipe fails these tests instead of agreeing with itself.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from pathlib import Path

import orjson
import pytest

from service import signatures
from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import STORE
from service.logmask import MaskSensitive
from tests.docs import ups_track

WHSEC_KEY = b"standard-webhooks-test-key-32byt"
WHSEC = "whsec_" + base64.b64encode(WHSEC_KEY).decode()
WHSEC_NEXT_KEY = b"the-next-key-in-rotation-32bytes"
WHSEC_NEXT = "whsec_" + base64.b64encode(WHSEC_NEXT_KEY).decode()
BODY = ups_track("1Z999AA10123456784", [("arrived", "20240311", "101500")])


def hmac_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def hmac_b64(key: str | bytes, body: bytes) -> str:
    key = key.encode() if isinstance(key, str) else key
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def std_headers(key: bytes, msg_id: str, body: bytes, at: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    signature = hmac_b64(key, f"{msg_id}.{stamp}.".encode() + body)
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{signature}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        db=str(tmp_path / "auth.db"), admin_token="admin-token",
        secrets={"easypost": ("ep-old", "ep-new"), "aftership": ("as-secret",), "fedex": ("fdx-secret",),
                 "generic": (WHSEC, WHSEC_NEXT), "ups": ("ups-credential",), "dhl": ("dhl-key",),
                 "shippo": ("shippo-token",)},
        auth={"dhl": "header:X-Push-Key"}, open_sources=frozenset({"x12"}))


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def post(client, source: str, body: bytes = BODY, headers: dict | None = None, query: str = ""):
    resp = await client.post(f"/webhooks/{source}{query}", data=body,
                             headers={"Content-Type": "application/json", **(headers or {})})
    return resp.status, await resp.json()


# -- each scheme: valid, wrong secret, tampered body, missing header ---------------------------------

BODY_HMAC_CASES = [
    # source, header, value for (secret, body)
    ("easypost", "X-Hmac-Signature", lambda s, b: "hmac-sha256-hex=" + hmac_hex(s, b), "ep-new"),
    ("aftership", "aftership-hmac-sha256", hmac_b64, "as-secret"),
    ("fedex", "fdx-signature", hmac_b64, "fdx-secret"),
]


@pytest.mark.parametrize(("source", "header", "sign", "secret"), BODY_HMAC_CASES, ids=[c[0] for c in BODY_HMAC_CASES])
async def test_body_hmac_schemes(client, source, header, sign, secret):
    assert (await post(client, source, headers={header: sign(secret, BODY)}))[0] == 202
    status, body = await post(client, source, headers={header: sign("wrong-secret", BODY)})
    assert status == 401 and "does not match" in body["error"]
    status, _ = await post(client, source, BODY + b" ", headers={header: sign(secret, BODY)})  # tampered
    assert status == 401
    status, body = await post(client, source, b'{"other": 1}')
    assert status == 401 and "missing" in body["error"]
    status, _ = await post(client, source, headers={header: "not base64 or hex!"})
    assert status == 401


async def test_easypost_header_name_is_case_insensitive_and_both_rotation_secrets_work(client):
    for i, (name, secret) in enumerate([("x-hmac-signature", "ep-old"), ("X-HMAC-SIGNATURE", "ep-new"),
                                        ("X-Hmac-Signature", "ep-old")]):
        body = BODY + b" " * i  # a new body each time: not a duplicate
        status, answer = await post(client, "easypost", body, {name: "hmac-sha256-hex=" + hmac_hex(secret, body)})
        assert (status, answer["duplicate"]) == (202, False)


def test_easypost_secret_is_nfkd_normalized_as_easypost_signs():
    secret = "ｓｅｃｒｅｔ"  # fullwidth: NFKD folds it to "secret"
    scheme = signatures.build("easypost-hmac", [secret])
    value = "hmac-sha256-hex=" + hmac_hex("secret", BODY)
    assert scheme.verify(BODY, {"X-Hmac-Signature": value}, {}, time.time()).ok


async def test_standard_webhooks_valid_rotated_stale_future_tampered(client):
    assert (await post(client, "generic", headers=std_headers(WHSEC_KEY, "msg_1", BODY)))[0] == 202
    body2 = BODY + b"\n"
    assert (await post(client, "generic", body2, std_headers(WHSEC_NEXT_KEY, "msg_2", body2)))[0] == 202
    stale = std_headers(WHSEC_KEY, "msg_3", BODY, at=int(time.time()) - 301)
    status, answer = await post(client, "generic", BODY, stale)
    assert status == 401 and "tolerance" in answer["error"]
    future = std_headers(WHSEC_KEY, "msg_4", BODY, at=int(time.time()) + 301)
    assert (await post(client, "generic", BODY, future))[0] == 401
    tampered = std_headers(WHSEC_KEY, "msg_5", BODY)
    assert (await post(client, "generic", BODY + b" ", tampered))[0] == 401
    wrong = std_headers(b"some-other-key-entirely-32-bytes", "msg_6", BODY)
    assert (await post(client, "generic", BODY, wrong))[0] == 401
    missing = {k: v for k, v in std_headers(WHSEC_KEY, "msg_7", BODY).items() if k != "webhook-id"}
    assert (await post(client, "generic", BODY, missing))[0] == 401


async def test_standard_webhooks_accepts_any_of_several_signatures(client):
    body = BODY + b"\t"
    headers = std_headers(WHSEC_NEXT_KEY, "msg_multi", body)
    headers["webhook-signature"] = "v1,AAAA v2,whatever " + headers["webhook-signature"]
    assert (await post(client, "generic", body, headers))[0] == 202


async def test_replayed_delivery_id_is_a_duplicate_and_nothing_is_stored_twice(client):
    status, first = await post(client, "generic", BODY, std_headers(WHSEC_KEY, "msg_replay", BODY))
    assert (status, first["duplicate"]) == (202, False)
    # the same delivery re-signed later, even with a different body, is the same delivery
    other = BODY + b"    "
    status, again = await post(client, "generic", other, std_headers(WHSEC_KEY, "msg_replay", other))
    assert (status, again) == (202, {"id": first["id"], "duplicate": True})
    counts = await client.app[STORE].counts()
    assert sum(v for k, v in counts.items() if k.startswith("inbox_")) == 1
    # a replay outside the tolerance is refused, not answered as a duplicate
    old = std_headers(WHSEC_KEY, "msg_replay", BODY, at=int(time.time()) - 3600)
    assert (await post(client, "generic", BODY, old))[0] == 401


async def test_shared_tokens_in_header_and_query(client):
    assert (await post(client, "ups", headers={"credential": "ups-credential"}))[0] == 202
    assert (await post(client, "ups", BODY + b" ", {"Credential": "Bearer ups-credential"}))[0] == 202
    assert (await post(client, "ups", headers={"credential": "ups-credentiaL"}))[0] == 401
    assert (await post(client, "ups"))[0] == 401
    assert (await post(client, "dhl", headers={"x-push-key": "dhl-key"}))[0] == 202  # configured header name
    assert (await post(client, "dhl", headers={"DHL-API-Key": "dhl-key"}))[0] == 401
    assert (await post(client, "shippo", query="?token=shippo-token"))[0] == 202
    assert (await post(client, "shippo", query="?token=nope"))[0] == 401
    assert (await post(client, "shippo", query="?tok=shippo-token"))[0] == 401


async def test_source_without_secret_is_refused_and_an_open_source_is_accepted(client):
    status, body = await post(client, "usps")
    assert status == 401 and "CARRIER_EVENTS_SECRET_USPS" in body["error"]
    resp = await client.post("/webhooks/fedex", data=BODY, headers={"X-Request-Id": "r-1"})
    assert resp.headers["WWW-Authenticate"] == 'Webhook-Signature realm="fedex", scheme="fedex-hmac"'
    admin = await client.get("/v1/admin/dlq", headers={"X-Request-Id": "r-2"})  # a raised 401
    assert admin.headers["WWW-Authenticate"].startswith("Bearer") and admin.headers["X-Request-Id"] == "r-2"
    assert (await post(client, "x12", b"ISA*00*...~"))[0] == 202  # explicitly open


def test_open_sources_are_warned_about_at_start(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        create_app(Settings(db=str(tmp_path / "w.db"), open_sources=frozenset({"x12", "generic"})))
    warned = {r.getMessage().split()[2] for r in caplog.records if "OPEN" in r.getMessage()}
    assert warned == {"x12", "generic"}


@pytest.mark.parametrize(("env", "message"), [
    ({"CARRIER_EVENTS_AUTH_UPS": "rot13", "CARRIER_EVENTS_SECRET_UPS": "x"}, "unknown authentication scheme"),
    ({"CARRIER_EVENTS_AUTH_FEDEX": "fedex-hmac"}, "CARRIER_EVENTS_SECRET_FEDEX is not"),
    ({"CARRIER_EVENTS_SECRET_GENERIC": "not-a-whsec!"}, "whsec_"),
    ({"CARRIER_EVENTS_OPEN_SOURCES": "ups", "CARRIER_EVENTS_SECRET_UPS": "x"}, "choose one"),
    ({"CARRIER_EVENTS_SECRET_NOSUCH": "x"}, "unknown webhook source"),
])
def test_misconfigured_authentication_stops_the_start_with_a_clear_message(tmp_path, env, message):
    with pytest.raises(ValueError, match=message):
        create_app(Settings.from_env({**env, "CARRIER_EVENTS_DB": str(tmp_path / "m.db")}))


def test_settings_parse_rotation_schemes_limits_and_open_all():
    settings = Settings.from_env({
        "CARRIER_EVENTS_SECRET_EASYPOST": "old  new", "CARRIER_EVENTS_AUTH_DHL": "header:X-Key",
        "CARRIER_EVENTS_OPEN_SOURCES": "all", "CARRIER_EVENTS_RATE_LIMIT": "50", "CARRIER_EVENTS_RATE_LIMIT_UPS": "7",
        "CARRIER_EVENTS_MAX_BODY_BYTES": "2000", "CARRIER_EVENTS_MAX_BODY_BYTES_X12": "99"})
    assert settings.secrets == {"easypost": ("old", "new")} and settings.auth == {"dhl": "header:X-Key"}
    assert settings.open_sources == frozenset(SOURCES)
    assert (settings.rate_for("ups"), settings.rate_for("fedex")) == (7.0, 50.0)
    assert (settings.max_body_for("x12"), settings.max_body_for("ups")) == (99, 2000)


# -- limits ----------------------------------------------------------------------------------------

async def test_rate_limit_answers_429_with_retry_after_then_recovers(aiohttp_client, tmp_path):
    app = create_app(Settings(db=str(tmp_path / "r.db"), open_sources=frozenset({"generic", "x12"}),
                              rates={"generic": 5.0}))
    client = await aiohttp_client(app)
    statuses = []
    for i in range(12):
        resp = await client.post("/webhooks/generic", data=b'{"n": %d}' % i)
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1 and "rate limit" in (await resp.json())["error"]
    assert statuses[:5] == [202] * 5 and 429 in statuses[5:]
    assert (await client.post("/webhooks/x12", data=b"ISA~")).status == 202  # other sources are not affected
    await asyncio.sleep(0.45)  # two tokens back at 5/s
    assert (await client.post("/webhooks/generic", data=b'{"n": "later"}')).status == 202


async def test_per_source_body_limit(aiohttp_client, tmp_path):
    app = create_app(Settings(db=str(tmp_path / "b.db"), open_sources=frozenset({"x12", "generic"}),
                              max_body_by_source={"x12": 100}))
    client = await aiohttp_client(app)
    assert (await client.post("/webhooks/x12", data=b"I" * 101)).status == 413
    assert (await client.post("/webhooks/x12", data=b"I" * 100)).status == 202
    assert (await client.post("/webhooks/generic", data=b"{" + b" " * 5000 + b"}")).status == 202


async def test_requests_over_the_in_flight_bound_get_503(aiohttp_client, tmp_path):
    app = create_app(Settings(db=str(tmp_path / "f.db"), open_sources=frozenset({"generic"}), max_in_flight=1))
    client = await aiohttp_client(app)
    release = asyncio.Event()

    async def slow_body():
        yield b'{"slow":'
        await release.wait()
        yield b" true}"

    held = asyncio.ensure_future(client.post("/webhooks/generic", data=slow_body()))
    for _ in range(100):  # until the slow request is inside the handler
        await asyncio.sleep(0.01)
        resp = await client.post("/webhooks/generic", data=b'{"quick": 1}')
        if resp.status == 503:
            break
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    release.set()
    assert (await held).status == 202
    assert (await client.post("/webhooks/generic", data=b'{"quick": 2}')).status == 202


async def test_a_body_slower_than_the_timeout_gets_408(aiohttp_client, tmp_path):
    app = create_app(Settings(db=str(tmp_path / "t.db"), open_sources=frozenset({"generic"}), body_timeout=0.3))
    client = await aiohttp_client(app)

    async def trickle():
        yield b'{"a":'
        await asyncio.sleep(1.0)
        yield b"1}"

    resp = await client.post("/webhooks/generic", data=trickle())
    assert resp.status == 408 and "within" in (await resp.json())["error"]


# -- admin, secrets at rest and in logs ----------------------------------------------------------------

async def test_admin_endpoints_need_the_token_and_are_disabled_without_one(client, aiohttp_client, tmp_path):
    assert (await client.get("/v1/admin/dlq")).status == 401
    assert (await client.get("/v1/admin/dlq", headers={"Authorization": "Bearer admin-tokeN"})).status == 401
    assert (await client.get("/v1/admin/dlq", headers={"Authorization": "Bearer admin-token"})).status == 200
    other = await aiohttp_client(create_app(Settings(db=str(tmp_path / "n.db"))))
    assert (await other.get("/v1/admin/dlq", headers={"Authorization": "Bearer "})).status == 403


async def test_signatures_and_credentials_are_not_stored_or_logged(client, caplog):
    signature = hmac_b64("fdx-secret", BODY)
    with caplog.at_level(logging.DEBUG):
        status, answer = await post(client, "fedex", headers={"fdx-signature": signature})
        await post(client, "fedex", BODY, {"fdx-signature": hmac_b64("guess", BODY)})
        await post(client, "ups", BODY, {"credential": "not-the-credential"})
    assert status == 202
    stored = (await client.app[STORE].inbox_rows([int(answer["id"])]))[0]
    assert stored.body == BODY
    headers_at_rest = await client.app[STORE]._read(
        lambda conn: conn.execute("SELECT headers FROM inbox WHERE id = ?", (int(answer["id"]),)).fetchone()[0])
    assert "fdx-signature" not in orjson.loads(headers_at_rest)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in logged  # the refusals are logged ...
    for secret in ("fdx-secret", signature, hmac_b64("guess", BODY), "not-the-credential", "ups-credential"):
        assert secret not in logged  # ... without what was sent or expected


def test_log_filter_masks_secrets_signatures_and_names():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "delivery %s from %s", (
        {"fdx-signature": "c2lnbmF0dXJl", "signed_by": "JOHN SMITH", "Authorization": "Bearer abc.def"},
        f"secret={WHSEC}\nrecipient_name: Jane Doe, webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQ v1,Zm9v"), None)
    assert MaskSensitive().filter(record)
    text = record.getMessage()
    for leaked in ("c2lnbmF0dXJl", "JOHN SMITH", "abc.def", WHSEC[6:], "Jane Doe", "K5oZfz", "Zm9v"):
        assert leaked not in text
    assert "'signed_by': 'J***'" in text and "recipient_name: J***" in text


def test_log_filter_masks_exception_text():
    try:
        raise RuntimeError("bad header aftership-hmac-sha256: c2VjcmV0LXNpZ25hdHVyZQ==")
    except RuntimeError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    MaskSensitive().filter(record)
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in record.exc_text and "aftership-hmac-sha256: ***" in record.exc_text
