"""`/v1/subscriptions`: an OMS without RabbitMQ subscribes an HTTPS endpoint to the event feed (outbound webhooks).

The OMS's API token (`CARRIER_EVENTS_API_TOKEN`) or the admin token; with
neither configured the endpoints are disabled. Every input is checked before
anything is stored: a filter pattern that is not a routing-key pattern, or a
URL the SSRF guard refuses (a private, loopback or link-local address, unless
CARRIER_EVENTS_OUTBOUND_ALLOW_NETS allows it), is a 422 naming the field and
the reason; an id that is not a subscription id is a 404 like an unknown one.

Delivery itself runs in the dispatcher (`service.outbound`), in whichever
process holds a subscription's lease; a change here wakes this process's
dispatcher, and the others see it at their next listing. With delivery off in
this process (`CARRIER_EVENTS_WEBHOOKS_OUT=false`) the API still manages
subscriptions; only `/test`, which sends from here, is refused (409).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial

from aiohttp import web

from ..core import subscriptions as rules
from ..keys import OUTBOUND, SETTINGS, STORE
from ..outbound.filters import parse_filter
from ..outbound.guard import parse_nets, refuse_reason
from ..rows import Subscription
from .bearer import require_bearer
from .params import check_query, integer, page
from .problems import FieldError, ProblemError, invalid, problem
from .requests import json_object, validated
from .subscription_bodies import (RotateSecret, SubscriptionIn, SubscriptionPatch, SubscriptionRedeliver,
                                 SubscriptionReplay)

DELIVERY_OFF = "delivery is off in this process (CARRIER_EVENTS_WEBHOOKS_OUT=false); send the test from a " \
               "process that delivers"


def _require_client(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    require_bearer(request, (settings.api_token, settings.admin_token), api="subscriptions API",
                   variable="CARRIER_EVENTS_API_TOKEN", required="API token", realm="carrier-events")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _path_id(request: web.Request) -> str:
    """The subscription id of the path; one that is not even of the form is unknown like any other (404)."""
    raw = request.match_info["id"]
    if not rules.is_id(raw):
        raise ProblemError(404, "not-found", "no such subscription",
                           (FieldError("path.id", "not a subscription id (`sub_` and 24 hex digits)"),))
    return raw


async def _existing(request: web.Request) -> Subscription:
    found = await request.app[STORE].subscription(_path_id(request))
    if found is None:
        raise ProblemError(404, "not-found", "no such subscription")
    return found


def _filter(patterns: list[str]) -> tuple[str, ...]:
    try:
        return parse_filter(patterns)
    except ValueError as exc:
        raise invalid("body", "filter", str(exc), status=422, code="invalid-field") from None


async def _check_url(request: web.Request, url: str) -> None:
    """The SSRF guard's verdict, through this process's dispatcher when it runs (its allowed networks), else
    the guard with the settings'. It resolves the host: run off the event loop."""
    outbound = request.app.get(OUTBOUND)
    check: Callable[[str], str | None] = outbound.check_url if outbound is not None else \
        partial(refuse_reason, allow_nets=parse_nets(request.app[SETTINGS].outbound_allow_nets))
    reason = await asyncio.to_thread(check, url)
    if reason:
        raise invalid("body", "url", reason, status=422, code="invalid-field")


def _wake(request: web.Request) -> None:
    outbound = request.app.get(OUTBOUND)
    if outbound is not None:
        outbound.wake()


async def create(request: web.Request) -> web.Response:
    """201 with the secret (shown this once). Deliveries start at the feed head unless `from` is `beginning`."""
    _require_client(request)
    check_query(request, ())
    body = validated(SubscriptionIn, await json_object(request), strict=True)
    patterns = _filter(body.filter)
    await _check_url(request, body.url)
    store = request.app[STORE]
    head = await store.feed_head()
    sub = rules.create(body.url, patterns, body.description, 0 if body.from_ == "beginning" else head, _now())
    await store.create_subscription(sub)
    _wake(request)
    return web.json_response(rules.created_view(sub, head), status=201,
                             headers={"Location": f"/v1/subscriptions/{sub.id}"})


async def list_subscriptions(request: web.Request) -> web.Response:
    _require_client(request)
    check_query(request, ("after", "limit"))
    limit = integer(request, "limit", 100, 1, 1000)
    after = request.query.get("after") or None
    if after is not None and not rules.is_id(after):
        raise invalid("query", "after", "not a cursor this endpoint gave out (pass `next` back unchanged)")
    store = request.app[STORE]
    items, more = page(await store.subscriptions(after, limit + 1), limit)
    head = await store.feed_head()
    return web.json_response({"items": [rules.view(s, head) for s in items],
                              "next": items[-1].id if more else None, "has_more": more})


async def get_subscription(request: web.Request) -> web.Response:
    _require_client(request)
    check_query(request, ())
    sub = await _existing(request)
    return web.json_response(rules.view(sub, await request.app[STORE].feed_head()))


async def change(request: web.Request) -> web.Response:
    """PATCH: the fields given; `enabled: true` clears the disabled reason and the failing streak."""
    _require_client(request)
    check_query(request, ())
    sub_id = _path_id(request)
    body = validated(SubscriptionPatch, await json_object(request), strict=True)
    changes: dict[str, object] = {}
    if body.filter is not None:
        changes["filter"] = _filter(body.filter)
    if body.url is not None:
        await _check_url(request, body.url)
        changes["url"] = body.url
    if body.description is not None:
        changes["description"] = body.description
    if body.enabled is not None:
        changes.update(rules.enable_changes(body.enabled, _now()))
    store = request.app[STORE]
    found = await store.update_subscription(sub_id, changes) if changes else await store.subscription(sub_id)
    if found is None:
        return problem(404, "not-found", "no such subscription")
    _wake(request)
    return web.json_response(rules.view(found, await store.feed_head()))


async def delete(request: web.Request) -> web.Response:
    _require_client(request)
    check_query(request, ())
    if not await request.app[STORE].delete_subscription(_path_id(request)):
        return problem(404, "not-found", "no such subscription")
    _wake(request)
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret, shown this once; the replaced one keeps signing too for `overlap_seconds`."""
    _require_client(request)
    check_query(request, ())
    sub = await _existing(request)
    body = validated(RotateSecret, await json_object(request, optional=True), strict=True)
    changes = rules.rotation_changes(sub, body.overlap_seconds, _now())
    if await request.app[STORE].update_subscription(sub.id, changes) is None:
        return problem(404, "not-found", "no such subscription")
    _wake(request)
    return web.json_response({"id": sub.id, "secret": changes["secret"],
                              "previous_secret_until": changes["previous_secret_until"]})


async def send_test(request: web.Request) -> web.Response:
    """One signed `shipment.event.test.v1` POST from this process, answered with its outcome (logged too)."""
    _require_client(request)
    check_query(request, ())
    sub = await _existing(request)
    outbound = request.app.get(OUTBOUND)
    if outbound is None:
        return problem(409, "conflict", DELIVERY_OFF)
    attempt = await outbound.send_test(sub)
    return web.json_response(rules.attempt_view(attempt))


async def deliveries(request: web.Request) -> web.Response:
    """The delivery log, newest first; `next` is the `after` of the next page."""
    _require_client(request)
    check_query(request, ("after", "limit"))
    limit = integer(request, "limit", 100, 1, 1000)
    raw = request.query.get("after") or None
    before = None
    if raw is not None:
        before = rules.parse_log_cursor(raw)
        if before is None:
            raise invalid("query", "after", "not a cursor this endpoint gave out (pass `next` back unchanged)")
    sub = await _existing(request)
    store = request.app[STORE]
    rows, more = page(await store.delivery_log(sub.id, limit + 1, before), limit)
    return web.json_response({"items": [rules.attempt_view(a) for a in rows],
                              "next": rules.log_cursor(rows[-1]) if more else None, "has_more": more})


async def redeliver(request: web.Request) -> web.Response:
    """202: the feed event is sent once more (outside the cursor, before the subscription's next batch)."""
    _require_client(request)
    check_query(request, ())
    sub = await _existing(request)
    body = validated(SubscriptionRedeliver, await json_object(request), strict=True)
    if not await request.app[STORE].queue_redelivery(sub.id, body.event_id):
        raise ProblemError(404, "not-found", f"no event {body.event_id[:80]!r} in the feed",
                           (FieldError("body.event_id", "no such event in the feed"),))
    _wake(request)
    return web.json_response({"id": sub.id, "event_id": body.event_id}, status=202)


async def replay(request: web.Request) -> web.Response:
    """202: the cursor is set (`after`: to that position; `since`: before the first event committed at or after
    that time); deliveries go on from it, and events after it are sent again."""
    _require_client(request)
    check_query(request, ())
    sub = await _existing(request)
    body = validated(SubscriptionReplay, await json_object(request), strict=True)
    store = request.app[STORE]
    head = await store.feed_head()
    if body.since is not None:
        cursor = await store.feed_position_at(body.since)  # UTC, as the body model spells it
    else:
        cursor = body.after if body.after is not None else 0
        if cursor > head:
            raise invalid("body", "after", f"beyond the feed's head ({head})", status=422, code="invalid-field")
    if await store.update_subscription(sub.id, {"cursor": cursor}) is None:
        return problem(404, "not-found", "no such subscription")
    _wake(request)
    return web.json_response({"id": sub.id, "cursor": cursor, "lag": max(0, head - cursor)}, status=202)
