"""Royal Mail Tracking API v2 JSON (`/mailpieces/v2/{id}/events`, `/summary`, `/{id}/signature`).

Shapes handled:
- events: {"mailPieces": {mailPieceId, carrierShortName, summary {uniqueItemId,
  oneDBarcode, productName, lastEventCode, lastEventName, lastEventDateTime,
  lastEventLocationName, statusCategory, statusDescription, summaryLine, ...},
  signature {recipientName, signatureDateTime, imageId}, estimatedDelivery
  {date, startOfEstimatedWindow, endOfEstimatedWindow}, events[] {eventCode,
  eventName, eventDateTime (ISO 8601 with offset), locationName}, links}}.
- summary: {"mailPieces": [{mailPieceId, summary, error, links}]} (up to 30
  numbers): the summary's last event is the one scan it carries; a mail
  piece's `error` {errorCode, errorDescription, ...} (E1142 barcode not
  recognised, ...) is a carrier error for that number.
- signature: {"mailPieces": {mailPieceId, signature}}: the recipient's name.
- errors: {httpCode, httpMessage, moreInformation, errors[] {errorCode,
  errorDescription, errorCause, errorResolution}}: carrier errors.

The tracking number is `mailPieceId`, the identifier the request used (the 1D
barcode or the 21-character unique item id); the summary's statusCategory
("IN TRANSIT", "DELIVERED") is the coarse status of the last event.
"""
from __future__ import annotations

from datetime import datetime

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, location, text
from ..timeparse import iso_date, parse_datetime

HOME_ZONE = "Europe/London"


def _event(code: str, name: str, when: datetime | None, place: str) -> CarrierEvent | None:
    if when is None:
        return None
    return CarrierEvent(when=when, description=" ".join(name.split()), codes=(code,) if code else (),
                        carrier_code=code or None, location=location(place or None),
                        zone=HOME_ZONE if when.tzinfo is None else None)


def _error_text(err: dict, subject: str = "") -> str:
    code = text(err.get("errorCode"))
    message = " ".join(text(err.get("errorDescription") or err.get("errorCause")).split())
    tail = f" ({subject})" if subject else ""
    return (code_message(code, message) or "error") + tail


def _piece(piece: dict, out: ParseOutput) -> None:
    number = text(piece.get("mailPieceId"))
    error = piece.get("error")
    if isinstance(error, dict) and (error.get("errorCode") or error.get("errorDescription")):
        out.carrier_errors.append(_error_text(error, number))
        return
    if not number:
        out.skipped.append("mail piece without mailPieceId")
        return
    summary = piece.get("summary") if isinstance(piece.get("summary"), dict) else {}
    signature = piece.get("signature") if isinstance(piece.get("signature"), dict) else {}
    events, undated = [], 0
    for raw in dicts(piece.get("events")):
        ev = _event(text(raw.get("eventCode")), text(raw.get("eventName")),
                    parse_datetime(text(raw.get("eventDateTime"))), text(raw.get("locationName")))
        if ev is None:
            undated += 1
        else:
            events.append(ev)
    if undated:
        out.skipped.append(f"{number}: {undated} event(s) without a readable time")
    last_code, last_when = text(summary.get("lastEventCode")), parse_datetime(text(summary.get("lastEventDateTime")))
    if not events and "events" not in piece:  # the summary operation: its last event is the scan it carries
        last = _event(last_code, text(summary.get("lastEventName")), last_when,
                      text(summary.get("lastEventLocationName")))
        if last is not None:
            events.append(last)
    category = " ".join(text(summary.get("statusCategory")).upper().split())
    if category:
        for ev in events:
            if ev.carrier_code == (last_code or None) and ev.when == last_when:
                ev.coarse = f"C:{category}"
    signed_by = text(signature.get("recipientName")) or None
    signed_at = parse_datetime(text(signature.get("signatureDateTime")))
    if signed_by and signed_at is not None:
        for ev in events:
            if ev.when == signed_at:
                ev.signed_by = signed_by
    estimated = piece.get("estimatedDelivery") if isinstance(piece.get("estimatedDelivery"), dict) else {}
    out.shipments.append(CarrierShipment(
        tracking_number=number, carrier="royalmail", events=events, signed_by=signed_by,
        estimated_delivery=iso_date(text(estimated.get("date"))),
        status_codes=(f"C:{category}",) if category and not events else ()))


class RoyalMailTrackingJson(ParserPlugin):
    name = "royalmail.tracking_json"
    family = "royalmail"
    table = "royalmail"
    media = "json"
    json_keys = ("mailPieces",)
    slugs = ("royal_mail",)

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if not isinstance(data, dict):
            return 0.0
        if "mailPieces" not in data and {"httpCode", "httpMessage", "errors"} <= set(data):
            errors = dicts(data.get("errors"))
            return 0.75 if errors and "errorCode" in errors[0] and "errorResolution" in errors[0] else 0.0
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, dict):
            raise ParseError("not a JSON object")
        out = ParseOutput()
        out.carrier_errors.extend(_error_text(e) for e in dicts(data.get("errors")))
        if not out.carrier_errors and data.get("httpCode") and "mailPieces" not in data:
            out.carrier_errors.append(" ".join(p for p in (text(data.get("httpCode")), text(data.get("httpMessage")),
                                                          text(data.get("moreInformation"))) if p))
        for piece in dicts(data.get("mailPieces")):
            _piece(piece, out)
        if out.empty():
            raise ParseError("no Royal Mail mail piece or error")
        return out


PLUGINS = [RoyalMailTrackingJson()]
