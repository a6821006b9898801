"""The aiohttp application factory.

Resources live in `cleanup_ctx`, opened in order and closed in reverse:
store -> outbound webhooks -> actions -> bus -> intake group commit. On
shutdown aiohttp first stops listening and lets in-flight requests finish;
then the group committer commits what it holds, the bus drains (the
normalizer finishes what intake stored, relays publish what the broker
confirms), outbound delivery stops, and the store closes last.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web

from taxonomy.mapping import use_local_tables

from . import logmask, logs
from .actions.delivery import load_workflows, make_deliver
from .actions.engine import ActionsEngine, Deliver
from .actions.tickets import TicketForwarder
from .bus import make_bus
from .carriers.base import CarrierClient
from .carriers.config import clients_from_env, credentials_from_env
from .config import Settings
from .drain import Drain
from .group_commit import GroupCommitter
from .keys import (ACTIONS, BUS, CARRIER_CLIENTS, COMMITTER, DELIVER, DRAIN, ESCALATED, GUARDS, OUTBOUND, POLLER,
                   SETTINGS, STORE, STORED, WORKFLOWS)
from .outbound.dispatcher import WebhookDispatcher
from .outbound.pruning import LogPruner
from .polling.poller import Poller
from .signatures import DEFAULT_SCHEMES
from .store import StoreUnavailable, open_store
from .web import admin, api, console, docs, escalations, intake, subscriptions, trackings
from .web.guard import build_guards
from .web.metrics_site import metrics_site_ctx
from .web.problems import ProblemError, as_problem, problem

log = logging.getLogger(__name__)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = open_store(settings.db, sqlite_synchronous=settings.sqlite_synchronous, pool_size=settings.db_pool_size)
    await store.open()
    app[STORE] = store
    yield
    await store.close()


async def _outbound_ctx(app: web.Application) -> AsyncIterator[None]:
    """Outbound webhooks: subscribers receive matching feed events; stopped before the store closes (a
    cursor moves only after its whole batch was answered, so a stop mid-batch loses nothing)."""
    settings = app[SETTINGS]
    if not settings.webhooks_out:
        app[OUTBOUND] = None
        yield
        return
    dispatcher = WebhookDispatcher.from_settings(app[STORE], settings)
    pruner = LogPruner(app[STORE], keep=settings.outbound_log_keep, days=settings.outbound_log_days)
    app[OUTBOUND] = dispatcher
    await dispatcher.start()
    pruner.start()
    yield
    await pruner.close()
    await dispatcher.close()


async def _intake_ctx(app: web.Application) -> AsyncIterator[None]:
    committer = GroupCommitter(app[STORE], linger=app[SETTINGS].commit_linger_ms / 1000)
    committer.start()
    app[COMMITTER] = committer
    normalizer = getattr(app[BUS], "normalizer", None)
    if normalizer is not None:  # the in-process normalizer gives way to intake under load
        normalizer.intake_waiting = lambda: committer.waiting
    yield
    await committer.close()


async def _poller_ctx(app: web.Application) -> AsyncIterator[None]:
    """Carrier polling, for the carriers with credentials; stopped before the bus drains what it stored."""
    settings = app[SETTINGS]
    if not settings.poll:
        app[POLLER] = None
        yield
        return
    session = None
    clients = app[CARRIER_CLIENTS]
    if clients is None:
        session = aiohttp.ClientSession()
        clients = clients_from_env(os.environ, session)
    poller = Poller(app[STORE], app[STORED], clients, default_rate=settings.poll_rate, lease=settings.poll_lease)
    app[POLLER] = poller
    await poller.start()
    yield
    await poller.close()
    if session is not None:
        await session.close()


async def _actions_ctx(app: web.Application) -> AsyncIterator[None]:
    """The exception workflows; stopped after the bus drained, so they see the last events too."""
    settings = app[SETTINGS]
    if not settings.actions:
        app[ACTIONS] = None
        yield
        return
    policy, templates = app[WORKFLOWS]
    async with aiohttp.ClientSession() as session:
        deliver = app[DELIVER] or make_deliver(settings, templates, session)
        tickets = None
        if settings.ticket_webhook_url and settings.ticket_webhook_secret:
            tickets = TicketForwarder(app[STORE], app[STORE], settings.ticket_webhook_url,
                                      settings.ticket_webhook_secret, session)
        engine = ActionsEngine(app[STORE], policy, deliver, tickets=tickets, changed=app[ESCALATED])
        app[ACTIONS] = engine
        await engine.start()
        yield
        await engine.close()


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = make_bus(app[STORE], app[STORED], app[SETTINGS], escalated=app[ESCALATED])
    app[BUS] = bus
    await bus.start()
    yield
    await bus.close()


async def _shutdown_begins(app: web.Application) -> None:
    """The first thing the graceful stop runs (after the drain period): the in-process normalizer's shutdown
    budget starts counting."""
    normalizer = getattr(app.get(BUS), "normalizer", None)
    if normalizer is not None:
        normalizer.begin_shutdown()


_RID_PREFIX = secrets.token_hex(4)  # this process's; ids need to be unique, not unguessable
_rid_counter = itertools.count(1)


def _new_request_id() -> str:
    """16 hex digits, unique across processes and restarts (a random prefix per process, then a
    counter) without a system call per request."""
    return f"{_RID_PREFIX}{next(_rid_counter) & 0xFFFFFFFF:08x}"


@web.middleware
async def _request_context(request: web.Request, handler) -> web.StreamResponse:
    """Every request has an id (the caller's X-Request-Id, or a new one) in its logs and its response;
    a store that cannot answer (disk full, locked past its patience) is a temporary state: 503.

    One middleware for both: each layer is a coroutine frame on every webhook.
    """
    rid = _printable(request.headers.get("X-Request-Id", ""))[:64] or _new_request_id()
    token = logs.request_id.set(rid)
    try:
        try:
            response = await handler(request)
        except ConnectionError:  # the client went away; nothing to answer
            raise
        except ProblemError as exc:
            response = exc.response()
        except (StoreUnavailable, OSError) as exc:
            log.exception("%s %s: store unavailable", request.method, request.path)
            response = problem(503, "unavailable", f"store unavailable ({type(exc).__name__}); retry later",
                               headers={"Retry-After": "5"})
        except web.HTTPException as exc:  # aiohttp's own error answers
            if exc.status < 400:
                exc.headers["X-Request-Id"] = rid
                raise
            response = exc
    finally:
        logs.request_id.reset(token)
    if response.status >= 400:  # every error in one shape (RFC 9457), whichever code path answered it
        response = as_problem(response)
    response.headers["X-Request-Id"] = rid
    return response


def _printable(value: str) -> str:
    """A caller's request id as logs and headers can carry it: printable ASCII only (headers arrive decoded
    with surrogate escapes; those must not reach a log line or a response header)."""
    return value if value.isascii() and value.isprintable() else ""


FALLBACK_PATH = "/{path:[\\s\\S]*}"  # any path, newlines included


def create_app(settings: Settings | None = None, carrier_clients: Mapping[str, CarrierClient] | None = None,
               deliver: Deliver | None = None) -> web.Application:
    """The service; `carrier_clients` and `deliver` replace the configured carrier clients and
    notification channels (tests)."""
    settings = settings or Settings.from_env()
    if carrier_clients is None and settings.poll:
        credentials_from_env(os.environ)  # half-configured carrier credentials stop the start, named
    guards = build_guards(settings)  # a misconfigured source stops the start, with every problem named
    logmask.remember_credential_names(  # header and query credentials are masked in logs whatever their name
        scheme.split(":", 1)[1] for scheme in (*DEFAULT_SCHEMES.values(), *settings.auth.values())
        if scheme.startswith(("header:", "query:")))
    use_local_tables(settings.maps_dir)  # a broken local mapping table stops the start too
    logs.quiet_malformed_requests()
    # Body limits are enforced by the intake handler per source (clear 413); aiohttp's own limit sits above them.
    largest = max(g.max_body for g in guards.sources.values())
    app = web.Application(client_max_size=largest + 1, middlewares=[_request_context])
    app[SETTINGS] = settings
    app[GUARDS] = guards
    app[STORED] = asyncio.Event()
    app[ESCALATED] = asyncio.Event()
    app[CARRIER_CLIENTS] = carrier_clients
    app[DELIVER] = deliver
    app[DRAIN] = Drain(settings.drain_seconds)  # `serve` installs its signal handlers (service.cli)
    # A broken policy or template stops the start, not the first send.
    app[WORKFLOWS] = load_workflows(settings) if settings.actions else ()
    app.cleanup_ctx.extend([_store_ctx, _outbound_ctx, _actions_ctx, _bus_ctx, _intake_ctx, _poller_ctx])
    app.on_shutdown.append(_shutdown_begins)
    if settings.metrics_port is not None:  # `/metrics` on its own port, and not on the public one
        app.cleanup_ctx.insert(1, metrics_site_ctx)
    if settings.open_read:
        log.warning("CARRIER_EVENTS_OPEN_READ is on: anyone who reaches port %d reads the event feed and shipment "
                    "state, recipient names and postcodes included; set CARRIER_EVENTS_READ_TOKEN instead",
                    settings.port)
    app.router.add_post("/webhooks/{source}", intake.receive_webhook, expect_handler=intake.expect)
    app.router.add_get("/v1/shipments/{carrier}/{tracking_number}", api.get_shipment)
    app.router.add_get("/v1/shipments/{carrier}/{tracking_number}/notifications", escalations.shipment_notifications)
    app.router.add_get("/v1/events", api.get_events)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_get("/v1/admin/dlq", api.list_dlq)
    app.router.add_post("/v1/admin/dlq/{id}/replay", api.replay_dlq)
    app.router.add_post("/v1/admin/replay", admin.replay)
    app.router.add_get("/v1/admin/unmapped", admin.list_unmapped)
    if settings.metrics_port is None:
        app.router.add_get("/metrics", api.metrics_text)
    app.router.add_post("/v1/trackings", trackings.register)
    app.router.add_post("/v1/trackings/bulk", trackings.register_bulk)
    app.router.add_get("/v1/trackings", trackings.list_trackings)
    app.router.add_get("/v1/trackings/{carrier}/{tracking_number}", trackings.get_tracking)
    app.router.add_delete("/v1/trackings/{carrier}/{tracking_number}", trackings.deregister)
    app.router.add_post("/v1/subscriptions", subscriptions.create)
    app.router.add_get("/v1/subscriptions", subscriptions.list_subscriptions)
    app.router.add_get("/v1/subscriptions/{id}", subscriptions.get_subscription)
    app.router.add_patch("/v1/subscriptions/{id}", subscriptions.change)
    app.router.add_delete("/v1/subscriptions/{id}", subscriptions.delete)
    app.router.add_post("/v1/subscriptions/{id}/rotate-secret", subscriptions.rotate_secret)
    app.router.add_post("/v1/subscriptions/{id}/test", subscriptions.send_test)
    app.router.add_get("/v1/subscriptions/{id}/deliveries", subscriptions.deliveries)
    app.router.add_post("/v1/subscriptions/{id}/redeliver", subscriptions.redeliver)
    app.router.add_post("/v1/subscriptions/{id}/replay", subscriptions.replay)
    app.router.add_get("/v1/escalations", escalations.list_escalations)
    app.router.add_get("/v1/escalations/{id}", escalations.get_escalation)
    for action in ("acknowledge", "resolve", "assign"):
        app.router.add_post(f"/v1/escalations/{{id}}/{action}", escalations.change)
    app.router.add_get("/console", console.page)
    app.router.add_get("/console/{file}", console.page)
    app.router.add_get("/openapi.json", docs.openapi)
    # Last: whatever matched nothing above gets a JSON 404/405, and a malformed Expect header a JSON 417.
    app.router.add_route("*", FALLBACK_PATH, api.not_found, expect_handler=intake.expect)
    return app
