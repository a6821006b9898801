"""`/v1/trackings`: the OMS registers shipments (for polling) with the metadata notifications need.

Without a carrier the number's format decides it (check digits included);
a number that fits several carriers, or none, is refused with the
candidates instead of guessed. These endpoints carry customer contact data,
so they need a bearer token (`CARRIER_EVENTS_API_TOKEN`, or the admin
token); with neither configured they are disabled.
"""
from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parsers.tracking_numbers import candidates

from ..keys import SETTINGS, STORE
from ..store import Tracking
from .api import _int
from .bearer import require_bearer

MAX_BULK = 1000


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(None, max_length=40)


class TrackingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_number: str = Field(min_length=4, max_length=64)
    carrier: str | None = Field(None, pattern=r"^[a-z0-9_]{2,32}$")
    order_id: str | None = Field(None, max_length=200)
    customer: Customer | None = None
    locale: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    merchant: str | None = Field(None, max_length=200)
    poll: bool = True


class Refused(ValueError):
    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates


def _require_client(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    require_bearer(request, (settings.api_token, settings.admin_token), api="trackings API",
                   variable="CARRIER_EVENTS_API_TOKEN", required="API token", realm="carrier-events")


def _clean(number: str) -> str:
    return re.sub(r"[\s-]", "", number).upper()


def resolve(item: TrackingIn) -> tuple[Tracking, bool]:
    """The tracking to store, and whether its carrier was detected; Refused when it cannot be told."""
    number = _clean(item.tracking_number)
    carrier, detected = item.carrier, False
    if carrier is None:
        fits = candidates(number)
        if len(fits) != 1:
            if fits:
                raise Refused(f"{number} fits several carriers' formats ({', '.join(fits)}); give the carrier",
                              fits)
            raise Refused(f"{number} fits no known carrier's number format; give the carrier", [])
        carrier, detected = fits[0], True
    customer = item.customer.model_dump(exclude_none=True) if item.customer else {}
    return Tracking(carrier, number, item.order_id, customer, item.locale, item.merchant, item.poll), detected


async def _json_object(request: web.Request) -> dict:
    try:
        raw = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "the body must be JSON"}', content_type="application/json") from None
    if not isinstance(raw, dict):
        raise web.HTTPBadRequest(text='{"error": "the body must be a JSON object"}', content_type="application/json")
    return raw


def _invalid(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


async def register(request: web.Request) -> web.Response:
    _require_client(request)
    try:
        tracking, detected = resolve(TrackingIn.model_validate(await _json_object(request)))
    except ValidationError as exc:
        return web.json_response({"error": _invalid(exc)}, status=422)
    except Refused as exc:
        return web.json_response({"error": str(exc), "candidates": exc.candidates}, status=422)
    created = (await request.app[STORE].register([tracking]))[0]
    stored = await request.app[STORE].tracking(tracking.carrier, tracking.tracking_number)
    return web.json_response({**stored, "carrier_detected": detected}, status=201 if created else 200)


async def register_bulk(request: web.Request) -> web.Response:
    """Up to 1000 at once; each item gets its own status, and the valid ones are stored in one transaction."""
    _require_client(request)
    items = (await _json_object(request)).get("trackings")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK:
        return web.json_response({"error": f"trackings must be a list of 1 to {MAX_BULK} objects"}, status=422)
    results: list[dict] = []
    valid: list[tuple[int, Tracking, bool]] = []
    for index, raw in enumerate(items):
        try:
            tracking, detected = resolve(TrackingIn.model_validate(raw))
        except ValidationError as exc:
            results.append({"index": index, "status": 422, "error": _invalid(exc)})
            continue
        except Refused as exc:
            results.append({"index": index, "status": 422, "error": str(exc), "candidates": exc.candidates})
            continue
        valid.append((index, tracking, detected))
        results.append({})
    created = await request.app[STORE].register([t for _, t, _ in valid]) if valid else []
    for (index, tracking, detected), new in zip(valid, created):
        results[index] = {"index": index, "status": 201 if new else 200, "carrier": tracking.carrier,
                          "tracking_number": tracking.tracking_number, "carrier_detected": detected}
    return web.json_response({"results": results})


async def list_trackings(request: web.Request) -> web.Response:
    _require_client(request)
    limit = _int(request, "limit", 100, 1, 1000)
    after = request.query.get("after")
    cursor = tuple(after.split("/", 1)) if after and "/" in after else None
    items = await request.app[STORE].trackings(request.query.get("carrier"), cursor, limit)
    following = f"{items[-1]['carrier']}/{items[-1]['tracking_number']}" if len(items) == limit else None
    return web.json_response({"items": items, "next": following})


async def get_tracking(request: web.Request) -> web.Response:
    _require_client(request)
    carrier, number = request.match_info["carrier"].lower(), _clean(request.match_info["tracking_number"])
    found = await request.app[STORE].tracking(carrier, number)
    if found is None:
        return web.json_response({"error": f"no tracking {carrier}/{number}"}, status=404)
    return web.json_response(found)


async def deregister(request: web.Request) -> web.Response:
    _require_client(request)
    carrier, number = request.match_info["carrier"].lower(), _clean(request.match_info["tracking_number"])
    if not await request.app[STORE].deregister(carrier, number):
        return web.json_response({"error": f"no tracking {carrier}/{number}"}, status=404)
    return web.Response(status=204)
