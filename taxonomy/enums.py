"""Taxonomy v1 vocabularies.

These strings are a published contract: the OMS routes on them and CS policies
key on them. Adding a member is a versioned change (TAXONOMY_VERSION).
"""
from __future__ import annotations

from enum import Enum

TAXONOMY_VERSION = "1"


class Status(str, Enum):
    """Where the parcel is in its life."""

    LABEL_CREATED = "label_created"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class ExceptionClass(str, Enum):
    """Why, when something is wrong."""

    ADDRESS_ISSUE = "address_issue"
    RECIPIENT_UNAVAILABLE = "recipient_unavailable"
    ACCESS_ISSUE = "access_issue"
    REFUSED = "refused"
    UNCLAIMED = "unclaimed"
    CUSTOMS_HOLD = "customs_hold"
    PAYMENT_DUE = "payment_due"
    DAMAGED = "damaged"
    LOST = "lost"
    DISPOSED = "disposed"
    WEATHER_DELAY = "weather_delay"
    CARRIER_DELAY = "carrier_delay"
    HELD_BY_CARRIER = "held_by_carrier"
    PROHIBITED_ITEM = "prohibited_item"
    STALLED = "stalled"
    DELIVERY_OVERDUE = "delivery_overdue"
    OTHER = "other"


class TimeBasis(str, Enum):
    """How the UTC offset of a carrier timestamp was known."""

    OFFSET = "offset"
    ZONE = "zone"
    LOCATION = "location"
    ASSUMED_UTC = "assumed_utc"


class MappedBy(str, Enum):
    """Which rung of the mapping ladder decided an event's status."""

    CODE = "code"
    KEYWORD = "keyword"
    COARSE = "coarse"
    UNKNOWN = "unknown"


class Channel(str, Enum):
    """How a raw document reached the service."""

    WEBHOOK = "webhook"
    POLL = "poll"
    FILE = "file"
    REPLAY = "replay"
    DERIVED = "derived"  # produced by the service itself (stalled, delivery overdue), not by a carrier


# Statuses that may carry an exception_class (the derived classes ride on `exception`).
CLASSED_STATUSES = frozenset({Status.EXCEPTION, Status.DELIVERY_ATTEMPTED, Status.RETURNED_TO_SENDER})

# Terminal statuses: left only by an allowed, later transition.
TERMINAL_STATUSES = frozenset({Status.DELIVERED, Status.RETURNED_TO_SENDER, Status.CANCELLED})
