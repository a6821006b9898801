"""Reading query and path parameters strictly: every unknown name, malformed value or bad cursor is a 400
problem naming the parameter, never a silent default and never a 500.

Lists page the same way everywhere: `limit` (clamped to the endpoint's
range), `after` (the `next` of the previous page) and, in the answer,
`next` and `has_more`.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from aiohttp import web

from taxonomy.carriers import registry

from .problems import FieldError, ProblemError, invalid

MAX_ID = 2**63 - 1  # ids are signed 64-bit in both stores
MAX_OFFSET = 100_000
_DIGITS = re.compile(r"[0-9]{1,19}")


def check_query(request: web.Request, allowed: Collection[str]) -> None:
    """Refuse parameters the endpoint does not read (a typo would otherwise pass as "no filter")."""
    unknown = sorted({name for name in request.query if name not in allowed})
    if unknown:
        raise ProblemError(400, "invalid-parameter", f"unknown query parameter(s): {', '.join(unknown)}; this "
                           f"endpoint reads {', '.join(sorted(allowed)) or 'none'}",
                           [FieldError(f"query.{name}", "unknown parameter") for name in unknown])


def integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter, clamped to [low, high]; absent or empty: the default."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?[0-9]{1,30}", raw.strip()):
        raise invalid("query", name, "must be an integer")
    return max(low, min(high, int(raw)))


def cursor(request: web.Request, name: str = "after") -> int | None:
    """A numeric cursor (`next` of the previous page), or None for the first page."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_ID:
        raise invalid("query", name, "not a cursor this endpoint gave out (pass `next` back unchanged)")
    return int(raw)


def offset(request: web.Request, name: str = "after") -> int:
    """The cursor of a list ordered by a rank that changes (urgency, frequency): how many rows precede the
    page. Such a page may repeat or miss a row that moved meanwhile; filters narrow a long list instead."""
    value = cursor(request, name) or 0
    if value > MAX_OFFSET:
        raise invalid("query", name, f"offset cursors go at most {MAX_OFFSET} rows deep; narrow the filters")
    return value


def choices(request: web.Request, name: str, allowed: Sequence[str]) -> str | None:
    """A comma-separated filter whose every value must be one of `allowed`; None when absent."""
    raw = request.query.get(name)
    if not raw:
        return None
    wrong = [v for v in raw.split(",") if v not in allowed]
    if wrong:
        raise invalid("query", name, f"unknown value(s) {', '.join(map(repr, wrong[:5]))}; one of "
                      f"{', '.join(allowed)}")
    return raw


def carriers(request: web.Request, name: str = "carrier") -> str | None:
    """A comma-separated carrier filter, each a slug of the carrier registry."""
    raw = request.query.get(name)
    if not raw:
        return None
    for value in raw.split(","):
        known_carrier(value, "query", name)
    return raw


def known_carrier(slug: str, where: str, name: str = "carrier") -> str:
    if slug not in registry():
        raise invalid(where, name, f"unknown carrier {slug[:40]!r} (not in the carrier registry)",
                      status=400 if where != "body" else 422, code="unknown-carrier")
    return slug


def text(request: web.Request, name: str, max_length: int = 200) -> str | None:
    raw = request.query.get(name)
    if not raw:
        return None
    if len(raw) > max_length or not raw.isprintable():
        raise invalid("query", name, f"must be printable text of at most {max_length} characters")
    return raw


def path_id(request: web.Request, name: str = "id") -> int:
    """A positive 64-bit id from the path; anything else (letters, 20 digits, 2**64) is a 400."""
    raw = request.match_info[name]
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_ID:
        raise invalid("path", name, f"must be a positive integer below 2^63, not {raw[:40]!r}")
    return int(raw)


def page(rows: list, limit: int) -> tuple[list, bool]:
    """`rows` fetched with `limit + 1`: the page and whether more follow."""
    return rows[:limit], len(rows) > limit
