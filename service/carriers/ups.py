"""UPS Track API client (OAuth 2.0 client credentials, one inquiry number per call).

`GET /api/track/v1/details/{inquiryNumber}`: UPS answers an unknown number
with HTTP 200 and a `TW0001` warning (its spec promises 404; both are kept as
documents), which the `ups.track_json` parser reports as a carrier error.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from .base import PollDocument
from .oauth import OAuthCarrierClient

BASE_URL = "https://onlinetools.ups.com"  # CIE (test): https://wwwcie.ups.com


class UpsClient(OAuthCarrierClient):
    carrier = "ups"
    default_base_url = BASE_URL
    batch_size = 1
    token_path = "/security/v1/oauth/token"
    token_style = "basic"

    def __init__(self, session: aiohttp.ClientSession | None = None, *, base_url: str = BASE_URL,
                 transaction_src: str = "carrier-events", **kwargs: Any) -> None:
        super().__init__(session, base_url=base_url, **kwargs)
        self._transaction_src = transaction_src

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        batch = self._batch(numbers)
        if not batch:
            return []
        url = f"{self.base_url}/api/track/v1/details/{quote(batch[0], safe='')}"
        # transId: unique per request, at most 32 characters; transactionSrc: who is calling.
        headers = {"transId": uuid.uuid4().hex, "transactionSrc": self._transaction_src,
                   "Accept": "application/json"}
        resp = await self.authorized("GET", url, headers=headers, params={"locale": "en_US"})
        return [self.document(resp, batch)]
