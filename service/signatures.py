"""Webhook authentication schemes: each checks a request's raw bytes and headers against a source's secrets.

Verification runs on the body exactly as received, before anything parses it,
so a forged document never reaches a parser. Every comparison is
constant-time (`hmac.compare_digest`), and every secret configured for a
source is tried, so two secrets can be valid at once while a carrier rotates
them. A verdict names what failed in words safe to return to the caller and
to log: never the secret, never the signature received or expected.

Scheme names (the `CARRIER_EVENTS_AUTH_<SOURCE>` setting):

  easypost-hmac       `X-Hmac-Signature: hmac-sha256-hex=<hex>` over the body
                      (the secret NFKD-normalized, as EasyPost signs it)
  aftership-hmac      `aftership-hmac-sha256: <base64 HMAC-SHA256 of the body>`
  fedex-hmac          `fdx-signature: <base64 HMAC-SHA256 of the body>`
  standard-webhooks   `webhook-id`, `webhook-timestamp`, `webhook-signature:
                      v1,<base64> [v1,<base64> ...]` over `id.timestamp.body`,
                      `whsec_` secrets, timestamp within the tolerance; the id
                      is returned for replay protection
  shipengine-rsa      `x-shipengine-rsa-sha256-signature: <base64 RSA-SHA256>` over
                      `<x-shipengine-timestamp>.<body>`, the key chosen by
                      `x-shipengine-rsa-sha256-key-id`; public keys (JWKS or PEM)
                      as the secret (service.signatures_rsa)
  header:<Name>       a shared credential sent in header <Name> (a `Bearer `
                      prefix is allowed)
  query:<name>        a shared token in the URL's query parameter <name>
  open                no verification (must be chosen explicitly)
"""
from __future__ import annotations

from functools import lru_cache

import base64
import binascii
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from taxonomy.carriers import registry

DEFAULT_TOLERANCE_SECONDS = 300
_DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,256}")  # signed bytes and a store key: printable ASCII only
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only (int() also takes "1_000" and other scripts' digits)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""
    delivery_id: str | None = None  # a signed delivery id, remembered to answer replays as duplicates


OK = Verdict(True)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _any_equal(given: bytes, expected: Sequence[bytes]) -> bool:
    """Constant-time against each candidate; every candidate is compared, so timing says nothing of which."""
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(given, candidate)
    return matched


class BodyHmac:
    """HMAC-SHA256 of the raw body in one header, hex or base64 (EasyPost, AfterShip, FedEx)."""

    def __init__(self, name: str, header: str, secrets: Sequence[str], *, encoding: str, prefix: str = "",
                 nfkd: bool = False) -> None:
        self.name, self.header, self.encoding, self.prefix = name, header.lower(), encoding, prefix
        self._keys = [(unicodedata.normalize("NFKD", s) if nfkd else s).encode() for s in secrets]

    def precheck(self, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        """What can be checked before the body: a signature of the right form is there."""
        given = self._given(headers)
        return given if isinstance(given, Verdict) else OK

    def _given(self, headers: Mapping[str, str]) -> bytes | Verdict:
        value = _header(headers, self.header)
        if value is None:
            return Verdict(False, f"missing {self.header} header")
        value = value.strip()
        if self.prefix:
            if not value.lower().startswith(self.prefix):
                return Verdict(False, f"{self.header} header is not of the form {self.prefix}<signature>")
            value = value[len(self.prefix):]
        given = _decode(value, self.encoding)
        if given is None:
            return Verdict(False, f"{self.header} header is not valid {self.encoding}")
        return given

    def verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        given = self._given(headers)
        if isinstance(given, Verdict):
            return given
        if _any_equal(given, [_hmac(key, body) for key in self._keys]):
            return OK
        return Verdict(False, f"{self.header} does not match the body")


class StandardWebhooks:
    """The Standard Webhooks scheme (standardwebhooks.com): signed id and timestamp, replay-safe."""

    name = "standard-webhooks"

    def __init__(self, secrets: Sequence[str], tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> None:
        self.tolerance = tolerance
        self._keys = [_whsec_key(s) for s in secrets]

    def precheck(self, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        """Everything but the signature itself: the headers, the id's form, the timestamp's tolerance."""
        verdict = self.verify(b"", headers, query, now)
        return OK if verdict.ok or verdict.reason == "no webhook-signature matches" else verdict

    def verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        msg_id, stamp, signatures = (_header(headers, h) for h in
                                     ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not msg_id or not stamp or not signatures:
            return Verdict(False, "missing webhook-id, webhook-timestamp or webhook-signature header")
        if not _DELIVERY_ID.fullmatch(msg_id):
            return Verdict(False, "webhook-id is not 1-256 printable ASCII characters")
        if not _TIMESTAMP.fullmatch(stamp.strip()):
            return Verdict(False, "webhook-timestamp is not Unix seconds")
        sent_at = int(stamp.strip())
        if abs(now - sent_at) > self.tolerance:
            return Verdict(False, f"webhook-timestamp outside the {self.tolerance:.0f} s tolerance")
        signed = msg_id.encode() + b"." + stamp.strip().encode() + b"." + body
        expected = [_hmac(key, signed) for key in self._keys]
        for part in signatures.split():
            version, _, value = part.partition(",")
            given = _decode(value, "base64") if version == "v1" else None
            if given is not None and _any_equal(given, expected):
                return Verdict(True, delivery_id=msg_id)
        return Verdict(False, "no webhook-signature matches")


class SharedToken:
    """A shared credential in a header or the query string (UPS, DHL push, Shippo)."""

    def __init__(self, where: str, field: str, secrets: Sequence[str]) -> None:
        self.name = f"{where}:{field}"
        self.where, self.field = where, field.lower() if where == "header" else field
        self._tokens = [s.encode() for s in secrets]

    def precheck(self, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        """The whole check: a shared credential does not depend on the body."""
        return self.verify(b"", headers, query, now)

    def verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        value = _header(headers, self.field) if self.where == "header" else query.get(self.field)
        if value is None:
            return Verdict(False, f"missing {self.where} {self.field}")
        value = value.strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if _any_equal(value.encode("utf-8", "surrogateescape"), self._tokens):
            return OK
        return Verdict(False, f"{self.where} {self.field} does not match")


class Open:
    """No verification: for sources an operator has explicitly opened (a trusted network, a trial)."""

    name = "open"

    def verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        return OK

    def precheck(self, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        return OK


class Scheme(Protocol):
    """What intake needs of a scheme (BodyHmac, StandardWebhooks, SharedToken, ShipEngineRsa, Open)."""

    name: str

    def verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        ...

    def precheck(self, headers: Mapping[str, str], query: Mapping[str, str], now: float) -> Verdict:
        """What can be checked from the head alone: not ok means `verify` cannot succeed whatever the body."""
        ...

# What each source uses when no scheme is configured for it: the carrier registry's `service.webhook`.
DEFAULT_SCHEMES: dict[str, str] = registry().webhook_sources()
KNOWN = ("easypost-hmac", "aftership-hmac", "fedex-hmac", "standard-webhooks", "shipengine-rsa", "header:<Name>",
         "query:<name>", "open")


def build(scheme: str, secrets: Sequence[str], tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> Scheme:
    """A scheme from its configured name; ValueError names what is wrong (checked at start-up)."""
    scheme = scheme.strip()
    if scheme == "open":
        return Open()
    if not secrets:
        raise ValueError(f"scheme {scheme!r} needs a secret")
    if scheme == "easypost-hmac":
        return BodyHmac(scheme, "x-hmac-signature", secrets, encoding="hex", prefix="hmac-sha256-hex=", nfkd=True)
    if scheme == "aftership-hmac":
        return BodyHmac(scheme, "aftership-hmac-sha256", secrets, encoding="base64")
    if scheme == "fedex-hmac":
        return BodyHmac(scheme, "fdx-signature", secrets, encoding="base64")
    if scheme == "standard-webhooks":
        return StandardWebhooks(secrets, tolerance)
    if scheme == "shipengine-rsa":
        from .signatures_rsa import ShipEngineRsa  # cryptography is loaded only where a source needs it

        return ShipEngineRsa(secrets, tolerance)
    where, _, field = scheme.partition(":")
    if where in ("header", "query") and field.strip():
        return SharedToken(where, field.strip(), secrets)
    raise ValueError(f"unknown authentication scheme {scheme!r}; known: {', '.join(KNOWN)}")


def sign_standard_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for a message: used by senders (tests, outbound webhooks)."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(_hmac(_whsec_key(secret), signed)).decode()


@lru_cache(maxsize=256)
def _whsec_key(secret: str) -> bytes:
    """Cached: a sender signs every delivery with one of a few secrets."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a standard-webhooks secret must be whsec_<base64>") from None


def _decode(value: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(value.strip())
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Header names are case-insensitive on the wire; plain dicts are searched so (some SDKs mis-case them)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
