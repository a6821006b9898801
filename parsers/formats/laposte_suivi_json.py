"""La Poste "Suivi" API v2 JSON (`GET https://api.laposte.fr/suivi/v2/idships/{idship}`).

One tracking API for the three La Poste networks: Courrier (letters), Colissimo
and Chronopost. Shapes handled:
- a unitary response {lang, scope, returnCode: 200, shipment {idShip, holder,
  product, isFinal, entryDate, deliveryDate, estimDate, timeline[],
  event[] {code, label, date}, contextData {originCountry, arrivalCountry},
  url}}, bare or as the one item of an array;
- the multiple response (HTTP 207, up to ten numbers): an array of unitary
  responses, each with its own returnCode;
- an item without a shipment {returnCode 400/104/..., returnMessage, idShip}:
  La Poste's own answer for that number (invalid, unknown, not yet available),
  a carrier error;
- the Okapi gateway's {code, message} (401 "UNAUTHORIZED"...), a carrier error
  when the caller names the carrier (nothing in it says La Poste).

Every event date carries its UTC offset ("2023-03-09T09:38:00+01:00"). Labels
are La Poste's customer sentences in the requested language (French by
default), kept verbatim; events map by their code (DR1, PC1, ET1, MD2, DI1 ...).
`holder` names the network: 3 is Chronopost, whose parcels carry that slug;
Courrier (1) and Colissimo (4) are La Poste.
"""
from __future__ import annotations

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import as_list, code_message, dicts, location, text
from ..timeparse import iso_date, parse_datetime

_HOLDERS = {"3": "chronopost"}
_UNITARY_KEYS = frozenset({"returnCode", "shipment", "returnMessage", "idShip", "lang", "scope"})


def _event(ev: dict, country: str) -> CarrierEvent | None:
    when = parse_datetime(text(ev.get("date")))
    if when is None:
        return None
    code = text(ev.get("code")).upper()
    return CarrierEvent(when=when, description=" ".join(text(ev.get("label")).split()),
                        codes=(code,) if code else (), carrier_code=code or None,
                        location=location(country=country) if country else None)


def _shipment(body: dict) -> CarrierShipment | None:
    number = text(body.get("idShip"))
    if not number:
        return None
    context = body.get("contextData") if isinstance(body.get("contextData"), dict) else {}
    # The events name no place; a domestic parcel's scans are all in its one country.
    origin, arrival = text(context.get("originCountry")), text(context.get("arrivalCountry"))
    country = origin if origin and origin == arrival else ""
    events = [e for e in (_event(ev, country) for ev in dicts(body.get("event"))) if e is not None]
    estimate = iso_date(text(body.get("estimDate"))) if not body.get("isFinal") else None
    return CarrierShipment(tracking_number=number, carrier=_HOLDERS.get(text(body.get("holder")), "laposte"),
                           events=events, estimated_delivery=estimate)


def _answer(item: dict, out: ParseOutput) -> bool:
    """One unitary response into `out`; False when it is not one."""
    shipment = item.get("shipment")
    if isinstance(shipment, dict):
        parsed = _shipment(shipment)
        if parsed is None:
            out.skipped.append("shipment without idShip")
        else:
            out.shipments.append(parsed)
        return True
    code, message = text(item.get("returnCode")), " ".join(text(item.get("returnMessage")).split())
    if code or message:
        number = text(item.get("idShip"))
        head = code_message(code, message)
        out.carrier_errors.append(f"{head} ({number})" if number and len(number) <= 40 else head)
        return True
    return False


def _gateway_error(data: object) -> str | None:
    """The Okapi gateway's {code, message} body (no API reached), e.g. UNAUTHORIZED."""
    if isinstance(data, dict) and set(data) == {"code", "message"}:
        code, message = text(data.get("code")), " ".join(text(data.get("message")).split())
        if code.replace("_", "").isalpha() and code.isupper():
            return f"{code}: {message}" if message else code
    return None


class LaposteSuiviJson(ParserPlugin):
    name = "laposte.suivi_json"
    family = "laposte"
    table = "laposte"
    media = "json"
    json_keys = ("returnCode", "shipment", "idShip", "returnMessage")
    slugs = ("colissimo", "la_poste")

    def sniff(self, doc: Document) -> float:
        data = doc.json
        first = data[0] if isinstance(data, list) and data else data
        if not isinstance(first, dict) or "returnCode" not in first:
            return 0.0
        shipment = first.get("shipment")
        if isinstance(shipment, dict):
            return 1.0 if "idShip" in shipment and ("event" in shipment or "timeline" in shipment) else 0.3
        return 0.5 if set(first) <= _UNITARY_KEYS else 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        out = ParseOutput()
        gateway = _gateway_error(data)
        if gateway:
            out.carrier_errors.append(gateway)
            return out
        items = as_list(data) if isinstance(data, (dict, list)) else []
        recognized = False
        for item in items:
            if isinstance(item, dict):
                recognized = _answer(item, out) or recognized
        if not recognized or out.empty():
            raise ParseError("no La Poste Suivi response (returnCode/shipment)")
        return out


PLUGINS = [LaposteSuiviJson()]
