"""Operations endpoints shared by `serve` and `worker`: `/metrics`, `/healthz`, `/readyz`.

`serve` mounts the handlers on its own app (`service.app`); a `worker` has no
HTTP API, so `start_ops` serves the same three on a port of its own
(`CARRIER_EVENTS_WORKER_PORT`, on `CARRIER_EVENTS_HOST`), so that the
recommended layout (normalizing in workers) is as visible to monitoring and
orchestrators as `serve` is. Both answer from the same functions, so a probe
or a scrape means the same thing on either process.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import metrics
from .config import Settings
from .keys import OPS_BROKER, OPS_STOPPING, OPS_STORE, BrokerState
from .store.ports import Store

log = logging.getLogger(__name__)


class PortUnavailable(OSError):
    """The worker's port is taken (another worker on this host?): a configuration error, named as such."""


async def scrape(store: Store) -> bytes:
    """The Prometheus exposition, with the backlogs read from the store now."""
    metrics.set_backlog(await store.counts())
    metrics.set_open_escalations(await store.open_escalation_counts())
    return metrics.exposition()


async def readiness(store: Store, broker: bool | None, draining: bool,
                    needs_broker: bool = True) -> tuple[bool, dict[str, Any]]:
    """Ready when the store takes writes, no stop was asked for and, where the work needs it (a worker's
    consumers), the broker is connected. `serve` does not need it: intake stores and answers 202 while the
    broker is away and its relays publish afterwards, so a balancer must keep sending it webhooks."""
    store_ok = await store.writable()
    ready = store_ok and not draining and not (needs_broker and broker is False)
    return ready, {"ready": ready, "store": "writable" if store_ok else "failing",
                   "broker": "n/a" if broker is None else ("connected" if broker else "disconnected"),
                   "draining": draining}


async def metrics_text(request: web.Request) -> web.Response:
    return web.Response(body=await scrape(request.app[OPS_STORE]), headers={"Content-Type": metrics.CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready, body = await readiness(request.app[OPS_STORE], request.app[OPS_BROKER](), request.app[OPS_STOPPING]())
    return web.json_response(body, status=200 if ready else 503)


def create_ops_app(store: Store, broker: BrokerState, stopping: Callable[[], bool]) -> web.Application:
    app = web.Application()
    app[OPS_STORE] = store
    app[OPS_BROKER] = broker
    app[OPS_STOPPING] = stopping
    app.router.add_get("/metrics", metrics_text)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_ops(settings: Settings, store: Store, broker: BrokerState,
                    stopping: Callable[[], bool]) -> web.AppRunner | None:
    """Serve the endpoints on `settings.host`:`settings.worker_port` until `runner.cleanup()`; port 0: none.

    `stopping`: true once the worker was told to stop (it finishes its batch meanwhile): not ready."""
    if not settings.worker_port:
        return None
    runner = web.AppRunner(create_ops_app(store, broker, stopping), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.worker_port).start()
    except OSError as exc:
        await runner.cleanup()
        raise PortUnavailable(f"cannot serve /metrics, /healthz, /readyz on {settings.host}:{settings.worker_port} "
                              f"({exc.strerror or exc}): give each worker on this host its own "
                              "CARRIER_EVENTS_WORKER_PORT, or 0 for none") from exc
    log.info("worker metrics and probes on http://%s:%d", settings.host, settings.worker_port)
    return runner
