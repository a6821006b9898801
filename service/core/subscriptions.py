"""Decisions of the subscriptions API, pure: new ids and secrets, what a change sets, what a caller sees.

Kept apart from the handlers so the rules (enabling clears the failing
streak, a rotation keeps the previous secret for the overlap, the secret is
never part of a view) read in one place and are tested without a server.
"""
from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timedelta, timezone

from taxonomy.models import utc_text

from ..rows import DeliveryAttempt, Subscription

ID_PREFIX = "sub_"
_ID = re.compile(r"sub_[0-9a-f]{24}")
SECRET_PREFIX = "whsec_"
DISABLED_BY_API = "disabled through the API"
MAX_SEQ = 2**63 - 1  # feed positions are signed 64-bit in both stores


def new_id() -> str:
    """`sub_` + 24 hex digits: 96 random bits, so ids are not guessable from one another."""
    return ID_PREFIX + secrets.token_hex(12)


def is_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (HMAC-SHA256's block-sized key)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def now_text(now: datetime | None = None) -> str:
    return utc_text(now or datetime.now(timezone.utc))


def create(url: str, patterns: tuple[str, ...], description: str, cursor: int, now: datetime) -> Subscription:
    """A new enabled subscription whose deliveries start after feed position `cursor`."""
    stamp = now_text(now)
    return Subscription(id=new_id(), url=url, filter=patterns, description=description, enabled=True,
                        secret=new_secret(), cursor=cursor, created_at=stamp, updated_at=stamp)


def enable_changes(enabled: bool, now: datetime) -> dict[str, object]:
    """Enabling starts afresh: no disabled reason, no failing streak (the next attempt is now). Disabling
    records who did it and when; the cursor stays, so enabling again resumes where deliveries stopped."""
    if enabled:
        return {"enabled": True, "disabled_reason": None, "disabled_at": None, "failing_since": None,
                "next_attempt_at": None, "last_error": None}
    return {"enabled": False, "disabled_reason": DISABLED_BY_API, "disabled_at": now_text(now)}


def rotation_changes(current: Subscription, overlap_seconds: int, now: datetime) -> dict[str, object]:
    """A new secret; the current one keeps signing too until now + overlap (none when the overlap is 0).
    A secret that was already the previous one is dropped: only the latest two are ever valid."""
    keep = overlap_seconds > 0
    return {"secret": new_secret(), "previous_secret": current.secret if keep else None,
            "previous_secret_until": now_text(now + timedelta(seconds=overlap_seconds)) if keep else None}


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def state(sub: Subscription) -> str:
    if not sub.enabled:
        return "disabled"
    return "failing" if sub.failing_since else "active"


def view(sub: Subscription, head: int, now: datetime | None = None) -> dict[str, object]:
    """What a caller sees: everything but the secrets. `lag` is feed positions after the cursor; a rotation
    overlap that has run out is reported as none."""
    until = sub.previous_secret_until
    if until is not None and _instant(until) <= (now or datetime.now(timezone.utc)):
        until = None
    return {"id": sub.id, "url": sub.url, "filter": list(sub.filter), "description": sub.description,
            "enabled": sub.enabled, "state": state(sub), "disabled_reason": sub.disabled_reason,
            "disabled_at": sub.disabled_at, "failing_since": sub.failing_since,
            "next_attempt_at": sub.next_attempt_at, "last_error": sub.last_error, "cursor": sub.cursor,
            "lag": max(0, head - sub.cursor), "previous_secret_until": until, "created_at": sub.created_at,
            "updated_at": sub.updated_at}


def created_view(sub: Subscription, head: int) -> dict[str, object]:
    """The 201 of a creation: the view and, this once, the secret."""
    return {**view(sub, head), "secret": sub.secret}


def attempt_view(attempt: DeliveryAttempt) -> dict[str, object]:
    return {"seq": attempt.seq, "event_id": attempt.event_id, "attempt": attempt.attempt, "ok": attempt.ok,
            "status": attempt.status, "latency_ms": round(attempt.latency_ms, 3), "error": attempt.error,
            "at": attempt.at}


def log_cursor(attempt: DeliveryAttempt) -> str:
    """The delivery log's `next`: the (at, seq, id) of a page's last row, as one query-safe string (the row id
    orders the attempts that share a second and an event, so a page may end among them)."""
    return f"{attempt.seq}_{attempt.id}_{attempt.at}"


def parse_log_cursor(value: str) -> tuple[str, int, int] | None:
    """`log_cursor`'s (at, seq, id) back, or None for a string it did not make."""
    seq, _, rest = value.partition("_")
    row, sep, at = rest.partition("_")
    if not sep or not all(n.isascii() and n.isdigit() and len(n) <= 19 and int(n) <= MAX_SEQ for n in (seq, row)) \
            or len(at) > 40:
        return None
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            return None
        return utc_text(moment.astimezone(timezone.utc)), int(seq), int(row)
    except (ValueError, OverflowError):  # not a time; a time before the first UTC instant
        return None
