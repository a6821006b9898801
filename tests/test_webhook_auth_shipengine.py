"""The `shipengine` webhook source: ShipEngine's RSA-SHA256 signature against the live intake.

Requests are signed here the way ShipEngine documents it (RSA PKCS#1 v1.5 /
SHA-256 over `<x-shipengine-timestamp>.<raw body>`, base64), with keys made
for the test; the service only ever sees the public halves, as a JWKS, PEM
or a key file, exactly as an operator configures them.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service import signatures
from service.app import create_app
from service.config import SOURCES, Settings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NEXT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BODY = json.dumps({"resource_url": "https://api.shipengine.com/v1/tracking?carrier_code=ups&tracking_number=1Z1",
                   "resource_type": "API_TRACK",
                   "data": {"tracking_number": "1Z999AA10123456784", "status_code": "IT", "events": []}}).encode()


def _b64url(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": _b64url(numbers.n), "e": _b64url(numbers.e)}


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


JWKS = json.dumps({"keys": [jwk(KEY, "key-2024"), jwk(NEXT_KEY, "key-2025"),
                            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "AA", "y": "AA"}]},
                  separators=(",", ":"))


def signed(body: bytes = BODY, key: rsa.RSAPrivateKey = KEY, kid: str = "key-2024",
           at: datetime | None = None) -> dict[str, str]:
    stamp = (at or datetime.now(timezone.utc)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    signature = key.sign(stamp.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256())
    return {"x-shipengine-rsa-sha256-key-id": kid, "x-shipengine-timestamp": stamp,
            "x-shipengine-rsa-sha256-signature": base64.b64encode(signature).decode()}


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path):
    settings = Settings(db=str(tmp_path / "se.db"), secrets={"shipengine": (JWKS,)})
    return await aiohttp_client(create_app(settings))


async def post(client, body: bytes = BODY, headers: dict | None = None):
    resp = await client.post("/webhooks/shipengine", data=body,
                             headers={"Content-Type": "application/json", **(headers or {})})
    return resp.status, await resp.json()


def test_shipengine_is_a_webhook_source_with_its_rsa_scheme_by_default():
    assert "shipengine" in SOURCES and signatures.DEFAULT_SCHEMES["shipengine"] == "shipengine-rsa"


async def test_valid_signatures_from_each_published_key_are_accepted(client):
    assert await post(client, headers=signed()) == (202, {"id": "1", "duplicate": False})
    body = BODY + b"\n"
    status, answer = await post(client, body, signed(body, NEXT_KEY, "key-2025"))  # rotation: both keys valid
    assert (status, answer["duplicate"]) == (202, False)


async def test_wrong_key_tampered_body_and_unknown_key_id_are_refused(client):
    status, answer = await post(client, headers=signed(key=OTHER_KEY))
    assert status == 401 and "does not match" in answer["error"]
    assert (await post(client, BODY + b" ", signed()))[0] == 401  # tampered after signing
    status, answer = await post(client, headers=signed(kid="key-1999"))
    assert status == 401 and "names no configured key" in answer["error"]
    headers = signed()
    headers["x-shipengine-timestamp"] = headers["x-shipengine-timestamp"].replace("Z", "+00:00")  # not what was signed
    assert (await post(client, headers=headers))[0] == 401


async def test_missing_headers_and_malformed_values_are_refused(client):
    for name in ("x-shipengine-rsa-sha256-key-id", "x-shipengine-rsa-sha256-signature", "x-shipengine-timestamp"):
        headers = {k: v for k, v in signed().items() if k != name}
        status, answer = await post(client, headers=headers)
        assert status == 401 and "missing" in answer["error"]
    assert (await post(client, headers={**signed(), "x-shipengine-rsa-sha256-signature": "not base64!"}))[0] == 401
    status, answer = await post(client, headers={**signed(), "x-shipengine-timestamp": "yesterday"})
    assert status == 401 and "ISO 8601" in answer["error"]


async def test_stale_and_future_timestamps_are_refused(client):
    now = datetime.now(timezone.utc)
    status, answer = await post(client, headers=signed(at=now - timedelta(seconds=301)))
    assert status == 401 and "tolerance" in answer["error"]
    assert (await post(client, headers=signed(at=now + timedelta(seconds=301))))[0] == 401
    assert (await post(client, headers=signed(at=now - timedelta(seconds=200))))[0] == 202  # clock skew allowed


def test_pem_keys_inline_with_spaces_or_in_a_file_verify_any_key_id(tmp_path: Path):
    now = datetime.now(timezone.utc).timestamp()
    inline = signatures.build("shipengine-rsa", pem(KEY).split())  # as CARRIER_EVENTS_SECRET_SHIPENGINE splits it
    assert inline.verify(BODY, signed(kid="whatever"), {}, now).ok
    key_file = tmp_path / "shipengine.pem"
    key_file.write_text(pem(NEXT_KEY) + pem(KEY))
    from_file = signatures.build("shipengine-rsa", [str(key_file)])
    assert from_file.verify(BODY, signed(key=NEXT_KEY), {}, now).ok
    assert not from_file.verify(BODY, signed(key=OTHER_KEY), {}, now).ok
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk(KEY, "k1")]}, indent=2))
    assert signatures.build("shipengine-rsa", [str(jwks_file)]).verify(BODY, signed(kid="k1"), {}, now).ok


@pytest.mark.parametrize(("secret", "message"), [
    ("not-a-key", "must be a JWKS"),
    ('{"keys":[{"kty":"EC","kid":"e"}]}', "no RSA public key"),
    ('{"keys":[{"kty":"RSA","kid":"k"}]}', "lacks a valid n and e"),
    ("/no/such/shipengine.jwks", "cannot read the key file"),
    (pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "at least 2048"),
    ("-----BEGIN PUBLIC KEY----- AAAA -----END PUBLIC KEY-----", "does not decode"),
])
def test_unusable_keys_stop_the_start_with_the_reason(tmp_path, secret, message):
    env = {"CARRIER_EVENTS_SECRET_SHIPENGINE": secret, "CARRIER_EVENTS_DB": str(tmp_path / "m.db")}
    with pytest.raises(ValueError, match=message):
        create_app(Settings.from_env(env))
