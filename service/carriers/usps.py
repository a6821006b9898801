"""USPS Tracking 3.0 API client (OAuth 2.0 client credentials, one number per call).

`GET /tracking/v3/tracking/{n}?expand=DETAIL`. An unknown number is HTTP 404
with USPS's JSON error body (`apiVersion` + `error`), kept as a document: the
`usps.v3_json` parser reports it as a carrier error.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from .base import PollDocument
from .oauth import OAuthCarrierClient

BASE_URL = "https://apis.usps.com"  # test environment: https://apis-tem.usps.com


class UspsClient(OAuthCarrierClient):
    carrier = "usps"
    default_base_url = BASE_URL
    batch_size = 1
    token_path = "/oauth2/v3/token"
    token_style = "json"

    def __init__(self, session: aiohttp.ClientSession | None = None, *, base_url: str = BASE_URL,
                 **kwargs: Any) -> None:
        super().__init__(session, base_url=base_url, **kwargs)

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        batch = self._batch(numbers)
        if not batch:
            return []
        url = f"{self.base_url}/tracking/v3/tracking/{quote(batch[0], safe='')}"
        resp = await self.authorized("GET", url, headers={"Accept": "application/json"},
                                     params={"expand": "DETAIL"})
        return [self.document(resp, batch)]
