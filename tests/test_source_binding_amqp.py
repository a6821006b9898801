"""Sources bound to carriers in RabbitMQ mode: the consumer quarantines a FedEx document that came in on UPS's
source and publishes nothing for it; the same document on FedEx's source is published (see
tests/test_source_binding.py for the embedded mode)."""
from __future__ import annotations

from service.keys import STORE
from tests.test_amqp_support import (  # noqa: F401 - fixtures
    aiohttp_client, broker, client, eventually, settings, subscriber, topology)
from tests.test_source_binding import FEDEX, FEDEX_TN

JSON = {"Content-Type": "application/json"}


async def test_a_misdirected_document_is_quarantined_and_never_published(client, subscriber):
    resp = await client.post("/webhooks/ups", data=FEDEX, headers=JSON)
    assert resp.status == 202
    row = int((await resp.json())["id"])
    store = client.app[STORE]

    async def quarantined() -> bool:
        return (await store.inbox_rows([row]))[0].state == "quarantined"

    await eventually(quarantined, 15, lambda: "the misdirected document was not quarantined")
    [stored] = await store.inbox_rows([row])
    assert stored.reason.startswith("source_mismatch: webhook source ups accepts ups documents only")
    assert await store.shipment("fedex", FEDEX_TN) is None

    assert (await client.post("/webhooks/fedex", data=FEDEX, headers=JSON)).status == 202
    messages = await subscriber.wait_for(1)
    assert {m["event"]["data"]["event"]["carrier"] for m in messages} == {"fedex"}
    assert all(m["event"]["data"]["event"]["provenance"]["inbox_id"] != str(row) for m in messages)
