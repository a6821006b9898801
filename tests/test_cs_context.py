"""Customer service sees the customer: an escalation carries the registration (order, customer, merchant),
the carrier's tracking page and the messages already sent; a shipment's messages are readable alone.

Both backends (the `db` fixture), through the HTTP API with the real pipeline, and every body checked against
its published model (tests.test_contracts.documented).
"""
from __future__ import annotations

from service.web.bodies import EscalationDetail, EscalationList, ShipmentNotifications
from tests.reading import READER
from tests.test_actions import (API, ARRIVED, CS, TN, WEATHER, client, escalations, post,  # noqa: F401
                                settings, ups)

OTHER = "1Z999AA10123456795"


async def _register(client, tn: str, **extra) -> None:
    body = {"tracking_number": tn, "carrier": "ups", "order_id": "SO-42", "locale": "en", "merchant": "Example Store",
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+15555550100"}, **extra}
    assert (await client.post("/v1/trackings", json=body, headers=API)).status in (200, 201)


async def test_an_escalation_carries_the_customer_the_tracking_page_and_the_messages_sent(client):
    await _register(client, TN)
    await post(client, ups(TN, [ARRIVED]))
    await post(client, ups(TN, [ARRIVED, WEATHER]))
    [case] = await escalations(client)
    EscalationList.model_validate({"items": [case], "next": None, "has_more": False})
    assert case["order_id"] == "SO-42" and case["merchant"] == "Example Store"
    assert case["customer"] == {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+15555550100"}
    assert case["tracking_url"] and TN in case["tracking_url"]
    [note] = case["notifications"]
    assert (note["template"], note["channel"], note["state"]) == ("delay", "file", "sent")
    assert note["sent_at"] is not None and "recipient" not in note

    detail = await (await client.get(f"/v1/escalations/{case['id']}", headers=CS)).json()
    assert EscalationDetail.model_validate(detail).model_dump(mode="json") == detail
    assert detail["notifications"] == case["notifications"] and detail["customer"] == case["customer"]
    changed = await client.post(f"/v1/escalations/{case['id']}/assign", json={"by": "grace", "assignee": "grace"},
                                headers=CS)
    assert changed.status == 200 and (await changed.json())["order_id"] == "SO-42"

    for headers in (CS, READER):  # the CS console and any reader
        resp = await client.get(f"/v1/shipments/UPS/{TN}/notifications", headers=headers)
        assert resp.status == 200
        body = await resp.json()
        assert ShipmentNotifications.model_validate(body).model_dump(mode="json") == body
        assert body["carrier"] == "ups" and body["items"] == case["notifications"]


async def test_an_unregistered_shipment_has_no_customer_and_its_message_says_why_it_was_not_sent(client):
    await post(client, ups(OTHER, [ARRIVED, WEATHER]))
    [case] = await escalations(client)
    assert (case["order_id"], case["customer"], case["merchant"]) == (None, None, None)
    assert OTHER in case["tracking_url"]
    [note] = case["notifications"]
    assert (note["state"], note["sent_at"]) == ("skipped", None) and "register" in note["reason"]
    resp = await client.get(f"/v1/shipments/ups/{OTHER}/notifications", headers=CS)
    assert resp.status == 200 and (await resp.json())["items"] == [note]
    resp = await client.get(f"/v1/shipments/ups/{TN}/notifications", headers=CS)  # nothing for this one
    assert resp.status == 200 and (await resp.json())["items"] == []


async def test_the_notifications_read_checks_its_token_carrier_and_parameters(client):
    path = f"/v1/shipments/ups/{TN}/notifications"
    assert (await client.get(path)).status == 401
    typo = await client.get(f"/v1/shipments/upz/{TN}/notifications", headers=CS)
    assert typo.status == 400 and typo.content_type == "application/problem+json"
    assert (await typo.json())["errors"][0]["field"] == "path.carrier"
    extra = await client.get(path, params={"limit": "5"}, headers=CS)
    assert extra.status == 400 and (await extra.json())["errors"][0]["field"] == "query.limit"
