"""How often to poll a shipment, from what we know of it. Pure functions; the clock is an argument.

A parcel out for delivery changes within the hour; one with a label and no
scan may sit for days. Polling each as often as its status deserves is what
keeps thousands of shipments inside a carrier's rate limit. Every interval is
jittered so shipments registered together drift apart instead of coming due
together forever.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from taxonomy import TERMINAL_STATUSES, Status

HOUR = 3600.0


@dataclass(frozen=True)
class PollPolicy:
    # Seconds between polls, by the shipment's current status; None (no events yet) uses `unscanned`.
    intervals: dict[str, float] = field(default_factory=lambda: {
        Status.LABEL_CREATED.value: 4 * HOUR, Status.PICKED_UP.value: 2 * HOUR, Status.IN_TRANSIT.value: 2 * HOUR,
        Status.OUT_FOR_DELIVERY.value: 0.5 * HOUR, Status.AVAILABLE_FOR_PICKUP.value: 4 * HOUR,
        Status.DELIVERY_ATTEMPTED.value: 1 * HOUR, Status.EXCEPTION.value: 1 * HOUR,
        Status.UNKNOWN.value: 2 * HOUR})
    unscanned: float = 1 * HOUR
    jitter: float = 0.1  # +-10 %
    give_up_after: timedelta = timedelta(days=30)  # since registration, without a terminal status: `expired`
    backoff_base: float = 60.0  # a failing carrier: 1, 2, 4, ... minutes, up to backoff_max
    backoff_max: float = 2 * HOUR
    # Webhook-fed shipments silent for longer than this (by status) get a reconciliation poll.
    silence: dict[str, float] = field(default_factory=lambda: {
        Status.LABEL_CREATED.value: 72 * HOUR, Status.PICKED_UP.value: 36 * HOUR,
        Status.IN_TRANSIT.value: 48 * HOUR, Status.OUT_FOR_DELIVERY.value: 12 * HOUR,
        Status.AVAILABLE_FOR_PICKUP.value: 120 * HOUR, Status.DELIVERY_ATTEMPTED.value: 36 * HOUR,
        Status.EXCEPTION.value: 48 * HOUR, Status.UNKNOWN.value: 48 * HOUR})


@dataclass(frozen=True, slots=True)
class Next:
    at: datetime | None  # None: stop polling
    state: str  # scheduled | done (terminal status) | expired (gave up)


def after_success(policy: PollPolicy, status: str | None, registered_at: datetime, now: datetime,
                  rng: random.Random = random._inst) -> Next:  # type: ignore[attr-defined]
    """The next poll after a successful one."""
    if status is not None and Status(status) in TERMINAL_STATUSES:
        return Next(None, "done")
    if now - registered_at >= policy.give_up_after:
        return Next(None, "expired")
    base = policy.intervals.get(status, policy.unscanned) if status else policy.unscanned
    return Next(now + timedelta(seconds=jittered(base, policy.jitter, rng)), "scheduled")


def after_failure(policy: PollPolicy, failures: int, retry_after: float | None, now: datetime,
                  rng: random.Random = random._inst) -> datetime:  # type: ignore[attr-defined]
    """Exponential backoff with jitter, never sooner than the carrier's Retry-After."""
    backoff = min(policy.backoff_max, policy.backoff_base * 2 ** max(0, failures - 1))
    wait = max(jittered(backoff, 0.5, rng), retry_after or 0.0)
    return now + timedelta(seconds=wait)


def jittered(seconds: float, spread: float, rng: random.Random) -> float:
    return seconds * (1 + rng.uniform(-spread, spread))
