"""Hypothesis fuzz of `POST /webhooks/{source}`: more than 10,000 generated requests, none may break the contract.

An in-process app (open sources, sources with secrets for every signature
scheme, one source closed, one rate-limited, one with a small body limit)
receives batches of 20 generated requests, sent concurrently, about half through
aiohttp's client and half as raw bytes over a socket (so header bytes, request
targets, framing and encodings can be anything). For every answer:

- it came, and its status is one of 202 400 401 404 405 408 413 415 429 (never
  5xx; 417 only for an `Expect` other than 100-continue, which aiohttp refuses
  itself as RFC 9110 allows);
- a request that reached the intake handler gets JSON: `{"id", "duplicate"}` for
  202, `{"error": ...}` for every 4xx (aiohttp's own plain-text refusals are
  allowed only for requests it refused before routing them to intake);
- 429 carries Retry-After; an open source never answers 401, the closed one
  always does (or 429), an unknown source is 404, a correctly signed request is
  never 401.

Violations are collected over the whole run and reported together, grouped by
cause (for a 5xx: the exception and the service line it escaped from), with one
example request each. Afterwards the inbox holds exactly the documents answered
202, `/healthz` is 200 and a good webhook still gets 202.

Generation is derandomized (no example database): every run sends the same
requests. Two requests of each batch come from Hypothesis' strategies, the
other 18 from a `random.Random` seeded by Hypothesis (the same builder; about
20x cheaper), which keeps 10,000 requests near 30 s on a slow 2-core machine.
"""
from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import itertools
import random
import sqlite3
import time
import traceback
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
from aiohttp import ClientError, web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from yarl import URL

from service.app import create_app
from service.config import SOURCES, Settings
from service.signatures import sign_standard_webhook
from service.web import intake
from tests.docs import ups_track
from tests.goldens import payloads

BATCH = 20
JSON_TYPES = ("application/json", "application/problem+json")  # 202, and every error (RFC 9457)
EXAMPLES = 505  # x BATCH requests: a little over 10,000
ALLOWED = {202, 400, 401, 404, 405, 408, 413, 415, 429}
MAX_BODY = 64 * 1024
GENERIC_MAX_BODY = 2048
BODY_TIMEOUT = 0.5

SECRETS = {
    "ups": "ups-credential-7f3a",  # header:credential
    "shippo": "shippo-token-91c2",  # query:token
    "fedex": "fedex-hmac-secret",  # fedex-hmac
    "easypost": "easypost-hmac-secret",  # easypost-hmac
    "aftership": "aftership-hmac-secret",  # aftership-hmac
    "usps": "whsec_" + base64.b64encode(b"usps-fuzz-secret-32-bytes-long!!").decode(),  # standard-webhooks
}
CLOSED = "x12"  # no secret, not opened: always 401
OPEN = frozenset(SOURCES) - set(SECRETS) - {CLOSED}  # dhl canadapost generic
RATE_LIMITED = {"canadapost": 5.0}

SIGNATURE_HEADERS = ["X-Hmac-Signature", "aftership-hmac-sha256", "fdx-signature", "webhook-id", "webhook-timestamp",
                     "webhook-signature", "credential", "DHL-API-Key", "Authorization"]
SIGNING_NAMES = {n.lower() for n in SIGNATURE_HEADERS}
KEPT_HEADERS = ["User-Agent", "X-Request-Id", "X-Correlation-Id", "X-Webhook-Id", "Idempotency-Key"]
OTHER_HEADERS = ["Accept", "X-Forwarded-For", "Expect", "Cookie", "Origin", "Content-Language", "Via", "Range"]

FIXTURES = [p.read_bytes() for p in payloads()]
assert FIXTURES, "fixtures/ has no payloads"
XML_ATTACKS = [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><TrackResponse>&e;</TrackResponse>',
    b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;&b;&b;&b;</r>',
    b"[" * 3000 + b"]" * 3000,
]


# ------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Req:
    transport: str  # "raw": bytes over a socket; "client": aiohttp's client
    method: str
    segment: str  # the path segment after /webhooks/, as sent (already percent-encoded)
    query: str  # as sent, without "?"
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes  # as sent (compressed if Content-Encoding says so)
    framing: str  # length | chunked | lying (Content-Length larger than the body) | none
    signed_for: str | None  # the source a valid signature was computed for, if any

    def __repr__(self) -> str:  # short enough to read in a failure report
        head = b"; ".join(k + b": " + v[:80] for k, v in self.headers)
        body = self.body[:120] + (b"..." if len(self.body) > 120 else b"")
        return (f"<{self.transport} {self.method} /webhooks/{self.segment[:80]}"
                f"{'?' + self.query[:80] if self.query else ''} [{self.framing}, {len(self.body)} B] "
                f"headers={head!r} body={body!r}>")

    def raw(self, seq: int) -> bytes:
        target = f"/webhooks/{self.segment}" + (f"?{self.query}" if self.query else "")
        lines = [f"{self.method} {target} HTTP/1.1".encode(), b"Host: fuzz", b"Connection: close",
                 b"X-Fuzz-Seq: %d" % seq]
        lines += [k + b": " + v for k, v in self.headers]
        if self.framing == "length":
            lines.append(b"Content-Length: %d" % len(self.body))
            payload = self.body
        elif self.framing == "lying":
            lines.append(b"Content-Length: %d" % (len(self.body) + 100))
            payload = self.body
        elif self.framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            payload = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in _chunks(self.body)) + b"0\r\n\r\n"
        else:
            payload = b""
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def _chunks(body: bytes) -> list[bytes]:
    sizes = itertools.cycle((1, 7, 100, 4096, 65536))
    out, i = [], 0
    while i < len(body):
        n = next(sizes)
        out.append(body[i:i + n])
        i += n
    return out


def _sign(source: str, body: bytes, now: int, msg_id: str) -> list[tuple[str, str]]:
    secret = SECRETS[source]
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if source == "ups":
        return [("credential", secret)]
    if source == "fedex":
        return [("fdx-signature", base64.b64encode(mac).decode())]
    if source == "aftership":
        return [("aftership-hmac-sha256", base64.b64encode(mac).decode())]
    if source == "easypost":
        return [("X-Hmac-Signature", "hmac-sha256-hex=" + mac.hex())]
    if source == "usps":
        return [("webhook-id", msg_id), ("webhook-timestamp", str(now)),
                ("webhook-signature", sign_standard_webhook(secret, msg_id, now, body))]
    return []  # shippo: in the query string


# Generation. One builder, two sources of choices: Hypothesis' own strategies (`Drawn`, rich but slow, about
# 5 ms a request) for a few requests of every batch, and a `random.Random` seeded by Hypothesis (`Rolled`,
# fast) for the rest, so that 10,000 requests fit in the time budget. Both are derandomized.

SEGMENTS = ["", ".", "..", "%2e%2e", "%2E", "ups%2F..%2Ffedex", "ups%00", "%ff", "%zz", "ups%20", "%C3%BCps",
            "generic.json", "ups;v=1", "x" * 300, "..%2F..%2Fetc%2Fpasswd", "%252e", "webhooks", "UpS", "%C4%B0",
            "ups/extra", "%75ps", "u%70s", "ups%09", "%20ups", "ups.", "ups%3F", "ups%23x", "~", "*"]
QUERIES = ["token=", "token=nope", "token=%ff", "a=%zz&&=&b", "token=" + quote(SECRETS["shippo"]) + "x", "=", "&",
           "?", "token=Bearer%20" + SECRETS["shippo"] + "x", "x=" + "y" * 2000, "token=%00", "token[]=1&token[]=2"]
GOOD_TYPES = ["application/json", "text/json", "application/xml", "text/xml", "application/soap+xml",
              "application/edi-x12", "application/edi", "application/x12", "text/plain", "application/octet-stream",
              "application/vnd.carrier+json", "application/atom+xml"]
ODD_TYPES = ["application/json; charset=utf-8", "APPLICATION/JSON", " application/json ", "application/json;;;",
             'application/json; boundary="x;y"', "application/json; charset=", "text/xml; charset=latin-1; q=0.5",
             "application/json\t; a=b", "application/json,text/html", "application/json; charset=\"\\\"\""]
BAD_TYPES = ["text/html", "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded", "image/png", "",
             "*/*", "application/", "json", "garbage", "text/json+html", ";", "+json", "application/jsonx"]
GARBAGE_SIGNATURES = ["v1,", "v1,AAAA", "hmac-sha256-hex=zz", "hmac-sha256-hex=", "Bearer ", "=", "9" * 30, "-1",
                      "1e10", f"v1,{'A' * 44} v2,{'B' * 44}", "1" + "0" * 30, "9" * 400, "v1,====", "\t", "0x10",
                      "\u0661\u0667\u0660\u0660", "1_700_000_000"]
TIMESTAMP_SPOILS = ["9" * 400, "-" + "9" * 400, "9" * 5000, "0", str(2**63), "1e9", "\u0661\u0667\u0660\u0660",
                    " 1 ", "+1"]
EXPECTS = ["100-continue", "100-Continue", "foo", "", "200-ok"]
DECODED = ("gzip", "deflate", "br", "zstd")  # what aiohttp decodes (the rest passes as is)
ENCODINGS = ["gzip", "deflate", "identity", "br", "zstd", "x-gzip", "foo", "gzip, deflate", "GZIP", "gzip, gzip"]
RAW_VALUES = [b"\xff\xfe", b"caf\xe9", b"\xc3\x28", b"a\x00b", b"\xe2\x82\xac", b"  ", b"\x7f", b"\x01"]
RAW_NAMES = [n.encode() for n in KEPT_HEADERS + SIGNATURE_HEADERS + OTHER_HEADERS] + [
    b"Content-Type", b"", b"X Bad", b"X-\xff", b"Content-Length", b"Transfer-Encoding", b"Host", b"Expect"]
SIZES = [GENERIC_MAX_BODY - 1, GENERIC_MAX_BODY, GENERIC_MAX_BODY + 1, MAX_BODY, MAX_BODY + 1, 3 * MAX_BODY]
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~"


class Drawn:
    """Choices drawn from Hypothesis strategies."""

    _text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
    _printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    _token = st.text(TOKEN_CHARS, min_size=1, max_size=30)

    def __init__(self, draw) -> None:
        self.draw = draw

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def fraction(self) -> float:
        return self.draw(st.floats(0, 1))

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        return self.draw(st.binary(min_size=min_size, max_size=max_size))

    def text(self) -> str:
        return self.draw(self._text)

    def printable(self) -> str:
        return self.draw(self._printable)

    def token(self) -> str:
        return self.draw(self._token)


class Rolled:
    """Choices from a `random.Random` (seeded by Hypothesis): the same shapes, at a fraction of the cost."""

    _planes = [(0x20, 0x7E)] * 6 + [(0xA0, 0xFF), (0x100, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF), (0, 0x1F)]

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def pick(self, options):
        return self.rnd.choice(options)

    def integer(self, low: int, high: int) -> int:
        return self.rnd.randint(low, high)

    def fraction(self) -> float:
        return self.rnd.random()

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        return self.rnd.randbytes(self.rnd.randint(min_size, max_size))

    def text(self) -> str:
        return "".join(chr(self.rnd.randint(*self.rnd.choice(self._planes))) for _ in range(self.rnd.randint(0, 40)))

    def printable(self) -> str:
        return "".join(chr(self.rnd.randint(0x20, 0x7E)) for _ in range(self.rnd.randint(0, 60)))

    def token(self) -> str:
        return "".join(self.rnd.choices(TOKEN_CHARS, k=self.rnd.randint(1, 30)))


def _segment(c) -> str:
    kind = c.pick(["source"] * 5 + ["upper", "escaped", "odd", "odd", "text", "bytes"])
    if kind == "source":  # the signed ones twice as often: they have more to get wrong
        return c.pick(SOURCES + tuple(SECRETS))
    if kind == "upper":
        return c.pick(SOURCES).upper()
    if kind == "escaped":  # a known source with one letter percent-encoded
        source = c.pick(SOURCES)
        i = c.integer(0, len(source) - 1)
        return source[:i] + f"%{ord(source[i]):02X}" + source[i + 1:]
    if kind == "odd":
        return c.pick(SEGMENTS)
    if kind == "text":
        return quote(c.text(), safe="")
    return quote(c.binary(12), safe="")


def _query(c) -> str:
    kind = c.pick(["none", "none", "pairs", "odd"])
    if kind == "none":
        return ""
    if kind == "odd":
        return c.pick(QUERIES)
    return "&".join(f"{quote(c.text(), safe='')}={quote(c.text(), safe='')}" for _ in range(c.integer(1, 3)))


def _content_type(c) -> str | None:
    kind = c.pick(["none", "good", "good", "good", "odd", "bad", "printable"])
    if kind == "none":
        return None
    if kind == "printable":
        return c.printable()
    return c.pick({"good": GOOD_TYPES, "odd": ODD_TYPES, "bad": BAD_TYPES}[kind])


def _body(c) -> bytes:
    kind = c.pick(["random", "fixture", "fixture", "mutated", "mutated", "truncated", "attack", "empty", "sized"])
    if kind == "random":
        return c.binary(2048)
    if kind == "fixture":
        return c.pick(FIXTURES)
    if kind == "mutated":
        data = bytearray(c.pick(FIXTURES))
        for _ in range(c.integer(1, 5)):
            i = int(len(data) * c.fraction())
            chunk = c.binary(8)
            data[i:i + len(chunk)] = chunk
        return bytes(data)
    if kind == "truncated":
        doc = c.pick(FIXTURES)
        return doc[:int(len(doc) * c.fraction())]
    if kind == "attack":
        return c.pick(XML_ATTACKS)
    if kind == "empty":
        return b""
    size = c.pick(SIZES)
    return (c.pick(FIXTURES) + b" " * size)[:size]


def build(c) -> Req:
    transport = c.pick(["raw", "client"])
    method = c.pick(["POST"] * 12 + ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
    segment = _segment(c)
    if transport == "client" and segment == "":
        segment = "%20"
    query = _query(c)
    plain = _body(c)
    headers: list[tuple[str, str]] = []
    content_type = _content_type(c)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    # Signatures: none, garbage, or valid for the source (when the path names a signed one plainly).
    auth = c.pick(["none", "garbage", "corrupted", "valid", "valid"])
    signed_for = None
    target = segment.lower() if segment.lower() in SECRETS else c.pick(sorted(SECRETS))
    if auth == "garbage":
        for _ in range(c.integer(1, 4)):
            headers.append((c.pick(SIGNATURE_HEADERS), c.pick([c.printable(), c.pick(GARBAGE_SIGNATURES)])))
    elif auth == "corrupted":  # a valid signature with one part spoiled: every check of the scheme in turn
        signed = _sign(target, plain, int(time.time()), c.token()) or [("token", SECRETS["shippo"])]
        i = c.pick([0, 1, 1, 2]) if len(signed) == 3 else c.integer(0, len(signed) - 1)  # the timestamp most
        spoiled = c.pick([c.printable(), c.pick(GARBAGE_SIGNATURES), signed[i][1][:-1], signed[i][1] + "=",
                          "", signed[i][1].upper(), " " + signed[i][1] + " "])
        if signed[i][0] == "webhook-timestamp" and c.integer(0, 2):
            spoiled = c.pick(TIMESTAMP_SPOILS)
        signed[i] = (signed[i][0], spoiled)
        if target == "shippo":
            query = "token=" + quote(signed[0][1]) + (f"&{query}" if query else "")
        else:
            headers += signed
    elif auth == "valid" and segment.lower() in SECRETS:
        signed_for = segment.lower()
        headers += _sign(signed_for, plain, int(time.time()), c.token())
        if signed_for == "shippo":  # the token first: a later duplicate parameter does not count
            query = "token=" + quote(SECRETS["shippo"]) + (f"&{query}" if query else "")
    for _ in range(c.integer(0, 3)):
        name = c.pick(KEPT_HEADERS + OTHER_HEADERS + [c.token()])
        headers.append((name, c.pick(EXPECTS) if name == "Expect" else c.printable()))
    encoding = c.pick([None] * 6 + ENCODINGS)
    body = plain
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
        how, enc = c.pick(["right", "right", "garbage", "plain"]), encoding.lower()
        if how == "right" and enc in ("gzip", "x-gzip"):
            body = gzip.compress(plain, compresslevel=1, mtime=0)
        elif how == "right" and enc == "deflate":
            body = zlib.compress(plain, 1)
        elif how == "garbage":
            body = c.binary(64, min_size=1)
        # A signature covers the body the server decodes; it is only "valid" if that is `plain`.
        if not (enc in DECODED and how == "right" and body != plain or enc not in DECODED and body == plain):
            signed_for = None
    raw_headers = [(k.encode(), v.encode()) for k, v in headers]
    framing = "length"
    if transport == "raw":
        framing = c.pick(["length"] * 12 + ["chunked"] * 6 + ["none", "lying"])
        # Bytes no client library sends: high bytes, invalid UTF-8, NUL and other controls, odd header names.
        for _ in range(c.integer(0, 2)):
            value = c.pick([c.binary(24).replace(b"\r", b"").replace(b"\n", b""), c.pick(RAW_VALUES)])
            if raw_headers and c.integer(0, 2) == 0:  # spoil a header already there (a signed id, the type...)
                signing = [j for j, (k, _) in enumerate(raw_headers) if k.decode("latin-1").lower() in SIGNING_NAMES]
                i = c.pick(signing) if signing and c.integer(0, 1) else c.integer(0, len(raw_headers) - 1)
                raw_headers[i] = (raw_headers[i][0], c.pick([value, raw_headers[i][1] + value]))
                signed_for = None
            else:
                raw_headers.append((c.pick(RAW_NAMES), value))
    elif c.integer(0, 1):
        framing = "chunked"
    return Req(transport, method, segment, query, tuple(raw_headers), body, framing, signed_for)


RICH_PER_BATCH = 2  # requests per batch built from Hypothesis' own strategies


@st.composite
def batches(draw, numbers: itertools.count) -> list[Req]:
    rich = [build(Drawn(draw)) for _ in range(RICH_PER_BATCH)]
    # Hypothesis favours simple integers (the same seeds again and again); the batch number keeps every seed
    # new, and the order of examples is fixed (derandomize), so a run is still repeatable.
    rolled = Rolled(random.Random(f"{draw(st.integers(0, 2**64 - 1))}/{next(numbers)}"))
    return rich + [build(rolled) for _ in range(BATCH - RICH_PER_BATCH)]


# ------------------------------------------------------------------------------------------- sending


@dataclass
class Answer:
    status: int | None  # None: no answer (closed, or timed out)
    content_type: str
    body: bytes
    retry_after: str | None



def crash_recorder(crashes: dict[str, str]):
    """A middleware naming the exception behind a 5xx in `crashes`, by the request's X-Fuzz-Seq (observation
    only: it re-raises)."""

    @web.middleware
    async def record(request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            where = next((f for f in reversed(frames) if "/service/" in f.filename), frames[-1])
            crashes[request.headers.get("X-Fuzz-Seq", "")] = (
                f"{type(exc).__name__}: {exc!s:.80} at {Path(where.filename).name}:{where.lineno} ({where.name})")
            raise

    return record


async def _send_raw(port: int, data: bytes, timeout: float = 15.0) -> Answer:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                try:
                    writer.write(data)
                    await writer.drain()
                except ConnectionError:
                    pass  # refused early: read what it said
                buffer = b""
                while True:
                    try:
                        chunk = await reader.read(65536)
                    except ConnectionError:
                        chunk = b""
                    buffer += chunk
                    answer = _parse(buffer, final=not chunk)
                    if answer is not None:
                        return answer
            finally:
                writer.close()
    except TimeoutError:
        return Answer(None, "", b"timed out", None)


def _parse(data: bytes, final: bool) -> Answer | None:
    while data.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in data:  # an interim answer (100 Continue)
        data = data.partition(b"\r\n\r\n")[2]
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return Answer(None, "", data[:200], None) if final else None
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    length = int(headers.get("content-length", -1))
    if 0 <= length <= len(body) or final:
        return Answer(status, headers.get("content-type", ""), body[:max(length, 0)] if length >= 0 else body,
                      headers.get("retry-after"))
    return None


async def _send_client(session, port: int, req: Req, seq: int) -> Answer:
    url = URL(f"http://127.0.0.1:{port}/webhooks/{req.segment}" + (f"?{req.query}" if req.query else ""),
              encoded=True)
    headers = [(k.decode(), v.decode()) for k, v in req.headers] + [("X-Fuzz-Seq", str(seq))]
    data: object = req.body
    if req.framing == "chunked":
        async def stream():
            for chunk in _chunks(req.body):
                yield chunk
        data = stream()
    try:
        async with session.request(req.method, url, data=data, headers=headers,
                                   skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding")) as resp:
            return Answer(resp.status, resp.headers.get("Content-Type", ""), await resp.read(),
                          resp.headers.get("Retry-After"))
    except (ClientError, ConnectionError, TimeoutError) as exc:
        return Answer(None, "", repr(exc).encode(), None)


# ------------------------------------------------------------------------------------------- checking


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
        return True
    except UnicodeDecodeError:
        return False


def _violations(req: Req, answer: Answer, seen: tuple[bool, str | None] | None, crash: str | None) -> list[str]:
    """What is wrong with this answer; `seen` is (routed to intake, source) as the server saw it, `crash` the
    exception that escaped the handler."""
    found = []
    status = answer.status
    if status is None:
        return [f"no answer ({answer.body[:60]!r})"]
    if status >= 500:
        cause = crash or (orjson.loads(answer.body).get("error", "?") if answer.content_type.startswith(
            JSON_TYPES) else "raised outside the intake handler")
        if cause.startswith("raised outside") and any(k.lower() == b"expect" for k, _ in req.headers):
            cause += " (the request has an Expect header)"
        if status == 503:
            cause += (" (this request has non-UTF-8 header bytes)" if any(not _utf8(v) for _, v in req.headers)
                      else " (this request is clean: failed beside one committed with it)")
        return [f"status {status}: {cause}"]
    if status == 417 and any(k.lower() == b"expect" and v.strip().lower() != b"100-continue" for k, v in req.headers):
        return []  # aiohttp refuses an expectation it cannot meet (RFC 9110 10.1.1), in plain text
    if status not in ALLOWED:
        found.append(f"status {status} is not documented")
    routed, source = seen if seen is not None else (False, None)
    if routed:
        if not answer.content_type.startswith(JSON_TYPES):
            return found + [f"{status} from intake is not JSON ({answer.content_type})"]
        try:
            payload = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return found + [f"{status} from intake: body is not JSON"]
        if status == 202:
            if not (isinstance(payload.get("id"), str) and payload["id"].isdigit()
                    and isinstance(payload.get("duplicate"), bool)):
                found.append(f"202 body is not {{id, duplicate}}: {payload}")
        elif 400 <= status < 500 and not (isinstance(payload.get("error"), str) and payload["error"]):
            found.append(f"{status} without an error message")
        key = (source or "").lower()
        if key in OPEN and status == 401:
            found.append("401 from an open source")
        if key == CLOSED and status not in (401, 429):
            found.append(f"{status} from the closed source (expected 401)")
        if key not in SOURCES and status != 404:
            found.append(f"{status} for unknown source {source!r} (expected 404)")
        if req.signed_for is not None and key == req.signed_for and status == 401:
            found.append(f"401 for a correctly signed request: {payload.get('error')}")
    elif status in (202, 401, 408, 413, 415, 429):  # only intake says these
        found.append(f"{status} without reaching intake?")
    if status == 429 and not (answer.retry_after or "").isdigit():
        found.append("429 without Retry-After")
    return found


# ------------------------------------------------------------------------------------------- the test


def fuzz_settings(db: Path) -> Settings:
    return Settings(db=str(db), admin_token="fuzz-admin", open_sources=OPEN,
                    secrets={s: (v,) for s, v in SECRETS.items()},
                    max_body_bytes=MAX_BODY, max_body_by_source={"generic": GENERIC_MAX_BODY},
                    rates=RATE_LIMITED, rate_limit=0, body_timeout=BODY_TIMEOUT, sqlite_synchronous="OFF")


async def test_ten_thousand_fuzzed_requests_never_break_the_intake_contract(aiohttp_client, tmp_path):
    app = create_app(fuzz_settings(tmp_path / "fuzz.db"))
    observed: dict[str, tuple[bool, str | None]] = {}

    async def watch(request: web.Request, response: web.StreamResponse) -> None:
        """Which requests reached the intake handler, and the source it saw (observation only)."""
        seq = request.headers.get("X-Fuzz-Seq")
        if seq is not None:
            route = request.match_info.route
            observed[seq] = (request.method == "POST" and getattr(route, "handler", None) is intake.receive_webhook,
                             request.match_info.get("source"))

    crashes: dict[str, str] = {}
    app.on_response_prepare.append(watch)
    app.middlewares.append(crash_recorder(crashes))
    client = await aiohttp_client(app)
    port, loop = client.server.port, asyncio.get_running_loop()
    counter = itertools.count()
    sent = 0
    statuses: dict[int | None, int] = defaultdict(int)
    violations: dict[str, list[Req]] = defaultdict(list)
    accepted_ids: set[str] = set()

    async def one(req: Req) -> None:
        nonlocal sent
        seq = next(counter)
        if req.transport == "raw":
            answer = await _send_raw(port, req.raw(seq))
        else:
            answer = await _send_client(client.session, port, req, seq)
        sent += 1
        statuses[answer.status] += 1
        for problem in _violations(req, answer, observed.pop(str(seq), None), crashes.pop(str(seq), None)):
            violations[problem].append(req)
        if answer.status == 202 and answer.content_type.startswith("application/json"):
            accepted_ids.add(orjson.loads(answer.body)["id"])

    slow: set[asyncio.Task] = set()

    async def batch(reqs: list[Req]) -> None:
        """Sent at once; a body that never comes (waiting for its 408) is left to finish in the background."""
        for req in reqs:
            if req.framing == "lying":
                slow.add(asyncio.create_task(one(req)))
        await asyncio.gather(*(one(r) for r in reqs if r.framing != "lying"))

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(batches(itertools.count()))
    def run(reqs: list[Req]) -> None:
        asyncio.run_coroutine_threadsafe(batch(reqs), loop).result(timeout=120)

    started = time.monotonic()
    await asyncio.to_thread(run)  # hypothesis drives from a thread; the requests run on this test's loop
    await asyncio.gather(*slow)
    elapsed = time.monotonic() - started
    print(f"\nintake fuzz: {sent} requests in {elapsed:.1f} s; statuses {dict(sorted(statuses.items(), key=str))}")

    report = "\n".join(f"  [{len(reqs)}x] {problem}\n      e.g. {reqs[0]!r}"
                       for problem, reqs in sorted(violations.items(), key=lambda kv: -len(kv[1])))
    assert sent >= 10_000
    assert not violations, f"{sum(map(len, violations.values()))} contract violations:\n{report}"
    # Everything is still served, and nothing but the 202s was stored.
    assert (await client.get("/healthz")).status == 200
    resp = await client.post("/webhooks/dhl", data=ups_track("1ZFUZZ000000000001", [("origin", "20260301", "180000")]),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 202
    accepted_ids.add((await resp.json())["id"])
    conn = sqlite3.connect(f"file:{tmp_path / 'fuzz.db'}?mode=ro", uri=True)
    try:
        stored = {str(row[0]) for row in conn.execute("SELECT id FROM inbox")}
    finally:
        conn.close()
    assert stored == accepted_ids, f"stored without a 202: {sorted(stored - accepted_ids)[:10]}"
