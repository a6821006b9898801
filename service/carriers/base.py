"""What every carrier API client shares: the polled document, the typed errors, the HTTP plumbing.

A poll's result is stored verbatim in the inbox (channel `poll`) and normalized
like a webhook, so a client never parses or rewrites a response body: it only
decides whether the HTTP exchange produced a carrier document (a tracking answer,
including the carrier's own "not found" document) or a failure the poller must
react to differently (back off, stop polling a carrier, drop a number).
"""
from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import aiohttp
from multidict import CIMultiDictProxy

# Connect quickly or not at all; a tracking answer of a 30-number FedEx batch can take a few seconds.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_read=20)
# A tracking answer is a few KiB to a few hundred KiB; anything far larger is not one.
DEFAULT_MAX_BODY = 10 * 1024 * 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PollDocument:
    """One carrier response body, exactly as received, with what is needed to store and parse it.

    `numbers` are the tracking numbers this call asked about (a FedEx batch has
    up to 30). `status` is the HTTP status: 200, or 404 where the carrier answers
    an unknown number with its documented not-found document (USPS, DHL, Canada
    Post), which the parsers report as a `carrier_error`.
    """

    carrier: str
    numbers: tuple[str, ...]
    body: bytes
    content_type: str
    fetched_at: datetime
    status: int = 200


class CarrierError(Exception):
    """Any failure of a carrier call that produced no document. Messages never carry credentials."""

    def __init__(self, message: str, *, carrier: str | None = None) -> None:
        super().__init__(message)
        self.carrier = carrier


class RateLimited(CarrierError):
    """HTTP 429: wait `retry_after` seconds (None: the carrier did not say) before calling again."""

    def __init__(self, retry_after: float | None, message: str = "rate limited", *, carrier: str | None = None):
        super().__init__(message, carrier=carrier)
        self.retry_after = retry_after


class Unavailable(CarrierError):
    """The carrier could not answer: 5xx, timeout, connection error (`status` None). Retry later."""

    def __init__(self, status: int | None, retry_after: float | None = None, message: str = "unavailable", *,
                 carrier: str | None = None) -> None:
        super().__init__(message, carrier=carrier)
        self.status = status
        self.retry_after = retry_after


class AuthFailed(CarrierError):
    """The credentials were refused (after one token refresh where there is a token): fix the configuration."""


class Rejected(CarrierError):
    """Any other 4xx: the carrier refused this request (e.g. a malformed number); retrying it will not help."""

    def __init__(self, status: int, message: str, *, carrier: str | None = None) -> None:
        super().__init__(f"{status}: {message}", carrier=carrier)
        self.status = status
        self.message = message


@runtime_checkable
class CarrierClient(Protocol):
    carrier: str
    batch_size: int

    async def track(self, numbers: Sequence[str]) -> list[PollDocument]:
        """One carrier request for at most `batch_size` numbers; `[]` for no numbers."""
        ...

    async def close(self) -> None: ...


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or utc_now())).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer read to its end; the connection is already back in the pool."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes = field(repr=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def text(self, limit: int = 300) -> str:
        """A short one-line excerpt of the body for error messages (carrier text, never our credentials)."""
        return " ".join(self.body[:limit * 2].decode("utf-8", "replace").split())[:limit]


class HttpCarrierClient:
    """Shared plumbing: a timeout on every request, transport failures and statuses mapped to typed errors.

    The session is normally shared by all clients of a process (`clients_from_env`)
    and closed by its owner; a client given none makes its own and closes it.
    """

    carrier: ClassVar[str]
    default_base_url: ClassVar[str]  # the production API, used when no base URL is configured
    batch_size: ClassVar[int] = 1
    # The credential fields (of CarrierCredentials) this client cannot work without.
    required: ClassVar[tuple[str, ...]] = ()
    # Content types (substrings) of this carrier's tracking documents, including its not-found document.
    document_types: ClassVar[tuple[str, ...]] = ("json",)

    def __init__(self, session: aiohttp.ClientSession | None, *, base_url: str,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY,
                 now: Callable[[], datetime] = utc_now) -> None:
        self._session = session
        self._owns_session = session is None
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._max_body = max_body
        self._now = now

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: a ClientSession wants a running loop
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _batch(self, numbers: Sequence[str]) -> tuple[str, ...]:
        batch = tuple(numbers)
        if len(batch) > self.batch_size:
            raise ValueError(f"{self.carrier}: {len(batch)} numbers in one call, at most {self.batch_size}")
        return batch

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        """Send one request and read the whole answer; transport failures become `Unavailable`."""
        try:
            async with self._http().request(method, url, timeout=self._timeout, allow_redirects=False,
                                            **kwargs) as resp:
                body = await self._read(resp)
                return Response(resp.status, resp.headers, body)
        except TimeoutError:
            raise Unavailable(None, None, f"{method} {self._path(url)}: timed out", carrier=self.carrier) from None
        except aiohttp.ClientError as exc:
            raise Unavailable(None, None, f"{method} {self._path(url)}: {type(exc).__name__}",
                              carrier=self.carrier) from None

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        length = resp.content_length
        if length is not None and length > self._max_body:
            raise CarrierError(f"response of {length} bytes, over {self._max_body}", carrier=self.carrier)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_body:
                raise CarrierError(f"response over {self._max_body} bytes", carrier=self.carrier)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _path(url: str) -> str:
        return re.sub(r"^[a-z]+://[^/]+", "", url)  # no host (and never a query: we put no secret there anyway)

    def document(self, resp: Response, numbers: tuple[str, ...]) -> PollDocument:
        """The answer as a document, or the typed error its status calls for."""
        if resp.status == 200 or (resp.status == 404 and self._is_document(resp)):
            return PollDocument(self.carrier, numbers, resp.body, resp.content_type or "application/octet-stream",
                                self._now(), resp.status)
        raise self.error(resp)

    def _is_document(self, resp: Response) -> bool:
        """A carrier-shaped 404 body is its not-found answer; an HTML or empty 404 is a wrong URL."""
        ctype = resp.content_type.lower()
        return bool(resp.body.strip()) and any(t in ctype for t in self.document_types)

    def error(self, resp: Response) -> CarrierError:
        status = resp.status
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), self._now())
        if status == 429:
            return RateLimited(retry_after, f"429: {resp.text()}", carrier=self.carrier)
        if status >= 500 or status == 408:
            return Unavailable(status, retry_after, f"{status}: {resp.text()}", carrier=self.carrier)
        if status in (401, 403):
            return AuthFailed(f"{status}: {resp.text()}", carrier=self.carrier)
        return Rejected(status, resp.text() or "(empty body)", carrier=self.carrier)
