"""`/v1/trackings`: the OMS registers shipments (for polling) with the metadata notifications need.

Without a carrier the number's format decides it (check digits included);
a number that fits several carriers, or none, is refused with the
candidates instead of guessed. These endpoints carry customer contact data,
so they need a bearer token (`CARRIER_EVENTS_API_TOKEN`, or the admin
token); with neither configured they are disabled.
"""
from __future__ import annotations

import difflib
import re

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parsers.tracking_numbers import candidates

from taxonomy.carriers import registry

from ..core.addresses import is_single_address
from ..keys import SETTINGS, STORE
from ..store import Tracking
from .bearer import require_bearer
from .params import check_query, integer, page
from .problems import FieldError, ProblemError, invalid, problem
from .requests import describe, field_errors, json_object

MAX_BULK = 1000


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254, description="one bare address (local@domain): no display "
                              "name, no angle brackets, no list")
    phone: str | None = Field(None, max_length=40)

    @field_validator("email")
    @classmethod
    def _one_address(cls, value: str | None) -> str | None:
        if value is not None and not is_single_address(value):
            raise ValueError("must be one bare e-mail address (local@domain), without a display name or a list")
        return value


class TrackingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_number: str = Field(min_length=4, max_length=64)
    carrier: str | None = Field(None, pattern=r"^[a-z0-9_]{2,32}$")
    order_id: str | None = Field(None, max_length=200)
    customer: Customer | None = None
    locale: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    merchant: str | None = Field(None, max_length=200)
    poll: bool = True


# Carriers a tracking can name: the registry's carriers (not aggregators or document formats).
TRACKABLE = frozenset(c.slug for c in registry().of_kind("carrier"))


class Refused(ValueError):
    def __init__(self, message: str, candidates: list[str] | None = None, field: str = "tracking_number") -> None:
        super().__init__(message)
        self.candidates, self.field = candidates, field

    def problem(self) -> ProblemError:
        code = "unknown-carrier" if self.field == "carrier" else "carrier-undetermined"
        return ProblemError(422, code, str(self), (FieldError(f"body.{self.field}", str(self)),),
                            candidates=self.candidates)


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
    if carrier is not None and carrier not in TRACKABLE:
        near = difflib.get_close_matches(carrier, sorted(TRACKABLE), n=3)
        raise Refused(f"carrier: unknown carrier {carrier!r} (not a carrier of the registry)" +
                      (f"; did you mean {', '.join(near)}?" if near else ""), near, field="carrier")
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


def _invalid(exc: ValidationError) -> ProblemError:
    errors = field_errors(exc)
    return ProblemError(422, "invalid-field", describe(errors), errors, candidates=None)


async def register(request: web.Request) -> web.Response:
    _require_client(request)
    check_query(request, ())
    try:
        tracking, detected = resolve(TrackingIn.model_validate(await json_object(request), strict=True))
    except ValidationError as exc:
        raise _invalid(exc) from None
    except Refused as exc:
        raise exc.problem() from None
    created = (await request.app[STORE].register([tracking]))[0]
    stored = await request.app[STORE].tracking(tracking.carrier, tracking.tracking_number)
    return web.json_response({**stored, "carrier_detected": detected}, status=201 if created else 200)


async def register_bulk(request: web.Request) -> web.Response:
    """Up to 1000 at once; each item gets its own status, and the valid ones are stored in one transaction."""
    _require_client(request)
    check_query(request, ())
    raw = await json_object(request)
    items = raw.get("trackings")
    if set(raw) != {"trackings"} or not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK:
        unknown = sorted(set(raw) - {"trackings"})
        message = f"unknown field(s) {', '.join(unknown)}" if unknown else \
            f"trackings must be a list of 1 to {MAX_BULK} objects"
        raise invalid("body", unknown[0] if unknown else "trackings", message, status=422, code="invalid-field")
    results: list[dict] = []
    valid: list[tuple[int, Tracking, bool]] = []
    for index, raw in enumerate(items):
        try:
            tracking, detected = resolve(TrackingIn.model_validate(raw, strict=True))
        except ValidationError as exc:
            results.append({"index": index, "status": 422, "error": _invalid(exc).detail})
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
    check_query(request, ("carrier", "after", "limit"))
    limit = integer(request, "limit", 100, 1, 1000)
    carrier = request.query.get("carrier") or None
    if carrier is not None:
        _known(carrier, "query")
    after = request.query.get("after") or None
    cursor = None
    if after is not None:
        parts = after.split("/", 1)
        if len(parts) != 2 or parts[0] not in TRACKABLE or not 1 <= len(parts[1]) <= 64 or \
                not parts[1].isascii() or not parts[1].isprintable():
            raise invalid("query", "after", "not a cursor this endpoint gave out (`carrier/tracking_number`)")
        cursor = (parts[0], parts[1])
    items, more = page(await request.app[STORE].trackings(carrier, cursor, limit + 1), limit)
    following = f"{items[-1]['carrier']}/{items[-1]['tracking_number']}" if more else None
    return web.json_response({"items": items, "next": following, "has_more": more})


def _known(carrier: str, where: str) -> str:
    if carrier not in TRACKABLE:
        raise invalid(where, "carrier", f"unknown carrier {carrier[:40]!r} (not a carrier of the registry)",
                      code="unknown-carrier")
    return carrier


def _path(request: web.Request) -> tuple[str, str]:
    check_query(request, ())
    carrier = _known(request.match_info["carrier"].lower(), "path")
    number = _clean(request.match_info["tracking_number"])
    if not 1 <= len(number) <= 64 or not number.isprintable():
        raise invalid("path", "tracking_number", "must be 1 to 64 printable characters")
    return carrier, number


async def get_tracking(request: web.Request) -> web.Response:
    _require_client(request)
    carrier, number = _path(request)
    found = await request.app[STORE].tracking(carrier, number)
    if found is None:
        return problem(404, "not-found", f"no tracking {carrier}/{number}")
    return web.json_response(found)


async def deregister(request: web.Request) -> web.Response:
    _require_client(request)
    carrier, number = _path(request)
    if not await request.app[STORE].deregister(carrier, number):
        return problem(404, "not-found", f"no tracking {carrier}/{number}")
    return web.Response(status=204)
