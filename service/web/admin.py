"""Repair endpoints for operators: what the mapping tables do not know yet, and replaying stored documents."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web

from taxonomy.carriers import registry

from ..config import SOURCES
from ..keys import STORE, STORED
from ..replay_preview import preview
from ..store import ReplayFilter
from .api import _require_admin
from .bodies import ReplayRequest
from .params import check_query, integer, offset, page
from .problems import FieldError, ProblemError
from .requests import json_object, validated


async def list_unmapped(request: web.Request) -> web.Response:
    """Unknown carrier codes by frequency, each with the latest description seen."""
    _require_admin(request)
    check_query(request, ("after", "limit"))
    limit, skip = integer(request, "limit", 500, 1, 5000), offset(request)
    items, more = page(await request.app[STORE].unmapped(limit + 1, skip), limit)
    return web.json_response({"items": items, "next": str(skip + limit) if more else None, "has_more": more})


async def replay(request: web.Request) -> web.Response:
    """Re-normalize stored documents chosen by a filter (JSON body, all fields optional):
    {"states": ["quarantined", "dead"], "source", "carrier", "since", "until", "reason", "limit", "dry_run"}.
    Only events that did not exist before are published."""
    _require_admin(request)
    check_query(request, ())
    raw = await json_object(request, optional=True)
    validated(ReplayRequest, raw, strict=True)  # types and names first: each wrong field named, never a 500
    dry_run = raw.pop("dry_run", False)
    try:
        selection = replay_filter(raw)
    except ValueError as exc:
        field = getattr(exc, "field", None) or next((n for n in raw if str(exc).startswith(n)), None)
        raise ProblemError(422, "invalid-field", str(exc),
                           [FieldError(f"body.{field}" if field else "body", str(exc))]) from None
    ids = await request.app[STORE].replay(selection, dry_run=dry_run)
    if ids and not dry_run:
        request.app[STORED].set()
    # a dry run says what the replay would change, by carrier and code (service.replay_preview)
    answer = {"count": len(ids), "ids": [str(i) for i in ids[:1000]], "dry_run": dry_run,
              "changes": await preview(request.app[STORE], ids) if dry_run else None}
    return web.json_response(answer, status=200 if dry_run else 202)


def replay_filter(raw: dict) -> ReplayFilter:
    """A ReplayFilter from loosely typed input (JSON or command-line flags); ValueError says what is wrong."""
    unknown = set(raw) - {"states", "source", "carrier", "since", "until", "reason", "limit"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    states = raw.get("states") or ("quarantined", "dead")
    if isinstance(states, str):
        states = [s.strip() for s in states.split(",") if s.strip()]
    source = raw.get("source")
    if source is not None and source not in SOURCES:
        raise _Invalid("source", f"unknown source {source!r}")
    carrier = raw.get("carrier")
    if carrier is not None and carrier not in registry():
        raise _Invalid("carrier", f"unknown carrier {carrier!r} (not in the carrier registry)")
    limit = raw.get("limit", 100_000)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise _Invalid("limit", "limit must be a positive integer")
    return ReplayFilter(states=tuple(states), source=source, carrier=carrier,
                        since=_moment(raw.get("since"), "since"), until=_moment(raw.get("until"), "until"),
                        reason=raw.get("reason"), limit=limit)


def _moment(value: object, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _Invalid(name, f"{name} must be an ISO 8601 date or time, not {value!r}") from None


class _Invalid(ValueError):
    """A wrong value of one named field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
