"""Small rules both store adapters apply: escalation transitions, SLA breaches, tracking registration."""
from __future__ import annotations

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


def take_token(stored: float | None, elapsed: float, rate: float, capacity: float) -> tuple[float, float]:
    """A token bucket's step: (tokens left, seconds to wait). `stored` is None for a bucket never used
    (it starts full); `elapsed` the seconds since it was last written. A wait of 0 means a token was taken."""
    tokens = capacity if stored is None else min(capacity, stored + max(0.0, elapsed) * rate)
    if tokens < 1.0:
        return tokens, (1.0 - tokens) / rate
    return tokens - 1.0, 0.0
