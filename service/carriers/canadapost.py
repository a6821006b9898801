"""Canada Post tracking client (HTTP Basic API key pair, one PIN per call).

`GET /vis/track/pin/{pin}/detail` with `Accept: application/vnd.cpc.track-v2+xml`.
An unknown PIN is answered with a `messages` document (code 004, "No Pin
History"), kept as a document: the `canadapost.tracking_xml` parser reports
it as a carrier error. No token: a 401 is AuthFailed at once.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from .base import DEFAULT_TIMEOUT, HttpCarrierClient, PollDocument

BASE_URL = "https://soa-gw.canadapost.ca"  # development: https://ct.soa-gw.canadapost.ca
MEDIA_TYPE = "application/vnd.cpc.track-v2+xml"


class CanadaPostClient(HttpCarrierClient):
    carrier = "canadapost"
    default_base_url = BASE_URL
    batch_size = 1
    required = ("username", "password")
    document_types = ("xml",)

    def __init__(self, session: aiohttp.ClientSession | None = None, *, username: str, password: str,
                 base_url: str = BASE_URL, language: str = "en-CA",
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(session, base_url=base_url, timeout=timeout, **kwargs)
        self._authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._language = language

    def __repr__(self) -> str:
        return f"CanadaPostClient(base_url={self.base_url!r})"

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        batch = self._batch(numbers)
        if not batch:
            return []
        url = f"{self.base_url}/vis/track/pin/{quote(batch[0], safe='')}/detail"
        headers = {"Authorization": self._authorization, "Accept": MEDIA_TYPE, "Accept-Language": self._language}
        resp = await self.request("GET", url, headers=headers)
        return [self.document(resp, batch)]
