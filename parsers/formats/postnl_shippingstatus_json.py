"""PostNL Shippingstatus API JSON (`/shipment/v2/status/barcode/{barcode}` and friends).

Shapes handled:
- {"CompleteStatus" | "CurrentStatus": {"Shipment": {...} | [{...}]}} (also
  "Shipments"), with per shipment: Barcode / MainBarcode, Event[] {Code,
  Description, LocationCode, TimeStamp}, Status and OldStatus[] {TimeStamp,
  StatusCode, StatusDescription, PhaseCode, PhaseDescription}, Expectation
  {ETAFrom, ETATo}, DeliveryDate. Single objects where lists are usual are read
  as one-item lists.
- "Warnings": [{Code, Message}] ("No shipment found") and "Errors" /
  "fault" bodies: carrier errors.
- The updated-shipments list: [{Barcode, CreationDate, Status {Timestamp ...}}].

TimeStamp is "dd-MM-yyyy HH:mm:ss[.fff]" Dutch wall-clock time (PostNL documents
its times as Europe/Amsterdam and prints no offset), so events carry that zone.
Descriptions are kept verbatim (Dutch by default). Events map by their code; the
StatusCode PostNL recorded at the same second (Status/OldStatus) is the coarse
status. A response without events (CurrentStatus) gives the shipment-level
status from Status/StatusCode.
"""
from __future__ import annotations

from datetime import datetime
from functools import cache

from taxonomy.carriers import registry

from ..base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from ..document import Document
from ..fields import code_message, dicts, text
from ..timeparse import iso_date, parse_datetime

_ROOTS = ("CompleteStatus", "CurrentStatus")
_NOT_APPLICABLE = "99"


@cache
def home_zone() -> str:
    """PostNL's home zone (Europe/Amsterdam) from the carrier registry, read on first use, not at import."""
    return str(registry()["postnl"].zone)  # every carrier entry has one (validated)


def stamp(value: object) -> datetime | None:
    """'26-03-2021 15:06:53' or '26-03-2021 01:10:21.943' (or ISO) -> naive datetime, else None."""
    s = text(value)
    if len(s) >= 19 and s[2] == "-" and s[5] == "-" and s[10] == " ":
        try:
            return datetime(int(s[6:10]), int(s[3:5]), int(s[0:2]), int(s[11:13]), int(s[14:16]), int(s[17:19]),
                            int((s[20:26] + "000000")[:6]) if len(s) > 20 and s[19] == "." else 0)
        except ValueError:
            return None
    value = parse_datetime(s)
    return value.replace(tzinfo=None) if value is not None and value.tzinfo is not None else value


def _statuses(shipment: dict) -> dict[datetime, str]:
    """StatusCode per timestamp from Status/OldStatus, leaving out 99 and seconds with two codes."""
    found: dict[datetime, str] = {}
    clash: set[datetime] = set()
    for st in dicts(shipment.get("Status")) + dicts(shipment.get("OldStatus")):
        code = text(st.get("StatusCode"))
        when = stamp(st.get("TimeStamp") or st.get("Timestamp"))
        if not code or code == _NOT_APPLICABLE or when is None:
            continue
        if found.get(when, code) != code:
            clash.add(when)
        found[when] = code
    for when in clash:
        del found[when]
    return found


def _event(ev: dict, statuses: dict[datetime, str]) -> CarrierEvent | None:
    when = stamp(ev.get("TimeStamp"))
    if when is None:
        return None
    code = text(ev.get("Code"))
    status = statuses.get(when)
    return CarrierEvent(when=when, zone=home_zone(), description=text(ev.get("Description")),
                        codes=(code,) if code else (), carrier_code=code or None,
                        coarse=f"S:{status}" if status else None)


def _estimated(shipment: dict) -> str | None:
    expectation = shipment.get("Expectation") if isinstance(shipment.get("Expectation"), dict) else {}
    for raw in (expectation.get("ETATo"), expectation.get("ETAFrom"), shipment.get("DeliveryDate")):
        value = iso_date(text(raw))
        if value:
            return value
    return None


def _shipment(shipment: dict) -> CarrierShipment | None:
    tn = text(shipment.get("Barcode")) or text(shipment.get("MainBarcode"))
    if not tn:
        return None
    statuses = _statuses(shipment)
    events = [e for e in (_event(ev, statuses) for ev in dicts(shipment.get("Event"))) if e is not None]
    current = next(iter(dicts(shipment.get("Status"))), {})
    code = text(current.get("StatusCode"))
    return CarrierShipment(
        tracking_number=tn, carrier="postnl", events=events, estimated_delivery=_estimated(shipment),
        status_codes=(f"S:{code}",) if code and code != _NOT_APPLICABLE else (),
        status_text=text(current.get("StatusDescription")))


def _errors(data: dict) -> list[str]:
    out = []
    for key in ("Warnings", "Errors"):
        items = data.get(key)
        if isinstance(items, dict):  # {"Errors": {"Error": [...]}}
            items = next(iter(items.values()), None)
        for item in dicts(items):
            code = text(item.get("Code") or item.get("ErrorNumber") or item.get("ErrorCode"))
            message = " ".join(text(item.get("Message") or item.get("Description") or item.get("ErrorMsg")
                                    or item.get("Error")).split())
            out.append(code_message(code, message))
    fault = data.get("fault")
    if isinstance(fault, dict):
        detail = fault.get("detail") if isinstance(fault.get("detail"), dict) else {}
        code, message = text(detail.get("errorcode")), " ".join(text(fault.get("faultstring")).split())
        out.append(code_message(code, message) or "fault")
    return [e for e in out if e]


def _containers(data: object) -> list[dict]:
    """The shipment objects of any handled shape."""
    if isinstance(data, list):  # updated-shipments list
        return [s for s in dicts(data) if "Barcode" in s]
    found: list[dict] = []
    for root in _ROOTS:
        body = data.get(root) if isinstance(data, dict) else None
        if isinstance(body, dict):
            found.extend(dicts(body.get("Shipment")) + dicts(body.get("Shipments")))
    return found


class PostnlShippingstatusJson(ParserPlugin):
    name = "postnl.shippingstatus_json"
    family = "postnl"
    table = "postnl"
    media = "json"
    json_keys = _ROOTS

    def sniff(self, doc: Document) -> float:
        data = doc.json
        if isinstance(data, list):  # updated-shipments: Barcode + Status{StatusCode, PhaseCode}
            first = data[0] if data and isinstance(data[0], dict) else {}
            status = first.get("Status")
            return 1.0 if "Barcode" in first and isinstance(status, dict) and "PhaseCode" in status else 0.0
        if isinstance(data, dict) and not (set(data) & set(_ROOTS)):
            fault = data.get("fault")
            if set(data) == {"fault"} and isinstance(fault, dict) and "faultstring" in fault:
                return 0.2  # PostNL's gateway fault; other APIs behind the same gateway look alike
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        data = doc.json
        if not isinstance(data, (dict, list)):
            raise ParseError("not JSON")
        out = ParseOutput()
        if isinstance(data, dict):
            out.carrier_errors.extend(_errors(data))
        for raw in _containers(data):
            shipment = _shipment(raw)
            if shipment is None:
                out.skipped.append("shipment without Barcode")
            else:
                out.shipments.append(shipment)
        if out.empty():
            raise ParseError("no CompleteStatus/CurrentStatus shipment")
        return out


PLUGINS = [PostnlShippingstatusJson()]
