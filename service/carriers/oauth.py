"""OAuth 2.0 client-credentials tokens for UPS, FedEx and USPS: fetched once, shared, renewed early.

Token endpoints are rate limited (and slow) on every carrier, so a token is
kept until `expires_in` minus a safety margin and renewed before it runs out,
never per call; concurrent callers wait for one refresh instead of each asking
(single flight under an asyncio.Lock). A 401 from the API (token revoked or
expired early on the carrier's side) drops that token and retries once with a
fresh one; a second 401 means the credentials themselves are refused.

Neither tokens nor secrets appear in any message, repr or log line.
"""
from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
import orjson

from .base import DEFAULT_TIMEOUT, AuthFailed, CarrierError, HttpCarrierClient, Response

Style = Literal["basic", "form", "json"]
DEFAULT_EXPIRES_IN = 300.0  # when a token answer omits expires_in (RFC 6749 only recommends it)


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # on the cache's clock: already shortened by the safety margin


class TokenCache:
    """One bearer token, renewed `margin` seconds before expiry (at most half its lifetime early).

    `fetch` returns `(access_token, expires_in_seconds)`; `clock` is monotonic
    seconds, injectable so tests can move time.
    """

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], *, margin: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: Token | None = None
        self._refreshes = 0  # completed refresh attempts, successful or not
        self._failure: CarrierError | None = None  # how the last refresh failed
        self.fetches = 0  # token requests made (for tests and metrics)

    def _valid(self) -> Token | None:
        token = self._token
        return token if token is not None and self._clock() < token.expires_at else None

    async def get(self) -> str:
        token = self._valid()
        if token is not None:
            return token.value
        seen = self._refreshes
        async with self._lock:  # single flight: whoever waited here finds the new token
            token = self._valid()
            if token is not None:
                return token.value
            if self._refreshes != seen and self._failure is not None:
                # The refresh this caller waited for failed: share its outcome rather than queue up
                # one more token request per waiting caller (refused credentials, a down endpoint).
                raise self._failure
            started = self._clock()
            self.fetches += 1
            self._failure = None
            try:
                value, expires_in = await self._fetch()
            except CarrierError as exc:
                self._failure = exc
                raise
            finally:
                self._refreshes += 1
            margin = min(self._margin, expires_in / 2)
            self._token = Token(value, started + expires_in - margin)
            return value

    def invalidate(self, value: str) -> None:
        """Forget the token the API refused, unless a concurrent caller already replaced it."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def call(self, send: Callable[[str], Awaitable[Response]]) -> Response:
        """`send(token)`; on a 401 one refresh and one retry; a second 401 is AuthFailed."""
        token = await self.get()
        resp = await send(token)
        if resp.status != 401:
            return resp
        self.invalidate(token)
        resp = await send(await self.get())
        if resp.status == 401:
            raise AuthFailed(f"401 after a token refresh: {resp.text()}")
        return resp


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """How one carrier wants the client-credentials grant sent (RFC 6749 §4.4)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    style: Style  # basic: HTTP Basic + form grant (UPS); form: all in the form (FedEx); json: a JSON body (USPS)

    def request_kwargs(self) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self.style == "json":
            body = orjson.dumps({"grant_type": "client_credentials", "client_id": self.client_id,
                                 "client_secret": self.client_secret})
            headers["Content-Type"] = "application/json"
            return {"data": body, "headers": headers}
        form = {"grant_type": "client_credentials"}
        if self.style == "basic":
            pair = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        # Bytes, not a dict: what is sent is exactly what a cassette filter sees (and scrubs).
        return {"data": urlencode(form).encode(), "headers": headers}


def parse_token(resp: Response) -> tuple[str, float]:
    """`access_token` and `expires_in` (UPS and USPS send it as a string) from a token answer."""
    try:
        data = orjson.loads(resp.body)
    except orjson.JSONDecodeError:
        raise CarrierError("token answer is not JSON") from None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise CarrierError("token answer without access_token")
    raw = data.get("expires_in")
    try:
        expires_in = float(raw) if raw is not None and not isinstance(raw, bool) else DEFAULT_EXPIRES_IN
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    return token, max(expires_in, 1.0)


class OAuthCarrierClient(HttpCarrierClient):
    """A carrier client whose API calls carry `Authorization: Bearer <token>` from a shared TokenCache."""

    required = ("client_id", "client_secret")
    token_path: str
    token_style: Style

    def __init__(self, session: aiohttp.ClientSession | None = None, *, client_id: str, client_secret: str,
                 base_url: str, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic, token_margin: float = 60.0, **kwargs: Any) -> None:
        super().__init__(session, base_url=base_url, timeout=timeout, **kwargs)
        self._credentials = ClientCredentials(self.base_url + self.token_path, client_id, client_secret,
                                              self.token_style)
        self.tokens = TokenCache(self._fetch_token, margin=token_margin, clock=clock)

    async def _fetch_token(self) -> tuple[str, float]:
        resp = await self.request("POST", self._credentials.token_url, **self._credentials.request_kwargs())
        if resp.status == 200:
            return parse_token(resp)
        if resp.status in (400, 401, 403):  # invalid_client / invalid_grant / unauthorized_client
            raise AuthFailed(f"token request refused ({resp.status}): {resp.text()}", carrier=self.carrier)
        raise self.error(resp)

    async def authorized(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                         **kwargs: Any) -> Response:
        """One API call with the cached token; a 401 gets one refresh and one retry."""
        async def send(token: str) -> Response:
            return await self.request(method, url, headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                                      **kwargs)
        try:
            return await self.tokens.call(send)
        except CarrierError as exc:
            exc.carrier = exc.carrier or self.carrier
            raise
