"""Outbound-webhook rows as both adapters store and read them: columns, conversions, the checks on changes.

Both adapters select the same columns in the same order and build the typed
rows here, so a subscription reads the same whichever database holds it.
Times cross the seam as RFC 3339 UTC text in whole seconds (as every other
row does); SQLite stores that text, PostgreSQL a `timestamptz`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone

import orjson

from taxonomy.models import utc_text

from ..rows import DeliveryAttempt, OutEvent, Subscription
from .shapes import text_time

SUBSCRIPTION_COLUMNS = tuple(f.name for f in fields(Subscription))
TIME_COLUMNS = frozenset({"created_at", "updated_at", "previous_secret_until", "disabled_at", "failing_since",
                          "next_attempt_at"})
FIXED = frozenset({"id", "created_at"})  # what `update_subscription` may not change
ATTEMPT_COLUMNS = ("subscription_id", "seq", "event_id", "attempt", "ok", "status", "latency_ms", "error", "at")
OUT_EVENT_COLUMNS = ("seq", "event_id", "routing_key", "body", "created_at")

# Positions are drawn at commit but stamped when their transaction began, so around a moment a few rows can be
# out of stamp order; a replay "from a time" starts before the earliest row stamped at or after it among this
# many positions below the last one stamped before it (delivering a few events twice rather than skipping one).
DISORDER_WINDOW = 1000


def columns(names: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + n for n in names)


def instant(text: str) -> datetime:
    """RFC 3339 text as an aware UTC datetime in whole seconds (a naive time is taken as UTC).

    Raises ValueError for text that is not a time."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def utc(text: str | None) -> str | None:
    """The one spelling of a time the store keeps (`2026-03-01T08:00:00Z`), so text order is time order."""
    return None if text is None else utc_text(instant(text))


def subscription(r: Sequence) -> Subscription:
    """A row of SUBSCRIPTION_COLUMNS (filter as JSON text, enabled as 0/1 or bool, times as text or datetime)."""
    values = dict(zip(SUBSCRIPTION_COLUMNS, r))
    values["filter"] = tuple(orjson.loads(values["filter"]))
    values["enabled"] = bool(values["enabled"])
    for name in TIME_COLUMNS:
        values[name] = text_time(values[name])
    return Subscription(**values)


def stored(s: Subscription) -> dict[str, object]:
    """A subscription's column values as stored: filter as JSON text, times in the one spelling."""
    values: dict[str, object] = {name: getattr(s, name) for name in SUBSCRIPTION_COLUMNS}
    values["filter"] = orjson.dumps(list(s.filter)).decode()
    for name in TIME_COLUMNS:
        values[name] = utc(values[name])  # type: ignore[arg-type]
    return values


def changes(requested: dict[str, object], now: str) -> dict[str, object]:
    """The columns `update_subscription` sets, as stored; `updated_at` stamped `now` unless given.

    Raises ValueError for id, created_at or a name Subscription does not have: a caller's mistake, which
    must not silently change nothing."""
    unknown = sorted(set(requested) - set(SUBSCRIPTION_COLUMNS))
    if unknown:
        raise ValueError(f"a subscription has no field {', '.join(unknown)}")
    fixed = sorted(set(requested) & FIXED)
    if fixed:
        raise ValueError(f"a subscription's {', '.join(fixed)} cannot change")
    values = {"updated_at": now, **requested}
    if "filter" in values:
        values["filter"] = orjson.dumps(list(values["filter"])).decode()  # type: ignore[call-overload]
    if "enabled" in values:
        values["enabled"] = bool(values["enabled"])
    for name in TIME_COLUMNS & set(values):
        values[name] = utc(values[name])  # type: ignore[arg-type]
    return values


def attempt(r: Sequence) -> DeliveryAttempt:
    """A row of ATTEMPT_COLUMNS and the row's id."""
    return DeliveryAttempt(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], text_time(r[8]), r[9])


def out_event(r: Sequence) -> OutEvent:
    """A row of OUT_EVENT_COLUMNS."""
    return OutEvent(r[0], r[1], r[2], bytes(r[3]), text_time(r[4]))
