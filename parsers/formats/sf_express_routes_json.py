"""SF Express route query JSON (open platform service EXP_RECE_SEARCH_ROUTES).

Shapes handled:
- The service result {success, errorCode, errorMsg, msgData: {routeResps: [{mailNo,
  routes: [{acceptTime, acceptAddress, opCode, remark}]}]}}; success false is a
  carrier error "errorCode: errorMsg".
- The same result as the gateway returns it: {apiResultCode, apiErrorMsg,
  apiResponseID, apiResultData}, where apiResultData is the result above as a
  JSON string. apiResultCode other than A1000 (signature invalid, no permission,
  rate limited ...) is a carrier error.
- A successful result without any routeResps (nothing known for the numbers
  asked) is a carrier error, as a not-found answer.

Routes map by opCode, SF's operation code; remark (SF's text, Chinese or English
by the requested language) decides for codes the table does not know.
acceptTime "YYYY-MM-DD HH:MM:SS" is mainland China wall-clock time
(Asia/Shanghai) unless it carries an offset; acceptAddress is a place name as SF
prints it ("深圳"), kept as the city.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, location, text
from ..safe import UnsafeOrMalformed, load_json
from ..timeparse import parse_datetime

ZONE = "Asia/Shanghai"
_GATEWAY_OK = "A1000"
_KEYS = ("success", "errorCode", "errorMsg", "msgData")
_GATEWAY_KEYS = ("apiResultCode", "apiErrorMsg", "apiResponseID", "apiResultData")


def _event(route: dict) -> CarrierEvent | None:
    when = parse_datetime(text(route.get("acceptTime")))
    if when is None:
        return None
    code = text(route.get("opCode"))
    return CarrierEvent(when=when, description=" ".join(text(route.get("remark")).split()),
                        codes=(code,) if code else (), carrier_code=code or None,
                        location=location(text(route.get("acceptAddress"))), zone=ZONE)


def _result(data: object) -> dict | None:
    """The service result: the document itself, or the JSON string inside the gateway's apiResultData."""
    if not isinstance(data, dict):
        return None
    if "msgData" in data or "success" in data:
        return data
    inner = data.get("apiResultData")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str) and inner.strip():
        try:
            parsed = load_json(inner.encode("utf-8"))
        except UnsafeOrMalformed:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _error(code: object, message: object) -> str:
    c, m = text(code), " ".join(text(message).split())
    return code_message(c, m)


class SfExpressJson(ParserPlugin):
    name = "sf_express.routes_json"
    family = "sf_express"
    table = "sf_express"
    media = "json"
    json_keys = _KEYS
    slugs = ("sf", "sfexpress")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if isinstance(data, dict) and "apiResultCode" in data and "apiResultData" in data:
            return 1.0
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        gateway = text(data.get("apiResultCode"))
        if gateway and gateway != _GATEWAY_OK:
            out.carrier_errors.append(_error(gateway, data.get("apiErrorMsg")))
            return out
        result = _result(data)
        if result is None:
            raise ParseError("no route query result")
        if result.get("success") is False:
            out.carrier_errors.append(_error(result.get("errorCode"), result.get("errorMsg")) or "request failed")
        body = result.get("msgData") if isinstance(result.get("msgData"), dict) else {}
        for resp in dicts(body.get("routeResps")):
            tn = text(resp.get("mailNo"))
            if not tn:
                out.skipped.append("routeResp without mailNo")
                continue
            events = [e for e in (_event(r) for r in dicts(resp.get("routes"))) if e is not None]
            out.shipments.append(CarrierShipment(tracking_number=tn, carrier="sf_express", events=events))
        if out.empty():
            if result.get("success") is True and isinstance(result.get("msgData"), dict):
                out.carrier_errors.append(_error(result.get("errorCode"), "no routes for the requested numbers"))
                return out
            raise ParseError("no routeResps or error in the route query result")
        return out


PLUGINS = [SfExpressJson()]
