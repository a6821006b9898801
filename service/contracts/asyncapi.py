"""The AsyncAPI 3.0 document of the RabbitMQ bus and of the outbound webhooks, from the service's point of view.

Names and queue arguments come from `service.amqp.topology.Topology` with the
default settings and no prefix, so the document says what the code declares
(a test checks it). `shipment-events` is the public contract OMS queues bind
to, `cs-escalations` the one CS tooling binds to; the raw exchange, the normalize queue, the retry tiers and the DLQ are
described for operators and for whoever runs `worker` processes: their
messages are not self-contained (a consumer loads the inbox row named by the
`inbox-id` header from the shared store).

Outbound webhooks (`pushedEvents`, server `subscriber`) carry the same
CloudEvents over HTTP to each subscription's URL, with the Standard Webhooks
signature headers (`service.contracts.subscriptions` documents them for the
OpenAPI document as well; both read the one table).
"""
from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from taxonomy import ExceptionClass, Status

from ..amqp.topology import NORMALIZE_KEY, Topology
from ..cloudevents import CONTENT_TYPE, CORRECTED_TYPE, EVENT_TYPE
from ..config import SOURCES, Settings
from ..store.shapes import CHANGE_TYPE
from ..web.bodies import CloudEvent, EscalationChanged
from .subscriptions import SIGNATURE_HEADERS

VERSION = "1.1.0"  # of the bus contract; 1.1.0: outbound webhooks (`pushedEvents`), additive
BINDING = "0.3.0"  # AsyncAPI AMQP bindings version
HTTP_BINDING = "0.3.0"  # AsyncAPI HTTP bindings version
SCHEMAS = "#/components/schemas/{model}"
Doc = dict[str, Any]


def topology() -> Topology:
    """What a default deployment declares (CARRIER_EVENTS_AMQP_PREFIX empty)."""
    return Topology.from_settings(Settings(), prefix="")


def _exchange(name: str, kind: str) -> Doc:
    return {"amqp": {"is": "routingKey", "bindingVersion": BINDING,
                     "exchange": {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": "/"}}}


def _queue(name: str) -> Doc:
    return {"amqp": {"is": "queue", "bindingVersion": BINDING,
                     "queue": {"name": name, "durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"}}}


def _ref(*parts: str) -> Doc:
    return {"$ref": "#/" + "/".join(parts)}


def _messages() -> Doc:
    raw_headers = {
        "type": "object", "required": ["inbox-id", "source", "content-type", "attempt"],
        "properties": {
            "inbox-id": {"type": "integer", "description": "the inbox row; consumers load the document by it"},
            "source": {"type": "string", "enum": list(SOURCES)},
            "content-type": {"type": "string", "description": "as received; empty when none was sent"},
            "traceparent": {"type": "string", "description": "W3C trace context (tracing on)"},
            "attempt": {"type": "integer", "minimum": 0, "description": "retry tiers passed through"},
            "x-last-error": {"type": "string", "description": "set on a retry: why the last attempt failed"},
        },
    }
    return {
        "shipmentEvent": {
            "name": "shipmentEvent", "title": "Normalized shipment event",
            "summary": "A CloudEvents 1.0 event in structured JSON mode: the same bytes as on GET /v1/events.",
            "description": f"Since the corrections step (additive): a stored event derived again from its own "
                           f"document with another status or class (a replay after a mapping or parser fix) is "
                           f"published again with CloudEvent and AMQP type `{CORRECTED_TYPE}`, the same "
                           f"`data.event.event_id`, a `revision` (2, 3, ...), the shipment snapshot recomputed, "
                           f"and id = message_id = `<event_id>-r<revision>`.",
            "contentType": CONTENT_TYPE,
            "headers": {"type": "object", "description": "the event carries its own attributes (see "
                        "x-amqp-properties); with tracing on, `traceparent` (W3C) continues the trace",
                        "properties": {"traceparent": {"type": "string",
                                                       "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"}}},
            "payload": _ref("components", "schemas", "CloudEvent"),
            "correlationId": {"location": "$message.payload#/id",
                              "description": "= AMQP message_id = event_id: dedupe on it (at-least-once)"},
            "bindings": {"amqp": {"messageType": EVENT_TYPE, "bindingVersion": BINDING}},
            "x-amqp-properties": {"content_type": CONTENT_TYPE, "delivery_mode": 2,
                                  "message_id": "the CloudEvent id", "type": EVENT_TYPE},
        },
        "escalationChanged": {
            "name": "escalationChanged", "title": "Escalation changed",
            "summary": "A CloudEvents 1.0 event in structured JSON mode: an escalation opened, repeated, "
                       "acknowledged, assigned, resolved or past its SLA, with the escalation's latest state.",
            "contentType": CONTENT_TYPE,
            "payload": _ref("components", "schemas", "EscalationChanged"),
            "correlationId": {"location": "$message.payload#/id",
                              "description": "= AMQP message_id: dedupe on it (at-least-once)"},
            "bindings": {"amqp": {"messageType": CHANGE_TYPE, "bindingVersion": BINDING}},
            "x-amqp-properties": {"content_type": CONTENT_TYPE, "delivery_mode": 2,
                                  "message_id": "the CloudEvent id", "type": CHANGE_TYPE},
        },
        "pushedEvent": {
            "name": "pushedEvent", "title": "Normalized shipment event, pushed to a subscriber",
            "summary": "The CloudEvent of the feed and the bus, POSTed to a subscription's URL, signed per "
                       "Standard Webhooks.",
            "description": "At least once (dedupe on `webhook-id`), in order per shipment (CloudEvent `source` + "
                           "`subject`). A 2xx answer delivers it; anything else (a 3xx is not followed), a "
                           "timeout or a refused connection is retried with backoff and holds the later events "
                           "of the shipment. See README, Pushed events.",
            "contentType": "application/json",
            "headers": {"type": "object", "required": [n for n, _, _ in SIGNATURE_HEADERS if n != "user-agent"],
                        "properties": {n: {**schema, "description": text} for n, text, schema in SIGNATURE_HEADERS}},
            "payload": _ref("components", "schemas", "CloudEvent"),
            "correlationId": {"location": "$message.header#/webhook-id",
                              "description": "= the CloudEvent id: dedupe on it (at-least-once)"},
            "bindings": {"http": {"bindingVersion": HTTP_BINDING}},
        },
        "rawDocument": {
            "name": "rawDocument", "title": "Stored raw carrier document",
            "summary": "An accepted webhook body, verbatim, named by its inbox row.",
            "headers": raw_headers,
            "payload": {"description": "the raw carrier document (JSON, XML, X12 ...), bytes as received"},
            "correlationId": {"location": "$message.header#/inbox-id"},
            "x-amqp-properties": {"content_type": "as received", "delivery_mode": 2,
                                  "message_id": "inbox-<inbox id>"},
        },
    }


def _channels(t: Topology) -> Doc:
    status = [s.value for s in Status]
    classes = [c.value for c in ExceptionClass] + ["none"]
    raw_message = {"rawDocument": _ref("components", "messages", "rawDocument")}
    channels: Doc = {
        "shipmentEvents": {
            "address": "{status}.{exception_class}.{carrier}",
            "title": f"{t.events} (topic exchange)",
            "description": "Normalized events; subscribers bring their own queues and bind on any part of the "
                           "routing key, e.g. `delivered.#`, `exception.#`, `*.*.ups`.",
            "parameters": {
                "status": {"enum": status, "description": "taxonomy v1 status of the event"},
                "exception_class": {"enum": classes, "description": "the event's exception class, or `none`"},
                "carrier": {"description": "lowercase carrier slug from the carrier registry; `other` for a "
                                           "carrier the registry does not know (the event names it)",
                            "examples": ["ups", "fedex", "dhl", "other"]},
            },
            "messages": {"shipmentEvent": _ref("components", "messages", "shipmentEvent")},
            "bindings": _exchange(t.events, "topic"),
        },
        "csEscalations": {
            "address": "{severity}.{owner_role}.{exception_class}",
            "title": f"{t.escalations} (topic exchange)",
            "description": "Escalation changes for CS tooling; bind e.g. `critical.#` or `*.cs_claims.*`.",
            "parameters": {
                "severity": {"enum": ["low", "medium", "high", "critical"]},
                "owner_role": {"description": "the policy's owner role", "examples": ["cs_tier1", "cs_claims"]},
                "exception_class": {"description": "the escalation's exception class (or status)"},
            },
            "messages": {"escalationChanged": _ref("components", "messages", "escalationChanged")},
            "bindings": _exchange(t.escalations, "topic"),
        },
        "rawDocuments": {
            "address": NORMALIZE_KEY, "title": f"{t.raw} (direct exchange)",
            "description": "The inbox relay publishes each stored document here (mandatory: the normalize "
                           "queue must exist, or the row stays pending).",
            "messages": raw_message, "bindings": _exchange(t.raw, "direct"),
        },
        "normalizeQueue": {
            "address": t.normalize, "title": f"{t.normalize} (quorum queue)",
            "description": f"Bound to {t.raw} with `{NORMALIZE_KEY}`; competing normalizers (serve and "
                           f"workers) consume it with manual acks. Past x-delivery-limit a message is "
                           f"dead-lettered to {t.dlx}.",
            "messages": raw_message, "bindings": _queue(t.normalize), "x-arguments": t.normalize_arguments(),
        },
    }
    channels["pushedEvents"] = {
        "address": None, "title": "a subscription's URL (outbound webhooks)",
        "description": "Each subscription (`POST /v1/subscriptions`) receives the events whose routing key "
                       "(`{status}.{exception_class}.{carrier}`, as on shipmentEvents) matches its filter.",
        "servers": [_ref("servers", "subscriber")],
        "messages": {"pushedEvent": _ref("components", "messages", "pushedEvent")},
    }
    for delay, tier in zip(t.retry_delays_ms, t.retry_tiers):
        channels[f"retry{delay}ms"] = {
            "address": tier, "title": f"{tier} (quorum queue, routing key on {t.retry})",
            "description": f"A document whose normalization failed waits {delay} ms, then returns to {t.raw} "
                           f"as `{NORMALIZE_KEY}` (CARRIER_EVENTS_RETRY_DELAYS_MS sets the tiers).",
            "messages": raw_message, "bindings": _exchange(t.retry, "direct"),
            "x-arguments": t.retry_arguments(delay),
        }
    channels["deadLetters"] = {
        "address": t.dlq, "title": f"{t.dlq} (quorum queue, bound to the {t.dlx} fanout exchange)",
        "description": "What the broker dead-letters, kept for an operator. The store stays the DLQ of record "
                       "(GET /v1/admin/dlq, replay).",
        "messages": raw_message, "bindings": _queue(t.dlq), "x-arguments": t.dlq_arguments(),
    }
    return channels


def _operations(t: Topology) -> Doc:
    def op(action: str, channel: str, message: str, summary: str, amqp: Doc) -> Doc:
        return {"action": action, "channel": _ref("channels", channel), "summary": summary,
                "messages": [_ref("channels", channel, "messages", message)],
                "bindings": {"amqp": {**amqp, "bindingVersion": BINDING}}}

    ops: Doc = {
        "publishShipmentEvent": op("send", "shipmentEvents", "shipmentEvent",
                                   "The outbox relay publishes each new event (persistent, confirmed, not "
                                   "mandatory: an exchange without subscribers is normal).",
                                   {"deliveryMode": 2, "mandatory": False}),
        "publishEscalationChange": op("send", "csEscalations", "escalationChanged",
                                      "The escalation relay publishes each change (persistent, confirmed, not "
                                      "mandatory), in order.", {"deliveryMode": 2, "mandatory": False}),
        "publishRawDocument": op("send", "rawDocuments", "rawDocument",
                                 "The inbox relay hands each stored document to the broker (confirmed).",
                                 {"deliveryMode": 2, "mandatory": True}),
        "pushEvent": {"action": "send", "channel": _ref("channels", "pushedEvents"),
                      "summary": "The webhook dispatcher POSTs each matching event to the subscription's URL.",
                      "messages": [_ref("channels", "pushedEvents", "messages", "pushedEvent")],
                      "bindings": {"http": {"method": "POST", "bindingVersion": HTTP_BINDING}}},
        "consumeRawDocument": op("receive", "normalizeQueue", "rawDocument",
                                 "Normalize consumers ack after their transaction commits.", {"ack": True}),
    }
    for delay in t.retry_delays_ms:
        ops[f"retryRawDocument{delay}ms"] = op("send", f"retry{delay}ms", "rawDocument",
                                               "A failed normalization is republished to the next tier.",
                                               {"deliveryMode": 2, "mandatory": True})
    return ops


def build() -> Doc:
    """The AsyncAPI document as JSON-ready data."""
    t = topology()
    _, defs = models_json_schema([(CloudEvent, "serialization"), (EscalationChanged, "serialization")],
                                 ref_template=SCHEMAS)
    return {
        "asyncapi": "3.0.0",
        "id": "urn:carrier-events:bus",
        "info": {"title": "carrier-events bus", "version": VERSION,
                 "description": "RabbitMQ topology and messages, and the events pushed to subscribers "
                                "(outbound webhooks, channel `pushedEvents`). Every name takes the "
                                "CARRIER_EVENTS_AMQP_PREFIX prefix when one is set. Generated by `python -m service "
                                "schema`; do not edit by hand."},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"rabbitmq": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0-9-1",
                                 "description": "set with CARRIER_EVENTS_AMQP_URL"},
                    "subscriber": {"host": "{host}", "protocol": "https",
                                   "description": "the endpoint of a subscription (its `url`; http is allowed too)",
                                   "variables": {"host": {"description": "host[:port] of the subscription's URL"}}}},
        "channels": {name: {"servers": [_ref("servers", "rabbitmq")], **channel} for name, channel in
                     _channels(t).items()},
        "operations": _operations(t),
        "components": {"messages": _messages(), "schemas": defs["$defs"]},
    }
