"""The exception policy: which events notify the customer, which escalate to customer service, and how.

Data, not code: `policy.toml` beside this module is the shipped default, an
operator replaces it with CARRIER_EVENTS_POLICY. It is validated when the
service starts, so a typo in a status, a severity or a template name stops
the start with the rule's number instead of silently never notifying.
"""
from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taxonomy import ExceptionClass, Status

SEVERITIES = ("low", "medium", "high", "critical")
CHANNELS = ("file", "smtp", "webhook")


class PolicyError(ValueError):
    """The policy file is invalid; the message names the rule and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    status: Status
    exception_class: ExceptionClass | None = None


class Notify(_Strict):
    template: str = Field(pattern=r"^[a-z0-9_]+$")
    channels: tuple[Literal["file", "smtp", "webhook"], ...] | None = None


class Escalate(_Strict):
    severity: Literal["low", "medium", "high", "critical"]
    owner: str = Field(pattern=r"^[a-z0-9_]+$")
    sla_hours: float = Field(gt=0)
    wait_hours: float = Field(default=0, ge=0)


class Rule(_Strict):
    match: Match
    notify: Notify | None = None
    escalate: Escalate | None = None
    resolve_on: tuple[Status, ...] = ()

    @model_validator(mode="after")
    def _does_something(self) -> Rule:
        if self.notify is None and self.escalate is None:
            raise ValueError("a rule must notify, escalate or both")
        return self

    def fits(self, status: Status, exception_class: ExceptionClass | None) -> bool:
        return self.match.status is status and (self.match.exception_class in (None, exception_class))


class Defaults(_Strict):
    channels: tuple[Literal["file", "smtp", "webhook"], ...] = ("file",)
    suppress_hours: float = Field(default=24, ge=0)
    # An event older than this is history, not news: no customer message (escalations still see it).
    fresh_hours: float = Field(default=72, gt=0)


class Sweep(_Strict):
    every_minutes: float = Field(default=15, gt=0)
    stalled_after_hours: dict[Status, float] = Field(default_factory=dict)
    overdue_after_hours: float = Field(default=24, ge=0)
    # Silence older than this is history, not news: after a restart, a migration or a replay of old
    # documents, abandoned shipments must not become a storm of `stalled` cases and customer messages.
    ignore_after_days: float = Field(default=30, gt=0)


class Policy(_Strict):
    version: Literal[1]
    defaults: Defaults = Defaults()
    sweep: Sweep = Sweep()
    rules: tuple[Rule, ...]

    def rule_for(self, status: Status, exception_class: ExceptionClass | None) -> tuple[int, Rule] | None:
        for index, rule in enumerate(self.rules):
            if rule.fits(status, exception_class):
                return index, rule
        return None

    def templates(self) -> set[str]:
        return {r.notify.template for r in self.rules if r.notify}


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy from `path`, or the shipped default; PolicyError names what is wrong and where."""
    where = str(path) if path else "service/actions/policy.toml"
    text = Path(path).read_text("utf-8") if path else resources.files(__package__).joinpath(
        "policy.toml").read_text("utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = list(e["loc"])
            if loc[:1] == ["rules"] and len(loc) > 1 and isinstance(loc[1], int):
                loc[1] = f"rule {loc[1] + 1}"
            problems.append(f"{'.'.join(str(p) for p in loc)}: {e['msg']}")
        raise PolicyError(f"{where}: " + "; ".join(problems)) from None
