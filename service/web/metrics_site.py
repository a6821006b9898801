"""`/metrics` on a port of its own (`CARRIER_EVENTS_METRICS_PORT`), away from the public webhook port.

A scraper inside the network reaches it; a carrier or a stranger who can
reach the webhooks cannot read queue depths and per-carrier counts. The site
is a second listener of the same process, opened after the store and closed
before it, so a scrape reads the same store the service writes.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..keys import SETTINGS, STORE
from . import api


async def metrics_site_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    site_app = web.Application(middlewares=app.middlewares)
    site_app[SETTINGS], site_app[STORE] = settings, app[STORE]
    site_app.router.add_get("/metrics", api.metrics_text)
    site_app.router.add_route("*", "/{path:[\\s\\S]*}", _not_here)
    runner = web.AppRunner(site_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    yield
    await runner.cleanup()


async def _not_here(request: web.Request) -> web.Response:
    return web.json_response({"error": f"this port serves /metrics only, not {request.path}"}, status=404)
