"""Repair endpoints for operators: what the mapping tables do not know yet, and replaying stored documents."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web

from ..config import SOURCES
from ..keys import STORE, STORED
from ..replay_preview import preview
from ..store import ReplayFilter
from .api import _int, _require_admin


async def list_unmapped(request: web.Request) -> web.Response:
    """Unknown carrier codes by frequency, each with the latest description seen."""
    _require_admin(request)
    limit = _int(request, "limit", 500, 1, 5000)
    return web.json_response({"items": await request.app[STORE].unmapped(limit)})


async def replay(request: web.Request) -> web.Response:
    """Re-normalize stored documents chosen by a filter (JSON body, all fields optional):
    {"states": ["quarantined", "dead"], "source", "carrier", "since", "until", "reason", "limit", "dry_run"}.
    Only events that did not exist before are published."""
    _require_admin(request)
    try:
        raw = await request.json() if request.can_read_body else {}
        if not isinstance(raw, dict):
            raise ValueError("the body must be a JSON object")
        dry_run = raw.pop("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ValueError("dry_run must be true or false")
        selection = replay_filter(raw)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
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
        raise ValueError(f"unknown source {source!r}")
    limit = raw.get("limit", 100_000)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError("limit must be a positive integer")
    return ReplayFilter(states=tuple(states), source=source, carrier=raw.get("carrier"),
                        since=_moment(raw.get("since"), "since"), until=_moment(raw.get("until"), "until"),
                        reason=raw.get("reason"), limit=limit)


def _moment(value: object, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, not {value!r}") from None
