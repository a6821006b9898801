"""`/v1/escalations`: customer service's queue: list and filter, one with its audit trail, and the transitions.

Needs the admin token (or CARRIER_EVENTS_CS_TOKEN); without either the
endpoints are disabled. The actor in the audit trail is the body's `by`
(or the `X-Actor` header), so the trail says who did what.
"""
from __future__ import annotations

from aiohttp import web

from ..keys import ESCALATED, SETTINGS, STORE
from ..core.rules import TransitionRefused
from .api import _int
from .bearer import require_bearer

FILTERS = ("state", "severity", "owner_role", "exception_class", "carrier", "tracking_number", "assignee", "active")


def require_cs(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    require_bearer(request, (settings.cs_token, settings.admin_token), api="CS API",
                   variable="CARRIER_EVENTS_CS_TOKEN", required="CS token", realm="carrier-events cs")


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text='{"error": "no such escalation"}', content_type="application/json") from None


async def list_escalations(request: web.Request) -> web.Response:
    require_cs(request)
    filters = {name: request.query[name] for name in FILTERS if request.query.get(name)}
    items = await request.app[STORE].escalations(filters, _int(request, "limit", 200, 1, 1000))
    return web.json_response({"items": items})


async def get_escalation(request: web.Request) -> web.Response:
    require_cs(request)
    found = await request.app[STORE].escalation(_id(request))
    if found is None:
        return web.json_response({"error": "no such escalation"}, status=404)
    request.app[ESCALATED].set()  # the change goes to `cs-escalations` now, not at the next poll
    return web.json_response(found)


async def change(request: web.Request) -> web.Response:
    """acknowledge | resolve | assign (body: {"by", "assignee" (assign), "note"})."""
    require_cs(request)
    action = request.path.rstrip("/").rsplit("/", 1)[1]  # the route: acknowledge | resolve | assign
    body = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
    actor = str(body.get("by") or request.headers.get("X-Actor") or "cs")[:100]
    assignee = body.get("assignee")
    if action == "assign" and (not isinstance(assignee, str) or not assignee.strip()):
        return web.json_response({"error": "assign needs an assignee"}, status=422)
    note = body.get("note")
    try:
        found = await request.app[STORE].transition(_id(request), action, actor, assignee, str(note)[:1000]
                                                    if note else None)
    except TransitionRefused as exc:
        return web.json_response({"error": str(exc)}, status=409)
    if found is None:
        return web.json_response({"error": "no such escalation"}, status=404)
    request.app[ESCALATED].set()  # the change goes to `cs-escalations` now, not at the next poll
    return web.json_response(found)
