"""Which customer message, if any, a shipment gets after a document (or a batch) was acted on.

Customer messages follow the shipment, not the scan. While the actions stage
walks a batch's events in feed order (escalations still look at every one),
`note` keeps, per shipment, the latest event that is the shipment's current
state and the state after the last event; `settle` then decides at most ONE
message per shipment, about that final state:

- the final state must be the candidate event's own (status, class): a
  problem cleared later in the same document sends nothing, a document whose
  newest scan carries no rule (in transit) sends nothing;
- the candidate must be fresh: an event older than `defaults.fresh_hours`
  (a replay, a late backfill, a January document posted in December) is
  history, not news; CS escalation logic still sees it;
- the same template within `defaults.suppress_hours` is recorded as
  suppressed (the customer already knows), no recipient as skipped;
- a new pending message supersedes the shipment's still-pending older ones,
  so a customer never reads an older state after a newer one, and messages
  of one shipment go out in occurred order.

Pure: the adapters load and write; the decisions are here, for both stores.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from taxonomy import ExceptionClass, Status
from taxonomy.models import utc_text

from ..actions.policy import Policy


@dataclass(frozen=True, slots=True)
class RecentNotification:
    key: str
    template: str
    channel: str
    created_at: str  # RFC 3339 UTC


@dataclass(frozen=True, slots=True)
class Registration:
    order_id: str | None
    customer: dict
    locale: str | None
    merchant: str | None


@dataclass(slots=True)
class Pending:
    """What one batch told about one shipment so far: the candidate for its single message."""

    candidate: dict | None = None  # the CloudEvent of the latest event that was the shipment's state
    final: tuple[str, str | None] | None = None  # (status, class) after the batch's last event of the shipment


@dataclass(frozen=True, slots=True)
class Notify:
    key: str  # (event, template, channel, recipient): one send each, ever
    event_id: str
    carrier: str
    tracking_number: str
    template: str
    channel: str
    recipient: str | None
    locale: str | None
    state: str  # pending | skipped | suppressed
    reason: str | None
    context: dict


@dataclass(frozen=True, slots=True)
class Supersede:
    """The shipment's still-pending messages other than `keep` are about an older state: not sent any more."""

    carrier: str
    tracking_number: str
    keep: frozenset[str]
    reason: str


def note(pending: Pending, cloud_event: dict, current: bool) -> None:
    """Record one event of the batch (feed order) for its shipment's single message."""
    shipment = cloud_event["data"]["shipment"]
    pending.final = (shipment["status"], shipment.get("exception_class"))
    if current:
        pending.candidate = cloud_event


def notification_key(event_id: str, template: str, channel: str, recipient: str | None) -> str:
    return hashlib.sha256("|".join((event_id, template, channel, recipient or "")).encode()).hexdigest()


def settle(pending: Pending, registration: Registration | None, recent: list[RecentNotification],
           policy: Policy, now: datetime) -> list[Notify | Supersede]:
    """At most one message (one row per channel) for the shipment's state after the batch; `recent` is updated."""
    cloud_event, pending.candidate = pending.candidate, None
    if cloud_event is None:
        return []
    event = cloud_event["data"]["event"]
    if pending.final != (event["status"], event.get("exception_class")):
        return []  # a later scan of the same batch changed the state again (a problem cleared): nothing to say
    cls = ExceptionClass(event["exception_class"]) if event.get("exception_class") else None
    found = policy.rule_for(Status(event["status"]), cls)
    if found is None or found[1].notify is None:
        return []
    if datetime.fromisoformat(event["occurred_at"]) < now - timedelta(hours=policy.defaults.fresh_hours):
        return []  # history, not news
    rule = found[1].notify
    out: list[Notify | Supersede] = []
    notes = _notify(registration, recent, policy, rule.template, rule.channels or policy.defaults.channels,
                    cloud_event, now)
    keys = frozenset(n.key for n in notes if n.state == "pending")
    if keys:
        out.append(Supersede(event["carrier"], event["tracking_number"], keys,
                             f"superseded by a later state of the shipment (event {event['event_id']})"))
    out.extend(notes)
    return out


def _notify(reg: Registration | None, recent: list[RecentNotification], policy: Policy, template: str, channels,
            cloud_event: dict, now: datetime) -> list[Notify]:
    event, shipment = cloud_event["data"]["event"], cloud_event["data"]["shipment"]
    carrier, tn = event["carrier"], event["tracking_number"]
    customer = reg.customer if reg else {}
    context = {"customer": customer, "order_id": reg.order_id if reg else None,
               "merchant": reg.merchant if reg else None,
               "shipment": {"carrier": carrier, "tracking_number": tn, "status": shipment["status"],
                            "exception_class": shipment.get("exception_class"),
                            "estimated_delivery": event.get("estimated_delivery")},
               # the scan's own wall time: a customer in Atlanta reads 11:30, not 15:30 UTC
               "event": {"description": event["description"],
                         "occurred_at": event.get("occurred_at_local") or event["occurred_at"],
                         "location": event.get("location") or {}, "carrier_code": event.get("carrier_code")}}
    since, stamp = utc_text(now - timedelta(hours=policy.defaults.suppress_hours)), utc_text(now)
    out = []
    for channel in channels:
        recipient = _recipient(channel, customer)
        key = notification_key(event["event_id"], template, channel, recipient)
        if recipient is None:
            state, reason = "skipped", f"no recipient for the {channel} channel: register the shipment's customer"
        elif any(n.template == template and n.channel == channel and n.created_at >= since and n.key != key
                 for n in recent):
            state, reason = "suppressed", f"the same notification went out within {policy.defaults.suppress_hours:g} h"
        else:
            state, reason = "pending", None
            recent.append(RecentNotification(key, template, channel, stamp))
        out.append(Notify(key, event["event_id"], carrier, tn, template, channel, recipient,
                          reg.locale if reg else None, state, reason, context))
    return out


def _recipient(channel: str, customer: dict) -> str | None:
    if channel == "smtp":
        return customer.get("email")
    return customer.get("email") or customer.get("phone")  # file and webhook: whoever the merchant can reach
