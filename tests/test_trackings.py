"""`/v1/trackings`: registration with carrier detection, metadata updates, bulk, paging, deregistration, auth."""
from __future__ import annotations


import pytest

from service.app import create_app
from service.config import Settings
from service.web.bodies import BulkResults, TrackingList, TrackingRecord, TrackingRefused

API = {"Authorization": "Bearer oms-token"}
UPS = "1Z999AA10123456784"


@pytest.fixture
async def client(aiohttp_client, db: str):
    return await aiohttp_client(create_app(Settings(db=db, api_token="oms-token",
                                                    admin_token="admin-token")))


async def register(client, body: dict, headers: dict = API):
    resp = await client.post("/v1/trackings", json=body, headers=headers)
    return resp.status, await resp.json()


async def test_register_detects_the_carrier_and_keeps_the_metadata(client):
    status, body = await register(client, {
        "tracking_number": "1z 999 aa1 01 2345 6784", "order_id": "SO-1001", "locale": "fr-CA",
        "customer": {"name": "Jeanne Tremblay", "email": "jeanne@example.com", "phone": "+1 514 555 0100"}})
    assert status == 201
    record = TrackingRecord.model_validate(body)
    assert (record.carrier, record.tracking_number, record.carrier_detected) == ("ups", UPS, True)
    assert record.customer["email"] == "jeanne@example.com" and record.poll and record.poll_state == "scheduled"
    assert record.next_poll_at is not None  # due now: the first poll is not delayed


async def test_registering_again_updates_only_what_is_given(client):
    await register(client, {"tracking_number": UPS, "order_id": "SO-1", "customer": {"name": "A. Buyer"}})
    status, body = await register(client, {"tracking_number": UPS, "customer": {"email": "a@example.com"},
                                           "poll": False})
    assert status == 200
    assert body["order_id"] == "SO-1" and body["customer"] == {"name": "A. Buyer", "email": "a@example.com"}
    assert (body["poll"], body["poll_state"], body["next_poll_at"]) == (False, "off", None)
    status, body = await register(client, {"tracking_number": UPS, "poll": True})
    assert (body["poll_state"], body["next_poll_at"] is not None) == ("scheduled", True)


@pytest.mark.parametrize(("number", "fits"), [
    ("1Z999AA10123456785", []),  # UPS shape, wrong check digit
    ("hello-world", []),
])
async def test_numbers_no_format_fits_are_refused_not_guessed(client, number, fits):
    status, body = await register(client, {"tracking_number": number})
    assert status == 422 and TrackingRefused.model_validate(body).candidates == fits
    assert "give the carrier" in body["error"]


async def test_an_ambiguous_number_is_refused_with_its_candidates(client):
    number = "9261290100130436500006"  # IMpb 92: USPS, or FedEx Ground Economy
    status, body = await register(client, {"tracking_number": number})
    assert status == 422 and body["candidates"] == ["usps", "fedex"] and "several" in body["error"]
    status, body = await register(client, {"tracking_number": number, "carrier": body["candidates"][0]})
    assert status == 201 and body["carrier_detected"] is False


async def test_invalid_bodies_get_422_or_400(client):
    assert (await register(client, {"tracking_number": UPS, "customer": {"email": "not-an-address"}}))[0] == 422
    assert (await register(client, {"tracking_number": UPS, "surprise": 1}))[0] == 422
    assert (await register(client, {"tracking_number": UPS, "carrier": "UPS!"}))[0] == 422
    resp = await client.post("/v1/trackings", data=b"[1, 2]", headers=API)
    assert resp.status == 400
    resp = await client.post("/v1/trackings", data=b"{nope", headers=API)
    assert resp.status == 400


async def test_bulk_answers_each_item_and_stores_the_valid_ones(client):
    await register(client, {"tracking_number": UPS})
    resp = await client.post("/v1/trackings/bulk", headers=API, json={"trackings": [
        {"tracking_number": UPS, "order_id": "SO-9"},
        {"tracking_number": "EE123456785US"},
        {"tracking_number": "nothing-fits"},
        {"tracking_number": "738488882438", "carrier": "fedex"},
        {"tracking_number": 42}]})
    results = BulkResults.model_validate(await resp.json()).results
    assert [r.status for r in results] == [200, 201, 422, 201, 422]
    assert (results[1].carrier, results[1].carrier_detected) == ("usps", True)
    assert (await client.get("/v1/trackings/usps/EE123456785US", headers=API)).status == 200
    too_many = await client.post("/v1/trackings/bulk", headers=API, json={"trackings": [{}] * 1001})
    assert too_many.status == 422


async def test_listing_pages_and_deregistering(client):
    numbers = [f"1ZTEST{i:012d}" for i in range(5)]
    await client.post("/v1/trackings/bulk", headers=API,
                      json={"trackings": [{"tracking_number": n, "carrier": "ups"} for n in numbers]})
    await register(client, {"tracking_number": "738488882438", "carrier": "fedex"})
    seen, cursor = [], None
    while True:
        query = "?limit=2&carrier=ups" + (f"&after={cursor}" if cursor else "")
        page = TrackingList.model_validate(await (await client.get("/v1/trackings" + query, headers=API)).json())
        seen += [i.tracking_number for i in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == numbers
    assert (await client.delete(f"/v1/trackings/ups/{numbers[0].lower()}", headers=API)).status == 204
    assert (await client.get(f"/v1/trackings/ups/{numbers[0]}", headers=API)).status == 404
    assert (await client.delete(f"/v1/trackings/ups/{numbers[0]}", headers=API)).status == 404


async def test_the_api_needs_a_token_and_is_disabled_without_one(client, aiohttp_client, tmp_path):
    assert (await register(client, {"tracking_number": UPS}, headers={}))[0] == 401
    assert (await register(client, {"tracking_number": UPS}, headers={"Authorization": "Bearer nope"}))[0] == 401
    assert (await register(client, {"tracking_number": UPS},
                           headers={"Authorization": "Bearer admin-token"}))[0] == 201
    bare = await aiohttp_client(create_app(Settings(db=str(tmp_path / "n.db"))))
    assert (await bare.post("/v1/trackings", json={"tracking_number": UPS}, headers=API)).status == 403
    assert (await bare.get("/v1/trackings", headers=API)).status == 403
