"""Normalized events as CloudEvents 1.0, the one shape on the bus and on the HTTP feed.

Structured content mode: the message body is the whole CloudEvent as JSON
(`application/cloudevents+json`), so an AMQP consumer, the HTTP feed and a
log line carry the same bytes and need no header mapping. `data` holds the
normalized event and a snapshot of its shipment after the event, with the
carrier's public tracking page (from the carrier registry) so a consumer can
link the customer to it without its own table of carrier URLs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from taxonomy import ExceptionClass, NormalizedEvent, Status
from taxonomy.carriers import tracking_url
from taxonomy.models import utc_text

from .cardinality import carrier_label

CONTENT_TYPE = "application/cloudevents+json"
EVENT_TYPE = "shipment.event.v1"
# A stored event derived again from its own document with another status or class (a replay after a mapping
# or parser fix): the same `data.event.event_id`, a `revision` (2, 3, ...) and its own CloudEvent id
# `<event_id>-r<revision>`, so consumers deduping on the id still receive it.
CORRECTED_TYPE = "shipment.event.corrected.v1"


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
    """`<status>.<exception_class|none>.<carrier>`: OMS queues bind on any of the three parts.

    The carrier part is the registry's slug, or `other` for a carrier the registry does not know
    (`service.cardinality`); the CloudEvent itself names the carrier as the document did.
    """
    cls = event.exception_class.value if event.exception_class else "none"
    return f"{event.status.value}.{cls}.{carrier_label(event.carrier)}"


def _instant(moment: datetime | None) -> str | None:
    """Datetimes as the contract's JSON Schema spells them (pydantic's form: zero offset as `Z`)."""
    if moment is None:
        return None
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event_data(event: NormalizedEvent) -> dict:
    """The NormalizedEvent contract as JSON-ready data; equal to `model_dump(mode="json")`, built directly
    because it runs for every event on the normalizer's transaction path."""
    loc, prov = event.location, event.provenance
    return {
        "event_id": event.event_id, "carrier": event.carrier, "tracking_number": event.tracking_number,
        "status": event.status.value,
        "exception_class": event.exception_class.value if event.exception_class else None,
        "occurred_at": _instant(event.occurred_at), "occurred_at_local": _instant(event.occurred_at_local),
        "time_basis": event.time_basis.value, "description": event.description,
        "carrier_code": event.carrier_code,
        "location": None if loc is None else {"city": loc.city, "region": loc.region,
                                              "postal_code": loc.postal_code, "country": loc.country},
        "estimated_delivery": event.estimated_delivery, "signed_by": event.signed_by,
        "provenance": {"channel": prov.channel.value, "inbox_id": prov.inbox_id,
                       "received_at": _instant(prov.received_at), "parser": prov.parser,
                       "parser_version": prov.parser_version, "mapped_by": prov.mapped_by.value},
        "taxonomy_version": event.taxonomy_version,
    }


def cloud_event(event: NormalizedEvent, snapshot: Snapshot, data: dict | None = None) -> dict:
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": f"/carriers/{event.carrier}",
        "type": EVENT_TYPE,
        "subject": event.tracking_number,
        "time": utc_text(event.occurred_at),
        "datacontenttype": "application/json",
        "revision": 1,
        "data": {
            "event": data if data is not None else event_data(event),
            "shipment": {
                "carrier": event.carrier, "tracking_number": event.tracking_number,
                "status_before": snapshot.status_before.value, "status": snapshot.status.value,
                "exception_class": snapshot.exception_class.value if snapshot.exception_class else None,
                "status_changed": snapshot.status_changed, "anomaly": snapshot.anomaly,
                "tracking_url": tracking_url(event.carrier, event.tracking_number),
            },
        },
    }


def correction_event(message: dict, revision: int) -> dict:
    """`message` (a `cloud_event`) as the correction of its event: CORRECTED_TYPE, `revision`, its own id."""
    return {**message, "id": f"{message['id']}-r{revision}", "type": CORRECTED_TYPE, "revision": revision}


def encode(message: dict) -> bytes:
    return orjson.dumps(message)
