"""When a failing delivery is tried again, and when a subscriber is given up: pure arithmetic.

Exponential backoff (1 s, 2 s, 4 s ... capped at an hour) spreads retries of
a receiver that is down for minutes or days alike, and the ±20 % jitter
keeps the subscriptions of one broken receiver, or several processes, from
retrying in lock step. A receiver that says when to come back
(`Retry-After`, on 429 or 503) is believed, up to the give-up deadline: it
knows its own recovery better than any schedule. After `limit` seconds of
failing without one success (3 days by default) the subscription is
disabled, so a receiver gone for good stops costing a request an hour.
"""
from __future__ import annotations

import random
from collections.abc import Callable

BASE = 1.0
CAP = 3600.0
JITTER = 0.2
GIVE_UP = 259_200.0  # 3 days


def next_delay(failures: int, *, retry_after: float | None = None, remaining: float | None = None,
               rng: Callable[[], float] = random.random, base: float = BASE, cap: float = CAP) -> float:
    """Seconds to wait after the `failures`-th consecutive failure (1 for the first).

    `retry_after`: the receiver's own answer, which wins over the schedule; `remaining`: seconds left
    until the give-up deadline (no wait reaches past it: the last try happens at the deadline).
    """
    if failures < 1:
        raise ValueError("failures counts from 1")
    if retry_after is not None and retry_after >= 0:
        delay = retry_after
    else:
        exponent = min(failures - 1, 62)  # 2**62 s is far past any cap; keeps the float finite
        delay = min(cap, base * 2.0 ** exponent) * (1 - JITTER + 2 * JITTER * rng())
    if remaining is not None:
        delay = min(delay, max(0.0, remaining))
    return delay


def give_up(failing_since: float, now: float, limit: float = GIVE_UP) -> bool:
    """True once a subscription has failed for `limit` seconds without a success in between."""
    return now - failing_since >= limit


def table(limit: float = GIVE_UP, base: float = BASE, cap: float = CAP) -> list[tuple[int, float, float]]:
    """(attempt, wait before it, time since the first failure) without jitter, up to the give-up: the
    schedule as documentation shows it. Attempt 1 is the first retry."""
    rows: list[tuple[int, float, float]] = []
    elapsed, failures = 0.0, 0
    while elapsed < limit:
        failures += 1
        wait = next_delay(failures, remaining=limit - elapsed, rng=lambda: 0.5, base=base, cap=cap)
        elapsed += wait
        rows.append((failures, wait, elapsed))
    return rows


def describe(limit: float = GIVE_UP) -> str:
    """The schedule as a Markdown table: every doubling, then the hourly tail in one line."""
    rows = table(limit)
    lines = ["| retry | wait before it | since the first failure |", "|---|---|---|"]
    capped = [r for r in rows if r[1] >= CAP]
    for attempt, wait, elapsed in rows:
        if wait >= CAP:
            break
        lines.append(f"| {attempt} | {_human(wait)} | {_human(elapsed)} |")
    if capped:
        first, last = capped[0], rows[-1]
        lines.append(f"| {first[0]}–{last[0]} | {_human(CAP)} each | up to {_human(last[2])} (then disabled) |")
    return "\n".join(lines)


def _human(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    if seconds < 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"
