"""Models of the HTTP API's JSON bodies, exactly as the handlers produce them today.

The handlers build their bodies directly (dicts, or stored bytes spliced
together on the feed's hot path); these models do not replace that. They
exist to publish the contract: the JSON Schemas and the OpenAPI document are
generated from them, and tests validate real responses against them, so a
handler that changes its shape fails a test instead of surprising a client.
Every model forbids extra keys for the same reason.
"""
from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from taxonomy import Channel, ExceptionClass, MappedBy, NormalizedEvent, Status

from .pages import Page
from .subscription_bodies import SUBSCRIPTION_BODIES
from .trackings import TrackingIn

_STRICT = ConfigDict(extra="forbid")
_DIGITS = r"^[0-9]+$"
_TRACKING_URL = ("the carrier's public tracking page for this number (from the carrier registry); null for carriers "
                 "without one")


class WebhookAccepted(BaseModel):
    """`202` of `POST /webhooks/{source}`: the document is committed to the inbox."""

    model_config = _STRICT

    id: str = Field(pattern=_DIGITS, description="inbox row id; a duplicate answers the original row's id")
    duplicate: bool = Field(description="true for a byte-identical redelivery or a replayed signed delivery id")


class FieldProblem(BaseModel):
    """One offending input of a request."""

    model_config = _STRICT

    field: str = Field(description="`query.<name>`, `path.<name>`, `header.<name>` or `body.<dotted path>`")
    message: str


class Problem(BaseModel):
    """Every 4xx/5xx the service answers itself, as RFC 9457 problem details (`application/problem+json`)."""

    model_config = _STRICT

    type: str = Field(pattern=r"^urn:carrier-events:problem:[a-z-]+$",
                      description="stable per kind of error (see `x-problem-types`); branch on this")
    title: str = Field(description="the type's short summary (the same for every problem of the type)")
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    detail: str = Field(description="this occurrence, in one sentence")
    error: str = Field(description="= detail; kept for clients of API 1.x, which read `error`")
    errors: list[FieldProblem] = Field(description="each invalid field or parameter; empty when none is to blame")


class ShipmentSnapshot(BaseModel):
    """The shipment around one event (`cloudevents.Snapshot`): before, after, and whether the event moved it."""

    model_config = _STRICT

    carrier: str
    tracking_number: str
    status_before: Status
    status: Status
    exception_class: ExceptionClass | None
    status_changed: bool
    anomaly: bool = Field(description="the event was kept as history: it contradicts a terminal state")
    tracking_url: str | None = Field(
        None, description=_TRACKING_URL + "; absent from events stored before it was added")


class CloudEventData(BaseModel):
    model_config = _STRICT

    event: NormalizedEvent
    shipment: ShipmentSnapshot


class CloudEvent(BaseModel):
    """A normalized event as CloudEvents 1.0, structured JSON mode: the same bytes on the feed and the bus."""

    model_config = _STRICT

    specversion: Literal["1.0"]
    id: str = Field(pattern=r"^[0-9a-f]{32}(-r[0-9]+)?$", description=(
        "= data.event.event_id; dedupe on it. A correction's id is `<event_id>-r<revision>`"))
    source: str = Field(pattern=r"^/carriers/[a-z0-9_]+$")
    # cloudevents.EVENT_TYPE and CORRECTED_TYPE (a test keeps them equal)
    type: Literal["shipment.event.v1", "shipment.event.corrected.v1"] = Field(description=(
        "`shipment.event.corrected.v1`: a stored event derived again from its own document (a replay after a "
        "mapping or parser fix) with another status or class; the same data.event.event_id, a `revision`, the "
        "shipment snapshot recomputed"))
    revision: int = Field(1, ge=1, description=(
        "1 as first published, 2 for the first correction, and so on (absent from events stored before it)"))
    subject: str = Field(description="the tracking number")
    time: AwareDatetime = Field(description="occurred_at, UTC, whole seconds")
    datacontenttype: Literal["application/json"]
    data: CloudEventData



class EventsPage(BaseModel):
    """`GET /v1/events`: CloudEvents in outbox order after the cursor."""

    model_config = _STRICT

    next: int = Field(ge=0, description="the cursor to pass as `after` next time (unchanged when no events)")
    has_more: bool = Field(description="more events follow now: ask again at once rather than after a pause")
    events: list[CloudEvent]


class RelayedProvenance(BaseModel):
    """How a stored event arrived again through another route, with the event as that route reported it."""

    model_config = _STRICT

    channel: Channel
    inbox_id: str | None
    received_at: AwareDatetime | None
    parser: str = Field(description="the route: the parser the arrival went through")
    parser_version: str
    mapped_by: MappedBy
    event_id: str = Field(description="the arrival's own v1 event_id (its retries are duplicates of it)")
    occurred_at: AwareDatetime = Field(description="the instant as this route reported it (often rounded)")
    carrier_code: str | None
    description: str | None


class EventSource(BaseModel):
    """A further provenance of an event: the same scan relayed by another route (cross-route match)."""

    model_config = _STRICT

    event_id: str = Field(description="the event (in `events`) this arrival is")
    provenance: RelayedProvenance


class Shipment(BaseModel):
    """`GET /v1/shipments/{carrier}/{tracking_number}`: current state and the stored history, newest first."""

    model_config = _STRICT

    carrier: str
    tracking_number: str
    status: Status
    exception_class: ExceptionClass | None
    last_event_id: str | None
    last_occurred_at: AwareDatetime | None
    estimated_delivery: str | None
    signed_by: str | None
    anomalies: list[str] = Field(description="event ids kept as history because they contradict a terminal state")
    updated_at: AwareDatetime
    events: list[NormalizedEvent]
    sources: list[EventSource] = Field(default_factory=list, description=(
        "further arrivals of the events through other routes (an aggregator relaying the carrier's scan): "
        "one event per physical scan, every route it came through"))
    tracking_url: str | None = Field(None, description=_TRACKING_URL)


class Health(BaseModel):
    """`GET /healthz`: the process answers."""

    model_config = _STRICT

    status: Literal["ok"]


class Readiness(BaseModel):
    """`GET /readyz`, with 200 and 503 alike."""

    model_config = _STRICT

    ready: bool
    store: Literal["writable", "failing"]
    broker: Literal["n/a", "connected", "disconnected"] = Field(description="n/a in embedded mode")
    draining: bool = Field(default=False, description=(
        "true from SIGTERM until the server stops: not ready, so a load balancer takes the node out "
        "of rotation, while requests it still routes here are answered"))
    carrier_apis: dict[str, Literal["closed", "half_open", "open"]] | None = Field(
        default=None, description="the circuit breaker of each polled carrier API (detail: not part of `ready`)")


class DlqItem(BaseModel):
    """A quarantined or dead inbox row, without its body."""

    model_config = _STRICT

    id: str = Field(pattern=_DIGITS)
    source: str
    state: Literal["quarantined", "dead"]
    reason: str | None
    attempts: int = Field(ge=0)
    received_at: AwareDatetime
    content_type: str | None
    bytes: int = Field(ge=0, description="size of the stored body")


class DlqList(Page[DlqItem]):
    """`GET /v1/admin/dlq`, oldest first."""


class DlqReplay(BaseModel):
    """`202` of `POST /v1/admin/dlq/{id}/replay`: the row is pending again and the normalizer was woken."""

    model_config = _STRICT

    id: str = Field(pattern=_DIGITS)
    state: Literal["pending"]


class UnmappedCode(BaseModel):
    """A carrier code no mapping table knew: how often, and the latest description seen with it."""

    model_config = _STRICT

    mapping_table: str
    code: str
    count: int = Field(ge=1)
    sample_description: str
    first_seen: AwareDatetime
    last_seen: AwareDatetime


class UnmappedList(Page[UnmappedCode]):
    """`GET /v1/admin/unmapped`, most frequent first."""


class ReplayRequest(BaseModel):
    """Body of `POST /v1/admin/replay` (optional; every field optional, every given condition must hold)."""

    model_config = _STRICT

    states: list[Literal["quarantined", "dead", "done"]] | str = Field(
        default=["quarantined", "dead"], description="inbox states to replay (a list, or comma-separated)")
    source: str | None = Field(default=None, description="webhook source the document came in on")
    carrier: str | None = Field(default=None, description="documents naming this carrier, or from that source")
    since: str | None = Field(default=None, description="received at or after (ISO 8601; no offset = UTC)")
    until: str | None = Field(default=None, description="received before (ISO 8601; no offset = UTC)")
    reason: str | None = Field(default=None, description="substring of the quarantine/dead reason")
    limit: int = Field(default=100_000, ge=1)
    dry_run: bool = Field(default=False, description=(
        "only say which rows would be replayed and what that would change, by carrier and code"))


class StatusAndClass(BaseModel):
    model_config = _STRICT

    status: Status
    exception_class: ExceptionClass | None


class ReplayChange(BaseModel):
    """Events a replay would publish: `corrected` (a stored event with another status or class) or `new`."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True)

    carrier: str
    carrier_code: str | None
    change: Literal["corrected", "new"]
    from_: StatusAndClass | None = Field(alias="from")
    to: StatusAndClass
    events: int = Field(ge=1)


class ReplayResult(BaseModel):
    """`POST /v1/admin/replay`: 202 when rows were marked pending, 200 for a dry run."""

    model_config = _STRICT

    count: int = Field(ge=0)
    ids: list[str] = Field(description="the first 1000 inbox row ids, ascending")
    dry_run: bool
    changes: list[ReplayChange] | None = Field(None, description=(
        "dry run only: what the replay would change with today's parsers and mapping tables, by carrier and "
        "code, most frequent first"))


class TrackingRecord(BaseModel):
    """A registered tracking: 201 (new) or 200 (updated) of `POST /v1/trackings`, and `GET` of one."""

    model_config = _STRICT

    carrier: str
    tracking_number: str
    order_id: str | None
    customer: dict[str, str] = Field(description="name, email, phone as registered")
    locale: str | None
    merchant: str | None
    poll: bool
    registered_at: AwareDatetime
    updated_at: AwareDatetime
    next_poll_at: AwareDatetime | None
    last_polled_at: AwareDatetime | None
    poll_state: str = Field(description="scheduled, off, or the poller's latest state")
    carrier_detected: bool | None = Field(default=None, description="POST only: the carrier came from the "
                                          "number's format")


class TrackingList(Page[TrackingRecord]):
    """`GET /v1/trackings`, ordered by carrier and tracking number; `next` is the `after` of the next page."""


class TrackingRefused(Problem):
    """422 of `POST /v1/trackings`: invalid, an unknown carrier, or the carrier cannot be told from the number."""

    candidates: list[str] | None = Field(description="carriers whose format fits (several: ambiguous; none: "
                                         "unknown), or the registry's slugs close to an unknown carrier; null "
                                         "for other invalid fields")


class BulkTrackings(BaseModel):
    """Body of `POST /v1/trackings/bulk`."""

    model_config = _STRICT

    trackings: list[TrackingIn] = Field(min_length=1, max_length=1000)


class BulkResult(BaseModel):
    model_config = _STRICT

    index: int
    status: Literal[200, 201, 422]
    carrier: str | None = None
    tracking_number: str | None = None
    carrier_detected: bool | None = None
    error: str | None = None
    candidates: list[str] | None = None


class BulkResults(BaseModel):
    """`POST /v1/trackings/bulk`: one result per item, in order."""

    model_config = _STRICT

    results: list[BulkResult]


class Escalation(BaseModel):
    """A customer-service case: one active per shipment and exception class (or status, when it has none)."""

    model_config = _STRICT

    id: str = Field(pattern=_DIGITS)
    carrier: str
    tracking_number: str
    exception_class: str = Field(description="the exception class, or the status when the event has none")
    severity: Literal["low", "medium", "high", "critical"]
    owner_role: str
    assignee: str | None
    state: Literal["waiting", "open", "acknowledged", "resolved"]
    sla_due_at: AwareDatetime | None = Field(description="null while waiting")
    breached: bool
    event_id: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    resolved_at: AwareDatetime | None
    open_at: AwareDatetime | None = Field(description="when a waiting escalation opens unless cleared before")


class CaseCustomer(BaseModel):
    """The customer as registered with `POST /v1/trackings` (each null when not given)."""

    model_config = _STRICT

    name: str | None
    email: str | None
    phone: str | None


class CaseNotification(BaseModel):
    """A customer message of the shipment as CS reads it (no recipient address)."""

    model_config = _STRICT

    template: str = Field(description="the policy's template, e.g. `delayed`, `attempted`")
    channel: str = Field(description="email, sms, webhook, ...")
    state: Literal["pending", "sent", "failed", "skipped", "suppressed"]
    reason: str | None = Field(description="why it was skipped, suppressed or failed")
    created_at: AwareDatetime
    sent_at: AwareDatetime | None = Field(description="when the channel took it; null unless `sent`")


class ShipmentNotifications(BaseModel):
    """`GET /v1/shipments/{carrier}/{tracking_number}/notifications`: the customer messages, oldest first."""

    model_config = _STRICT

    carrier: str
    tracking_number: str
    items: list[CaseNotification]


class EscalationCase(Escalation):
    """An escalation as the CS API answers it: the case with the customer behind it."""

    order_id: str | None = Field(description="the OMS order id of the registration; null if none")
    customer: CaseCustomer | None = Field(description="null when nobody registered the shipment")
    merchant: str | None
    tracking_url: str | None = Field(description=_TRACKING_URL)
    notifications: list[CaseNotification] = Field(description="customer messages of the shipment, oldest first")


class AuditEntry(BaseModel):
    model_config = _STRICT

    at: AwareDatetime
    actor: str = Field(description="`policy` for automatic changes, else the person (`by`)")
    action: str
    detail: str | None


class EscalationDetail(EscalationCase):
    """`GET /v1/escalations/{id}` and the answer of a transition: the case with its audit trail, oldest first."""

    audit: list[AuditEntry]


class EscalationList(Page[EscalationCase]):
    """`GET /v1/escalations`: most urgent first (severity, then the SLA due soonest)."""


class EscalationChangeData(BaseModel):
    model_config = _STRICT

    change: AuditEntry = Field(description="what happened: opened, waiting, repeated, acknowledged, assigned, "
                                           "resolved, sla_breached")
    escalation: Escalation = Field(description="the escalation when the change was published (its latest state)")


class EscalationChanged(BaseModel):
    """A change of an escalation, as CloudEvents 1.0 (structured JSON) on `cs-escalations` and the ticketing
    webhook; the message id is `id`: dedupe on it (at-least-once)."""

    model_config = _STRICT

    specversion: Literal["1.0"]
    id: str = Field(pattern=r"^escalation-change-[0-9]+$")
    source: Literal["/escalations"]
    type: Literal["escalation.changed.v1"]  # store.shapes.CHANGE_TYPE
    subject: str = Field(description="<carrier>/<tracking number>")
    time: AwareDatetime
    datacontenttype: Literal["application/json"]
    data: EscalationChangeData


class EscalationChange(BaseModel):
    """Body of `POST /v1/escalations/{id}/acknowledge|resolve|assign` (optional for acknowledge and resolve)."""

    model_config = _STRICT

    by: str | None = Field(default=None, description="who; also accepted as the X-Actor header; default `cs`")
    assignee: str | None = Field(default=None, description="assign: who works on it")
    note: str | None = None


# Published name (JSON Schema file `<name>.schema.json`) -> model, in a stable order.
BODIES: dict[str, type[BaseModel]] = {
    "cloud-event.v1": CloudEvent,
    "webhook-accepted.v1": WebhookAccepted,
    "problem.v1": Problem,
    "events-page.v1": EventsPage,
    "shipment.v1": Shipment,
    "health.v1": Health,
    "readiness.v1": Readiness,
    "dlq-list.v1": DlqList,
    "dlq-replay.v1": DlqReplay,
    "unmapped-list.v1": UnmappedList,
    "replay-request.v1": ReplayRequest,
    "replay-result.v1": ReplayResult,
    "tracking-request.v1": TrackingIn,
    "tracking.v1": TrackingRecord,
    "tracking-list.v1": TrackingList,
    "tracking-refused.v1": TrackingRefused,
    "trackings-bulk-request.v1": BulkTrackings,
    "trackings-bulk-result.v1": BulkResults,
    "escalation.v1": EscalationDetail,
    "escalation-list.v1": EscalationList,
    "escalation-change.v1": EscalationChange,
    "escalation-changed.v1": EscalationChanged,
    "shipment-notifications.v1": ShipmentNotifications,
    **SUBSCRIPTION_BODIES,
}
