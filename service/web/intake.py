"""`POST /webhooks/{source}`: protocol checks, then the raw body stored verbatim before the 202.

Protocol violations get a clear 4xx and are not stored: 404 unknown source,
429 over the source's rate (charged only once the sender is verified) or a
client address refused too often lately, 503 when too many are in progress
at once, 401 not authenticated (what the head allows is checked before the
body is read; the signature on the raw bytes before anything parses them), 415
wrong content type, 413 too large, 408 body too slow, 400 empty. Content problems are not intake's business:
a malformed or unparseable body is accepted, stored, and quarantined by the
normalizer with the reason, so it can be replayed after a parser fix.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from .. import metrics, tracing
from ..config import SOURCES
from ..keys import COMMITTER, GUARDS, SETTINGS, STORED
from ..store import Incoming
from .guard import SourceGuard

log = logging.getLogger(__name__)

# Headers worth keeping beside the body: what identifies or describes a delivery. Signatures and
# credentials are verified and dropped: the inbox never holds anything secret-derived.
_KEPT_HEADERS = ("content-type", "content-encoding", "user-agent", "x-request-id", "x-correlation-id",
                 "x-webhook-id", "webhook-id", "webhook-timestamp", "idempotency-key")

_ACCEPTED_TYPES = ("application/json", "text/json", "application/xml", "text/xml", "application/soap+xml",
                   "application/edi-x12", "application/edi", "application/x12", "text/plain",
                   "application/octet-stream")


def _content_type_ok(value: str) -> bool:
    if not value:
        return True  # detected from the bytes
    main = value.split(";")[0].strip().lower()
    return main in _ACCEPTED_TYPES or main.endswith(("+json", "+xml"))


def _problem(status: int, message: str, retry_after: float | None = None) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


async def expect(request: web.Request) -> web.Response | None:
    """`Expect: 100-continue` lets a sender wait for our go-ahead before a large body; anything else: 417."""
    value = request.headers.get("Expect", "")
    if value.lower() == "100-continue":
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        return None
    return _problem(417, "unsupported Expect header (only 100-continue)")


def _text(value: str) -> str:
    """A header value as valid text: bytes that were not UTF-8 (kept by aiohttp as surrogates) are escaped."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _challenge(response: web.Response, source: str, scheme: str) -> web.Response:
    """A 401 names how the source must authenticate (HTTP requires a challenge with every 401)."""
    response.headers["WWW-Authenticate"] = f'Webhook-Signature realm="{source}", scheme="{scheme}"'
    return response


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None past `limit` bytes (counted after any Content-Encoding is undone: no bombs)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# Each answer's outcome label on the webhooks counter (a 202 says whether it was a duplicate).
OUTCOME = web.ResponseKey("outcome", str)
_OUTCOMES = {202: "accepted", 400: "bad_request", 401: "unauthenticated", 404: "unknown_source", 408: "timeout",
             413: "too_large", 415: "unsupported_type", 417: "bad_request", 429: "rate_limited",
             503: "unavailable"}


async def receive_webhook(request: web.Request) -> web.Response:
    source = request.match_info["source"].lower()
    if tracing.enabled():
        with tracing.span("webhook.receive", tracing.from_headers(request.headers), tracing.SERVER,
                          {"webhook.source": source}) as current:
            response = await _check_and_store(request, source)
            if current is not None:
                current.set_attribute("http.response.status_code", response.status)
    else:
        response = await _check_and_store(request, source)
    if not request.content.is_eof():
        # Answered before the whole body was read (refused early, or a body that does not decode): close the
        # connection after the answer. Draining the rest instead fails again for a body that does not decode,
        # and aiohttp then drops the connection under the answer or the sender's next request on it.
        response.force_close()
    outcome = response.get(OUTCOME) or _OUTCOMES.get(response.status, str(response.status))
    metrics.webhook(source if source in SOURCES else "unknown", outcome)
    if outcome == "duplicate":
        metrics.DUPLICATES.labels("webhook").inc()
    return response


async def _check_and_store(request: web.Request, source: str) -> web.Response:
    """The checks in the order that keeps shared budgets for senders who prove who they are.

    Credentials are checked as far as the head allows before the body is
    read: a request without a plausible one is refused at once (no body
    read, no slot; 429 instead of 401 once its address has used up its
    refusal budget). A plausible request from such an address is served
    from a few slots of its own with a short body timeout (a carrier may
    share an address with a forger), never from the shared ones. The
    source's rate budget is charged only once the signature is verified,
    so forgeries cannot spend a carrier's budget.
    """
    guard = request.app[GUARDS].sources.get(source)
    if guard is None:
        return _problem(404, f"unknown webhook source {source!r}; known: {', '.join(SOURCES)}")
    guards = request.app[GUARDS]
    client = request.remote or "unknown"
    suspect = guards.clients.wait(client)
    early = guard.scheme.precheck(request.headers, request.query, time.time()) if guard.scheme else None
    if early is None or not early.ok:
        if suspect:
            return _problem(429, "too many refused requests from this address", retry_after=suspect)
        reason = early.reason if early is not None else "no secret configured"
        guards.refused(source, reason, client)
        if guard.scheme is None:
            return _challenge(_problem(401, guard.refusal), source, "none")
        return _challenge(_problem(401, f"webhook not authenticated: {reason}"), source, guard.scheme.name)
    content_type = request.headers.get("Content-Type", "")
    if not _content_type_ok(content_type):
        return _problem(415, f"unsupported content type {content_type.split(';')[0]!r}")
    limit = guard.max_body
    if request.content_length is not None and request.content_length > limit:
        return _problem(413, f"body of {request.content_length} bytes exceeds the {limit}-byte limit")
    if suspect:
        if guards.suspect_in_flight >= guards.max_suspect:
            return _problem(429, "too many refused requests from this address", retry_after=suspect)
        guards.suspect_in_flight += 1
        try:
            return await _receive(request, source, guard, content_type, client, guards.suspect_body_timeout)
        finally:
            guards.suspect_in_flight -= 1
    if guards.in_flight >= guards.max_in_flight:
        return _problem(503, "too many webhooks in progress; retry shortly", retry_after=1)
    guards.in_flight += 1
    try:
        return await _receive(request, source, guard, content_type, client, request.app[SETTINGS].body_timeout)
    finally:
        guards.in_flight -= 1


async def _receive(request: web.Request, source: str, guard: SourceGuard, content_type: str,
                   client: str, body_timeout: float) -> web.Response:
    guards = request.app[GUARDS]
    try:
        if request.content.is_eof():  # the whole body came with the head (most webhooks): no timer, no loop
            body = request.content.read_nowait(-1)
            body = body if len(body) <= guard.max_body else None
        else:
            async with asyncio.timeout(body_timeout):
                body = await _read_body(request, guard.max_body)
    except TimeoutError:
        guards.clients.refused(client)  # a slow body held a slot: it costs the sender's budget
        return _problem(408, f"body not received within {body_timeout:g} s")
    except (web.HTTPException, ValueError, RequestPayloadError, HttpProcessingError) as exc:
        return _problem(400, f"unreadable body (bad chunking or Content-Encoding): {type(exc).__name__}")
    if body is None:
        return _problem(413, f"body exceeds the {guard.max_body}-byte limit")
    if not body:
        return _problem(400, "empty body")
    verdict = guard.scheme.verify(body, request.headers, request.query, time.time())
    if not verdict.ok:
        guards.refused(source, verdict.reason, client)
        return _challenge(_problem(401, f"webhook not authenticated: {verdict.reason}"), source, guard.scheme.name)
    wait = guard.bucket.take()  # only now: a sender proven to be the source spends the source's budget
    if wait:
        return _problem(429, f"over the rate limit for source {source!r}", retry_after=wait)
    headers = {k: _text(request.headers[k]) for k in _KEPT_HEADERS if k in request.headers}
    try:
        accepted = await request.app[COMMITTER].submit(
            Incoming(source=source, body=body, content_type=_text(content_type) or None, headers=headers,
                     delivery_id=verdict.delivery_id, traceparent=tracing.current()))
    except Exception:  # not stored (disk full, store failing): the carrier must retry, so say so plainly
        log.exception("webhook from %s not stored", source)
        return _problem(503, "not stored: the inbox is unavailable; retry later", retry_after=5)
    request.app[STORED].set()
    tracing.annotate({"inbox.id": accepted.id, "webhook.duplicate": accepted.duplicate})
    response = web.Response(body=orjson.dumps({"id": str(accepted.id), "duplicate": accepted.duplicate}),
                            status=202, content_type="application/json")
    response[OUTCOME] = "duplicate" if accepted.duplicate else "accepted"
    return response
