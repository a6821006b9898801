"""`/v1/escalations`: customer service's queue: list and filter, one with its audit trail, and the transitions.

Needs the admin token (or CARRIER_EVENTS_CS_TOKEN); without either the
endpoints are disabled. The actor in the audit trail is the body's `by`
(or the `X-Actor` header), so the trail says who did what. Every filter value
is checked (a misspelt state is a 400 naming `state`, not an empty list).

A case carries what CS needs to answer the customer without another tool:
the registration's order id, customer and merchant (null when nobody
registered the shipment), the carrier's public tracking page (from the
carrier registry) and the customer messages already sent for the shipment,
also readable alone at `/v1/shipments/{carrier}/{tracking_number}/notifications`.
"""
from __future__ import annotations

from aiohttp import web

from taxonomy import ExceptionClass, Status
from taxonomy.carriers import tracking_url

from ..core.rules import TransitionRefused
from ..keys import ESCALATED, SETTINGS, STORE
from .bearer import require_bearer, require_reader
from .bodies import EscalationChange
from .params import carriers, check_query, choices, integer, known_carrier, offset, page, path_id, text
from .problems import invalid, problem
from .requests import json_object, validated

FILTERS = ("state", "severity", "owner_role", "exception_class", "carrier", "tracking_number", "assignee", "active")
STATES = ("waiting", "open", "acknowledged", "resolved")
SEVERITIES = ("low", "medium", "high", "critical")
# An escalation's class is the event's exception class, or its status when it has none.
CLASSES = tuple(dict.fromkeys([*(c.value for c in ExceptionClass), *(s.value for s in Status)]))


def require_cs(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    require_bearer(request, (settings.cs_token, settings.admin_token), api="CS API",
                   variable="CARRIER_EVENTS_CS_TOKEN", required="CS token", realm="carrier-events cs")


def _filters(request: web.Request) -> dict[str, str]:
    check_query(request, (*FILTERS, "limit", "after"))
    found = {"state": choices(request, "state", STATES), "severity": choices(request, "severity", SEVERITIES),
             "exception_class": choices(request, "exception_class", CLASSES), "carrier": carriers(request),
             "active": choices(request, "active", ("true", "false", "1", "0")),
             **{name: text(request, name) for name in ("owner_role", "tracking_number", "assignee")}}
    return {name: value for name, value in found.items() if value}


async def list_escalations(request: web.Request) -> web.Response:
    require_cs(request)
    filters = _filters(request)
    limit, skip = integer(request, "limit", 200, 1, 1000), offset(request)
    items, more = page(await request.app[STORE].escalations(filters, limit + 1, skip), limit)
    for item in items:
        _with_url(item)
    return web.json_response({"items": items, "next": str(skip + limit) if more else None, "has_more": more})


async def get_escalation(request: web.Request) -> web.Response:
    require_cs(request)
    check_query(request, ())
    found = await request.app[STORE].escalation(path_id(request))
    if found is None:
        return problem(404, "not-found", "no such escalation")
    request.app[ESCALATED].set()  # the change goes to `cs-escalations` now, not at the next poll
    return web.json_response(_with_url(found))


async def shipment_notifications(request: web.Request) -> web.Response:
    """The customer messages of one shipment, oldest first (read, API, CS or admin token)."""
    require_reader(request)
    check_query(request, ())
    carrier, tn = known_carrier(request.match_info["carrier"].lower(), "path"), request.match_info["tracking_number"]
    items = await request.app[STORE].shipment_notices(carrier, tn)
    return web.json_response({"carrier": carrier, "tracking_number": tn, "items": items})


def _with_url(case: dict) -> dict:
    case["tracking_url"] = tracking_url(case["carrier"], case["tracking_number"])  # the carrier registry's
    return case


async def change(request: web.Request) -> web.Response:
    """acknowledge | resolve | assign (body: {"by", "assignee" (assign), "note"})."""
    require_cs(request)
    check_query(request, ())
    action = request.path.rstrip("/").rsplit("/", 1)[1]  # the route: acknowledge | resolve | assign
    escalation_id = path_id(request)
    body = validated(EscalationChange, await json_object(request, optional=True), strict=True)
    actor = (body.by or _header_text(request, "X-Actor") or "cs")[:100]
    if action == "assign" and (body.assignee is None or not body.assignee.strip()):
        raise invalid("body", "assignee", "assign needs an assignee", status=422, code="invalid-field")
    try:
        found = await request.app[STORE].transition(escalation_id, action, actor, body.assignee,
                                                    body.note[:1000] if body.note else None)
    except TransitionRefused as exc:
        return problem(409, "conflict", str(exc))
    if found is None:
        return problem(404, "not-found", "no such escalation")
    request.app[ESCALATED].set()  # the change goes to `cs-escalations` now, not at the next poll
    return web.json_response(_with_url(found))


def _header_text(request: web.Request, name: str) -> str | None:
    """A header as text for the audit trail; bytes that are not UTF-8 are no name at all."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value if value.isprintable() else None
