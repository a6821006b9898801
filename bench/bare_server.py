"""The baseline: an aiohttp handler that reads the body and answers 202, nothing else.

`python -m bench.bare_server PORT`. Measured with the same load generator in
the same run as the service, and on the same event loop (`service.event_loop`),
it is the ceiling the service's intake is compared with.
"""
from __future__ import annotations

import sys

from aiohttp import web

from service import event_loop


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"id": "0", "duplicate": False}, status=202)


def main() -> None:
    app = web.Application(client_max_size=10 * 1024 * 1024 + 1)
    app.router.add_post("/webhooks/{source}", accept)
    app.router.add_get("/readyz", lambda r: web.json_response({"ready": True}))
    # The service's own event loop, so the ratio measures what durability costs, not a loop's speed.
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=event_loop.new())


if __name__ == "__main__":
    main()
