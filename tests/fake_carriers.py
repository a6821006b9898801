"""A local fake of the five carrier tracking APIs the pollers call (UPS, FedEx, USPS, DHL, Canada Post).

Used live by the timing tests (token single flight, timeouts) and as the other
end when cassettes are re-recorded (`RECORD_CASSETTES=1`, fixed port 18765 so
recorded URLs match replay). Bodies follow the carriers' documented shapes as
composed in `fixtures/<format>/` (the parsers must turn them into events):
UPS `trackResponse`, FedEx `output.completeTrackResults`, USPS v3, DHL unified
`shipments`, Canada Post `tracking-detail`; and each carrier's not-found answer
(UPS 200 + TW0001 warning, FedEx trackResults[].error NOTFOUND, USPS 404 error
body, DHL 404 RFC 7807 problem, Canada Post `messages` 004 "No Pin History").

Controls: `fail_next(carrier, kind, ...)` queues faults for the next tracking
calls (`rate_limit` 429 + Retry-After, `unavailable` 503, `unauthorized` 401
whatever the token, `hang` longer than any test timeout); `revoke_tokens()`
makes issued tokens invalid (a carrier-side expiry: 401 until a new token);
`token_delay` slows the token endpoints; counters say what was asked.
"""
from __future__ import annotations

import asyncio
import base64
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from parsers.tracking_numbers import fedex12_ok

RECORD_HOST, RECORD_PORT = "127.0.0.1", 18765

# Test credentials. A test asserts none of them (nor their Basic-auth encodings) is in any cassette.
CLIENT_ID = "test-client-id-6b1f"
CLIENT_SECRET = "test-client-secret-Q9x2vLm4"
DHL_API_KEY = "test-dhl-api-key-Zk81pW"
CP_USERNAME = "test-cp-user-4d2e"
CP_PASSWORD = "test-cp-password-Hh73Rt"
SECRETS = (CLIENT_SECRET, DHL_API_KEY, CP_PASSWORD)

UPS_FOUND, UPS_NOT_FOUND = "1Z4F7W390361553013", "1ZX0V7716842553010"
USPS_FOUND, USPS_NOT_FOUND = "9361289690090123456782", "9400109000624511377025"
DHL_FOUND, DHL_NOT_FOUND = "3482610950", "5829301741"
CP_FOUND, CP_NOT_FOUND = "7023210044718265", "7023210044718273"
FEDEX_NOT_FOUND = "612909833771"


def fedex_number(i: int) -> str:
    """The i-th valid FedEx Express 12-digit number of a test series."""
    body = f"77231{i:06d}"
    return next(body + str(d) for d in range(10) if fedex12_ok(body + str(d)))


FEDEX_FOUND = [fedex_number(i) for i in range(31)]


@dataclass
class Fault:
    kind: str  # rate_limit | unavailable | unauthorized | hang
    retry_after: str | None = None


def _json(data: object, status: int = 200, content_type: str = "application/json",
          headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=content_type, headers=headers)


class FakeCarriers:
    def __init__(self, *, expires_in: int = 120) -> None:
        self.expires_in = expires_in
        self.token_delay = 0.0
        self.token_requests: Counter[str] = Counter()
        self.track_requests: Counter[str] = Counter()
        self.fedex_batches: list[list[str]] = []
        self.ups_headers: list[dict[str, str]] = []
        self._tokens: dict[str, str] = {}  # token -> carrier
        self._faults: dict[str, list[Fault]] = defaultdict(list)

    # -- controls -------------------------------------------------------------------------------------------

    def fail_next(self, carrier: str, kind: str, *, times: int = 1, retry_after: str | None = None) -> None:
        self._faults[carrier].extend(Fault(kind, retry_after) for _ in range(times))

    def revoke_tokens(self, carrier: str | None = None) -> None:
        for token, owner in list(self._tokens.items()):
            if carrier is None or owner == carrier:
                del self._tokens[token]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/security/v1/oauth/token", self.ups_token)
        app.router.add_get("/api/track/v1/details/{number}", self.ups_track)
        app.router.add_post("/oauth/token", self.fedex_token)
        app.router.add_post("/track/v1/trackingnumbers", self.fedex_track)
        app.router.add_post("/oauth2/v3/token", self.usps_token)
        app.router.add_get("/tracking/v3/tracking/{number}", self.usps_track)
        app.router.add_get("/track/shipments", self.dhl_track)
        app.router.add_get("/vis/track/pin/{pin}/detail", self.canadapost_track)
        return app

    # -- OAuth token endpoints ------------------------------------------------------------------------------

    async def _issue(self, carrier: str, client_id: str | None, client_secret: str | None,
                     refused: web.Response) -> web.Response:
        self.token_requests[carrier] += 1
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return refused
        token = f"{carrier}-token-{secrets.token_hex(8)}"
        self._tokens[token] = carrier
        expires = str(self.expires_in) if carrier in ("ups", "usps") else self.expires_in  # UPS/USPS send a string
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": expires,
                      "scope": "tracking", "status": "approved"})

    async def ups_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id = client_secret = None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic ") and form.get("grant_type") == "client_credentials":
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        refused = _json({"response": {"errors": [{"code": "10401", "message": "ClientId is Invalid"}]}}, 401)
        return await self._issue("ups", client_id, client_secret, refused)

    async def fedex_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        ok = form.get("grant_type") == "client_credentials"
        refused = _json({"transactionId": "tx-token", "errors": [
            {"code": "NOT.AUTHORIZED.ERROR",
             "message": "The given client credentials were not valid. Please modify your request and try again."}]},
            401)
        return await self._issue("fedex", str(form.get("client_id")) if ok else None, str(form.get("client_secret")),
                                 refused)

    async def usps_token(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.content_type == "application/json":
            data = orjson.loads(raw)
        else:
            data = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        ok = data.get("grant_type") == "client_credentials"
        refused = _json({"error": "invalid_client", "error_description": "Client authentication failed."}, 401)
        return await self._issue("usps", data.get("client_id") if ok else None, data.get("client_secret"), refused)

    # -- shared checks --------------------------------------------------------------------------------------

    async def _fault(self, carrier: str) -> web.Response | None:
        self.track_requests[carrier] += 1
        if not self._faults[carrier]:
            return None
        fault = self._faults[carrier].pop(0)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        if fault.kind == "rate_limit":
            return _json({"status": 429, "title": "Too Many Requests", "detail": "Rate limit exceeded"}, 429,
                         headers=headers)
        if fault.kind == "unavailable":
            return web.Response(status=503, text="Service Unavailable", headers=headers)
        if fault.kind == "unauthorized":
            return self._unauthorized(carrier)
        if fault.kind == "hang":
            await asyncio.sleep(30)
        return None

    def _unauthorized(self, carrier: str) -> web.Response:
        if carrier == "ups":
            return _json({"response": {"errors": [
                {"code": "250002", "message": "Invalid Authentication Information."}]}}, 401)
        if carrier == "fedex":
            return _json({"transactionId": "tx-401", "errors": [
                {"code": "NOT.AUTHORIZED.ERROR",
                 "message": "Access token expired. Please modify your request and try again."}]}, 401)
        if carrier == "usps":
            return _json({"error": "invalid_token",
                          "error_description": "The access token provided is expired, revoked, malformed, or invalid."},
                         401)
        if carrier == "dhl":
            return _json({"status": 401, "title": "Unauthorized", "detail": "Unauthorized for given resource."}, 401,
                         "application/problem+json")
        return web.Response(status=401, content_type="application/vnd.cpc.track-v2+xml", text=(
            '<?xml version="1.0" encoding="UTF-8"?>\n<messages xmlns="http://www.canadapost.ca/ws/messages">'
            "<message><code>E002</code><description>AAA Authentication Failure</description></message></messages>"))

    async def _bearer(self, carrier: str, request: web.Request) -> web.Response | None:
        fault = await self._fault(carrier)
        if fault is not None:
            return fault
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or self._tokens.get(auth[7:]) != carrier:
            return self._unauthorized(carrier)
        return None

    # -- tracking endpoints ---------------------------------------------------------------------------------

    async def ups_track(self, request: web.Request) -> web.Response:
        if (refused := await self._bearer("ups", request)) is not None:
            return refused
        self.ups_headers.append({k: request.headers.get(k, "") for k in ("transId", "transactionSrc")})
        if not request.headers.get("transId") or not request.headers.get("transactionSrc"):
            return _json({"response": {"errors": [{"code": "TV1001", "message": "Missing transId"}]}}, 400)
        number = request.match_info["number"]
        if number != UPS_FOUND:
            return _json({"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [], "warnings": [
                {"code": "TW0001", "message": "Tracking Information Not Found"}]}]}})
        return _json(ups_found(number))

    async def fedex_track(self, request: web.Request) -> web.Response:
        if (refused := await self._bearer("fedex", request)) is not None:
            return refused
        body = orjson.loads(await request.read())
        numbers = [t["trackingNumberInfo"]["trackingNumber"] for t in body.get("trackingInfo", [])]
        self.fedex_batches.append(numbers)
        if not numbers or len(numbers) > 30:
            return _json({"transactionId": "tx-400", "errors": [
                {"code": "TRACKING.TRACKINGNUMBERS.LIMIT.EXCEEDED",
                 "message": "Please enter a maximum of 30 tracking numbers."}]}, 400)
        return _json({"transactionId": "tx-track", "output": {"completeTrackResults": [
            fedex_not_found(n) if n == FEDEX_NOT_FOUND else fedex_found(n) for n in numbers]}})

    async def usps_track(self, request: web.Request) -> web.Response:
        if (refused := await self._bearer("usps", request)) is not None:
            return refused
        number = request.match_info["number"]
        if number != USPS_FOUND:
            return _json({"apiVersion": "/tracking/v3", "error": {
                "code": "404", "message": f"The tracking number {number} was not found.",
                "errors": [{"status": "404", "code": "1001", "title": "Tracking number not found",
                            "detail": "The tracking number may be incorrect or the label has not been scanned yet."}]}},
                404)
        return _json(usps_found(number))

    async def dhl_track(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("dhl")) is not None:
            return fault
        if request.headers.get("DHL-API-Key") != DHL_API_KEY:
            return self._unauthorized("dhl")
        number = request.query.get("trackingNumber", "")
        if number != DHL_FOUND:
            return _json({"type": "about:blank", "title": "No result found", "status": 404,
                          "detail": "No shipment with given tracking number found.",
                          "instance": f"/track/shipments?trackingNumber={number}"}, 404, "application/problem+json")
        return _json(dhl_found(number))

    async def canadapost_track(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("canadapost")) is not None:
            return fault
        expected = "Basic " + base64.b64encode(f"{CP_USERNAME}:{CP_PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self._unauthorized("canadapost")
        if request.headers.get("Accept") != "application/vnd.cpc.track-v2+xml":
            return web.Response(status=406, text="Not Acceptable")
        pin = request.match_info["pin"]
        if pin != CP_FOUND:
            return web.Response(status=404, content_type="application/vnd.cpc.track-v2+xml", text=(
                '<?xml version="1.0" encoding="UTF-8"?>\n<messages xmlns="http://www.canadapost.ca/ws/messages">'
                "<message><code>004</code><description>No Pin History</description></message></messages>"))
        return web.Response(status=200, content_type="application/vnd.cpc.track-v2+xml", text=canadapost_found(pin))


# -- documents (shapes as in fixtures/<format>/) ------------------------------------------------------------

def ups_found(number: str) -> dict:
    def activity(kind: str, code: str, description: str, date: str, time: str, city: str | None) -> dict:
        address = {"city": city, "stateProvince": "OR", "countryCode": "US", "country": "US"} if city else {
            "countryCode": "US", "country": "US"}
        return {"location": {"address": address}, "status": {"type": kind, "description": description, "code": code},
                "date": date, "time": time}
    return {"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [{
        "trackingNumber": number,
        "deliveryDate": [{"type": "DEL", "date": "20250312"}],
        "deliveryInformation": {"location": "Front Door", "receivedBy": "KOVACS"},
        "activity": [
            activity("D", "FS", "DELIVERED", "20250312", "142207", "Salem"),
            activity("I", "OT", "Out For Delivery Today", "20250312", "083015", "Salem"),
            activity("I", "OR", "Origin Scan", "20250310", "201144", "Portland"),
            activity("M", "MP", "Shipper created a label, UPS has not received the package yet.", "20250310",
                     "101530", None),
        ],
        "currentStatus": {"type": "D", "code": "FS", "description": "Delivered"}}]}]}}


def fedex_found(number: str) -> dict:
    def scan(date: str, kind: str, description: str, derived: str) -> dict:
        return {"date": date, "eventType": kind, "eventDescription": description, "exceptionCode": "",
                "exceptionDescription": "", "derivedStatusCode": derived,
                "scanLocation": {"city": "MEMPHIS", "stateOrProvinceCode": "TN", "postalCode": "38118",
                                 "countryCode": "US"}}
    return {"trackingNumber": number, "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": f"2460827000~{number}~FX",
                               "carrierCode": "FDXE"},
        "latestStatusDetail": {"code": "IT", "derivedCode": "IT", "description": "In transit"},
        "scanEvents": [
            scan("2025-06-02T09:40:00-05:00", "DP", "Left FedEx origin facility", "IT"),
            scan("2025-06-01T18:05:00-05:00", "PU", "Picked up", "PU"),
        ]}]}


def fedex_not_found(number: str) -> dict:
    return {"trackingNumber": number, "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": "", "carrierCode": ""},
        "error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                  "message": "Tracking number cannot be found. Please correct the tracking number and try again."}}]}


def usps_found(number: str) -> dict:
    def event(kind: str, local: str, gmt: str, code: str, city: str | None, name: str | None = None) -> dict:
        return {"eventType": kind, "eventTimestamp": local, "GMTTimestamp": gmt, "GMTOffset": "-08:00",
                "eventCountry": None, "eventCity": city, "eventState": "WA" if city else None,
                "eventZIP": "99201" if city else None, "firm": None, "name": name, "authorizedAgent": "false",
                "eventCode": code}
    return {"trackingNumber": number, "mailClass": "Priority Mail", "statusCategory": "Delivered",
            "status": "Delivered, In/At Mailbox", "destinationCity": "SPOKANE", "destinationState": "WA",
            "trackingEvents": [
                event("Delivered, In/At Mailbox", "2025-12-03T14:02:00", "2025-12-03T22:02:10Z", "01", "SPOKANE"),
                event("Out for Delivery", "2025-12-03T08:02:00", "2025-12-03T16:02:18Z", "OF", "SPOKANE"),
                event("USPS in possession of item", "2025-12-01T16:44:00", "2025-12-02T00:44:03Z", "03",
                      "SEATTLE")]}


def dhl_found(number: str) -> dict:
    def event(ts: str, code: str, status: str, description: str, place: str) -> dict:
        return {"timestamp": ts, "location": {"address": {"addressLocality": place}}, "statusCode": code,
                "status": status, "description": description}
    delivered = event("2025-09-24T12:41:00-04:00", "delivered", "delivered", "Delivered", "TORONTO - CANADA")
    return {"shipments": [{
        "id": number, "service": "express",
        "origin": {"address": {"addressLocality": "MILAN - ITALY", "countryCode": "IT"}},
        "destination": {"address": {"addressLocality": "TORONTO - CANADA", "countryCode": "CA"}},
        "status": delivered,
        "events": [delivered,
                   event("2025-09-24T08:03:00-04:00", "transit", "WC", "Shipment is out with courier for delivery",
                         "TORONTO - CANADA"),
                   event("2025-09-22T16:20:00+02:00", "transit", "PU", "Shipment picked up", "MILAN - ITALY")]}]}


def canadapost_found(pin: str) -> str:
    def occurrence(code: str, date: str, time: str, description: str) -> str:
        return (f"<occurrence><event-identifier>{code}</event-identifier><event-date>{date}</event-date>"
                f"<event-time>{time}</event-time><event-time-zone>EDT</event-time-zone>"
                f"<event-description>{description}</event-description><signatory-name/>"
                "<event-site>OTTAWA</event-site><event-province>ON</event-province></occurrence>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<tracking-detail xmlns="http://www.canadapost.ca/ws/track">'
            f"<pin>{pin}</pin><active-exists>1</active-exists>"
            "<expected-delivery-date>2025-07-10</expected-delivery-date>"
            "<service-name>Xpresspost</service-name><significant-events>"
            + occurrence("0174", "2025-07-09", "08:05:31", "Item out for delivery")
            + occurrence("0100", "2025-07-08", "21:47:02", "Item processed at postal facility")
            + occurrence("3000", "2025-07-07", "19:33:09", "Electronic information submitted by shipper")
            + "</significant-events></tracking-detail>")
