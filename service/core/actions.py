"""The policy's decisions for one event: escalations to open, repeat or resolve, notifications to send.

Pure: the store adapter loads, for the shipments of a batch, their active
escalations, their registration (customer, locale, order) and their recent
notifications into a `ShipmentView`, then calls `decide` for each event in
feed order and writes the effects, and after the batch `message` for each
shipment: customer messages follow the shipment, not the scan (one at most,
about its state after the batch; see `service.core.notify`). `decide` also
records its effects in the view, so a later event of the same batch sees an
escalation an earlier one opened, exactly as if each event had its own
transaction.

Escalations opened within a batch have no database id yet: they are named
by negative numbers (`EscalationRef`), which the adapter maps to the ids it
gets when it writes the `Open` effect.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from taxonomy import TERMINAL_STATUSES, ExceptionClass, Status
from taxonomy.models import utc_text

from ..actions.policy import Escalate, Policy
from .notify import Notify, Pending, RecentNotification, Registration, Supersede, note, settle

__all__ = ["Acted", "ActiveEscalation", "Effect", "EscalationRef", "Notify", "Open", "RecentNotification", "Refs",
           "Registration", "Repeat", "Resolve", "ShipmentView", "Supersede", "decide", "is_current", "message"]

EscalationRef = int  # a stored escalation's id, or a negative number for one opened in this batch


@dataclass(slots=True)
class ActiveEscalation:
    id: EscalationRef
    rule: int
    kind: str


@dataclass(slots=True)
class ShipmentView:
    """What the policy needs to know of one shipment; `decide` keeps it current within a batch."""

    escalations: list[ActiveEscalation] = field(default_factory=list)  # active (not resolved) ones
    registration: Registration | None = None
    recent: list[RecentNotification] = field(default_factory=list)  # pending or sent lately
    pending: Pending = field(default_factory=Pending)  # this batch's candidate for the customer message


@dataclass(frozen=True, slots=True)
class Resolve:
    escalation: EscalationRef
    detail: str


@dataclass(frozen=True, slots=True)
class Repeat:
    escalation: EscalationRef
    detail: str


@dataclass(frozen=True, slots=True)
class Open:
    ref: EscalationRef  # negative: the adapter maps it to the id it gets
    carrier: str
    tracking_number: str
    kind: str  # the exception class, or the status when it has none
    rule: int
    severity: str
    owner_role: str
    state: str  # waiting | open
    sla_hours: float
    open_at: str
    sla_due_at: str | None
    event_id: str
    detail: str


Effect = Resolve | Repeat | Open | Notify | Supersede


@dataclass(slots=True)
class Acted:
    """What one actions transaction did, for metrics and traces."""

    events: int = 0
    escalated: int = 0
    repeats: int = 0
    resolved: int = 0
    notifications: dict[str, int] = field(default_factory=dict)  # state -> count
    traced: list[tuple[str, dict]] = field(default_factory=list)  # (traceparent, what was done) per traced event

    def count(self, effect: Effect, inserted: bool = True) -> None:
        if isinstance(effect, Open):
            self.escalated += 1
        elif isinstance(effect, Repeat):
            self.repeats += 1
        elif isinstance(effect, Resolve):
            self.resolved += 1
        elif isinstance(effect, Notify) and inserted:
            self.notifications[effect.state] = self.notifications.get(effect.state, 0) + 1

    def tally(self) -> tuple[int, int, int, int]:
        return self.escalated, self.repeats, self.resolved, sum(self.notifications.values())

    def trace(self, traceparent: str, event_id: str, before: tuple[int, int, int, int]) -> None:
        """What one traced event did, for its `actions.policy` span."""
        done = [now - then for now, then in zip(self.tally(), before)]
        self.traced.append((traceparent, {
            "event.id": event_id, "actions.escalated": done[0], "actions.repeated": done[1],
            "actions.resolved": done[2], "actions.notifications": done[3]}))


@dataclass(slots=True)
class Refs:
    """Hands out the negative references of escalations opened in one batch."""

    last: int = 0

    def next(self) -> EscalationRef:
        self.last -= 1
        return self.last


def is_current(cloud_event: dict) -> bool:
    """Only an event that is its shipment's state now is acted on; a late or contradicting scan is not."""
    event, shipment = cloud_event["data"]["event"], cloud_event["data"]["shipment"]
    return not shipment.get("anomaly") and shipment["status"] == event["status"] and (
        shipment.get("exception_class") == event.get("exception_class"))


def decide(cloud_event: dict, view: ShipmentView, policy: Policy, now: datetime, refs: Refs) -> list[Effect]:
    """The escalation effects of one event (in the order they must be written); `view` is updated with them.

    Every event of the batch goes through here, in feed order, so the shipment's single customer message
    (`message`, once the batch is walked) knows the state after the batch; escalations look at each event
    that is the shipment's state, however old (customer service still wants to know)."""
    current = is_current(cloud_event)
    note(view.pending, cloud_event, current)
    if not current:
        return []
    event = cloud_event["data"]["event"]
    status = Status(event["status"])
    cls = ExceptionClass(event["exception_class"]) if event.get("exception_class") else None
    effects: list[Effect] = list(_resolve_cleared(view, policy, status, event["event_id"]))
    found = policy.rule_for(status, cls)
    if found is None:
        return effects
    index, rule = found
    if rule.escalate:
        effects.append(_escalate(view, index, rule.escalate, event, (cls or status).value, now, refs))
    return effects


def message(view: ShipmentView, policy: Policy, now: datetime) -> list[Notify | Supersede]:
    """After the batch: at most one customer message for the shipment, about its state now (`notify.settle`)."""
    return settle(view.pending, view.registration, view.recent, policy, now)


def candidate_time(view: ShipmentView) -> str:
    """When the shipment's candidate event occurred: a batch's messages are written in occurred order."""
    candidate = view.pending.candidate
    return candidate["data"]["event"]["occurred_at"] if candidate else ""


def _resolve_cleared(view: ShipmentView, policy: Policy, status: Status, event_id: str) -> list[Resolve]:
    out = []
    for active in list(view.escalations):
        rule = policy.rules[active.rule] if active.rule < len(policy.rules) else None
        clears = status in TERMINAL_STATUSES or (rule is not None and status in rule.resolve_on)
        if clears and active.kind != status.value:
            out.append(Resolve(active.id, f"cleared by a {status.value} event {event_id}"))
            view.escalations.remove(active)
    return out


def _escalate(view: ShipmentView, rule_index: int, rule: Escalate, event: dict, kind: str, now: datetime,
              refs: Refs) -> Open | Repeat:
    event_id = event["event_id"]
    for active in view.escalations:
        if active.kind == kind:
            return Repeat(active.id, f"the same problem again: event {event_id}")
    waiting = rule.wait_hours > 0
    ref = refs.next()
    view.escalations.append(ActiveEscalation(ref, rule_index, kind))
    return Open(ref, event["carrier"], event["tracking_number"], kind, rule_index, rule.severity, rule.owner,
                "waiting" if waiting else "open", rule.sla_hours,
                utc_text(now + timedelta(hours=rule.wait_hours)) if waiting else utc_text(now),
                None if waiting else utc_text(now + timedelta(hours=rule.sla_hours)), event_id,
                f"event {event_id}" + (f"; opens in {rule.wait_hours:g} h unless cleared" if waiting else ""))
