"""The JSON bodies the read API and the escalation destinations receive, built from stored columns.

Both adapters select the same columns in the same order (the `*_COLUMNS`
lists) and build their answers here, so an escalation or a tracking reads the
same whichever database holds it. Times come back from SQLite as text and
from PostgreSQL as `datetime`; both leave here as RFC 3339 UTC text.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from taxonomy.models import utc_text

from ..core.relay import source_json
from ..rows import EscalationChange

CHANGE_TYPE = "escalation.changed.v1"

ESCALATION_COLUMNS = ("id", "carrier", "tracking_number", "kind", "severity", "owner_role", "assignee", "state",
                      "sla_due_at", "breached", "event_id", "created_at", "updated_at", "resolved_at", "open_at")
TRACKING_COLUMNS = ("carrier", "tracking_number", "order_id", "customer", "locale", "merchant", "poll",
                    "registered_at", "updated_at", "next_poll_at", "last_polled_at", "poll_state")
SHIPMENT_COLUMNS = ("status", "exception_class", "last_event_id", "last_occurred_at", "estimated_delivery",
                    "signed_by", "anomalies", "updated_at")
UNMAPPED_COLUMNS = ("mapping_table", "code", "count", "sample_description", "first_seen", "last_seen")
NOTIFICATION_COLUMNS = ("key", "event_id", "template", "channel", "recipient", "state", "reason", "attempts",
                        "created_at", "updated_at")
AUDIT_COLUMNS = ("at", "actor", "action", "detail")
# What customer service sees beside a case: the registration (LEFT JOINed as `t`) and the messages sent.
CASE_COLUMNS = ("t.registered_at", "t.order_id", "t.customer", "t.merchant")
NOTICE_COLUMNS = ("carrier", "tracking_number", "template", "channel", "state", "reason", "created_at",
                  "updated_at")
SOURCE_COLUMNS = ("event_id", "route", "parser_version", "channel", "inbox_id", "received_at", "occurred_at",
                  "carrier_code", "description", "mapped_by", "alias_id")


def columns(names: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + n for n in names)


def text_time(value: str | datetime | None) -> str | None:
    return utc_text(value) if isinstance(value, datetime) else value


def _json(value: str | bytes | dict | list) -> dict | list:
    return value if isinstance(value, (dict, list)) else orjson.loads(value)


def escalation(r: Sequence) -> dict:
    return {"id": str(r[0]), "carrier": r[1], "tracking_number": r[2], "exception_class": r[3], "severity": r[4],
            "owner_role": r[5], "assignee": r[6], "state": r[7], "sla_due_at": text_time(r[8]),
            "breached": bool(r[9]), "event_id": r[10], "created_at": text_time(r[11]),
            "updated_at": text_time(r[12]), "resolved_at": text_time(r[13]), "open_at": text_time(r[14])}


def case(r: Sequence, notices: dict[tuple[str, str], list[dict]]) -> dict:
    """An escalation (ESCALATION_COLUMNS, then CASE_COLUMNS) with its customer and the messages sent so far.
    A shipment nobody registered has no order, customer or merchant (null): CS then has only the carrier."""
    out = escalation(r)
    registered, order_id, customer, merchant = r[len(ESCALATION_COLUMNS):len(ESCALATION_COLUMNS) + 4]
    who = _json(customer) if registered is not None else None
    out.update(order_id=order_id, merchant=merchant,
               customer=None if who is None else {k: who.get(k) for k in ("name", "email", "phone")},
               notifications=notices.get((out["carrier"], out["tracking_number"]), []))
    return out


def notice(r: Sequence) -> dict:
    """A customer message of a shipment (NOTICE_COLUMNS) as CS reads it: no recipient address or key, and
    `sent_at` only once the channel took it."""
    return {"template": r[2], "channel": r[3], "state": r[4], "reason": r[5], "created_at": text_time(r[6]),
            "sent_at": text_time(r[7]) if r[4] == "sent" else None}


def notices_by_shipment(rows: Sequence[Sequence]) -> dict[tuple[str, str], list[dict]]:
    grouped: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        grouped.setdefault((r[0], r[1]), []).append(notice(r))
    return grouped


def audit_line(r: Sequence) -> dict:
    return {"at": text_time(r[0]), "actor": r[1], "action": r[2], "detail": r[3]}


def change_event(seq: int, change: dict, escalation: dict) -> dict:
    """One escalation change as a structured CloudEvent (the same mode as shipment events)."""
    return {"specversion": "1.0", "id": f"escalation-change-{seq}", "source": "/escalations",
            "type": CHANGE_TYPE, "subject": f"{escalation['carrier']}/{escalation['tracking_number']}",
            "time": change["at"], "datacontenttype": "application/json",
            "data": {"change": change, "escalation": escalation}}


def change(seq: int, audit: Sequence, escalation_row: Sequence) -> EscalationChange:
    """An audit line (at, actor, action, detail) of an escalation (ESCALATION_COLUMNS) as its destinations
    receive it; the snapshot is the escalation as it is when published (`data.change` says what happened)."""
    found = escalation(escalation_row)
    routing = ".".join((found["severity"], found["owner_role"], found["exception_class"]))
    return EscalationChange(seq, f"escalation-change-{seq}", routing,
                            orjson.dumps(change_event(seq, audit_line(audit), found)))


def tracking(r: Sequence) -> dict:
    return {"carrier": r[0], "tracking_number": r[1], "order_id": r[2], "customer": _json(r[3]), "locale": r[4],
            "merchant": r[5], "poll": bool(r[6]), "registered_at": text_time(r[7]), "updated_at": text_time(r[8]),
            "next_poll_at": text_time(r[9]), "last_polled_at": text_time(r[10]), "poll_state": r[11]}


def shipment(carrier: str, tracking_number: str, r: Sequence, events: list[dict],
             sources: Sequence[Sequence] = ()) -> dict:
    """`sources`: rows of SOURCE_COLUMNS, the events' further arrivals through other routes."""
    return {"carrier": carrier, "tracking_number": tracking_number, "status": r[0], "exception_class": r[1],
            "last_event_id": r[2], "last_occurred_at": text_time(r[3]), "estimated_delivery": r[4],
            "signed_by": r[5], "anomalies": _json(r[6]), "updated_at": text_time(r[7]), "events": events,
            "sources": [source(x) for x in sources]}


def source(r: Sequence) -> dict:
    """One further provenance of a stored event (`service.core.relay`): which event, how it arrived again."""
    return {"event_id": r[0], "provenance": source_json(r[1], r[2], r[3], r[4], r[5], text_time(r[6]), r[7], r[8],
                                                         r[9], r[10])}


def unmapped(r: Sequence) -> dict:
    return {"mapping_table": r[0], "code": r[1], "count": r[2], "sample_description": r[3],
            "first_seen": text_time(r[4]), "last_seen": text_time(r[5])}


def notification(r: Sequence) -> dict:
    return {"key": r[0], "event_id": r[1], "template": r[2], "channel": r[3], "recipient": r[4], "state": r[5],
            "reason": r[6], "attempts": r[7], "created_at": text_time(r[8]), "updated_at": text_time(r[9])}


SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"
ESCALATION_FILTERS = (("state", "state"), ("severity", "severity"), ("owner_role", "owner_role"),
                      ("exception_class", "kind"), ("carrier", "carrier"), ("tracking_number", "tracking_number"),
                      ("assignee", "assignee"))


def escalation_filters(filters: dict[str, str]) -> tuple[list[tuple[str, list[str]]], bool]:
    """The API's query filters as (column, accepted values) pairs, and whether only active ones are wanted."""
    wanted = []
    for name, column in ESCALATION_FILTERS:
        if filters.get(name):
            values = [v for v in filters[name].split(",") if v]
            wanted.append((column, values))
    return wanted, filters.get("active") in ("1", "true")
