"""The rows that cross the seams between stages and the store, typed: what a stage hands over and gets back.

Both adapters (SQLite, PostgreSQL) build exactly these, so a stage never
knows which database answered. Times travel as the contract's RFC 3339 UTC
text (`taxonomy.models.utc_text`) whatever the column type underneath.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from hashlib import sha256
from typing import NamedTuple

from parsers.normalize import Outcome


@dataclass(frozen=True, slots=True)
class Incoming:
    """A raw document to accept: stored verbatim with the headers that matter."""

    source: str
    body: bytes
    content_type: str | None
    headers: dict[str, str]
    channel: str = "webhook"
    delivery_id: str | None = None  # a sender's signed delivery id: a second delivery with it is a duplicate
    traceparent: str | None = None  # the intake span's W3C trace context (tracing on)
    # sha256 of the body when `hashed` computed it ahead (a large body: hashed once, off the event loop)
    body_digest: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> bytes:
        return self.body_digest if self.body_digest is not None else sha256(self.body).digest()

    def hashed(self) -> Incoming:
        """The same document with its digest computed now: megabytes hash in milliseconds, which a caller
        can spend on a thread (hashlib releases the interpreter lock) instead of on the loop or the writer."""
        return replace(self, body_digest=sha256(self.body).digest())


@dataclass(frozen=True, slots=True)
class Accepted:
    id: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    source: str
    received_at: str
    channel: str
    content_type: str | None
    body: bytes
    state: str
    attempts: int
    reason: str | None
    traceparent: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # the stored request headers (poll numbers, ids)


class Normalized(NamedTuple):
    """One stored document through the normalizer: its outcome, or why it could not even be tried."""

    inbox_id: int
    outcome: Outcome | str
    # False: a part of a large document's events (see `service.core.apply.split`), applied in its own
    # transaction; the document is finished only by its final part.
    final: bool = True
    # False: the document was cut into parts (this is one of them); only a whole document derived again
    # corrects its stored events (`service.core.apply`).
    whole: bool = True


class OutboxRow(NamedTuple):
    """An event as a relay publishes it."""

    seq: int
    routing_key: str
    body: bytes  # the CloudEvent, as on the feed
    event_id: str
    traceparent: str | None
    received_epoch: float | None  # when the event's document arrived (for the published-lag metric)


class FeedItem(NamedTuple):
    seq: int  # the feed cursor
    body: bytes


class ActiveShipment(NamedTuple):
    """A shipment not yet finished that customer service is not already working on (the sweep's input)."""

    carrier: str
    tracking_number: str
    status: str
    last_occurred_at: str | None
    estimated_delivery: str | None


class EscalationCount(NamedTuple):
    exception_class: str
    severity: str
    breached: bool
    count: int


class EscalationChange(NamedTuple):
    """One line of an escalation's audit trail as the CloudEvent its destinations receive."""

    seq: int  # the audit id: the destination's cursor
    id: str  # the CloudEvent id
    routing_key: str
    body: bytes


@dataclass(frozen=True, slots=True)
class DueNotification:
    """A notification row due for (another) send attempt, held by one sender under a lease."""

    key: str
    event_id: str
    carrier: str
    tracking_number: str
    template: str
    channel: str
    recipient: str | None
    locale: str | None
    attempts: int
    context: dict


@dataclass(frozen=True, slots=True)
class Due:
    """A registered tracking whose poll is due, taken under a lease."""

    carrier: str
    tracking_number: str
    registered_at: str
    failures: int
    status: str | None  # the shipment's current status (None: no event yet)


@dataclass(frozen=True, slots=True)
class Reschedule:
    carrier: str
    tracking_number: str
    next_poll_at: str | None  # None: stop
    state: str
    failures: int
    polled_at: str | None  # None: not polled (left as it was)


@dataclass(frozen=True)
class Tracking:
    """A registration: who a shipment belongs to (for notifications) and whether we poll it."""

    carrier: str
    tracking_number: str
    order_id: str | None = None
    customer: dict[str, str] = field(default_factory=dict)  # name, email, phone
    locale: str | None = None
    merchant: str | None = None
    poll: bool = True


# --- outbound webhooks (service.outbound) -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Subscription:
    """A receiver of pushed events: where, which routing keys, how it is signed, and how far it has got.

    `cursor` is the feed position (outbox seq) up to which every matching event was answered 2xx; it moves
    only forward except by an operator's replay. While `previous_secret_until` lies ahead, deliveries carry
    a signature with the previous secret too (rotation overlap).
    """

    id: str  # "sub_" + 24 hex digits
    url: str
    filter: tuple[str, ...]  # routing-key patterns `<status>.<exception_class|none>.<carrier>` with * and #
    description: str
    enabled: bool
    secret: str  # whsec_<base64>
    cursor: int
    created_at: str
    updated_at: str
    previous_secret: str | None = None
    previous_secret_until: str | None = None
    disabled_reason: str | None = None
    disabled_at: str | None = None
    failing_since: str | None = None  # first failed attempt of the current streak (None: healthy)
    next_attempt_at: str | None = None  # when the failing streak is tried again
    last_error: str | None = None


class OutEvent(NamedTuple):
    """A feed entry as outbound delivery reads it."""

    seq: int
    event_id: str  # the CloudEvent id: the `webhook-id`
    routing_key: str
    body: bytes  # the CloudEvent, as on the bus and the feed
    created_at: str  # when the event was committed (delivery latency is measured from here)


class DeliveryAttempt(NamedTuple):
    """One POST to a subscriber, as the delivery log keeps it."""

    subscription_id: str
    seq: int
    event_id: str
    attempt: int  # 1 for the first try of this event
    ok: bool
    status: int | None  # the receiver's HTTP status; None when no answer came
    latency_ms: float
    error: str | None
    at: str
    id: int = 0  # the log row's id once stored (0 before): orders the attempts that share an (at, seq)
