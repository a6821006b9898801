"""Hermes Germany HSI (Hermes Shipping Interface) shipment info JSON.

Shapes handled (Hermes Germany's "Shipment Info API"):
- `GET /shipmentinfo`: {"shipmentinfo": [{shipmentID, clientReference,
  internationalShipmentID, result {code, message}, receiverAddress,
  deliveryForecast {fixed, date, timeSlot}, status[] {timestamp (ISO 8601
  with offset), code (Hermes' four-digit status code, "3500"), description
  (German or English per Accept-Language), scanningUnit {name, city,
  countryCode (ISO alpha-3)}}}]}.
- the older `GET /shipmentstatus` and `/shipmentstatus/current`:
  listOfShipmentHistoryStatus[] {shipmentID, listOfStatus[]} and
  listOfCurrentShipmentStatus[] {shipmentID, statusInformation}, each status
  {statusDate, statusTime, statusCode, description, resultCode,
  resultMessage}: German wall-clock time without an offset, so the zone is
  Hermes Germany's (Europe/Berlin).
- `listOfResultCodes` [{code, message}] (e001 no information, e9xx token
  problems, ...) and a shipment's `result` or resultCode with an "e" code:
  carrier errors. "i" codes are information ("i001 Success").

These are Hermes Germany documents; Evri (the former Hermes UK) has its own API.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import dicts, location, text
from ..timeparse import combine, iso_date, parse_datetime

HOME_ZONE = "Europe/Berlin"
_ROOTS = ("shipmentinfo", "listOfShipmentHistoryStatus", "listOfCurrentShipmentStatus")


def _codes(code: str) -> tuple[str, ...]:
    digits = "".join(c for c in code if c.isdigit())
    return (code, digits) if digits and digits != code else ((code,) if code else ())


def _error(code: str, message: str, subject: str = "") -> str | None:
    """'e001: message (subject)' for an error code; None for information ('i001 Success') and blanks."""
    if not code.lower().startswith("e"):
        return None
    message = " ".join(message.split())
    tail = f" ({subject})" if subject else ""
    return f"{code}: {message}{tail}" if message else f"{code}{tail}"


def _status_event(st: dict) -> CarrierEvent | None:
    when = parse_datetime(text(st.get("timestamp")))
    if when is None:
        return None
    code = text(st.get("code"))
    unit = st.get("scanningUnit") if isinstance(st.get("scanningUnit"), dict) else {}
    return CarrierEvent(when=when, description=" ".join(text(st.get("description")).split()), codes=_codes(code),
                        carrier_code=code or None, location=location(unit.get("city"), None, None,
                                                                     unit.get("countryCode")),
                        zone=HOME_ZONE if when.tzinfo is None else None)


def _history_event(st: dict) -> CarrierEvent | None:
    when = combine(text(st.get("statusDate")), text(st.get("statusTime")))
    if when is None:
        return None
    code = text(st.get("statusCode"))
    return CarrierEvent(when=when, description=" ".join(text(st.get("description")).split()), codes=_codes(code),
                        carrier_code=code or None, zone=HOME_ZONE if when.tzinfo is None else None)


def _add(out: ParseOutput, number: str, events: list[CarrierEvent], undated: int, estimated: str | None) -> None:
    if undated:
        out.skipped.append(f"{number or 'shipment'}: {undated} status entr(y/ies) without a readable time")
    if not number:
        if events:
            out.skipped.append("shipment without shipmentID")
        return
    out.shipments.append(CarrierShipment(tracking_number=number, carrier="hermes", events=events,
                                         estimated_delivery=estimated))


def _shipmentinfo(info: dict, out: ParseOutput) -> None:
    number = text(info.get("shipmentID"))
    result = info.get("result") if isinstance(info.get("result"), dict) else {}
    problem = _error(text(result.get("code")), text(result.get("message")), number)
    raw = dicts(info.get("status"))
    events = [e for e in map(_status_event, raw) if e is not None]
    if problem and not events:
        out.carrier_errors.append(problem)
        return
    forecast = info.get("deliveryForecast") if isinstance(info.get("deliveryForecast"), dict) else {}
    _add(out, number, events, len(raw) - len(events), iso_date(text(forecast.get("date"))))


def _older(entry: dict, statuses: list[dict], out: ParseOutput) -> None:
    number = text(entry.get("shipmentID"))
    problems = [p for st in statuses if (p := _error(text(st.get("resultCode")), text(st.get("resultMessage")),
                                                     number))]
    coded = [st for st in statuses if text(st.get("statusCode"))]
    events = [e for e in map(_history_event, coded) if e is not None]
    if problems and not events:
        out.carrier_errors.extend(dict.fromkeys(problems))
        return
    expected = next((st.get("expectedDelivery") for st in statuses if isinstance(st.get("expectedDelivery"), dict)), {})
    _add(out, number, events, len(coded) - len(events), iso_date(text(expected.get("expectedDate"))))


class HermesShipmentInfoJson(ParserPlugin):
    name = "hermes.shipmentinfo_json"
    family = "hermes"
    table = "hermes"
    media = "json"
    json_keys = _ROOTS
    slugs = ("hermes_de",)

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if isinstance(data, dict) and set(data) == {"listOfResultCodes"}:
            codes = dicts(data.get("listOfResultCodes"))
            return 0.5 if codes and all(text(c.get("code"))[:1] in ("e", "i") for c in codes) else 0.0
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        for rc in dicts(data.get("listOfResultCodes")):
            problem = _error(text(rc.get("code")), text(rc.get("message")))
            if problem:
                out.carrier_errors.append(problem)
        for info in dicts(data.get("shipmentinfo")):
            _shipmentinfo(info, out)
        for entry in dicts(data.get("listOfShipmentHistoryStatus")):
            _older(entry, dicts(entry.get("listOfStatus")), out)
        for entry in dicts(data.get("listOfCurrentShipmentStatus")):
            _older(entry, dicts(entry.get("statusInformation")), out)
        if out.empty():
            raise ParseError("no Hermes shipment or result code")
        return out


PLUGINS = [HermesShipmentInfoJson()]
