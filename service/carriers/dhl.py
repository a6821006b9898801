"""DHL Shipment Tracking - Unified API client (API key header, one number per call).

`GET /track/shipments?trackingNumber=n` with `DHL-API-Key`. The API takes a
single `trackingNumber` (no documented list form), hence batch_size 1. An
unknown number is HTTP 404 with an RFC 7807 problem document, kept as a
document: the `dhl.unified_json` parser reports it as a carrier error. There
is no token to refresh: a 401 is AuthFailed at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from .base import DEFAULT_TIMEOUT, HttpCarrierClient, PollDocument

BASE_URL = "https://api-eu.dhl.com"


class DhlClient(HttpCarrierClient):
    carrier = "dhl"
    default_base_url = BASE_URL
    batch_size = 1
    required = ("api_key",)

    def __init__(self, session: aiohttp.ClientSession | None = None, *, api_key: str, base_url: str = BASE_URL,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(session, base_url=base_url, timeout=timeout, **kwargs)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"DhlClient(base_url={self.base_url!r})"

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        batch = self._batch(numbers)
        if not batch:
            return []
        resp = await self.request("GET", f"{self.base_url}/track/shipments", params={"trackingNumber": batch[0]},
                                  headers={"DHL-API-Key": self._api_key, "Accept": "application/json"})
        return [self.document(resp, batch)]
