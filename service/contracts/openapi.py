"""The OpenAPI 3.1 document of the HTTP API, built from a declarative table of operations.

The table, not the handlers, is what gets reviewed: one row per route with
its parameters, the statuses it can answer and the body model of each. Body
schemas come from `service.web.bodies`, the same models tests validate real
responses against; a test also checks that the table and the app's router
name the same routes, so the document cannot drift from the code silently.
Webhook authentication is documented from `service.signatures.DEFAULT_SCHEMES`,
so a source whose default scheme changes is reflected (or the build fails).
"""
from __future__ import annotations

from pydantic.json_schema import models_json_schema

from ..cloudevents import CONTENT_TYPE
from ..config import SOURCES
from ..signatures import DEFAULT_SCHEMES
from ..web.bodies import (BODIES, BulkResults, BulkTrackings, DlqList, DlqReplay, EscalationChange,
                          EscalationDetail, EscalationList, EventsPage, Health, Problem,
                          Readiness, ReplayRequest, ReplayResult, Shipment, TrackingIn, TrackingList,
                          ShipmentNotifications, TrackingRecord, TrackingRefused, UnmappedList,
                          WebhookAccepted)
from ..web.intake import _ACCEPTED_TYPES
from ..web.problems import CONTENT_TYPE as PROBLEM_TYPE
from ..web.problems import TITLES, TYPE_PREFIX
from .security import requirements, security_schemes
from .subscriptions import PUSHED_EVENT, SUBSCRIPTION_OPERATIONS
from .table import PARAMS_400, REF, STORE_503, Operation, Param, Reply, Schema, int_schema

# Of the HTTP contract; bump with any change to a path, status or body. 2.0.0: errors are RFC 9457 problem
# details (application/problem+json, still with `error`); reads need a token; every list pages with
# `after`/`next`/`has_more`; unknown parameters, filter values, carriers and cursors are refused.
# 2.1.0: escalations carry the order, customer, merchant, tracking page and messages sent; a shipment's
# messages at /v1/shipments/{carrier}/{tracking_number}/notifications (additive).
# 2.2.0: outbound webhooks, /v1/subscriptions (additive).
VERSION = "2.2.0"


HEADERS: dict[str, Schema] = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}},
    "X-Request-Id": {"description": "the caller's X-Request-Id, or a new one; also in the service's logs",
                     "schema": {"type": "string"}},
    "X-Event-Format": {"description": "the format of each event in `events`",
                       "schema": {"type": "string", "const": CONTENT_TYPE}},
}

_READ = (Reply(401, "missing or wrong token (read, API, CS or admin token)"),
         Reply(403, "read API disabled: no read, API, CS or admin token is set and reads are not opened "
                    "(CARRIER_EVENTS_OPEN_READ)"))
_ADMIN = (Reply(401, "missing or wrong admin token"),
          Reply(403, "admin API disabled: CARRIER_EVENTS_ADMIN_TOKEN is not set"))
_API = (Reply(401, "missing or wrong API token"),
        Reply(403, "trackings API disabled: neither CARRIER_EVENTS_API_TOKEN nor the admin token is set"))
_CS = (Reply(401, "missing or wrong CS token"),
       Reply(403, "CS API disabled: neither CARRIER_EVENTS_CS_TOKEN nor the admin token is set"))
_ESCALATION_ID = Param("id", "path", "escalation id", {"type": "string", "pattern": "^[0-9]{1,19}$"}, True)
_CSV = {"type": "string", "description": "comma-separated values"}
_TRACKING_PATH = (Param("carrier", "path", "carrier slug (case-insensitive)", {"type": "string"}, True),
                  Param("tracking_number", "path", "spaces and dashes ignored, case-insensitive",
                        {"type": "string"}, True))
_SHIPMENT_PATH = (_TRACKING_PATH[0], Param("tracking_number", "path", "as the carrier reports it (case-sensitive)",
                                           {"type": "string"}, True))
_REQUEST_ID = Param("X-Request-Id", "header", "correlates the request with the service's logs (64 chars kept)",
                   {"type": "string"})
_LIMIT = Param("limit", "query", "at most this many; out-of-range values are clamped",
               int_schema("page size", 100, 1, 1000))
_AFTER = Param("after", "query", "cursor: the `next` of the previous page (absent: the first page); a value "
               "this endpoint did not give out is a 400", {"type": "string", "pattern": "^[0-9]{1,19}$"})

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post", "/webhooks/{source}", "receiveWebhook", "Accept a carrier document", "intake",
        description="Verifies the sender on the raw bytes, then stores the body verbatim and answers 202 only "
                    "after the commit. Protocol violations are answered with an error and not stored. Malformed, "
                    "hostile or unparseable bodies are accepted and quarantined with the reason (see the admin "
                    "DLQ). The authentication scheme is per source (`x-default-auth`, overridable with "
                    "CARRIER_EVENTS_AUTH_<SOURCE>); an operator may open a source (no authentication).",
        parameters=(
            Param("source", "path", "the webhook source", {"type": "string", "enum": list(SOURCES)}, True),
            Param("webhook-id", "header", "standard-webhooks: the delivery id (signed)", {"type": "string"}),
            Param("webhook-timestamp", "header", "standard-webhooks: Unix seconds (signed)", {"type": "integer"}),
            Param("Content-Encoding", "header", "gzip or deflate; limits count the decoded bytes",
                  {"type": "string"}),
        ),
        request_types=_ACCEPTED_TYPES,
        security="webhook",
        replies=(
            Reply(202, "stored (or a duplicate of a stored delivery)", WebhookAccepted),
            Reply(400, "empty or unreadable body (bad chunking or encoding)"),
            Reply(401, "not authenticated: no secret configured for the source, or the signature/credential "
                       "is missing or wrong"),
            Reply(404, "unknown webhook source"),
            Reply(408, "body not received within CARRIER_EVENTS_BODY_TIMEOUT"),
            Reply(413, "body over the source's limit (counted after Content-Encoding is undone)"),
            Reply(415, "unsupported content type (also accepted: any `+json` or `+xml` type, or none)"),
            Reply(417, "an Expect header other than 100-continue"),
            Reply(429, "over the source's rate limit", headers=("Retry-After",)),
            Reply(503, "too many webhooks in progress, or the inbox cannot store: retry", headers=("Retry-After",)),
        ),
    ),
    Operation(
        "get", "/v1/events", "getEvents", "The normalized event feed", "events",
        description="CloudEvents in outbox order after the cursor, oldest first: the same bytes as on the bus. "
                    "Pass `next` back as `after`.",
        parameters=(Param("after", "query", "cursor: the `next` of the previous page",
                          int_schema("cursor", 0, 0, 2**62)), _LIMIT),
        security="read",
        replies=(Reply(200, "a page of events", EventsPage, ("X-Event-Format",)),
                 Reply(400, "`after` or `limit` is not an integer, or an unknown parameter"), *_READ, STORE_503),
    ),
    Operation(
        "get", "/v1/shipments/{carrier}/{tracking_number}", "getShipment", "A shipment's state and history", "events",
        parameters=_SHIPMENT_PATH,
        security="read",
        replies=(Reply(200, "current state and the event history, newest first", Shipment),
                 Reply(400, "no shipment, and the carrier is not in the carrier registry (a typo?)"), *_READ,
                 Reply(404, "no such shipment"), STORE_503),
    ),
    Operation(
        "get", "/v1/shipments/{carrier}/{tracking_number}/notifications", "getShipmentNotifications",
        "The customer messages of a shipment", "events",
        description="Every message the actions stage decided for the shipment, oldest first, with its state "
                    "(`sent_at` once the channel took it); the recipient's address is not repeated. An empty list "
                    "when none was sent (or the shipment is unknown).",
        parameters=_SHIPMENT_PATH,
        security="read",
        replies=(Reply(200, "the messages", ShipmentNotifications),
                 Reply(400, "the carrier is not in the carrier registry, or an unknown parameter"), *_READ,
                 STORE_503),
    ),
    Operation("get", "/healthz", "healthz", "Liveness", "operations",
              replies=(Reply(200, "the process answers", Health),)),
    Operation(
        "get", "/readyz", "readyz", "Readiness", "operations",
        description="Ready when the store takes writes and, in RabbitMQ mode, the broker is connected.",
        replies=(Reply(200, "ready", Readiness), Reply(503, "not ready (same body, saying what is not)", Readiness)),
    ),
    Operation(
        "get", "/v1/admin/dlq", "listDlq", "Quarantined and dead documents", "admin",
        description="Inbox rows the normalizer could not process, with their reasons, oldest first.",
        parameters=(_AFTER, _LIMIT), security="admin",
        replies=(Reply(200, "the rows, without their bodies", DlqList), PARAMS_400, *_ADMIN, STORE_503),
    ),
    Operation(
        "post", "/v1/admin/dlq/{id}/replay", "replayDlq", "Send a quarantined document through again", "admin",
        description="Marks the row pending and wakes the normalizer (after a parser fix).",
        parameters=(Param("id", "path", "inbox row id", {"type": "integer", "minimum": 1}, True),),
        security="admin",
        replies=(Reply(202, "pending again", DlqReplay), Reply(400, "`id` is not a positive 64-bit integer"),
                 *_ADMIN,
                 Reply(404, "no such inbox row"), Reply(409, "the row is not quarantined or dead"), STORE_503),
    ),
    Operation(
        "post", "/v1/admin/replay", "replay", "Re-normalize stored documents chosen by a filter", "admin",
        description="Marks the chosen inbox rows pending (after a parser or mapping fix); effects stay "
                    "idempotent, so only events that did not exist before are published.",
        request_model=ReplayRequest, security="admin",
        replies=(Reply(200, "dry run: the rows that would be replayed", ReplayResult),
                 Reply(202, "the rows are pending again", ReplayResult),
                 Reply(400, "the body is not a JSON object"), *_ADMIN,
                 Reply(422, "a field is unknown, of the wrong type or invalid (named in `errors`)"), STORE_503),
    ),
    Operation(
        "get", "/v1/admin/unmapped", "listUnmapped", "Carrier codes no mapping table knows", "admin",
        description="Unknown codes by frequency, each with the latest description seen: what the mapping "
                    "tables should learn next.",
        parameters=(_AFTER, Param("limit", "query", "at most this many; out-of-range values are clamped",
                                  int_schema("page size", 500, 1, 5000))),
        security="admin",
        replies=(Reply(200, "the codes", UnmappedList), PARAMS_400, *_ADMIN, STORE_503),
    ),
    Operation(
        "post", "/v1/trackings", "registerTracking", "Register a shipment (for polling and notifications)",
        "trackings",
        description="Attaches order and customer metadata to a tracking number and schedules polling. Without "
                    "a carrier, the number's format (check digits included) decides; a number that fits several "
                    "carriers or none is refused with the candidates. Registering again updates what is given.",
        request_model=TrackingIn, request_required=True, security="api",
        replies=(Reply(200, "updated", TrackingRecord), Reply(201, "registered", TrackingRecord),
                 Reply(400, "the body is not a JSON object, or a query parameter was given"), *_API,
                 Reply(422, "a field is invalid, the carrier is not in the registry, or the carrier cannot be told "
                            "from the number", TrackingRefused),
                 STORE_503),
    ),
    Operation(
        "post", "/v1/trackings/bulk", "registerTrackings", "Register up to 1000 shipments", "trackings",
        description="Each item as `POST /v1/trackings`, answered per item; the valid ones are stored together.",
        request_model=BulkTrackings, request_required=True, security="api",
        replies=(Reply(200, "one result per item", BulkResults), Reply(400, "the body is not a JSON object"),
                 *_API, Reply(422, "`trackings` is not a list of 1 to 1000 objects, or another field was given"),
                 STORE_503),
    ),
    Operation(
        "get", "/v1/trackings", "listTrackings", "Registered shipments", "trackings",
        parameters=(Param("carrier", "query", "only this carrier (a slug of the carrier registry)", {"type": "string"}),
                    Param("after", "query", "`carrier/tracking_number` cursor: the `next` of the previous page",
                          {"type": "string"}), _LIMIT),
        security="api",
        replies=(Reply(200, "a page", TrackingList), PARAMS_400, *_API, STORE_503),
    ),
    Operation(
        "get", "/v1/trackings/{carrier}/{tracking_number}", "getTracking", "One registered shipment", "trackings",
        parameters=_TRACKING_PATH, security="api",
        replies=(Reply(200, "the registration", TrackingRecord), Reply(400, "unknown carrier or malformed number"),
                 *_API, Reply(404, "not registered"), STORE_503),
    ),
    Operation(
        "delete", "/v1/trackings/{carrier}/{tracking_number}", "deregisterTracking",
        "Deregister a shipment (stop polling, forget its metadata)", "trackings",
        parameters=_TRACKING_PATH, security="api",
        replies=(Reply(204, "deregistered", {}, content_type=""),
                 Reply(400, "unknown carrier or malformed number"), *_API, Reply(404, "not registered"), STORE_503),
    ),
    Operation(
        "get", "/v1/escalations", "listEscalations", "Customer-service escalations", "escalations",
        description="Most urgent first. Filters take comma-separated values, each checked (`state`, `severity`, "
                    "`exception_class` against their vocabularies, `carrier` against the carrier registry); "
                    "`active=true` leaves out resolved ones. The cursor counts rows: a case whose urgency changes "
                    "between two pages may be seen twice or not at all.",
        parameters=(*(Param(name, "query", f"only these {name.replace('_', ' ')} values", schema)
                      for name, schema in (("state", _CSV), ("severity", _CSV), ("owner_role", {"type": "string"}),
                                           ("exception_class", _CSV), ("carrier", _CSV),
                                           ("tracking_number", {"type": "string"}),
                                           ("assignee", {"type": "string"}))),
                    Param("active", "query", "true: not resolved",
                          {"type": "string", "enum": ["true", "false", "1", "0"]}),
                    _AFTER,
                    Param("limit", "query", "at most this many; out-of-range values are clamped",
                          int_schema("page size", 200, 1, 1000))),
        security="cs",
        replies=(Reply(200, "the escalations", EscalationList), PARAMS_400, *_CS, STORE_503),
    ),
    Operation(
        "get", "/v1/escalations/{id}", "getEscalation", "One escalation with its audit trail", "escalations",
        parameters=(_ESCALATION_ID,), security="cs",
        replies=(Reply(200, "the escalation", EscalationDetail), Reply(400, "`id` is not a positive 64-bit integer"),
                 *_CS, Reply(404, "no such escalation"), STORE_503),
    ),
    *(Operation(
        "post", f"/v1/escalations/{{id}}/{action}", f"{action}Escalation", summary, "escalations",
        parameters=(_ESCALATION_ID,), request_model=EscalationChange, security="cs",
        replies=(Reply(200, "the escalation after the change", EscalationDetail),
                 Reply(400, "the body is not a JSON object, or `id` is not a positive 64-bit integer"), *_CS,
                 Reply(404, "no such escalation"), Reply(409, "not possible in the escalation's state"),
                 Reply(422, "a field is unknown or not a string, or assign without an assignee"),
                 STORE_503))
      for action, summary in (("acknowledge", "Acknowledge an open escalation"),
                              ("resolve", "Resolve an escalation"), ("assign", "Assign an escalation"))),
    Operation(
        "get", "/console", "console", "The CS console page (its data comes from /v1/escalations with the token)",
        "escalations",
        replies=(Reply(200, "the console's HTML page", {"type": "string"}, content_type="text/html"),),
    ),
    Operation(
        "get", "/console/{file}", "consoleAsset", "The console's script and stylesheet", "escalations",
        parameters=(Param("file", "path", "console.js or console.css",
                          {"type": "string", "enum": ["index.html", "console.js", "console.css"]}, True),),
        replies=(Reply(200, "the file", {"type": "string"}, content_type="text/plain"),
                 Reply(404, "no such console file")),
    ),
    Operation(
        "get", "/metrics", "metrics", "Prometheus metrics", "operations",
        description="On the service's port unless CARRIER_EVENTS_METRICS_PORT moves it to a port of its own; "
                    "open unless CARRIER_EVENTS_METRICS_TOKEN is set.",
        security="metrics",
        replies=(Reply(200, "Prometheus text exposition format 0.0.4", {"type": "string"},
                       content_type="text/plain"), Reply(401, "CARRIER_EVENTS_METRICS_TOKEN is set: missing or "
                                                              "wrong token"), STORE_503),
    ),
    Operation(
        "get", "/openapi.json", "openapi", "This document", "operations", security="read",
        replies=(Reply(200, "the OpenAPI 3.1 document of this API",
                       {"type": "object", "description": "an OpenAPI 3.1 document"}), *_READ,
                 Reply(404, "the document is not installed with the package")),
    ),
    *SUBSCRIPTION_OPERATIONS,
)


def _parameter(p: Param) -> Schema:
    return {"name": p.name, "in": p.where, "required": p.required, "description": p.description,
            "schema": p.schema}


def _reply(r: Reply) -> Schema:
    schema = {"$ref": REF.format(model=r.body.__name__)} if isinstance(r.body, type) else r.body
    out: Schema = {"description": r.description,
                   "headers": {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-Id", *r.headers)}}
    problem = isinstance(r.body, type) and issubclass(r.body, Problem)
    if r.content_type:  # a 204 has no content
        out["content"] = {PROBLEM_TYPE if problem else r.content_type: {"schema": schema}}
    return out


def _operation(op: Operation) -> Schema:
    out: Schema = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                   "responses": {str(r.status): _reply(r) for r in sorted(op.replies, key=lambda r: r.status)}}
    if op.description:
        out["description"] = op.description
    out["parameters"] = [*map(_parameter, op.parameters), {"$ref": "#/components/parameters/X-Request-Id"}]
    if op.request_model is not None:
        out["requestBody"] = {"required": op.request_required, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=op.request_model.__name__)}}}}
    if op.request_types:
        out["requestBody"] = {"required": True, "description": "a carrier document, stored verbatim",
                              "content": {t: {"schema": {}} for t in op.request_types}}
    security = requirements(op.security)
    if security is not None:
        out["security"] = security
    if op.security == "webhook":
        out["x-default-auth"] = dict(sorted(DEFAULT_SCHEMES.items()))
    return out


def _components() -> Schema:
    _, defs = models_json_schema([(m, "serialization") for m in BODIES.values()], ref_template=REF)
    return {"schemas": defs["$defs"], "securitySchemes": security_schemes(), "headers": HEADERS,
            "parameters": {"X-Request-Id": _parameter(_REQUEST_ID)}}


def build() -> Schema:
    """The OpenAPI document as JSON-ready data."""
    paths: dict[str, Schema] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "carrier-events HTTP API", "version": VERSION,
                 "description": "Carrier webhook intake, the normalized event feed (CloudEvents 1.0), shipment "
                                "state, subscriptions that push the events to an endpoint (outbound webhooks, "
                                "described under `webhooks`), health, and the admin view of quarantined "
                                "documents. Generated by "
                                "`python -m service schema`; do not edit by hand. Errors are RFC 9457 problem "
                                "details; `x-problem-types` lists every `type` with its title.",
                 "x-problem-types": {TYPE_PREFIX + code: title for code, title in TITLES.items()}},
        "servers": [{"url": "http://127.0.0.1:8080", "description": "`serve` defaults (CARRIER_EVENTS_HOST/_PORT)"}],
        "tags": [{"name": n} for n in ("intake", "events", "trackings", "subscriptions", "escalations", "admin",
                                       "operations")],
        "paths": paths,
        "webhooks": {"shipmentEvent": PUSHED_EVENT},
        "components": _components(),
    }
