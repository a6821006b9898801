"""ShipEngine's webhook signature: RSA-SHA256 over `<timestamp>.<body>`, verified with its public keys.

ShipEngine (the ShipStation API) signs every webhook with a private RSA key
and sends three headers: `x-shipengine-rsa-sha256-key-id` (which key),
`x-shipengine-rsa-sha256-signature` (base64 RSASSA-PKCS1-v1_5 / SHA-256) and
`x-shipengine-timestamp` (ISO 8601, when it was sent). The signed bytes are
the timestamp header exactly as sent, a period, and the raw body. ShipEngine
publishes its public keys as a JWKS; this service makes no outbound call
while verifying (a forged request must not make us fetch anything), so the
operator provides the keys in `CARRIER_EVENTS_SECRET_SHIPENGINE`:

- the JWKS document (or one JWK) as JSON, on one line;
- one or more PEM public keys (line breaks may be spaces in an environment
  variable); a PEM key has no key id, so it is tried whatever id is sent;
- the absolute path of a file holding either (`/run/secrets/shipengine.jwks`).

Several keys are all valid at once, so ShipEngine can rotate them. Keys
shorter than 2048 bits are refused at start-up.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .signatures import OK, Verdict, _header

KEY_ID, SIGNATURE, TIMESTAMP = ("x-shipengine-rsa-sha256-key-id", "x-shipengine-rsa-sha256-signature",
                                "x-shipengine-timestamp")
MIN_KEY_BITS = 2048
_PEM = re.compile(r"-----BEGIN ((?:RSA )?PUBLIC KEY)-----(.*?)-----END \1-----", re.S)
_KEY_ID = re.compile(r"[\x21-\x7e]{1,200}")

Key = tuple[str | None, rsa.RSAPublicKey]  # (key id, or None for a PEM key: any id)


def load_keys(secrets: Sequence[str]) -> list[Key]:
    """The configured keys; ValueError says what is wrong (checked at start-up)."""
    text = " ".join(secrets)
    keys = _pem_keys(text)
    for token in _PEM.sub(" ", text).split():
        if token.startswith("{"):
            keys += _jwk_keys(token)
        elif token.startswith("/"):
            try:
                content = Path(token).read_text("utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read the key file {token}: {exc.strerror}") from None
            keys += _pem_keys(content) if "-----BEGIN" in content else _jwk_keys(content)
        else:
            raise ValueError("shipengine-rsa keys must be a JWKS or JWK (JSON), PEM public keys, "
                             "or the absolute path of a file holding them")
    if not keys:
        raise ValueError("shipengine-rsa: no RSA public key found in the configured keys")
    for kid, key in keys:
        if key.key_size < MIN_KEY_BITS:
            raise ValueError(f"shipengine-rsa: key {kid or '(PEM)'} has {key.key_size} bits; "
                             f"at least {MIN_KEY_BITS} are required")
    return keys


def _pem_keys(text: str) -> list[Key]:
    keys: list[Key] = []
    for label, body in _PEM.findall(text):
        compact = "".join(body.split())
        pem = f"-----BEGIN {label}-----\n" + "\n".join(compact[i:i + 64] for i in range(0, len(compact), 64))
        try:
            key = serialization.load_pem_public_key(f"{pem}\n-----END {label}-----\n".encode())
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError(f"shipengine-rsa: a PEM {label.lower()} does not decode") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("shipengine-rsa: a PEM key is not an RSA key")
        keys.append((None, key))
    return keys


def _jwk_keys(text: str) -> list[Key]:
    try:
        doc = json.loads(text)
    except ValueError:
        raise ValueError("shipengine-rsa: the JWKS is not valid JSON (put it on one line)") from None
    entries = doc.get("keys") if isinstance(doc, dict) and "keys" in doc else [doc]
    if not isinstance(entries, list):
        raise ValueError("shipengine-rsa: the JWKS 'keys' must be a list")
    keys: list[Key] = []
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue  # other key types and encryption keys cannot verify these signatures
        kid = jwk.get("kid")
        try:
            numbers = rsa.RSAPublicNumbers(_b64url_int(jwk["e"]), _b64url_int(jwk["n"]))
            keys.append((str(kid) if kid is not None else None, numbers.public_key()))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"shipengine-rsa: JWK {kid or '(no kid)'} lacks a valid n and e") from None
    return keys


def _b64url_int(value: str) -> int:
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big")


class ShipEngineRsa:
    """`shipengine-rsa`: ShipEngine's RSA-SHA256 webhook signature, keys from configuration."""

    name = "shipengine-rsa"

    def __init__(self, secrets: Sequence[str], tolerance: float) -> None:
        self.tolerance = tolerance
        self._keys = load_keys(secrets)

    def precheck(self, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        """The headers and the timestamp's tolerance; the signature needs the body."""
        kid, signature, stamp = (_header(headers, h) for h in (KEY_ID, SIGNATURE, TIMESTAMP))
        if not kid or not signature or not stamp:
            return Verdict(False, f"missing {KEY_ID}, {SIGNATURE} or {TIMESTAMP} header")
        sent_at = _instant(stamp.strip())
        if sent_at is None:
            return Verdict(False, f"{TIMESTAMP} is not an ISO 8601 time")
        if abs(now - sent_at) > self.tolerance:
            return Verdict(False, f"{TIMESTAMP} outside the {self.tolerance:.0f} s tolerance")
        return Verdict(True)

    def verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        kid, signature, stamp = (_header(headers, h) for h in (KEY_ID, SIGNATURE, TIMESTAMP))
        if not kid or not signature or not stamp:
            return Verdict(False, f"missing {KEY_ID}, {SIGNATURE} or {TIMESTAMP} header")
        stamp = stamp.strip()
        sent_at = _instant(stamp)
        if sent_at is None:
            return Verdict(False, f"{TIMESTAMP} is not an ISO 8601 time")
        if abs(now - sent_at) > self.tolerance:
            return Verdict(False, f"{TIMESTAMP} outside the {self.tolerance:.0f} s tolerance")
        if not _KEY_ID.fullmatch(kid.strip()):
            return Verdict(False, f"{KEY_ID} is not printable ASCII")
        keys = [key for key_id, key in self._keys if key_id is None or key_id == kid.strip()]
        if not keys:
            return Verdict(False, f"{KEY_ID} names no configured key")
        try:
            given = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            return Verdict(False, f"{SIGNATURE} is not valid base64")
        signed = stamp.encode() + b"." + body
        for key in keys:
            try:
                key.verify(given, signed, padding.PKCS1v15(), hashes.SHA256())
                return OK
            except InvalidSignature:
                continue
        return Verdict(False, f"{SIGNATURE} does not match the body")


def _instant(stamp: str) -> float | None:
    """Unix seconds of an ISO 8601 time with an offset (or Z); None for anything else."""
    if len(stamp) > 40:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None
