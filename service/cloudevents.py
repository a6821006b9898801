"""Normalized events as CloudEvents 1.0, the one shape on the bus and on the HTTP feed.

Structured content mode: the message body is the whole CloudEvent as JSON
(`application/cloudevents+json`), so an AMQP consumer, the HTTP feed and a
log line carry the same bytes and need no header mapping. `data` holds the
normalized event and a snapshot of its shipment after the event.
"""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from taxonomy import ExceptionClass, NormalizedEvent, Status
from taxonomy.models import utc_text

CONTENT_TYPE = "application/cloudevents+json"
EVENT_TYPE = "shipment.event.v1"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The shipment around one event: what it was, what it is now, and whether the event moved it."""

    status_before: Status
    status: Status
    exception_class: ExceptionClass | None
    anomaly: bool  # the event was kept as history because it contradicts a terminal state

    @property
    def status_changed(self) -> bool:
        return self.status is not self.status_before


def routing_key(event: NormalizedEvent) -> str:
    """`<status>.<exception_class|none>.<carrier>`: OMS queues bind on any of the three parts."""
    cls = event.exception_class.value if event.exception_class else "none"
    return f"{event.status.value}.{cls}.{event.carrier}"


def event_data(event: NormalizedEvent) -> dict:
    """The NormalizedEvent contract as JSON-ready data."""
    return event.model_dump(mode="json")


def cloud_event(event: NormalizedEvent, snapshot: Snapshot) -> dict:
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": f"/carriers/{event.carrier}",
        "type": EVENT_TYPE,
        "subject": event.tracking_number,
        "time": utc_text(event.occurred_at),
        "datacontenttype": "application/json",
        "data": {
            "event": event_data(event),
            "shipment": {
                "carrier": event.carrier, "tracking_number": event.tracking_number,
                "status_before": snapshot.status_before.value, "status": snapshot.status.value,
                "exception_class": snapshot.exception_class.value if snapshot.exception_class else None,
                "status_changed": snapshot.status_changed, "anomaly": snapshot.anomaly,
            },
        },
    }


def encode(message: dict) -> bytes:
    return orjson.dumps(message)
