"""Aramex Shipment Tracking API (ShippingAPI.V2 Tracking service): SOAP XML and its JSON twin.

The service answers ShipmentTrackingResponse {Transaction, Notifications
[{Code, Message}], HasErrors, TrackingResults, NonExistingWaybills}, as SOAP
XML (namespaces stripped before parsing; TrackingResults is a .NET dictionary:
KeyValueOfstringArrayOfTrackingResult... {Key = waybill, Value/TrackingResult[]})
or, from the /json endpoint, as JSON (TrackingResults [{Key, Value: [...]}]).
TrackingResult: WaybillNumber, UpdateCode, UpdateDescription, UpdateDateTime,
UpdateLocation, Comments, ProblemCode.

- HasErrors with Notifications (bad credentials ERR01, ...) and each
  NonExistingWaybills entry are carrier errors.
- Updates map by UpdateCode, else by Aramex's UpdateDescription. A ProblemCode
  with Comments appends the comment to the description ("...: Consignee not
  available"), since it says why.
- UpdateDateTime is printed as is: with an offset it is taken as given; the
  JSON form "/Date(1464703200000+0200)/" is the UTC instant in milliseconds
  with the local offset; a bare wall-clock time is read in the zone of the
  country named in UpdateLocation ("Amman, Jordan").
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from lxml import etree

from taxonomy import Location

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, location, text, xtext
from ..timeparse import parse_datetime

_RESPONSE = "ShipmentTrackingResponse"
_JSON_KEYS = ("Transaction", "Notifications", "HasErrors", "TrackingResults", "NonExistingWaybills")
_DOTNET_DATE = re.compile(r"^/Date\((-?\d{1,15})([+-]\d{4})?\)/$")
_FIELDS = ("WaybillNumber", "UpdateCode", "UpdateDescription", "UpdateDateTime", "UpdateLocation", "Comments",
           "ProblemCode")


def update_time(raw: str) -> datetime | None:
    """ISO date-time (with or without offset), or .NET JSON '/Date(ms+hhmm)/' as an aware local time."""
    m = _DOTNET_DATE.match(raw.strip())
    if not m:
        return parse_datetime(raw)
    try:
        instant = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(m.group(1)))
    except OverflowError:
        return None
    sign = m.group(2)
    if not sign:
        return instant
    minutes = int(sign[1:3]) * 60 + int(sign[3:5])
    if minutes > 14 * 60:
        return instant
    return instant.astimezone(timezone(timedelta(minutes=-minutes if sign[0] == "-" else minutes)))


def place(raw: str) -> Location | None:
    """'Amman, Jordan' -> city + JO; a text whose last part is no country -> city only."""
    s = " ".join(raw.split())
    if not s:
        return None
    city, sep, country = s.rpartition(",")
    if sep:
        loc = location(city.strip() or None, None, None, country.strip()) if len(country.strip()) > 2 else None
        if loc is not None and loc.country:
            return loc
    return location(s)


def _event(fields: dict[str, str]) -> CarrierEvent | None:
    when = update_time(fields.get("UpdateDateTime", ""))
    if when is None:
        return None
    code = fields.get("UpdateCode", "").upper()
    description = " ".join(fields.get("UpdateDescription", "").split())
    comment = " ".join(fields.get("Comments", "").split())
    if fields.get("ProblemCode") and comment and comment.casefold() not in description.casefold():
        description = f"{description}: {comment}" if description else comment
    return CarrierEvent(when=when, description=description, codes=(code,) if code else (),
                        carrier_code=code or None, location=place(fields.get("UpdateLocation", "")))


def _xml_fields(el: etree._Element) -> dict[str, str]:
    return {name: xtext(el, name) for name in _FIELDS}


def _json_fields(item: dict) -> dict[str, str]:
    return {name: text(item.get(name)) for name in _FIELDS}


def _collect(out: ParseOutput, waybills: list[tuple[str, list[dict[str, str]]]]) -> None:
    for key, updates in waybills:
        tn = key or next((u["WaybillNumber"] for u in updates if u["WaybillNumber"]), "")
        if not tn:
            out.skipped.append("tracking result without waybill number")
            continue
        events = [e for e in (_event(u) for u in updates) if e is not None]
        out.shipments.append(CarrierShipment(tracking_number=tn, carrier="aramex", events=events))


def _errors(out: ParseOutput, has_errors: bool, notices: list[tuple[str, str]], missing: list[str]) -> None:
    if has_errors or not out.shipments:
        out.carrier_errors.extend(code_message(c, m) for c, m in notices if c or m)
    out.carrier_errors.extend(f"{w}: waybill not found" for w in missing if w)


def _parse_xml(root: etree._Element) -> ParseOutput:
    response = root if root.tag == _RESPONSE else root.find(f"Body/{_RESPONSE}")
    if response is None:
        fault = root.find("Body/Fault")
        if fault is None:
            raise ParseError("no ShipmentTrackingResponse")
        message = " ".join(xtext(fault, "faultstring").split()) or "SOAP fault"
        return ParseOutput(carrier_errors=[message])
    out = ParseOutput()
    results = response.find("TrackingResults")
    pairs = [] if results is None else [
        (xtext(kv, "Key"), [_xml_fields(r) for r in kv.iterfind("Value/TrackingResult")]) for kv in results]
    _collect(out, pairs)
    notices = [(xtext(n, "Code"), " ".join(xtext(n, "Message").split()))
               for n in response.iterfind("Notifications/Notification")]
    missing = [(s.text or "").strip() for s in response.iterfind("NonExistingWaybills/string")]
    _errors(out, xtext(response, "HasErrors").lower() == "true", notices, missing)
    return out


def _parse_json(data: dict) -> ParseOutput:
    out = ParseOutput()
    pairs = [(text(kv.get("Key")), [_json_fields(r) for r in dicts(kv.get("Value"))])
             for kv in dicts(data.get("TrackingResults"))]
    _collect(out, pairs)
    notices = [(text(n.get("Code")), " ".join(text(n.get("Message")).split()))
               for n in dicts(data.get("Notifications"))]
    missing = [text(w) for w in data.get("NonExistingWaybills") or () if isinstance(w, (str, int))] \
        if isinstance(data.get("NonExistingWaybills"), list) else []
    _errors(out, data.get("HasErrors") is True, notices, missing)
    return out


class AramexSoapXml(ParserPlugin):
    name = "aramex.tracking_soap_xml"
    family = "aramex"
    table = "aramex"
    media = "xml"
    xml_roots = (_RESPONSE,)

    def sniff(self, doc: Document) -> float:
        root = doc.xml
        if root is None or root.tag != "Envelope":
            return 0.0
        return 1.0 if root.find(f"Body/{_RESPONSE}") is not None else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        root = doc.xml
        if root is None:
            raise ParseError("not XML")
        out = _parse_xml(root)
        if out.empty():
            raise ParseError("no tracking results or errors")
        return out


class AramexJson(ParserPlugin):
    name = "aramex.tracking_json"
    family = "aramex"
    table = "aramex"
    media = "json"
    json_keys = _JSON_KEYS

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict) or not ({"TrackingResults", "HasErrors"} & set(data)):
            raise ParseError("no TrackingResults")
        out = _parse_json(data)
        if out.empty():
            raise ParseError("no tracking results or errors")
        return out


PLUGINS = [AramexSoapXml(), AramexJson()]
