"""Bearer tokens for the non-webhook APIs (read, admin, CS, trackings): one check, compared in constant time.

An API whose token is not configured is disabled (403 naming the variable to
set), never open; a wrong or missing token is 401 with a WWW-Authenticate
challenge. Several tokens may be valid at once (the admin token opens every
API). A header that is not even text (bytes that are not UTF-8) is a wrong
token like any other: 401, never an error of the service.

Reading (the event feed, shipment state, the OpenAPI document) takes the read
token (`CARRIER_EVENTS_READ_TOKEN`), the admin token, the OMS's API token
(the client that registers trackings is the one that reads the feed) or the
CS token (the console shows the shipment behind a case). An operator may open
reads to anyone with `CARRIER_EVENTS_OPEN_READ=true`; the service then warns
at start-up, since the feed carries recipient names and postcodes.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterable

from aiohttp import web

from ..keys import SETTINGS
from .problems import ProblemError


def presented(request: web.Request) -> bytes:
    """The bearer token sent, as bytes (undecodable header bytes kept as they came: they never match)."""
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")


def require_bearer(request: web.Request, tokens: Iterable[str | None], *, api: str, variable: str,
                   required: str, realm: str) -> None:
    valid = [t.encode() for t in tokens if t]
    if not valid:
        raise ProblemError(403, "api-disabled", f"{api} disabled: set {variable}")
    given = presented(request)
    if not any([hmac.compare_digest(given, token) for token in valid]):  # a list: every token is compared
        raise ProblemError(401, "unauthorized", f"{required} required",
                           headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})


def require_reader(request: web.Request) -> None:
    """The read API's check (see the module docstring); nothing when reads are opened."""
    settings = request.app[SETTINGS]
    if settings.open_read:
        return
    require_bearer(request, (settings.read_token, settings.admin_token, settings.api_token, settings.cs_token),
                   api="read API", variable="CARRIER_EVENTS_READ_TOKEN (or CARRIER_EVENTS_OPEN_READ=true)",
                   required="read token", realm="carrier-events read")


def require_metrics(request: web.Request) -> None:
    """`/metrics` needs a token only when `CARRIER_EVENTS_METRICS_TOKEN` is set (the admin token then works too)."""
    settings = request.app[SETTINGS]
    if settings.metrics_token:
        require_bearer(request, (settings.metrics_token, settings.admin_token), api="metrics",
                       variable="CARRIER_EVENTS_METRICS_TOKEN", required="metrics token",
                       realm="carrier-events metrics")
