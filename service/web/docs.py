"""`GET /openapi.json`: the committed OpenAPI document, served as shipped.

Serving the committed file rather than generating it at run time means the
document a client fetches is the reviewed one a test keeps equal to the code,
and start-up pays nothing for schema generation. The file is read once.
"""
from __future__ import annotations

from functools import cache
from importlib.resources import files

from aiohttp import web

from .bearer import require_reader
from .problems import problem


@cache
def _document() -> bytes | None:
    try:
        return (files("service") / "published" / "openapi.json").read_bytes()
    except FileNotFoundError:  # an install without the package data: say so, not "store unavailable"
        return None


async def openapi(request: web.Request) -> web.Response:
    """Behind the read token like the API it describes (it names every endpoint an attacker would try)."""
    require_reader(request)
    body = _document()
    if body is None:
        return problem(404, "not-found", "openapi.json is not installed with this package")
    return web.Response(body=body, content_type="application/json")
