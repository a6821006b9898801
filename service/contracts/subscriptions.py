"""The OpenAPI rows of `/v1/subscriptions` and the pushed request itself (`webhooks.shipmentEvent`).

Subscriptions are the OMS's to manage, with the API token (or the admin
token), as trackings are. The pushed request is what a subscriber's endpoint
receives: the CloudEvent of the feed, signed per Standard Webhooks.
"""
from __future__ import annotations

from ..web.bodies import CloudEvent
from ..web.subscription_bodies import (DeliveryLog, RedeliveryQueued, ReplayStarted, RotateSecret, SecretRotated,
                                       SubscriptionAttempt, SubscriptionCreated, SubscriptionIn, SubscriptionList,
                                       SubscriptionPatch, SubscriptionRedeliver, SubscriptionReplay,
                                       SubscriptionView)
from .table import PARAMS_400, REF, STORE_503, Operation, Param, Reply, Schema, int_schema

TAG = "subscriptions"
_ID = Param("id", "path", "subscription id; anything not of the form `sub_` + 24 hex digits is unknown (404)",
            {"type": "string", "pattern": "^sub_[0-9a-f]{24}$"}, True)
_AUTH = (Reply(401, "missing or wrong API token"),
         Reply(403, "subscriptions API disabled: neither CARRIER_EVENTS_API_TOKEN nor the admin token is set"))
_404 = Reply(404, "no such subscription (or the id is not of the form)")
_BODY_400 = Reply(400, "the body is not a JSON object, or a query parameter was given")
_LIMIT = Param("limit", "query", "at most this many; out-of-range values are clamped", int_schema("page size", 100, 1,
                                                                                                1000))
_CURSOR = "cursor: the `next` of the previous page (absent: the first page); a value this endpoint did not give " \
          "out is a 400"

SUBSCRIPTION_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post", "/v1/subscriptions", "createSubscription", "Subscribe an endpoint to the event feed", TAG,
        description="Every event whose routing key matches `filter` is POSTed to `url` as the CloudEvent of the "
                    "feed, signed per Standard Webhooks with the secret of this answer (shown this once); see "
                    "`webhooks.shipmentEvent`. Deliveries start with the events committed after the subscription "
                    "(`from: head`, the default) or with the oldest the store holds (`from: beginning`). The URL "
                    "must be http(s), without user:password, and every address its host resolves to must be "
                    "public (private, loopback and link-local addresses are refused unless "
                    "CARRIER_EVENTS_OUTBOUND_ALLOW_NETS allows them).",
        request_model=SubscriptionIn, request_required=True, security="api",
        replies=(Reply(201, "subscribed; the secret is in this answer only", SubscriptionCreated),
                 _BODY_400, *_AUTH,
                 Reply(422, "a field is unknown, of the wrong type or invalid: a bad filter pattern, or a URL the "
                            "SSRF guard refuses (the reason in `errors`)"), STORE_503),
    ),
    Operation(
        "get", "/v1/subscriptions", "listSubscriptions", "Subscriptions", TAG,
        parameters=(Param("after", "query", _CURSOR, {"type": "string", "pattern": "^sub_[0-9a-f]{24}$"}), _LIMIT),
        security="api",
        replies=(Reply(200, "a page, by id (without secrets)", SubscriptionList), PARAMS_400, *_AUTH, STORE_503),
    ),
    Operation(
        "get", "/v1/subscriptions/{id}", "getSubscription", "One subscription and how its deliveries go", TAG,
        description="With its state (`active`, `failing`, `disabled` and why), the failing streak (since when, "
                    "the next attempt, the last error), the cursor and the lag behind the feed. Never the secret.",
        parameters=(_ID,), security="api",
        replies=(Reply(200, "the subscription", SubscriptionView), PARAMS_400, *_AUTH, _404, STORE_503),
    ),
    Operation(
        "patch", "/v1/subscriptions/{id}", "changeSubscription", "Change a subscription", TAG,
        description="The fields given; `enabled: true` also clears the disabled reason and the failing streak "
                    "(deliveries resume from the cursor), `enabled: false` stops them (the cursor stays).",
        parameters=(_ID,), request_model=SubscriptionPatch, request_required=True, security="api",
        replies=(Reply(200, "the subscription after the change", SubscriptionView), _BODY_400, *_AUTH, _404,
                 Reply(422, "a field is unknown, null, of the wrong type or invalid (see create)"), STORE_503),
    ),
    Operation(
        "delete", "/v1/subscriptions/{id}", "deleteSubscription", "Unsubscribe", TAG,
        description="Deliveries stop; the delivery log of the subscription goes with it.",
        parameters=(_ID,), security="api",
        replies=(Reply(204, "deleted", {}, content_type=""), PARAMS_400, *_AUTH, _404, STORE_503),
    ),
    Operation(
        "post", "/v1/subscriptions/{id}/rotate-secret", "rotateSubscriptionSecret", "A new signing secret", TAG,
        description="The new secret is in this answer only. For `overlap_seconds` (default 86400, at most "
                    "604800) deliveries carry two signatures, with the new and the replaced secret, so the "
                    "receiver switches without a gap; only the latest two secrets are ever valid.",
        parameters=(_ID,), request_model=RotateSecret, security="api",
        replies=(Reply(200, "the new secret", SecretRotated), _BODY_400, *_AUTH, _404,
                 Reply(422, "`overlap_seconds` is not an integer from 0 to 604800, or another field was given"),
                 STORE_503),
    ),
    Operation(
        "post", "/v1/subscriptions/{id}/test", "testSubscription", "Send a test event now", TAG,
        description="One signed POST of a CloudEvent of type `shipment.event.test.v1` from this process, "
                    "answered with its outcome and kept in the delivery log (seq 0). It does not move the cursor.",
        parameters=(_ID,), security="api",
        replies=(Reply(200, "the attempt's outcome (`ok`: the receiver answered 2xx)", SubscriptionAttempt),
                 PARAMS_400, *_AUTH, _404,
                 Reply(409, "delivery is off in this process (CARRIER_EVENTS_WEBHOOKS_OUT=false)"), STORE_503),
    ),
    Operation(
        "get", "/v1/subscriptions/{id}/deliveries", "listSubscriptionDeliveries", "The delivery log", TAG,
        description="Every attempt (status, latency, error), newest first. The log is kept for a while, not "
                    "forever; its latest rows may be lost in a crash (the cursor never is).",
        parameters=(_ID, Param("after", "query", _CURSOR, {"type": "string"}), _LIMIT), security="api",
        replies=(Reply(200, "a page of attempts", DeliveryLog), PARAMS_400, *_AUTH, _404, STORE_503),
    ),
    Operation(
        "post", "/v1/subscriptions/{id}/redeliver", "redeliverEvent", "Send one feed event again", TAG,
        description="The event is sent once more, outside the cursor (before the next batch), whether or not "
                    "it matches the filter.",
        parameters=(_ID,), request_model=SubscriptionRedeliver, request_required=True, security="api",
        replies=(Reply(202, "queued", RedeliveryQueued), _BODY_400, *_AUTH,
                 Reply(404, "no such subscription, or no such event in the feed"),
                 Reply(422, "`event_id` is missing or not a string, or another field was given"), STORE_503),
    ),
    Operation(
        "post", "/v1/subscriptions/{id}/replay", "replaySubscription", "Move the cursor (deliver again or skip)",
        TAG,
        description="`after`: the cursor becomes that feed position; `since`: the position before the first "
                    "event committed at or after that time. Deliveries go on from the new cursor (matching "
                    "events after it are sent again; a cursor ahead skips). Exactly one of the two.",
        parameters=(_ID,), request_model=SubscriptionReplay, request_required=True, security="api",
        replies=(Reply(202, "the cursor is set", ReplayStarted), _BODY_400, *_AUTH, _404,
                 Reply(422, "neither or both of `after` and `since`, a position beyond the feed's head, or a time "
                            "that is not RFC 3339 with an offset"), STORE_503),
    ),
)

SIGNATURE_HEADERS = (
    ("webhook-id", "the CloudEvent id: the same for every attempt of the event; dedupe on it", {"type": "string"}),
    ("webhook-timestamp", "Unix seconds when this attempt was signed", {"type": "integer"}),
    ("webhook-signature", "`v1,<base64 HMAC-SHA256 of `webhook-id`.`webhook-timestamp`.body>`, with the key the "
                          "subscription's secret decodes to (base64 after `whsec_`); during a rotation overlap two, "
                          "space-separated (new secret first): accept the request when any one verifies",
     {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)?$"}),
    ("content-type", "`application/json`", {"type": "string", "const": "application/json"}),
    ("user-agent", "`carrier-events/<version>`", {"type": "string"}),
)

# OpenAPI 3.1 `webhooks`: the request the service sends to a subscriber.
PUSHED_EVENT: Schema = {"post": {
    "operationId": "pushedEvent",
    "summary": "An event pushed to a subscription's URL",
    "description": "The CloudEvent of the feed (`GET /v1/events`), the same bytes as on the bus, for each event "
                   "matching the subscription's filter. At least once: dedupe on `webhook-id`. In order per "
                   "shipment (CloudEvent `source` + `subject`); events of different shipments may arrive "
                   "concurrently. A 2xx answer delivers the event; anything else (a 3xx is never followed), a "
                   "timeout or a refused connection is retried with exponential backoff (1 s doubling, at most "
                   "1 h, ±20 % jitter; a `Retry-After` in seconds is honoured) and holds the later events of that "
                   "shipment; after CARRIER_EVENTS_OUTBOUND_GIVE_UP (3 days) of failing the subscription is "
                   "disabled with the reason. A test (`POST /v1/subscriptions/{id}/test`) sends a CloudEvent of "
                   "type `shipment.event.test.v1`.",
    "tags": [TAG],
    "parameters": [{"name": name, "in": "header", "required": name != "user-agent", "description": text,
                    "schema": schema} for name, text, schema in SIGNATURE_HEADERS],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=CloudEvent.__name__)}}}},
    "responses": {
        "2XX": {"description": "delivered: the cursor moves past the event"},
        "429": {"description": "failed; retried after `Retry-After` (seconds) when given, else on the schedule",
                "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}},
        "default": {"description": "failed (also any 3xx: redirects are not followed); retried on the schedule"},
    },
}}
