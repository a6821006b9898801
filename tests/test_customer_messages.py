"""Customer messages follow the shipment, not the scan: one message per shipment per document, fresh news only.

Through the webhook intake, the real normalizer and the actions stage as in
`serve`, on both backends (the `db` fixture); messages are observed on the
file channel, as a merchant's integration would read them.
"""
from __future__ import annotations

from pathlib import Path

from service.keys import STORE
from tests.reading import READER
from tests.test_actions import (TN, client, escalations, post, register, scan, sent,  # noqa: F401 - fixtures
                                settings, ups)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ups_track_json" / "in_transit_address_then_weather.json"
JANUARY_TN = "1Z8E2A470392553018"

IN_TRANSIT = scan("I", "DP", "Departed from Facility", 9)
OUT_FOR_DELIVERY = scan("I", "OT", "Out For Delivery Today", 5)
ATTEMPT = scan("X", "48", "The receiver was not available for delivery. We'll make a second attempt the next "
               "business day.", 2)


async def test_a_january_2025_document_posted_today_tells_the_customer_nothing(client, settings):
    """Scans of January 2025: a delay, an address problem UPS corrected in the same document. History, not news."""
    await register(client, JANUARY_TN)
    await post(client, FIXTURE.read_bytes())
    assert sent(settings) == []
    assert await client.app[STORE].notifications_for("ups", JANUARY_TN) == []
    shipment = await (await client.get(f"/v1/shipments/ups/{JANUARY_TN}", headers=READER)).json()
    assert (shipment["status"], shipment["exception_class"]) == ("exception", "weather_delay")
    # customer service still looks at old events: the delay waits for CS, the corrected address was resolved
    assert sorted((e["exception_class"], e["state"]) for e in await escalations(client)) == [
        ("address_issue", "resolved"), ("weather_delay", "waiting")]


async def test_a_fresh_three_scan_document_is_one_message_about_the_attempt(client, settings):
    await register(client)
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT]))
    [note] = sent(settings)
    assert (note["template"], note["recipient"]["email"]) == ("delivery_attempted", "ada@example.com")
    assert "second attempt" in note["text"]
    rows = await client.app[STORE].notifications_for("ups", TN)
    assert [(r["template"], r["state"]) for r in rows] == [("delivery_attempted", "sent")]


async def test_the_same_document_again_and_a_scan_without_news_send_nothing_more(client, settings):
    await register(client)
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT]))
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT]))  # a retry: duplicates
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT, scan("I", "AR", "Arrived at Facility", 1)]))
    assert [n["template"] for n in sent(settings)] == ["delivery_attempted"]


async def test_a_problem_cleared_in_the_same_fresh_document_is_not_told(client, settings):
    await register(client)
    address = scan("X", "ZR", "The address is incomplete. This may delay delivery.", 8)
    corrected = scan("I", "AC", "The address has been corrected.", 7)
    await post(client, ups(TN, [IN_TRANSIT, address, corrected]))
    assert sent(settings) == []
    [escalation] = await escalations(client)
    assert (escalation["exception_class"], escalation["state"]) == ("address_issue", "resolved")


async def test_messages_of_two_documents_go_out_in_occurred_order(client, settings):
    await register(client)
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY]))
    await post(client, ups(TN, [IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT, scan("D", "FS", "Delivered", 1)]))
    assert [n["template"] for n in sent(settings)] == ["out_for_delivery", "delivered"]


async def test_an_unsent_message_about_an_older_state_is_superseded_by_the_newer_one(db):
    """In the store, without the stage's own loop: two documents acted on before anything is sent."""
    from service import normalizer
    from service.actions.policy import load_policy
    from service.rows import Tracking
    from service.store import Incoming, open_store

    store = open_store(db)
    await store.open()
    try:
        await store.start_actions()
        await store.register([Tracking("ups", TN, "SO-7", {"email": "ada@example.com"}, "en")])
        policy = load_policy()
        for scans in ([IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT], [IN_TRANSIT, scan("D", "FS", "Delivered", 1)]):
            [accepted] = await store.accept([Incoming("ups", ups(TN, scans), "application/json", {})])
            await normalizer.process(store, await store.inbox_rows([accepted.id]))
            await store.act(policy, 200)
        rows = {r["template"]: r for r in await store.notifications_for("ups", TN)}
        assert (rows["delivered"]["state"], rows["delivery_attempted"]["state"]) == ("pending", "suppressed")
        assert "superseded by a later state" in rows["delivery_attempted"]["reason"]
        assert [n.template for n in await store.claim_notifications()] == ["delivered"]
    finally:
        await store.close()
