"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for every 4xx and 5xx.

A client branches on `type` (a stable URN per kind of error, never reworded)
and shows `detail`; `errors` names each offending field (`query.state`,
`path.id`, `body.customer.email`) so a form can point at it. `error` repeats
`detail`: clients written against the earlier `{"error": "..."}` bodies keep
working unchanged.

Handlers answer with `problem(...)` or raise `ProblemError`; the request
middleware turns anything else that ends in an error (an older
`{"error": ...}` body, aiohttp's own refusals) into the same shape, with the
type chosen by status, so no error leaves the service in another form.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from aiohttp import web

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:carrier-events:problem:"

# code -> title. A code is part of the HTTP contract: add new ones, never rename one.
TITLES: dict[str, str] = {
    "invalid-parameter": "A query or path parameter is invalid",
    "invalid-body": "The request body is not what this endpoint reads",
    "invalid-field": "A field of the request body is invalid",
    "unknown-carrier": "No such carrier in the carrier registry",
    "carrier-undetermined": "The carrier cannot be told from the tracking number",
    "unauthorized": "Missing or wrong credentials",
    "api-disabled": "This API is disabled by configuration",
    "not-found": "No such resource",
    "method-not-allowed": "Method not allowed",
    "conflict": "Not possible in the resource's current state",
    "request-timeout": "The request was not received in time",
    "payload-too-large": "The body is over the limit",
    "unsupported-media-type": "Unsupported content type",
    "expectation-failed": "Unsupported Expect header",
    "rate-limited": "Over the rate limit",
    "unavailable": "Temporarily unavailable",
    "bad-request": "Bad request",
    "internal": "Internal error",
}
# For errors built without a code (older handlers, aiohttp's own answers): the code their status means.
BY_STATUS: dict[int, str] = {400: "bad-request", 401: "unauthorized", 403: "api-disabled", 404: "not-found",
                             405: "method-not-allowed", 408: "request-timeout", 409: "conflict",
                             413: "payload-too-large", 415: "unsupported-media-type", 417: "expectation-failed",
                             422: "invalid-field", 429: "rate-limited", 503: "unavailable"}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending input: where (`query.<name>`, `path.<name>`, `header.<name>`, `body.<dotted path>`)
    and what is wrong with it."""

    field: str
    message: str


def code_of(status: int) -> str:
    return BY_STATUS.get(status, "internal" if status >= 500 else "bad-request")


def body(status: int, code: str, detail: str, errors: Iterable[FieldError] = (), **extra: object) -> bytes:
    """The problem document's bytes; `extra` members (e.g. `candidates`) go beside the standard ones."""
    document = {"type": TYPE_PREFIX + code, "title": TITLES.get(code, TITLES["bad-request"]), "status": status,
                "detail": detail, "error": detail,
                "errors": [{"field": e.field, "message": e.message} for e in errors], **extra}
    return orjson.dumps(document)


def problem(status: int, code: str, detail: str, errors: Iterable[FieldError] = (),
            headers: Mapping[str, str] | None = None, **extra: object) -> web.Response:
    return web.Response(status=status, body=body(status, code, detail, errors, **extra), content_type=CONTENT_TYPE,
                        headers=headers)


class ProblemError(Exception):
    """Raised from deep inside a handler (a parameter parser, a token check); answered as `problem(...)`."""

    def __init__(self, status: int, code: str, detail: str, errors: Iterable[FieldError] = (),
                 headers: Mapping[str, str] | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers, self.extra = tuple(errors), dict(headers or {}), extra

    def response(self) -> web.Response:
        return problem(self.status, self.code, self.detail, self.errors, self.headers, **self.extra)


def invalid(where: str, name: str, message: str, *, status: int = 400, code: str = "invalid-parameter") -> ProblemError:
    """One invalid input, named: `invalid("query", "state", "must be one of ...")`."""
    return ProblemError(status, code, f"{where} {name}: {message}", (FieldError(f"{where}.{name}", message),))


def _detail_of(raw: bytes, fallback: str) -> tuple[str, dict[str, object]]:
    """The sentence of an older `{"error": ...}` body, and its other members (kept as extensions)."""
    try:
        parsed = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        extra = {k: v for k, v in parsed.items() if k not in ("error", "type", "title", "status", "detail", "errors")}
        return parsed["error"], extra
    text = raw.decode("utf-8", "replace").strip() if raw else ""
    return (text[:500] or fallback), {}


def as_problem(response: web.StreamResponse) -> web.StreamResponse:
    """An error response (or a raised aiohttp error, which is a response too) in problem form: itself when it
    already is one, else rebuilt from its body with the type its status means (and the connection handling
    the handler chose: an answer given before the body was read closes its connection)."""
    rebuilt = _rebuilt(response)
    if rebuilt is not response and response.keep_alive is False:
        rebuilt.force_close()
    return rebuilt


def _rebuilt(response: web.StreamResponse) -> web.StreamResponse:
    if response.status < 400 or not isinstance(response, web.Response):
        return response
    raised = isinstance(response, web.HTTPException)  # handed back as a plain response (returning one is deprecated)
    if response.content_type == CONTENT_TYPE and not raised:
        return response
    raw = response.body if isinstance(response.body, bytes) else b""
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("content-type", "content-length", "content-encoding")}
    if response.content_type == CONTENT_TYPE:
        return web.Response(status=response.status, body=raw, content_type=CONTENT_TYPE, headers=headers)
    if response.content_type == "application/json" and not raised and not raw.startswith(b'{"error"'):
        try:
            if "error" not in orjson.loads(raw):
                return response  # a documented body of its own (the 503 of /readyz says what is not ready)
        except (orjson.JSONDecodeError, TypeError):
            pass
    detail, extra = _detail_of(raw, response.reason or "error")
    return problem(response.status, code_of(response.status), detail, headers=headers, **extra)
