"""Bearer tokens for the non-webhook APIs (admin, CS, trackings): one check, compared in constant time.

An API whose token is not configured is disabled (403 naming the variable to
set), never open; a wrong or missing token is 401 with a WWW-Authenticate
challenge. Several tokens may be valid at once (the admin token opens the CS
and trackings APIs too).
"""
from __future__ import annotations

import hmac
from collections.abc import Iterable

from aiohttp import web


def require_bearer(request: web.Request, tokens: Iterable[str | None], *, api: str, variable: str,
                   required: str, realm: str) -> None:
    valid = [t.encode() for t in tokens if t]
    if not valid:
        raise web.HTTPForbidden(text=f'{{"error": "{api} disabled: set {variable}"}}',
                                content_type="application/json")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip().encode()
    if not any([hmac.compare_digest(given, token) for token in valid]):  # a list: every token is compared
        raise web.HTTPUnauthorized(text=f'{{"error": "{required} required"}}', content_type="application/json",
                                   headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
