"""Hostile input against the LIVE intake: a real `python -m service serve` process, real sockets.

One server for the module (temp store, small limits: 1 MiB bodies, 2 s idle and
body timeouts). Every case asserts its exact outcome; between cases a good UPS
webhook is posted and remembered, and the last tests check that the process is
still alive, healthy and not bloated, that every good webhook became events, and
that the server logged no unhandled error.

Server set-up: every source open except `shippo` (no secret, not open: always
401) and `fedex` / `usps` (secrets configured: HMAC and Standard Webhooks);
`generic` has its own 4 KiB body limit.

The "header bytes" cases replay, over a raw socket, the requests the fuzz
(tests/test_intake_fuzz.py) found answered 5xx: undecodable header bytes, a
Content-Encoding that does not decode, absurd Standard Webhooks headers.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import os
import random
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from service.config import SOURCES
from service.signatures import sign_standard_webhook
from tests.docs import ups_track
from tests.reading import READ_TOKEN, READER

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "hostile-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
FEDEX_SECRET = "fedex-hostile-secret"
USPS_SECRET = "whsec_" + base64.b64encode(b"usps-hostile-secret-key-32-bytes").decode()
CLOSED = "shippo"  # neither a secret nor opened
SIGNED = ("fedex", "usps")
MAX_BODY = 1 << 20
GENERIC_MAX_BODY = 4096
IDLE_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
MB100 = 100 * 1024 * 1024
JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "application/xml"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    proc: subprocess.Popen
    port: int
    db: Path
    log: Path
    good: list[tuple[str, str]] = field(default_factory=list)  # (tracking number, inbox id) of good webhooks
    serial: itertools.count = field(default_factory=itertools.count)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict[str, int]:
        """VmRSS / VmHWM of the server process, in bytes."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
        return out

    def query(self, sql: str, *args) -> list[tuple]:
        """Read the live store directly (read-only; WAL lets us read beside the writer)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def stored_with(self, marker: bytes) -> int:
        return self.query("SELECT count(*) FROM inbox WHERE instr(body, ?) > 0", marker)[0][0]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("hostile")
    port, db, log = _free_port(), tmp / "hostile.db", tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_EVENTS_")}
    env.update({
        "CARRIER_EVENTS_DB": str(db), "CARRIER_EVENTS_PORT": str(port), "CARRIER_EVENTS_HOST": "127.0.0.1",
        "CARRIER_EVENTS_OPEN_SOURCES": ",".join(s for s in SOURCES if s not in (CLOSED, *SIGNED)),
        "CARRIER_EVENTS_SECRET_FEDEX": FEDEX_SECRET, "CARRIER_EVENTS_SECRET_USPS": USPS_SECRET,
        "CARRIER_EVENTS_RATE_LIMIT": "0", "CARRIER_EVENTS_ADMIN_TOKEN": ADMIN, "CARRIER_EVENTS_READ_TOKEN": READ_TOKEN,
        "CARRIER_EVENTS_MAX_BODY_BYTES": str(MAX_BODY), "CARRIER_EVENTS_MAX_BODY_BYTES_GENERIC": str(GENERIC_MAX_BODY),
        "CARRIER_EVENTS_IDLE_TIMEOUT": str(IDLE_TIMEOUT), "CARRIER_EVENTS_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "CARRIER_EVENTS_SQLITE_SYNCHRONOUS": "NORMAL", "CARRIER_EVENTS_LOG_FORMAT": "text",
    })
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env,
                                stdout=sink, stderr=subprocess.STDOUT)
    server = Live(proc, port, db, log)
    deadline = time.monotonic() + 20
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY
    while True:
        try:
            with direct.open(f"{server.base}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------- helpers


async def post_good(session: aiohttp.ClientSession, live: Live) -> str:
    """A good UPS webhook between hostile cases: 202, remembered for the final check."""
    tn = f"1ZHOST{next(live.serial):012d}"
    body = ups_track(tn, [("origin", "20260301", "180000"), ("delivered", "20260303", "141500")])
    async with session.post(f"{live.base}/webhooks/ups", data=body, headers=JSON) as resp:
        assert resp.status == 202, await resp.text()
        accepted = await resp.json()
    assert accepted["duplicate"] is False
    live.good.append((tn, accepted["id"]))
    return accepted["id"]


async def post(session: aiohttp.ClientSession, live: Live, source: str, body: bytes,
               headers: dict | None = None) -> tuple[int, dict]:
    async with session.post(f"{live.base}/webhooks/{source}", data=body, headers=headers or JSON) as resp:
        return resp.status, await resp.json(content_type=None)


async def accepted(session, live: Live, source: str, body: bytes, headers: dict | None = None) -> str:
    status, answer = await post(session, live, source, body, headers)
    assert status == 202, answer
    assert answer["duplicate"] is False
    return answer["id"]


async def dlq(session: aiohttp.ClientSession, live: Live) -> tuple[str, dict[str, dict]]:
    async with session.get(f"{live.base}/v1/admin/dlq", params={"limit": 1000}, headers=ADMIN_HEADERS) as resp:
        assert resp.status == 200
        text = await resp.text()
    return text, {item["id"]: item for item in (await resp.json())["items"]}


async def quarantined(session, live: Live, ids: list[str], within: float = 10.0) -> dict[str, dict]:
    """Wait until every id is in the DLQ as `quarantined` with a reason; their DLQ items."""
    deadline = time.monotonic() + within
    while True:
        _, items = await dlq(session, live)
        if all(i in items for i in ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    missing = [i for i in ids if i not in items]
    assert not missing, f"not quarantined within {within} s: {missing}"
    for i in ids:
        assert items[i]["state"] == "quarantined" and items[i]["reason"], items[i]
    return {i: items[i] for i in ids}


async def raw_exchange(live: Live, data: bytes, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes (or the timeout)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    try:
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionError:
            pass  # the server may refuse and close before taking everything we had to say
        chunks = []
        try:
            async with asyncio.timeout(read_timeout):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
                    if _complete(b"".join(chunks)):
                        break
        except (ConnectionError, TimeoutError):
            pass
        return b"".join(chunks)
    finally:
        writer.close()


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(answer: bytes) -> int | None:
    """The status code of a raw HTTP answer; None if the server closed without answering."""
    if not answer:
        return None
    parts = answer.split(b"\r\n", 1)[0].split()
    assert len(parts) >= 2 and parts[0].startswith(b"HTTP/1."), answer[:200]
    return int(parts[1])


def gzip_bomb(mib: int) -> bytes:
    """A valid gzip stream of `mib` MiB of zeros at about 1 KiB per MiB, built without compressing it all."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    first = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    steady = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)  # identical for every later MiB
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + steady * (mib - 1) + compressor.flush()
            + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF))


def ups_xml(tracking_number: str, city: str, doctype: str = "") -> bytes:
    """A UPS XML Tracking API response (the legacy shape) with `city` in the activity location."""
    return (f'<?xml version="1.0"?>{doctype}<TrackResponse><Response><ResponseStatusCode>1</ResponseStatusCode>'
            f"</Response><Shipment><ShipmentIdentificationNumber>{tracking_number}</ShipmentIdentificationNumber>"
            f"<Package><TrackingNumber>{tracking_number}</TrackingNumber><Activity><ActivityLocation><Address>"
            f"<City>{city}</City><CountryCode>US</CountryCode></Address></ActivityLocation><Status><StatusType>"
            f"<Code>D</Code><Description>DELIVERED</Description></StatusType><StatusCode><Code>FS</Code>"
            f"</StatusCode></Status><Date>20260303</Date><Time>141500</Time></Activity></Package></Shipment>"
            f"</TrackResponse>").encode()


def dhl_xml(awb: str, description: str, doctype: str = "") -> bytes:
    """A DHL Express XML-PI TrackingResponse with `description` as a checkpoint's text."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<req:TrackingResponse xmlns:req="http://www.dhl.com">'
            f"<AWBInfo><AWBNumber>{awb}</AWBNumber><Status><ActionStatus>success</ActionStatus></Status>"
            f"<ShipmentInfo><ShipmentEvent><Date>2026-03-03</Date><Time>14:15:00</Time><ServiceEvent>"
            f"<EventCode>OK</EventCode><Description>{description}</Description></ServiceEvent>"
            f"<ServiceArea><ServiceAreaCode>DEN</ServiceAreaCode><Description>DENVER - USA</Description>"
            f"</ServiceArea></ShipmentEvent></ShipmentInfo></AWBInfo></req:TrackingResponse>").encode()


# ---------------------------------------------------------------------------------------------- XML attacks


async def test_xxe_file_read_is_accepted_quarantined_and_never_expanded(live):
    assert "root:" in Path("/etc/passwd").read_text()  # what an expanded entity would leak
    xxe = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    async with aiohttp.ClientSession() as session:
        ids = [await accepted(session, live, "ups", ups_xml("1Z7R45E10417553011", "&e;", xxe), XML),
               await accepted(session, live, "dhl", dhl_xml("4617285934", "&e;", xxe), XML),
               await accepted(session, live, "generic", b'<?xml version="1.0"?>' + xxe.encode() + b"<r>&e;</r>",
                              {"Content-Type": "text/xml"})]
        items = await quarantined(session, live, ids)
        assert all("DOCTYPE" in item["reason"] for item in items.values()), items
        listing, _ = await dlq(session, live)
        async with session.get(f"{live.base}/v1/events", params={"limit": 1000}, headers=READER) as resp:
            feed = await resp.text()
        await post_good(session, live)
    assert "root:" not in listing and "root:" not in feed
    stored = live.query("SELECT body FROM events UNION ALL SELECT body FROM outbox "
                        "UNION ALL SELECT coalesce(reason, '') FROM inbox")
    assert stored and not any(b"root:" in (bytes(b) if not isinstance(b, str) else b.encode()) for (b,) in stored)


async def test_entity_expansion_bombs_are_accepted_and_quarantined_quickly(live):
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    billion = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{laughs}]><r>&l9;</r>'.encode()
    quadratic = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "x" * 50_000 + '">]>'
                 + ups_xml("1Z7R45E10417553012", "&a;" * 15_000).decode().split("?>", 1)[1]).encode()
    assert len(quadratic) < MAX_BODY  # it would expand to 750 MB
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        ids = [await accepted(session, live, "ups", billion, XML),
               await accepted(session, live, "ups", quadratic, XML)]
        items = await quarantined(session, live, ids, within=5.0)
        assert time.monotonic() - started < 5.0
        assert all("DOCTYPE" in item["reason"] for item in items.values()), items
        await post_good(session, live)
    assert live.status()["VmRSS"] < 200 * 1024 * 1024


# ---------------------------------------------------------------------------------------------- size attacks


async def test_100mb_with_content_length_is_refused_413_without_reading_it(live):
    head = (f"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MB100}\r\n\r\n").encode()
    started = time.monotonic()
    answer = await raw_exchange(live, head + b"[" + b" " * 65_535, read_timeout=5)
    elapsed = time.monotonic() - started
    assert status_of(answer) == 413 and b'"error"' in answer, answer[:300]
    assert elapsed < 1.5, f"413 took {elapsed:.2f} s: the server read the body first"
    async with aiohttp.ClientSession() as session:
        await post_good(session, live)


async def test_100mb_chunked_without_content_length_is_refused_413_early(live):
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    answer = asyncio.create_task(reader.read(65536))
    chunk = b"%x\r\n" % 65536 + b"7" * 65536 + b"\r\n"
    sent, started = 0, time.monotonic()
    try:
        while sent < MB100 and not answer.done():
            writer.write(chunk)
            await writer.drain()
            sent += 65536
    except ConnectionError:
        pass
    try:
        data = await asyncio.wait_for(answer, 5)
    finally:
        writer.close()
    assert status_of(data) == 413 and b'"error"' in data, data[:300]
    assert sent < 32 * 1024 * 1024, f"{sent} bytes sent before the 413"
    assert time.monotonic() - started < 5
    assert live.stored_with(b"7777777777") == 0
    async with aiohttp.ClientSession() as session:
        await post_good(session, live)


async def test_gzip_bomb_is_refused_413_and_memory_stays_flat(live):
    bomb = gzip_bomb(256)  # 256 MiB of zeros in about 265 KB
    assert len(bomb) < MAX_BODY
    before = live.status()
    async with aiohttp.ClientSession() as session:
        status, answer = await post(session, live, "ups", bomb,
                                    {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert status == 413 and "error" in answer, answer
        await post_good(session, live)
    after = live.status()
    assert after["VmHWM"] - before["VmRSS"] < 48 * 1024 * 1024, (before, after)
    assert after["VmRSS"] < 256 * 1024 * 1024


async def test_per_source_body_limit(live):
    body = b'{"pad": "' + b"p" * GENERIC_MAX_BODY + b'"}'
    async with aiohttp.ClientSession() as session:
        status, answer = await post(session, live, "generic", body)
        assert status == 413 and str(GENERIC_MAX_BODY) in answer["error"]
        assert await accepted(session, live, "ups", body)  # the same body is fine for UPS (1 MiB)
        await post_good(session, live)


# ---------------------------------------------------------------------------------------------- content attacks


async def test_unreadable_content_is_accepted_and_quarantined_with_a_reason(live):
    rng = random.Random(20260301)
    cases = {
        "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, JSON),
        "invalid-utf8": (b'{"trackResponse": {"shipment": [{"inquiryNumber": "1Z\xff\xfe\xc3\x28"}]}}', JSON),
        "nul-bytes": (b'{"trackResponse":\x00 {"shipment": \x00\x00[]}}\x00', JSON),
        "binary-blob": (bytes(rng.getrandbits(8) for _ in range(4096)), {"Content-Type": "application/octet-stream"}),
        "malformed-xml": (b"<TrackResponse><Shipment><Package></Shipment>", XML),
    }
    async with aiohttp.ClientSession() as session:
        ids = {}
        for name, (body, headers) in cases.items():
            ids[name] = await accepted(session, live, "ups", body, headers)
            await post_good(session, live)
        items = await quarantined(session, live, list(ids.values()))
    reasons = {name: items[i]["reason"] for name, i in ids.items()}
    assert all(reason.startswith("unparseable: ") for reason in reasons.values()), reasons
    assert "nested deeper" in reasons["deep-nesting"], reasons
    assert "malformed XML" in reasons["malformed-xml"], reasons


# ---------------------------------------------------------------------------------------------- protocol


@pytest.mark.parametrize("content_type", ["text/html", "multipart/form-data; boundary=xyz",
                                          "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_415_and_nothing_stored(live, content_type):
    marker = f"wrong-type-{content_type.split(';')[0]}".encode()
    body = b'{"marker": "' + marker + b'"}'
    async with aiohttp.ClientSession() as session:
        status, answer = await post(session, live, "ups", body, {"Content-Type": content_type})
        assert status == 415 and content_type.split(";")[0] in answer["error"]
        await post_good(session, live)  # committed after: a stored 415 body would be visible now
    assert live.stored_with(marker) == 0


async def test_unknown_source_is_404(live):
    async with aiohttp.ClientSession() as session:
        for source in ("nosuchcarrier", "UPSX", "..%2Fups", "%F0%9F%93%A6"):
            url = URL(f"{live.base}/webhooks/{source}", encoded=True)
            async with session.post(url, data=b'{"who": "unknown"}', headers=JSON) as resp:
                assert resp.status == 404, source
                assert "unknown webhook source" in (await resp.json())["error"]
        await post_good(session, live)
    assert live.stored_with(b'"who": "unknown"') == 0


async def test_unauthenticated_posts_are_401_and_nothing_stored(live):
    body = b'{"forged": true}'
    now = int(time.time())
    forged_sig = base64.b64encode(hmac.new(b"wrong", body, hashlib.sha256).digest()).decode()
    async with aiohttp.ClientSession() as session:
        status, answer = await post(session, live, CLOSED, body)
        assert status == 401 and "no secret configured" in answer["error"]
        status, answer = await post(session, live, "fedex", body)
        assert status == 401 and "missing fdx-signature" in answer["error"]
        status, answer = await post(session, live, "fedex", body, {**JSON, "fdx-signature": forged_sig})
        assert status == 401 and "does not match" in answer["error"]
        status, answer = await post(session, live, "usps", body, {
            **JSON, "webhook-id": "msg_1", "webhook-timestamp": str(now),
            "webhook-signature": sign_standard_webhook("whsec_" + base64.b64encode(b"x" * 32).decode(), "msg_1",
                                                       now, body)})
        assert status == 401 and "no webhook-signature matches" in answer["error"]
        # The properly signed ones pass: the 401s above are about authentication, not the document.
        good_sig = base64.b64encode(hmac.new(FEDEX_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        fedex_id = await accepted(session, live, "fedex", body, {**JSON, "fdx-signature": good_sig})
        signed = {**JSON, "webhook-id": "msg_2", "webhook-timestamp": str(now),
                  "webhook-signature": sign_standard_webhook(USPS_SECRET, "msg_2", now, body)}
        usps_id = await accepted(session, live, "usps", body, signed)
        await post_good(session, live)
    assert live.stored_with(body) == 2
    assert {str(r[0]) for r in live.query("SELECT id FROM inbox WHERE body = ?", body)} == {fedex_id, usps_id}


async def test_header_floods_are_refused_4xx_or_closed_never_5xx(live):
    body = b'{"flood": 1}'
    tail = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    many = b"".join(b"X-Flood-%d: %d\r\n" % (i, i) for i in range(500))
    cases = {
        "500-headers": b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\n" + many + tail + body,
        "100kb-header": b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n" + tail + body,
        "100kb-request-line": b"POST /webhooks/ups?q=" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n" + tail + body,
        "100kb-header-name": (b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nX-" + b"n" * 100_000 + b": 1\r\n"
                              + tail + body),
    }
    answers = {name: await raw_exchange(live, data) for name, data in cases.items()}
    statuses = {name: status_of(a) for name, a in answers.items()}
    assert all(s is None or s in (400, 431) for s in statuses.values()), statuses
    assert live.stored_with(b'{"flood": 1}') == 0
    async with aiohttp.ClientSession() as session:
        await post_good(session, live)


async def test_slow_loris_head_is_cut_at_the_idle_timeout_and_slow_body_gets_408(live):
    async def slow_head() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        started = time.monotonic()
        writer.write(b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nContent-Ty")

        async def trickle() -> None:
            try:
                for byte in itertools.cycle(b"pe: application/json\r\nX-Slow: a\r\n"):
                    await asyncio.sleep(0.5)
                    writer.write(bytes([byte]))
                    await writer.drain()
            except ConnectionError:
                pass

        task = asyncio.create_task(trickle())
        try:
            data = await asyncio.wait_for(reader.read(), timeout=IDLE_TIMEOUT + 6)
        except ConnectionError:
            data = b""
        finally:
            task.cancel()
            writer.close()
        return time.monotonic() - started, data

    async def slow_body() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        started = time.monotonic()
        writer.write(b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")

        async def trickle() -> None:
            try:
                while True:
                    await asyncio.sleep(0.5)
                    writer.write(b" ")
                    await writer.drain()
            except ConnectionError:
                pass

        task = asyncio.create_task(trickle())
        try:
            data = await asyncio.wait_for(reader.readuntil(b"}"), timeout=BODY_TIMEOUT + 6)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            data = getattr(exc, "partial", b"")
        finally:
            task.cancel()
            writer.close()
        return time.monotonic() - started, data

    (head_time, head_data), (body_time, body_data) = await asyncio.gather(slow_head(), slow_body())
    assert head_data == b"", head_data[:200]  # closed without an answer
    assert IDLE_TIMEOUT - 0.3 <= head_time <= IDLE_TIMEOUT + 2.5, head_time
    assert status_of(body_data) == 408 and b'"error"' in body_data, body_data[:300]
    assert BODY_TIMEOUT - 0.3 <= body_time <= BODY_TIMEOUT + 2.5, body_time
    async with aiohttp.ClientSession() as session:
        await post_good(session, live)


# ---------------------------------------------------------------------------------------------- header bytes


def _raw_post(path: str, body: bytes, *headers: bytes) -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _usps(msg_id: bytes, stamp: bytes, body: bytes) -> bytes:
    return _raw_post("/webhooks/usps", body, b"Content-Type: application/json", b"webhook-id: " + msg_id,
                     b"webhook-timestamp: " + stamp, b"webhook-signature: v1,AAAA")


BAD_HEADER_CASES = {
    # name: (raw request, statuses that keep the contract)
    "broken-deflate": (_raw_post("/webhooks/ups", b"\x78\x9c\x00\x01\x02\x03\x04\x05",
                                 b"Content-Type: application/json", b"Content-Encoding: deflate"), {400}),
    "broken-gzip": (_raw_post("/webhooks/ups", b"\x1f\x8bnot gzip at all",
                              b"Content-Type: application/json", b"Content-Encoding: gzip"), {400}),
    "bad-chunk-size": ((b"POST /webhooks/ups HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                        b"application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"), {400}),
    "huge-webhook-timestamp": (_usps(b"msg_huge", b"1" + b"0" * 400, b'{"stamp": "huge"}'), {401}),
    "undecodable-webhook-id": (_usps(b"msg_\xff\xfe", str(int(time.time())).encode(), b'{"id": "bytes"}'), {401}),
    "undecodable-content-type-param": (_raw_post("/webhooks/ups", b'{"ct": "param"}',
                                                 b"Content-Type: application/json; charset=\xff"), {202, 400, 415}),
    "undecodable-expect": (_raw_post("/webhooks/ups", b'{"expect": "bytes"}', b"Content-Type: application/json",
                                     b"Expect: \xff\xfe"), {400, 417}),
    "undecodable-user-agent": (_raw_post("/webhooks/ups", b'{"ua": "bytes"}', b"Content-Type: application/json",
                                         b"User-Agent: \xff\xfe"), {202, 400}),
}


@pytest.mark.parametrize("case", list(BAD_HEADER_CASES))
async def test_malformed_header_bytes_and_encodings_are_4xx_never_5xx(live, case):
    request, allowed = BAD_HEADER_CASES[case]
    answer = await raw_exchange(live, request)
    assert status_of(answer) in allowed, answer[:400]
    async with aiohttp.ClientSession() as session:
        await post_good(session, live)


async def test_one_undecodable_header_does_not_fail_the_webhooks_committed_with_it(live):
    """Intake commits concurrent webhooks together: one request's bad header bytes must not cost the others."""
    hostile = _raw_post("/webhooks/ups", b'{"x-request-id": "bytes"}', b"Content-Type: application/json",
                        b"X-Request-Id: \xff")
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(raw_exchange(live, hostile),
                                       *(post_good(session, live) for _ in range(5)), return_exceptions=True)
    answer, good = results[0], results[1:]
    failed = [r for r in good if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} of 5 good webhooks refused beside the hostile one: {failed[0]}"
    assert status_of(answer) in (202, 400), answer[:400]


# ---------------------------------------------------------------------------------------------- the end


async def test_zz_server_survived_and_every_good_webhook_became_events(live):
    async with aiohttp.ClientSession() as session:
        if not live.good:  # run alone (-k): still check the server works
            await post_good(session, live)
        async with session.get(f"{live.base}/healthz") as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
        assert live.proc.poll() is None, "the server died"
        deadline = time.monotonic() + 15
        pending = dict(live.good)
        while pending and time.monotonic() < deadline:
            for tn, inbox_id in list(pending.items()):
                async with session.get(f"{live.base}/v1/shipments/ups/{tn}", headers=READER) as resp:
                    if resp.status != 200:
                        continue
                    shipment = await resp.json()
                assert shipment["status"] == "delivered"
                assert [e["status"] for e in shipment["events"]] == ["delivered", "picked_up"]
                assert {e["provenance"]["inbox_id"] for e in shipment["events"]} == {inbox_id}
                del pending[tn]
            if pending:
                await asyncio.sleep(0.1)
        assert not pending, f"{len(pending)} of {len(live.good)} good webhooks have no events: {pending}"
    assert len(live.good) >= 15
    assert live.status()["VmRSS"] < 256 * 1024 * 1024


def test_zz_server_log_has_no_unhandled_errors(live):
    """aiohttp logs the requests its parser refused (400) as errors; anything else at ERROR is a service fault."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", live.log.read_text(errors="replace"))
    faults = [r for r in records if " ERROR " in r.split("\n", 1)[0] and "aiohttp.http_exceptions." not in r]
    assert not faults, f"{len(faults)} unhandled errors in the server log; the first:\n{faults[0][-2500:]}"
