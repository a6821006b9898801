"""`/console`: the customer-service console, three static files served from package data.

The page itself holds no data, so it is served without a token; everything it
shows comes from `/v1/escalations` (CS or admin token, entered on the page and
kept in the tab's sessionStorage) and `/v1/shipments`. A strict Content
Security Policy allows only this origin's script and style and no inline code,
so a carrier description that looks like HTML stays text even if a rendering
bug slipped through.
"""
from __future__ import annotations

import importlib.resources

from aiohttp import web

_FILES = {"index.html": "text/html", "console.js": "text/javascript", "console.css": "text/css"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return importlib.resources.files("service.web").joinpath("console", name).read_bytes()


async def page(request: web.Request) -> web.Response:
    name = request.match_info.get("file") or "index.html"
    if name not in _FILES:
        return web.json_response({"error": f"no console file {name}"}, status=404)
    return web.Response(body=_read(name), content_type=_FILES[name], charset="utf-8", headers=_HEADERS)
