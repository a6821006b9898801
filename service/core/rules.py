"""Small rules both store adapters apply: escalation transitions, SLA breaches, tracking registration."""
from __future__ import annotations

from dataclasses import dataclass

from ..actions.policy import SEVERITIES

# action -> (states it may start from, the state it leads to); `assign` changes no state.
TRANSITIONS = {"acknowledge": ({"open"}, "acknowledged"), "resolve": ({"open", "acknowledged", "waiting"}, "resolved")}


class TransitionRefused(ValueError):
    pass


def transition_target(state: str, action: str) -> str:
    """The state after `action` (`acknowledge`, `resolve`, `assign`), or TransitionRefused saying why not."""
    if action == "assign":
        if state == "resolved":
            raise TransitionRefused("a resolved escalation cannot be assigned")
        return state
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        raise TransitionRefused(f"cannot {action} an escalation that is {state}")
    return target


def transition_detail(action: str, target: str, assignee: str | None, note: str | None) -> tuple[str, str]:
    """The audit line (action, detail) a transition writes."""
    if action == "assign":
        return "assigned", f"to {assignee}" + (f": {note}" if note else "")
    return target, note or ""


def raised(severity: str) -> str:
    """One severity step up (an SLA breach), `critical` staying `critical`."""
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def merged_customer(stored: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """Registering again updates the contact fields given and keeps the others."""
    return {**stored, **given}



@dataclass(frozen=True, slots=True)
class Budget:
    """A token bucket as stored: tokens left when last written, when that was, and a pause (epoch seconds)."""

    tokens: float
    stamp: float
    paused_until: float = 0.0


def take_token(budget: Budget | None, now: float, rate: float, capacity: float) -> tuple[Budget, float]:
    """One token of a budget refilled at `rate` per second up to `capacity`: (the budget after, seconds to wait).

    A wait of 0 means a token was taken; otherwise nothing was. A budget never
    used starts full; a paused one (a carrier's Retry-After) hands out nothing
    before the pause ends. Rate 0 is unlimited.
    """
    budget = budget or Budget(capacity, now)
    if rate <= 0:
        return budget, 0.0
    if now < budget.paused_until:
        return budget, budget.paused_until - now
    tokens = min(capacity, budget.tokens + max(0.0, now - budget.stamp) * rate)
    if tokens >= 1.0:
        return Budget(tokens - 1.0, now, budget.paused_until), 0.0
    return Budget(tokens, now, budget.paused_until), (1.0 - tokens) / rate


def pause_budget(budget: Budget | None, now: float, seconds: float) -> Budget:
    """Nothing handed out for `seconds` (kept if a longer pause is on), and the bucket empty after it."""
    until = max(budget.paused_until if budget else 0.0, now + seconds)
    return Budget(0.0, until, until)
