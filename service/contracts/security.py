"""The OpenAPI document's security: the bearer tokens of the service's APIs and each webhook scheme.

OpenAPI has no HMAC scheme: a signature header is documented as an apiKey in
that header, with what it is computed over in the description.
"""
from __future__ import annotations

from typing import Any

from ..signatures import DEFAULT_SCHEMES

Schema = dict[str, Any]

# Webhook schemes (service.signatures) -> OpenAPI security scheme.
WEBHOOK_SCHEMES: dict[str, tuple[str, Schema]] = {
    "easypost-hmac": ("easypostHmac", {
        "type": "apiKey", "in": "header", "name": "X-Hmac-Signature",
        "description": "`hmac-sha256-hex=<hex HMAC-SHA256 of the raw body>` (secret NFKD-normalized)"}),
    "aftership-hmac": ("aftershipHmac", {
        "type": "apiKey", "in": "header", "name": "aftership-hmac-sha256",
        "description": "base64 HMAC-SHA256 of the raw body"}),
    "fedex-hmac": ("fedexHmac", {
        "type": "apiKey", "in": "header", "name": "fdx-signature",
        "description": "base64 HMAC-SHA256 of the raw body"}),
    "standard-webhooks": ("standardWebhooks", {
        "type": "apiKey", "in": "header", "name": "webhook-signature",
        "description": "Standard Webhooks: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` (several, space-"
                       "separated, accepted) with the `webhook-id` and `webhook-timestamp` headers; `whsec_` "
                       "secrets; the timestamp within CARRIER_EVENTS_SIGNATURE_TOLERANCE (300 s); a replayed "
                       "webhook-id answers 202 duplicate"}),
    "shipengine-rsa": ("shipengineRsa", {
        "type": "apiKey", "in": "header", "name": "x-shipengine-rsa-sha256-signature",
        "description": "ShipEngine: base64 RSA-SHA256 (PKCS#1 v1.5) of `<x-shipengine-timestamp>.<raw body>` with "
                       "the key named by `x-shipengine-rsa-sha256-key-id`; the timestamp (ISO 8601) within "
                       "CARRIER_EVENTS_SIGNATURE_TOLERANCE (300 s); ShipEngine's public keys (JWKS or PEM) "
                       "configured as the source's secret"}),
    "header:credential": ("upsCredential", {
        "type": "apiKey", "in": "header", "name": "credential",
        "description": "shared credential (UPS Track Alert subscription); a `Bearer ` prefix is allowed"}),
    "header:DHL-API-Key": ("dhlApiKey", {
        "type": "apiKey", "in": "header", "name": "DHL-API-Key",
        "description": "shared credential (DHL push API key); a `Bearer ` prefix is allowed"}),
    "query:token": ("shippoToken", {
        "type": "apiKey", "in": "query", "name": "token",
        "description": "shared token in the webhook URL: `/webhooks/shippo?token=...`"}),
}


def requirements(kind: str) -> list[Schema] | None:
    if kind == "admin":
        return [{"adminToken": []}]
    if kind == "read":  # `{}`: reads opened by the operator (CARRIER_EVENTS_OPEN_READ)
        return [{"readToken": []}, {"apiToken": []}, {"csToken": []}, {"adminToken": []}, {}]
    if kind == "metrics":  # open unless CARRIER_EVENTS_METRICS_TOKEN is set
        return [{}, {"metricsToken": []}, {"adminToken": []}]
    if kind == "api":
        return [{"apiToken": []}, {"adminToken": []}]
    if kind == "cs":
        return [{"csToken": []}, {"adminToken": []}]
    if kind == "webhook":  # any one of them, as the source is configured; `{}`: an opened source
        return [{WEBHOOK_SCHEMES[s][0]: []} for s in sorted(set(DEFAULT_SCHEMES.values()))] + [{}]
    return None


def security_schemes() -> Schema:
    admin = {"type": "http", "scheme": "bearer",
             "description": "CARRIER_EVENTS_ADMIN_TOKEN; the admin API is disabled without it"}
    api = {"type": "http", "scheme": "bearer",
           "description": "CARRIER_EVENTS_API_TOKEN (the admin token works too); disabled without either"}
    cs = {"type": "http", "scheme": "bearer",
          "description": "CARRIER_EVENTS_CS_TOKEN (the admin token works too); disabled without either"}
    read = {"type": "http", "scheme": "bearer",
            "description": "CARRIER_EVENTS_READ_TOKEN; the API, CS and admin tokens read too. Without any of them "
                           "reads are disabled unless CARRIER_EVENTS_OPEN_READ=true opens them"}
    metrics = {"type": "http", "scheme": "bearer",
               "description": "CARRIER_EVENTS_METRICS_TOKEN, when set (the admin token works too)"}
    schemes: Schema = {"adminToken": admin, "apiToken": api, "csToken": cs, "readToken": read,
                       "metricsToken": metrics}
    schemes.update({key: scheme for key, scheme in WEBHOOK_SCHEMES.values()})
    return schemes
