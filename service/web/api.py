"""Read API, the event feed, health, and the admin view of quarantined documents."""
from __future__ import annotations

from aiohttp import web

from taxonomy.carriers import tracking_url

from .. import metrics, ops
from ..cloudevents import CONTENT_TYPE
from ..keys import BUS, DRAIN, POLLER, SETTINGS, STORE, STORED
from .bearer import require_bearer, require_metrics, require_reader
from .params import check_query, cursor, integer, known_carrier, page, path_id
from .problems import problem


async def get_shipment(request: web.Request) -> web.Response:
    require_reader(request)
    check_query(request, ())
    carrier, tn = request.match_info["carrier"].lower(), request.match_info["tracking_number"]
    found = await request.app[STORE].shipment(carrier, tn)
    if found is None:
        known_carrier(carrier, "path")  # a typo in the slug says so, rather than "no such shipment"
        return problem(404, "not-found", f"no shipment {carrier}/{tn}")
    found["tracking_url"] = tracking_url(found["carrier"], found["tracking_number"])  # the carrier registry's
    return web.json_response(found)


async def get_events(request: web.Request) -> web.Response:
    """The feed: CloudEvents in outbox order after the cursor; `next` is the cursor to send next time."""
    require_reader(request)
    check_query(request, ("after", "limit"))
    after = integer(request, "after", 0, 0, 2**62)
    limit = integer(request, "limit", 100, 1, 1000)
    rows, more = page(await request.app[STORE].events_after(after, limit + 1), limit)
    next_cursor = rows[-1][0] if rows else after
    body = (b'{"next":' + str(next_cursor).encode() + b',"has_more":' + (b"true" if more else b"false") +
            b',"events":[' + b",".join(b for _, b in rows) + b"]}")
    return web.Response(body=body, content_type="application/json",
                        headers={"X-Event-Format": CONTENT_TYPE})


async def not_found(request: web.Request) -> web.Response:
    """The router's last route: 405 (with Allow) when another route has the path, else 404; JSON either way."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        return problem(405, "method-not-allowed", f"method {request.method} not allowed here",
                       headers={"Allow": ", ".join(sorted(allowed))})
    return problem(404, "not-found", f"no such resource: {request.path}")


async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus text format; backlogs are read from the store at each scrape."""
    require_metrics(request)
    return web.Response(body=await ops.scrape(request.app[STORE]), headers={"Content-Type": metrics.CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store takes writes and the node is not draining (a stop was asked for: the balancer
    should send nothing new here). The broker's state is reported, but a broker outage leaves intake ready:
    webhooks are stored and relayed once it is back (`service.ops.readiness`)."""
    ready, body = await ops.readiness(request.app[STORE], getattr(request.app[BUS], "connected", None),
                                      request.app[DRAIN].draining, needs_broker=False)
    poller = request.app.get(POLLER)
    if poller is not None:  # detail only: a carrier API being down does not make this service unready
        body["carrier_apis"] = poller.breaker_states()
    return web.json_response(body, status=200 if ready else 503)


def _require_admin(request: web.Request) -> None:
    require_bearer(request, (request.app[SETTINGS].admin_token,), api="admin API",
                   variable="CARRIER_EVENTS_ADMIN_TOKEN", required="admin token", realm="carrier-events admin")


async def list_dlq(request: web.Request) -> web.Response:
    _require_admin(request)
    check_query(request, ("after", "limit"))
    limit = integer(request, "limit", 100, 1, 1000)
    rows, more = page(await request.app[STORE].problems(limit + 1, cursor(request) or 0), limit)
    return web.json_response({"items": [
        {"id": str(r.id), "source": r.source, "state": r.state, "reason": r.reason, "attempts": r.attempts,
         "received_at": r.received_at, "content_type": r.content_type, "bytes": len(r.body)} for r in rows],
        "next": str(rows[-1].id) if more else None, "has_more": more})


async def replay_dlq(request: web.Request) -> web.Response:
    _require_admin(request)
    check_query(request, ())
    row_id = path_id(request)
    rows = await request.app[STORE].inbox_rows([row_id])
    if not rows:
        return problem(404, "not-found", f"no inbox row {row_id}")
    if rows[0].state not in ("quarantined", "dead"):
        return problem(409, "conflict", f"row {row_id} is {rows[0].state}, not in the DLQ")
    await request.app[STORE].mark([row_id], "pending")
    request.app[STORED].set()
    return web.json_response({"id": str(row_id), "state": "pending"}, status=202)
