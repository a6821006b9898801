"""The published contracts: committed copies current, documents that match the code, real responses that match.

The committed files in `service/published/` are what consumers read and what
`/openapi.json` serves, so every check here is about keeping them honest: the
OpenAPI paths are exactly the app's routes, every response a running app
gives has a documented status and a body its model accepts and reproduces,
and the AsyncAPI names are the topology's.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from service import contracts
from service.amqp.relay import event_properties, raw_properties
from service.amqp.topology import NORMALIZE_KEY, Topology
from service.app import create_app
from service.cli import build_parser
from service.cloudevents import CONTENT_TYPE, CORRECTED_TYPE, EVENT_TYPE, routing_key
from service.config import SOURCES, Settings
from service.contracts import openapi
from service.schema import CONTRACTS
from service.store import InboxRow
from service.web.api import (
    not_found,  # the router's JSON 404/405 for everything else: not an operation
)
from service.web.bodies import BODIES, CloudEvent
from taxonomy import ExceptionClass, NormalizedEvent, Status
from tests.docs import ups_track
from tests.settling import normalized

REGENERATE = "run `python -m service schema --out service/published` and commit service/published/"
DRIFT = ("document it in OPERATIONS (service/contracts/openapi.py), with body models in service/web/bodies.py, "
         "then " + REGENERATE)
MODELS: dict[str, type[BaseModel]] = {m.__name__: m for m in BODIES.values()}
JSON = {"Content-Type": "application/json"}
PROBLEM = {"type", "title", "status", "detail", "error", "errors"}  # RFC 9457, and `error` for API 1.x clients
TN = "1Z999AA10123456784"


def _committed(name: str) -> dict[str, Any]:
    return json.loads((contracts.PUBLISHED / name).read_text("utf-8"))


# --- the committed copies ------------------------------------------------------------------------------------
def test_committed_copies_equal_freshly_generated_ones():
    fresh = contracts.documents()
    committed = sorted(p.name for p in contracts.PUBLISHED.glob("*.json"))
    assert committed == sorted(fresh), f"service/published/ holds other files than the contracts: {REGENERATE}"
    for name, document in fresh.items():
        text = (contracts.PUBLISHED / name).read_text("utf-8")
        assert text == contracts.render(document), f"service/published/{name} is stale: {REGENERATE}"


def test_schema_files_are_the_models_json_schemas():
    for name, model in CONTRACTS.items():
        expected = {**model.model_json_schema(mode="serialization"), "$id": f"urn:carrier-events:schema:{name}"}
        assert _committed(f"{name}.schema.json") == expected, name
    assert set(BODIES) <= set(CONTRACTS)  # every API body is published as a schema of its own


def test_schema_command_writes_the_current_directory_by_default(tmp_path: Path):
    assert build_parser().parse_args(["schema"]).out == "."  # not into the installed package
    (tmp_path / "dropped.v0.schema.json").write_text("{}")
    (tmp_path / "mine.schema.json").write_text("{}")  # not a contract's name: left alone
    written = contracts.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in written] + ["mine.schema.json"])
    assert (tmp_path / "openapi.json").read_text() == (contracts.PUBLISHED / "openapi.json").read_text()


def test_body_models_follow_the_code_they_describe():
    assert CloudEvent.model_fields["type"].annotation.__args__ == (EVENT_TYPE, CORRECTED_TYPE)


# --- OpenAPI against the router ------------------------------------------------------------------------------
def test_every_route_is_documented_and_every_documented_route_exists(tmp_path: Path):
    app = create_app(Settings(db=str(tmp_path / "events.db"), open_sources=frozenset(SOURCES), admin_token="t"))
    routes = {(r.resource.canonical, r.method.lower()) for r in app.router.routes()
              if r.method != "HEAD" and r.resource is not None and r.handler is not not_found}
    documented = {(path, method) for path, ops in openapi.build()["paths"].items() for method in ops}
    assert not routes - documented, f"routes missing from the OpenAPI document: {sorted(routes - documented)}; {DRIFT}"
    assert not documented - routes, f"documented routes the app does not have: {sorted(documented - routes)}"


def test_openapi_references_resolve_and_admin_routes_need_the_token():
    spec = openapi.build()
    text = json.dumps(spec)
    for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert name in spec["components"]["schemas"], name
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/admin/"):
                assert op["security"] == [{"adminToken": []}], (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    webhook = spec["paths"]["/webhooks/{source}"]["post"]
    assert {"202", "400", "401", "404", "408", "413", "415", "429", "503"} <= set(webhook["responses"])
    schemes = spec["components"]["securitySchemes"]
    for requirement in webhook["security"]:
        assert set(requirement) <= set(schemes)
    assert set(webhook["x-default-auth"]) == set(SOURCES)


# --- real responses against the documented bodies ------------------------------------------------------------
async def documented(resp, path: str, method: str) -> Any:
    """The response's body, after checking its status and content type are documented for the operation and,
    for a JSON body with a model, that the model accepts it and dumps it back unchanged (no field unmodelled,
    none spelled differently)."""
    spec = _committed("openapi.json")
    responses = spec["paths"][path][method]["responses"]
    assert str(resp.status) in responses, f"{method.upper()} {path} answered an undocumented {resp.status}"
    content = responses[str(resp.status)]["content"]
    assert resp.content_type in content, f"{method.upper()} {path} {resp.status}: {resp.content_type}"
    if resp.content_type not in ("application/json", "application/problem+json"):
        return await resp.text()
    body = await resp.json()
    ref = content[resp.content_type]["schema"].get("$ref")
    if ref is not None:
        model = MODELS[ref.rsplit("/", 1)[1]]
        assert model.model_validate(body).model_dump(mode="json") == body, (path, resp.status)
    return body


async def settle(client) -> None:
    """Let the embedded normalizers finish what intake stored."""
    await normalized(client)


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path):
    return await aiohttp_client(create_app(Settings(db=str(tmp_path / "events.db"),
                                                    open_sources=frozenset(SOURCES), admin_token="t",
                                                    read_token="r")))


async def test_real_responses_validate_against_the_body_models(client):
    hook, admin = "/webhooks/{source}", {"Authorization": "Bearer t"}
    doc = ups_track(TN, [("label", "20260301", "080000"), ("origin", "20260301", "180000"),
                         ("weather", "20260302", "090000"), ("delivered", "20260303", "141500")])
    accepted = await documented(await client.post("/webhooks/ups", data=doc, headers=JSON), hook, "post")
    again = await documented(await client.post("/webhooks/ups", data=doc, headers=JSON), hook, "post")
    assert again == {"id": accepted["id"], "duplicate": True}
    junk = await documented(await client.post("/webhooks/generic", data=b"\x00 no carrier wrote this",
                                              headers={"Content-Type": "text/plain"}), hook, "post")
    for resp in (await client.post("/webhooks/nosuch", data=doc, headers=JSON),
                 await client.post("/webhooks/ups", data=doc, headers={"Content-Type": "image/png"}),
                 await client.post("/webhooks/ups", data=b"", headers=JSON)):
        assert set(await documented(resp, hook, "post")) == PROBLEM
    await settle(client)

    reader = {"Authorization": "Bearer r"}
    page = await documented(await client.get("/v1/events", params={"after": 0, "limit": 100}, headers=reader),
                            "/v1/events", "get")
    assert len(page["events"]) == 4 and page["next"] > 0 and page["has_more"] is False
    assert {e["data"]["event"]["status"] for e in page["events"]} >= {"exception", "delivered"}
    first = await documented(await client.get("/v1/events", params={"limit": 1}, headers=reader), "/v1/events", "get")
    assert first["has_more"] is True and len(first["events"]) == 1
    await documented(await client.get("/v1/events", params={"after": page["next"]}, headers=reader), "/v1/events",
                     "get")
    for params in ({"after": "x"}, {"cursor": "1"}):  # not a cursor; an unknown parameter
        problem = await documented(await client.get("/v1/events", params=params, headers=reader), "/v1/events", "get")
        assert problem["status"] == 400 and problem["errors"][0]["field"] == f"query.{next(iter(params))}"
    assert (await documented(await client.get("/v1/events"), "/v1/events", "get"))["status"] == 401
    shipment_path = "/v1/shipments/{carrier}/{tracking_number}"
    shipment = await documented(await client.get(f"/v1/shipments/UPS/{TN}", headers=reader), shipment_path, "get")
    assert shipment["status"] == "delivered" and len(shipment["events"]) == 4
    await documented(await client.get("/v1/shipments/ups/NOPE", headers=reader), shipment_path, "get")
    typo = await documented(await client.get(f"/v1/shipments/upz/{TN}", headers=reader), shipment_path, "get")
    assert typo["type"].endswith(":unknown-carrier") and typo["errors"][0]["field"] == "path.carrier"
    await documented(await client.get(f"/v1/shipments/ups/{TN}"), shipment_path, "get")  # 401
    assert await documented(await client.get("/healthz"), "/healthz", "get") == {"status": "ok"}
    assert (await documented(await client.get("/readyz"), "/readyz", "get"))["ready"] is True

    dlq, replay = "/v1/admin/dlq", "/v1/admin/dlq/{id}/replay"
    await documented(await client.get(dlq), dlq, "get")  # no token: 401
    await documented(await client.get(dlq, headers={"Authorization": "Bearer wrong"}), dlq, "get")
    items = (await documented(await client.get(dlq, headers=admin), dlq, "get"))["items"]
    assert [i["id"] for i in items] == [junk["id"]]
    await documented(await client.get(dlq, params={"limit": "many"}, headers=admin), dlq, "get")
    assert (await documented(await client.post(f"/v1/admin/dlq/{junk['id']}/replay", headers=admin), replay,
                             "post"))["state"] == "pending"
    for row in (accepted["id"], "99999", "abc"):  # done (409), missing (404), not a number (400)
        await documented(await client.post(f"/v1/admin/dlq/{row}/replay", headers=admin), replay, "post")
    await settle(client)

    bulk = "/v1/admin/replay"
    dry = await documented(await client.post(bulk, json={"dry_run": True, "states": ["done"]}, headers=admin),
                           bulk, "post")
    assert dry["dry_run"] is True and accepted["id"] in dry["ids"]
    await documented(await client.post(bulk, json={"states": ["quarantined"]}, headers=admin), bulk, "post")
    await documented(await client.post(bulk, json={"nonsense": 1}, headers=admin), bulk, "post")
    await documented(await client.post(bulk, json={"limit": "5"}, headers=admin), bulk, "post")  # 422, named
    await documented(await client.post(bulk, data=b"[1]", headers={**admin, **JSON}), bulk, "post")  # 400
    unmapped = "/v1/admin/unmapped"
    await documented(await client.get(unmapped, headers=admin), unmapped, "get")
    await documented(await client.get(unmapped, params={"after": "-1"}, headers=admin), unmapped, "get")
    assert "# TYPE" in await documented(await client.get("/metrics"), "/metrics", "get")


async def test_refusals_validate_against_the_body_models(aiohttp_client, tmp_path: Path):
    """Responses only a stricter configuration gives: no secret (401), admin API off (403), limits (413, 429)."""
    settings = Settings(db=str(tmp_path / "events.db"), open_sources=frozenset({"generic", "x12"}),
                        max_body_by_source={"generic": 16}, rates={"x12": 0.001})
    client = await aiohttp_client(create_app(settings))
    hook = "/webhooks/{source}"
    body = ups_track(TN, [("label", "20260301", "080000")])
    statuses = []
    # 401 no secret, 413 too large, then the source's rate (charged only for accepted senders): 202, 429
    for source in ("ups", "generic", "x12", "x12"):
        resp = await client.post(f"/webhooks/{source}", data=body, headers=JSON)
        statuses.append(resp.status)
        if resp.status != 202:
            assert set(await documented(resp, hook, "post")) == PROBLEM
    assert statuses == [401, 413, 202, 429]
    resp = await client.get("/v1/admin/dlq", headers={"Authorization": "Bearer t"})
    assert resp.status == 403 and set(await documented(resp, "/v1/admin/dlq", "get")) == PROBLEM


async def test_openapi_json_is_served_as_committed(client):
    assert (await client.get("/openapi.json")).status == 401  # it maps the API: readers only
    resp = await client.get("/openapi.json", headers={"Authorization": "Bearer r"})
    assert resp.status == 200 and resp.content_type == "application/json"
    assert await resp.read() == (contracts.PUBLISHED / "openapi.json").read_bytes()


# --- AsyncAPI against the topology ---------------------------------------------------------------------------
def test_asyncapi_names_match_the_topology():
    doc, t = _committed("asyncapi.json"), Topology.from_settings(Settings(), prefix="")
    channels = doc["channels"]

    def exchange(channel: str) -> dict:
        return channels[channel]["bindings"]["amqp"]["exchange"]

    def queue(channel: str) -> dict:
        return channels[channel]["bindings"]["amqp"]["queue"]

    assert (exchange("shipmentEvents")["name"], exchange("shipmentEvents")["type"]) == (t.events, "topic")
    assert (exchange("rawDocuments")["name"], exchange("rawDocuments")["type"]) == (t.raw, "direct")
    assert channels["rawDocuments"]["address"] == NORMALIZE_KEY
    assert channels["normalizeQueue"]["address"] == queue("normalizeQueue")["name"] == t.normalize
    assert channels["normalizeQueue"]["x-arguments"] == t.normalize_arguments()
    tiers = {channels[c]["address"]: c for c in channels if c.startswith("retry")}
    assert sorted(tiers) == sorted(t.retry_tiers)
    for tier, delay in zip(t.retry_tiers, t.retry_delays_ms):
        channel = tiers[tier]
        assert exchange(channel)["name"] == t.retry and channels[channel]["x-arguments"] == t.retry_arguments(delay)
    assert channels["deadLetters"]["address"] == queue("deadLetters")["name"] == t.dlq and t.dlx in \
        channels["deadLetters"]["title"]
    for op in doc["operations"].values():
        assert op["channel"]["$ref"].removeprefix("#/channels/") in channels


def test_asyncapi_messages_match_what_the_relays_publish():
    doc = _committed("asyncapi.json")
    events = doc["channels"]["shipmentEvents"]
    params = events["parameters"]
    assert params["status"]["enum"] == [s.value for s in Status]
    assert params["exception_class"]["enum"] == [c.value for c in ExceptionClass] + ["none"]
    event = NormalizedEvent.model_validate({
        "event_id": "0" * 32, "carrier": "ups", "tracking_number": TN, "status": "exception",
        "exception_class": "weather_delay", "occurred_at": "2026-03-02T09:00:00Z",
        "occurred_at_local": "2026-03-02T04:00:00-05:00", "time_basis": "location", "description": "Weather",
        "provenance": {"channel": "webhook", "parser": "ups.track_json", "parser_version": "1",
                       "mapped_by": "code"}})
    assert events["address"].format(status="exception", exception_class="weather_delay", carrier="ups") == \
        routing_key(event)
    message = doc["components"]["messages"]["shipmentEvent"]
    props = event_properties(event.event_id)
    assert message["contentType"] == props.content_type == CONTENT_TYPE == doc["defaultContentType"]
    assert message["bindings"]["amqp"]["messageType"] == props.message_type == EVENT_TYPE
    assert message["payload"] == {"$ref": "#/components/schemas/CloudEvent"}
    assert doc["components"]["schemas"]["CloudEvent"] == _committed("openapi.json")["components"]["schemas"][
        "CloudEvent"]
    row = InboxRow(id=7, source="ups", received_at="2026-03-02T09:00:00Z", channel="webhook",
                   content_type="application/json", body=b"{}", state="pending", attempts=0, reason=None)
    headers = doc["components"]["messages"]["rawDocument"]["headers"]
    assert set(raw_properties(row).headers) == set(headers["required"])
