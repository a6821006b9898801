"""`POST /webhooks/{source}`: protocol checks, then the raw body stored verbatim before the 202.

Protocol violations (unknown source, wrong content type, too large, empty) get
a clear 4xx and are not stored. Content problems are not intake's business:
a malformed or unparseable body is accepted, stored, and quarantined by the
normalizer with the reason, so it can be replayed after a parser fix.
"""
from __future__ import annotations

import logging

from aiohttp import web

from ..config import SOURCES
from ..keys import COMMITTER, SETTINGS, STORED
from ..store import Incoming

log = logging.getLogger(__name__)

# Headers worth keeping beside the body: what identifies, signs or describes a delivery.
_KEPT_HEADERS = ("content-type", "user-agent", "x-request-id", "x-correlation-id", "x-webhook-id",
                 "x-hmac-signature", "x-easypost-hmac-signature", "aftership-hmac-sha256", "x-shippo-signature",
                 "x-fedex-signature", "x-ups-signature", "x-signature", "idempotency-key")

_ACCEPTED_TYPES = ("application/json", "text/json", "application/xml", "text/xml", "application/soap+xml",
                   "application/edi-x12", "application/edi", "application/x12", "text/plain",
                   "application/octet-stream")


def _content_type_ok(value: str) -> bool:
    if not value:
        return True  # detected from the bytes
    main = value.split(";")[0].strip().lower()
    return main in _ACCEPTED_TYPES or main.endswith(("+json", "+xml"))


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def receive_webhook(request: web.Request) -> web.Response:
    source = request.match_info["source"].lower()
    if source not in SOURCES:
        return _problem(404, f"unknown webhook source {source!r}; known: {', '.join(SOURCES)}")
    content_type = request.headers.get("Content-Type", "")
    if not _content_type_ok(content_type):
        return _problem(415, f"unsupported content type {content_type.split(';')[0]!r}")
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _problem(413, f"body of {request.content_length} bytes exceeds the {limit}-byte limit")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, f"body exceeds the {limit}-byte limit")
    if not body:
        return _problem(400, "empty body")
    headers = {k: request.headers[k] for k in _KEPT_HEADERS if k in request.headers}
    try:
        accepted = await request.app[COMMITTER].submit(
            Incoming(source=source, body=body, content_type=content_type or None, headers=headers))
    except Exception:  # not stored (disk full, store failing): the carrier must retry, so say so plainly
        log.exception("webhook from %s not stored", source)
        response = _problem(503, "not stored: the inbox is unavailable; retry later")
        response.headers["Retry-After"] = "5"
        return response
    request.app[STORED].set()
    return web.json_response({"id": str(accepted.id), "duplicate": accepted.duplicate}, status=202)
