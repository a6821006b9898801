"""FedEx Track API client (OAuth 2.0 client credentials, up to 30 numbers per call).

`POST /track/v1/trackingnumbers` answers a whole batch in one document:
unknown numbers come back inside it as `trackResults[].error` (NOTFOUND),
which the `fedex.track_json` parser reports as carrier errors, so a batch is
one PollDocument naming all its numbers.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from .base import PollDocument
from .oauth import OAuthCarrierClient

BASE_URL = "https://apis.fedex.com"  # sandbox: https://apis-sandbox.fedex.com


class FedexClient(OAuthCarrierClient):
    carrier = "fedex"
    default_base_url = BASE_URL
    batch_size = 30  # FedEx's documented maximum of trackingInfo entries per request
    token_path = "/oauth/token"
    token_style = "form"

    def __init__(self, session: aiohttp.ClientSession | None = None, *, base_url: str = BASE_URL,
                 **kwargs: Any) -> None:
        super().__init__(session, base_url=base_url, **kwargs)

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        batch = self._batch(numbers)
        if not batch:
            return []
        body = orjson.dumps({"includeDetailedScans": True,
                             "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in batch]})
        headers = {"Content-Type": "application/json", "Accept": "application/json", "X-locale": "en_US",
                   "x-customer-transaction-id": uuid.uuid4().hex}
        resp = await self.authorized("POST", f"{self.base_url}/track/v1/trackingnumbers", headers=headers,
                                     data=body)
        return [self.document(resp, batch)]
