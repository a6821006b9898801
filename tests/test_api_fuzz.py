"""Hypothesis fuzz of the admin, CS, trackings, subscriptions and read APIs: 10,000 malformed requests, not one 5xx.

Every request goes over a raw socket, so anything can be in it: Authorization
headers that are not UTF-8 (or not a bearer token at all), ids beyond 64 bits,
negative or not numbers, unknown query parameters and filter values, cursors
that were never given out, bodies of every JSON type (and bodies that are not
JSON). For every answer:

- it came, and its status is below 500;
- a 4xx is an RFC 9457 problem (`application/problem+json`) with `type`,
  `status` equal to the HTTP status, a non-empty `error` and a list `errors`;
- a request without a valid token never gets a 2xx from a protected endpoint.

Violations are collected over the run and reported together with the
exception behind each 5xx; the count of requests is printed. Afterwards the
service still answers and the data set up before the run is intact.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import STORE
from tests.docs import ups_track
from tests.reading import READ_TOKEN
from tests.test_intake_fuzz import _send_raw, crash_recorder
from tests.settling import normalized

BATCH = 20
EXAMPLES = 500  # x BATCH requests: 10,000
TOKENS = {"admin": "fuzz-admin", "cs": "fuzz-cs", "api": "fuzz-api", "read": READ_TOKEN}
TN = "1Z999AA10123456784"

# (method, path template, who may call it). {id}, {carrier}, {tn} and {action} are filled by the generator.
ENDPOINTS = [
    ("GET", "/v1/admin/dlq", "admin"), ("POST", "/v1/admin/dlq/{id}/replay", "admin"),
    ("POST", "/v1/admin/replay", "admin"), ("GET", "/v1/admin/unmapped", "admin"),
    ("GET", "/v1/escalations", "cs"), ("GET", "/v1/escalations/{id}", "cs"),
    ("POST", "/v1/escalations/{id}/{action}", "cs"),
    ("POST", "/v1/trackings", "api"), ("POST", "/v1/trackings/bulk", "api"), ("GET", "/v1/trackings", "api"),
    ("GET", "/v1/trackings/{carrier}/{tn}", "api"), ("DELETE", "/v1/trackings/{carrier}/{tn}", "api"),
    ("GET", "/v1/events", "read"), ("GET", "/v1/shipments/{carrier}/{tn}", "read"), ("GET", "/openapi.json", "read"),
    ("POST", "/v1/subscriptions", "api"), ("GET", "/v1/subscriptions", "api"),
    ("GET", "/v1/subscriptions/{sub}", "api"),
    ("PATCH", "/v1/subscriptions/{sub}", "api"), ("DELETE", "/v1/subscriptions/{sub}", "api"),
    ("POST", "/v1/subscriptions/{sub}/{sub_action}", "api"), ("GET", "/v1/subscriptions/{sub}/deliveries", "api"),
]
SUB_ACTIONS = ["rotate-secret", "test", "redeliver", "replay"]
# Subscription ids: malformed ones and an unknown one; REAL_SUBS: those `_populate` created.
SUBS = ["sub_" + "0" * 24, "sub_" + "A" * 24, "sub_", "sub_%00", "1", "%FF", "sub_" + "0" * 25]
REAL_SUBS: list[str] = []
URLS = ["https://93.184.215.14/hook", "http://127.0.0.1:1/hook", "http://169.254.169.254/", "http://[::1]/",
        "ftp://93.184.215.14/", "https://u:p@93.184.215.14/", "http://10.0.0.1/", "http:///x", "https://[zz]/",
        "http://93.184.215.14:99999/", "\u0000"]
ACCEPTS = {"admin": {"admin"}, "cs": {"cs", "admin"}, "api": {"api", "admin"},
           "read": {"read", "admin", "api", "cs"}}
IDS = ["1", "2", "0", "-1", "18446744073709551616", "9223372036854775807", "9223372036854775808", "1e3", "abc",
       "%00", "%F0%9F%98%80", "99999999999999999999999999999999999999", "0x10", "1.5", "%201", "%20"]
CARRIERS = ["ups", "UPS", "fedex", "fedx", "easypost", "generic", "%C3%A9", "a" * 300, "..", "%2F", "dhl_parcel_de"]
NUMBERS = [TN, "NOPE", "", "%00", "x" * 500, "1Z%20999", "%FF", "%ED%A0%80", "%C3%A9"]
QUERY_NAMES = ["after", "limit", "state", "severity", "exception_class", "carrier", "owner_role", "tracking_number",
               "assignee", "active", "cursor", "offset", "x", "%FF", "limit[]"]
# Values up to 3,000 characters: a longer request line is refused by aiohttp's parser (a plain-text 400) before
# any handler sees it.
QUERY_VALUES = ["", "1", "-5", "abc", "100000000000000000000000", "open", "bogus", "ups", "fedx", "true", "maybe",
                "open,resolved", "open,,x", "%00", "%FF%FE", "x" * 300, "ups/1Z", "ups/", "ups/%FF", "ups/%ED%A0%80",
                "9" * 3000, "sub_" + "0" * 24, "3_2026-03-01T12:00:00Z", "3_%FF", "_2026-03-01T12:00:00Z",
                "9999999999999999999_2026-03-01T12:00:00Z", "1_0001-01-01T00:00:00%2B01:00"]
AUTH_VALUES: list[bytes] = [b"Bearer " + t.encode() for t in TOKENS.values()] + [
    b"", b"Bearer", b"Bearer ", b"Bearer wrong", b"bearer fuzz-admin", b"Basic Zm9vOmJhcg==",
    b"Bearer \xff\xfe\xfd", b"\xc3\x28", b"Bearer fuzz-admin\xe9", b"Bearer " + b"A" * 5000, b"\x80abc"]
FIELD_NAMES = ["states", "source", "carrier", "since", "until", "reason", "limit", "dry_run", "by", "assignee", "note",
               "tracking_number", "order_id", "customer", "locale", "merchant", "poll", "trackings", "email", "extra",
               "url", "filter", "description", "enabled", "from", "overlap_seconds", "event_id", "after"]
EMAILS = ["x>,<someone@else.example", "a@b.example", "Jane <jane@example.com>", "a@b", "a@@b.example",
          "a@b.example,c@d.example", "\u00e9@example.com", "a" * 300 + "@example.com"]


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**64, -(2**70), 10**30, 3])
    if kind == 3:
        return rng.choice([1.5, -0.0, 1e308])
    if kind == 4:
        return rng.choice(["", "ups", "fedx", "quarantined", "done", "2026-01-01", "yesterday", "open", "x" * 2000,
                           "\u0000", "2026-03-01T00:00:00Z", "beginning", "#", "*.*.ups", *EMAILS, *URLS])
    if kind == 5:
        return rng.choice(QUERY_VALUES)
    if kind == 6:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(FIELD_NAMES): _json_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _body(rng: random.Random, path: str = "") -> bytes | None:
    kind = rng.randrange(10)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([b"{", b"not json", b"\xff\xfe{}", b"[1,2", b"null", b"1e99999", b'{"a":1}garbage'])
    if path.startswith("/v1/subscriptions") and kind < 7:  # mostly objects, to reach the routes' checks
        return json.dumps(_subscription_body(rng, path)).encode()  # the standard library: integers beyond 64 bits
    if kind == 2:  # plausible bodies with one field gone wrong
        good = rng.choice([{"tracking_number": TN, "carrier": "ups"},
                           {"tracking_number": TN, "customer": {"email": rng.choice(EMAILS)}},
                           {"trackings": [{"tracking_number": TN, "carrier": rng.choice(CARRIERS)}]},
                           {"states": rng.choice([["done"], "quarantined", 5, [None]]), "dry_run": True},
                           {"by": rng.choice(["ana", 5, None, ["x"]]), "assignee": rng.choice(["bo", {}, 7])}])
        return orjson.dumps(good)
    return json.dumps(_json_value(rng)).encode()  # the standard library's: integers beyond 64 bits too


def _subscription_body(rng: random.Random, path: str) -> dict:
    """A subscription body: one the route accepts whole, or a few fields each plausible or gone wrong."""
    if rng.random() < 0.4:
        route = path.rsplit("/", 1)[-1]
        valid = {"subscriptions": [{"url": URLS[0], "filter": ["delivered.#"]}, {"url": URLS[0], "from": "beginning"}],
                 "rotate-secret": [{"overlap_seconds": 60}, {}],
                 "replay": [{"after": 0}, {"since": "2026-03-01T00:00:00Z"}],
                 "redeliver": [{"event_id": "f" * 32}], "test": [{}]}
        return rng.choice(valid.get(route, [{"enabled": True}, {"description": "OMS", "filter": ["#"]}]))
    choices: dict[str, list] = {
        "url": URLS, "filter": [["#"], ["delivered.#", "*.*.ups"], ["x..y"], "#", [5], ["#"] * 40, [], None],
        "description": ["OMS", None, "x" * 600, 5], "enabled": [True, False, None, "true"],
        "from": ["head", "beginning", "now", None], "overlap_seconds": [0, 86400, 604801, -1, "60", None, 2**70],
        "after": [0, 1, 2**62, 2**63, -1, "1", None],
        "since": ["2026-03-01T00:00:00Z", "2026-03-01", "soon", 5, "0001-01-01T00:00:00+01:00",
                  "9999-12-31T23:59:59-01:00"],
        "event_id": ["f" * 32, "", 5, None, "x" * 300], "secret": ["whsec_x"]}
    names = rng.sample(sorted(choices), rng.randrange(1, 4))
    if rng.random() < 0.5:
        names = ["url", *names]
    return {name: rng.choice(choices[name]) for name in names}


def _request(rng: random.Random, seq: int) -> tuple[bytes, str, bool]:
    """The raw request, the API it targets, and whether it carries a token that API accepts."""
    method, template, api = rng.choice(ENDPOINTS)
    if rng.random() < 0.05:
        method = rng.choice(["PUT", "PATCH", "GET", "POST", "DELETE"])
    path = template.format(id=rng.choice(IDS), carrier=rng.choice(CARRIERS), tn=rng.choice(NUMBERS),
                           action=rng.choice(["acknowledge", "resolve", "assign"]),
                           sub=rng.choice(REAL_SUBS if REAL_SUBS and rng.random() < 0.6 else SUBS),
                           sub_action=rng.choice(SUB_ACTIONS))
    params = rng.randrange(4) if "/v1/subscriptions" not in template or rng.random() < 0.4 else 0
    query = "&".join(f"{rng.choice(QUERY_NAMES)}={rng.choice(QUERY_VALUES)}" for _ in range(params))
    roll = rng.random()  # mostly a token the endpoint accepts, so the fuzz gets past the check into the handler
    if roll < 0.6:
        auth: bytes | None = b"Bearer " + TOKENS[rng.choice(sorted(ACCEPTS[api]))].encode()
    else:
        auth = rng.choice(AUTH_VALUES) if roll < 0.92 else None
    authorized = auth is not None and any(auth == b"Bearer " + TOKENS[who].encode() for who in ACCEPTS[api])
    body = _body(rng, path) if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1 else None
    lines = [f"{method} {path}{'?' + query if query else ''} HTTP/1.1".encode(), b"Host: fuzz",
             b"Connection: close", f"X-Fuzz-Seq: {seq}".encode()]
    if auth is not None:
        lines.append(b"Authorization: " + auth)
    if rng.random() < 0.1:
        lines.append(b"X-Actor: " + rng.choice([b"ana", b"\xff\xfe", b"x" * 300]))
    if body is not None:
        lines += [rng.choice([b"Content-Type: application/json", b"Content-Type: text/plain",
                              b"Content-Type: application/json; charset=latin-1"]),
                  f"Content-Length: {len(body)}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b""), api, authorized


async def _populate(client) -> None:
    """Something for the ids and filters to hit: a shipment with an escalation, a quarantined document, a
    registered tracking."""
    doc = ups_track(TN, [("origin", "20260301", "180000"), ("lost", "20260302", "090000")])
    assert (await client.post("/webhooks/ups", data=doc, headers={"Content-Type": "application/json"})).status == 202
    assert (await client.post("/webhooks/generic", data=b"\x00junk", headers={"Content-Type": "text/plain"})).status \
        == 202
    api = {"Authorization": f"Bearer {TOKENS['api']}"}
    assert (await client.post("/v1/trackings", json={"tracking_number": TN, "carrier": "ups"}, headers=api)).status \
        == 201
    for _ in range(20):  # subscriptions for the ids to hit (many: the fuzz deletes some)
        resp = await client.post("/v1/subscriptions", json={"url": URLS[0], "filter": ["#"]}, headers=api)
        assert resp.status == 201
        REAL_SUBS.append((await resp.json())["id"])
    await normalized(client)


async def test_fuzzed_admin_cs_trackings_subscriptions_and_read_requests_never_get_a_5xx(aiohttp_client,
                                                                                          tmp_path: Path):
    app = create_app(Settings(db=str(tmp_path / "fuzz.db"), admin_token=TOKENS["admin"], cs_token=TOKENS["cs"],
                              api_token=TOKENS["api"], read_token=TOKENS["read"], open_sources=frozenset(SOURCES),
                              sqlite_synchronous="OFF", poll=False, notify_file=str(tmp_path / "sent.jsonl"),
                              webhooks_out=False))
    crashes: dict[str, str] = {}
    app.middlewares.append(crash_recorder(crashes))
    client = await aiohttp_client(app)
    await _populate(client)
    before = await client.app[STORE].shipment("ups", TN)
    port, loop = client.server.port, asyncio.get_running_loop()
    counter = itertools.count()
    sent = 0
    statuses: dict[int | None, int] = defaultdict(int)
    violations: dict[str, list[bytes]] = defaultdict(list)

    async def one(rng: random.Random) -> None:
        nonlocal sent
        seq = next(counter)
        raw, api, authorized = _request(rng, seq)
        answer = await _send_raw(port, raw)
        sent += 1
        statuses[answer.status] += 1
        for problem in _check(answer, api, authorized, crashes.pop(str(seq), None)):
            violations[problem].append(raw[:300])

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.randoms(use_true_random=False))
    def run(rng: random.Random) -> None:
        async def batch() -> None:
            await asyncio.gather(*(one(random.Random(rng.random())) for _ in range(BATCH)))
        asyncio.run_coroutine_threadsafe(batch(), loop).result(timeout=120)

    started = time.monotonic()
    await asyncio.to_thread(run)  # hypothesis drives from a thread; the requests run on this test's loop
    elapsed = time.monotonic() - started
    print(f"\nAPI fuzz: {sent} requests in {elapsed:.1f} s; statuses {dict(sorted(statuses.items(), key=str))}")
    report = "\n".join(f"  [{len(raws)}x] {problem}\n      e.g. {raws[0]!r}"
                       for problem, raws in sorted(violations.items(), key=lambda kv: -len(kv[1])))
    assert sent >= 10_000
    assert not violations, f"{sum(map(len, violations.values()))} violations:\n{report}"
    assert statuses.get(500, 0) == 0 and not any(s is None or s >= 500 for s in statuses)
    assert sum(n for s, n in statuses.items() if s and s < 300) > 500  # the fuzz reached the handlers too
    assert statuses[400] + statuses[422] > 2_000  # and their validation
    assert (await client.get("/healthz")).status == 200
    after = await client.app[STORE].shipment("ups", TN)
    assert after["events"] == before["events"]  # read and refused, never changed


def _check(answer, api: str, authorized: bool, crash: str | None) -> list[str]:
    status = answer.status
    if status is None:
        return [f"no answer ({answer.body[:60]!r})"]
    if status >= 500:
        return [f"status {status}: {crash or answer.body[:120]!r}"]
    found = []
    if status < 300 and not authorized:
        found.append(f"{status} for a {api} endpoint without a valid token")
    if status >= 400:
        if not answer.content_type.startswith("application/problem+json"):
            return found + [f"{status} is {answer.content_type or 'no content type'}, not a problem"]
        try:
            problem = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return found + [f"{status}: problem body is not JSON"]
        if not (isinstance(problem.get("type"), str) and problem["type"].startswith("urn:carrier-events:problem:")):
            found.append(f"{status}: no problem type")
        if problem.get("status") != status:
            found.append(f"{status}: problem says status {problem.get('status')}")
        if not (isinstance(problem.get("error"), str) and problem["error"]) or not isinstance(problem.get("errors"),
                                                                                                 list):
            found.append(f"{status}: no error sentence or errors list")
    return found
