"""Every API input checked: unknown carriers, filter values, fields, parameters, cursors and ids are refused
with the field named, as RFC 9457 problems; every list pages with `after` / `next` / `has_more`.

Through the HTTP API on both stores (the cursors and filters are queries of the store adapters).
"""
from __future__ import annotations


import pytest

from service.app import create_app
from service.config import SOURCES, Settings
from service.core.addresses import is_single_address
from service.keys import ACTIONS, STORE
from tests.docs import ups_track
from tests.settling import normalized

ADMIN = {"Authorization": "Bearer admin"}
CS = {"Authorization": "Bearer cs"}
API = {"Authorization": "Bearer oms"}
JSON = {"Content-Type": "application/json"}
PROBLEM = "urn:carrier-events:problem:"


@pytest.fixture
async def client(aiohttp_client, db: str, tmp_path):
    settings = Settings(db=db, admin_token="admin", cs_token="cs", api_token="oms", read_token="read",
                        open_sources=frozenset(SOURCES), poll=False, notify_file=str(tmp_path / "sent.jsonl"))
    return await aiohttp_client(create_app(settings))


async def settle(client) -> None:
    await normalized(client)
    await client.app[ACTIONS].act()  # escalations for the new events


async def problem(resp, status: int, code: str, field: str | None = None) -> dict:
    body = await resp.json()
    assert resp.status == status and resp.content_type == "application/problem+json", (resp.status, body)
    assert body["type"] == PROBLEM + code and body["status"] == status, body
    assert body["error"] == body["detail"] and body["title"], body  # `error` kept for API 1.x clients
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


async def test_a_misspelt_carrier_is_refused_everywhere_with_the_field_named(client):
    body = await problem(await client.post("/v1/trackings", json={"tracking_number": "794612378800",
                                                                  "carrier": "fedx"}, headers=API),
                         422, "unknown-carrier", "body.carrier")
    assert "fedex" in body["candidates"] and "did you mean fedex" in body["error"]
    await problem(await client.post("/v1/trackings", json={"tracking_number": "794612378800", "carrier": "easypost"},
                                    headers=API), 422, "unknown-carrier", "body.carrier")  # an aggregator
    bulk = await client.post("/v1/trackings/bulk", json={"trackings": [
        {"tracking_number": "794612378800", "carrier": "fedx"}, {"tracking_number": "794612378800",
                                                                 "carrier": "fedex"}]}, headers=API)
    results = (await bulk.json())["results"]
    assert [r["status"] for r in results] == [422, 201] and "fedx" in results[0]["error"]
    await problem(await client.get("/v1/trackings?carrier=fedx", headers=API), 400, "unknown-carrier",
                  "query.carrier")
    await problem(await client.get("/v1/trackings/fedx/794612378800", headers=API), 400, "unknown-carrier",
                  "path.carrier")
    await problem(await client.get("/v1/escalations?carrier=ups,fedx", headers=CS), 400, "unknown-carrier",
                  "query.carrier")
    await problem(await client.get("/v1/shipments/fedx/794612378800", headers={"Authorization": "Bearer read"}),
                  400, "unknown-carrier", "path.carrier")
    await problem(await client.post("/v1/admin/replay", json={"carrier": "fedx"}, headers=ADMIN), 422,
                  "invalid-field", "body.carrier")


async def test_filter_values_parameters_and_cursors_are_checked(client):
    await problem(await client.get("/v1/escalations?state=bogus", headers=CS), 400, "invalid-parameter",
                  "query.state")
    for query, field in (("severity=urgent", "severity"), ("exception_class=lost,nope", "exception_class"),
                         ("active=maybe", "active"), ("limit=ten", "limit"), ("after=-3", "after"),
                         ("after=abc", "after"), ("after=999999999", "after"), ("sort=severity", "sort")):
        await problem(await client.get(f"/v1/escalations?{query}", headers=CS), 400, "invalid-parameter",
                      f"query.{field}")
    assert (await client.get("/v1/escalations?state=open,resolved&severity=critical&active=true",
                             headers=CS)).status == 200
    for path, field in (("/v1/admin/dlq?after=x", "after"), ("/v1/admin/dlq?cursor=1", "cursor"),
                        ("/v1/admin/unmapped?after=1e3", "after"), ("/v1/admin/dlq?after=99999999999999999999",
                                                                    "after")):
        await problem(await client.get(path, headers=ADMIN), 400, "invalid-parameter", f"query.{field}")
    for path, field in (("/v1/trackings?after=nonsense", "after"), ("/v1/trackings?after=fedx/1", "after"),
                        ("/v1/trackings?page=2", "page")):
        await problem(await client.get(path, headers=API), 400, "invalid-parameter", f"query.{field}")
    await problem(await client.get("/v1/events?after=12abc", headers={"Authorization": "Bearer read"}), 400,
                  "invalid-parameter", "query.after")


async def test_unknown_fields_and_wrong_types_in_bodies_are_named(client):
    await problem(await client.post("/v1/trackings", json={"tracking_number": "1Z999AA10123456784",
                                                           "carrier": "ups", "colour": "red"}, headers=API),
                  422, "invalid-field", "body.colour")
    await problem(await client.post("/v1/trackings", json={"tracking_number": 1234567890}, headers=API),
                  422, "invalid-field", "body.tracking_number")
    await problem(await client.post("/v1/trackings", data=b"[]", headers={**API, **JSON}), 400, "invalid-body",
                  "body")
    await problem(await client.post("/v1/trackings/bulk", json={"trackings": [], "x": 1}, headers=API), 422,
                  "invalid-field", "body.x")
    for body, field in (({"states": 5}, "body.states"), ({"limit": "5"}, "body.limit"), ({"dry_run": 1}, "body.dry_run"),
                        ({"since": []}, "body.since"), ({"nonsense": 1}, "body.nonsense")):
        await problem(await client.post("/v1/admin/replay", json=body, headers=ADMIN), 422, "invalid-field", field)
    for body in (b"[]", b'"x"', b"5", b"null", b"{"):
        await problem(await client.post("/v1/admin/replay", data=body, headers={**ADMIN, **JSON}), 400,
                      "invalid-body", "body")


async def test_ids_beyond_64_bits_or_not_numbers_are_400s(client):
    for raw in ("18446744073709551616", "9223372036854775808", "abc", "0", "-1", "1.5"):
        await problem(await client.post(f"/v1/admin/dlq/{raw}/replay", headers=ADMIN), 400, "invalid-parameter",
                      "path.id")
        await problem(await client.get(f"/v1/escalations/{raw}", headers=CS), 400, "invalid-parameter", "path.id")
        await problem(await client.post(f"/v1/escalations/{raw}/resolve", json={"by": "ana"}, headers=CS), 400,
                      "invalid-parameter", "path.id")
    await problem(await client.get("/v1/escalations/9223372036854775807", headers=CS), 404, "not-found")
    await problem(await client.post("/v1/admin/dlq/9223372036854775807/replay", headers=ADMIN), 404, "not-found")


async def test_escalation_bodies_of_the_wrong_type_are_named(client):
    doc = ups_track("1Z999AA10123456784", [("origin", "20260301", "180000"), ("lost", "20260302", "090000")])
    assert (await client.post("/webhooks/ups", data=doc, headers=JSON)).status == 202
    await settle(client)
    [case] = (await (await client.get("/v1/escalations", headers=CS)).json())["items"]
    url = f"/v1/escalations/{case['id']}"
    for body, field in (({"by": 5}, "body.by"), ({"note": {"a": 1}}, "body.note"), ({"assignee": ["x"]},
                                                                                     "body.assignee"),
                        ({"who": "ana"}, "body.who")):
        await problem(await client.post(f"{url}/acknowledge", json=body, headers=CS), 422, "invalid-field", field)
    await problem(await client.post(f"{url}/assign", json={"by": "ana"}, headers=CS), 422, "invalid-field",
                  "body.assignee")
    await problem(await client.post(f"{url}/resolve", data=b"[1]", headers={**CS, **JSON}), 400, "invalid-body")
    resp = await client.post(f"{url}/acknowledge", json={"by": "ana", "note": "on it"}, headers=CS)
    assert resp.status == 200 and (await resp.json())["state"] == "acknowledged"


async def test_every_list_pages_with_next_and_has_more(client):
    for i in range(3):  # three quarantined documents, three escalations, three unknown codes
        assert (await client.post("/webhooks/generic", data=b"\x00junk %d" % i,
                                  headers={"Content-Type": "text/plain"})).status == 202
        tn = f"1ZPAGE{i:012d}"
        assert (await client.post("/webhooks/ups", data=ups_track(tn, [("lost", "20260302", "090000")]),
                                  headers=JSON)).status == 202
        body = ups_track(tn, [("origin", "20260301", "180000")]).replace(b'"OR"', b'"Q%d"' % i)
        assert (await client.post("/webhooks/ups", data=body, headers=JSON)).status == 202
        assert (await client.post("/v1/trackings", json={"tracking_number": tn, "carrier": "ups"},
                                  headers=API)).status == 201
    await settle(client)
    for path, headers in (("/v1/admin/dlq", ADMIN), ("/v1/escalations", CS), ("/v1/admin/unmapped", ADMIN),
                          ("/v1/trackings", API)):
        seen, cursor, pages = [], None, 0
        while True:
            query = {"limit": "2", **({"after": cursor} if cursor else {})}
            page = await (await client.get(path, params=query, headers=headers)).json()
            pages += 1
            seen += [item.get("id") or item.get("code") or item.get("tracking_number") for item in page["items"]]
            assert page["has_more"] is (page["next"] is not None), page
            if not page["has_more"]:
                break
            cursor = page["next"]
        assert pages == 2 and len(seen) == 3 and len(set(seen)) == 3, (path, seen)
    first = await (await client.get("/v1/events?limit=1", headers={"Authorization": "Bearer read"})).json()
    assert first["has_more"] is True and isinstance(first["next"], int)


@pytest.mark.parametrize("email", ["x>,<someone@else.example", "Jane <jane@example.com>", "a@b.example, c@d.example",
                                   "a@b", "a@@b.example", "a b@example.com", "<a@b.example>", "a@b.example\nBcc: c@d.e",
                                   "\u00e9l\u00e8ve@example.com", "a@-b.example", "a" * 65 + "@example.com"])
async def test_customer_email_must_be_one_bare_address(client, email):
    body = {"tracking_number": "1Z999AA10123456784", "carrier": "ups", "customer": {"email": email}}
    await problem(await client.post("/v1/trackings", json=body, headers=API), 422, "invalid-field",
                  "body.customer.email")
    bulk = await (await client.post("/v1/trackings/bulk", json={"trackings": [body]}, headers=API)).json()
    assert bulk["results"][0]["status"] == 422
    assert (await client.get("/v1/trackings/ups/1Z999AA10123456784", headers=API)).status == 404  # nothing stored


def test_single_address_rule():
    for good in ("jeanne@example.com", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "x@a-b.example"):
        assert is_single_address(good), good
    for bad in ("x>,<someone@else.example", "a@b.example,c@d.example", "a@b", "", "a.@b.example", ".a@b.example",
                "a..b@example.com", "a@b..example"):
        assert not is_single_address(bad), bad


async def test_documented_non_error_bodies_of_a_503_are_kept(client, monkeypatch):
    async def failing() -> bool:
        return False

    monkeypatch.setattr(client.app[STORE], "writable", failing)
    resp = await client.get("/readyz")
    assert resp.status == 503 and resp.content_type == "application/json"
    assert (await resp.json())["ready"] is False and (await resp.json())["store"] == "failing"
