"""Raw document -> normalized shipments: chain, mapping, time, ids and state in one pass.

This is the library entry point the CLI and the service share. It is pure:
bytes and a few facts about their arrival in, value objects out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import itemgetter
from zoneinfo import ZoneInfo

import orjson

from taxonomy import (Channel, ErrorEntry, ExceptionClass, MappedBy, NormalizedEvent, Provenance, Status,
                      classify)
from taxonomy.identity import shipment_event_id, shipment_key
from taxonomy.mapping import carrier_of
from taxonomy.models import builder, utc_text
from taxonomy.state import fold

from .base import CarrierShipment, ParserPlugin
from .chain import run
from .document import Document
from .timeparse import resolve


@dataclass(slots=True)
class NormalizedShipment:
    tracking_number: str
    carrier: str
    status: Status
    exception_class: ExceptionClass | None
    estimated_delivery: str | None
    signed_by: str | None
    events: list[NormalizedEvent]  # newest first
    anomalies: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    carrier: str | None
    parser: str | None
    ok: bool
    shipments: list[NormalizedShipment] = field(default_factory=list)
    errors: list[ErrorEntry] = field(default_factory=list)
    fallback_level: int | None = None
    unmapped: list[tuple[str, str, str]] = field(default_factory=list)  # (table, code, description)


_new_event = builder(NormalizedEvent)

# A stored description keeps at most this many characters, the rest replaced by TRUNCATED: scan texts are
# a sentence or two, and one document must not make every event, feed page and message megabytes long.
DESCRIPTION_LIMIT = 2000
TRUNCATED = " …[truncated]"


def _bounded(text: str | None) -> str | None:
    if text is None or len(text) <= DESCRIPTION_LIMIT:
        return text
    return text[:DESCRIPTION_LIMIT - len(TRUNCATED)] + TRUNCATED
_new_provenance = builder(Provenance)


def _error(kind: str, message: str) -> ErrorEntry:
    return ErrorEntry.model_construct(kind=kind, message=message[:500])


def normalize_document(data: bytes, *, carrier: str | None = None, content_type: str | None = None,
                       channel: Channel = Channel.FILE, inbox_id: str | None = None,
                       received_at: datetime | None = None, tracking_number: str | None = None,
                       keep_unnumbered: bool = False) -> Outcome:
    """Never raises for any input bytes: failures come back as `ok=False` with the reason.

    Some carriers answer a tracking request without repeating the number that
    was asked for (it was in the request); their parsers return the shipment
    with an empty tracking number. `tracking_number` is that requested number:
    it fills the number of the document's shipment when exactly one shipment
    lacks one (a number the document does carry always wins). A shipment left
    without a number is skipped with an error, since nothing downstream can
    key it (a document left with nothing usable is `ok=False`, so the service
    quarantines it, replayable), unless `keep_unnumbered`: then it is returned with
    `tracking_number == ""` and its events keep ids computed by the same v1
    rule with the empty string as the number (stable for the same scans, but
    not the ids those scans get once the number is known).
    """
    doc = Document(data, content_type)
    result = run(doc, carrier)
    if result.unsupported:
        return Outcome(None, None, False, errors=[_error("unsupported", result.unsupported)])
    if result.plugin is None or result.output is None:
        reason = "; ".join(result.reasons) or "no parser could read the document"
        return Outcome(None, None, False, errors=[_error("unparseable", reason)])
    plugin, output = result.plugin, result.output
    outcome = Outcome(plugin.family if not plugin.generic else None, plugin.name, True,
                      fallback_level=result.level)
    outcome.errors.extend(_error("carrier_error", m) for m in output.carrier_errors)
    provenance = _Provenances(channel, inbox_id, received_at, plugin)
    numbers = [_number(raw.tracking_number) for raw in output.shipments]
    hint = _number(tracking_number)
    if hint and numbers.count("") == 1:
        numbers[numbers.index("")] = hint
    merged: dict[tuple[str, str], NormalizedShipment] = {}
    for position, (raw, tn) in enumerate(zip(output.shipments, numbers)):
        if not tn and not keep_unnumbered:
            outcome.errors.append(_error("unparseable", "a shipment without a tracking number was skipped "
                                                        "(the document does not carry it and none was given)"))
            continue
        try:
            shipment = _shipment(raw, tn, plugin, provenance, outcome)
        except Exception as exc:  # one bad shipment must not sink the document
            outcome.errors.append(_error("unparseable", f"shipment {raw.tracking_number!r}: {exc}"))
            continue
        # Shipments without a number are kept apart: nothing says they are the same parcel.
        key = (shipment.carrier, shipment.tracking_number or f"\x00{position}")
        if key in merged:
            _merge(merged[key], shipment)
        else:
            merged[key] = shipment
    outcome.shipments = list(merged.values())
    if not outcome.shipments and not output.carrier_errors:  # every shipment was dropped: nothing usable is left
        outcome.ok = False
    for s in outcome.shipments:
        _settle(s)
    if outcome.carrier is None and outcome.shipments:
        outcome.carrier = outcome.shipments[0].carrier
    return outcome


class _Provenances(dict):
    """One Provenance per mapped_by for a document, made on first use: events share them."""

    def __init__(self, channel: Channel, inbox_id: str | None, received_at: datetime | None,
                 plugin: ParserPlugin) -> None:
        super().__init__()
        self._facts = (channel, inbox_id, received_at, plugin.name, plugin.version)

    def __missing__(self, mapped_by: MappedBy) -> Provenance:
        channel, inbox_id, received_at, name, version = self._facts
        made = self[mapped_by] = _new_provenance(channel=channel, inbox_id=inbox_id, received_at=received_at,
                                                 parser=name, parser_version=version, mapped_by=mapped_by)
        return made


def _number(value: object) -> str:
    """A tracking number with whitespace runs collapsed; '' when there is none."""
    return " ".join(str(value or "").split())


def _shipment(raw: CarrierShipment, tn: str, plugin: ParserPlugin, provenance: _Provenances,
              outcome: Outcome) -> NormalizedShipment:
    table = raw.table or plugin.table
    carrier = raw.carrier or carrier_of(table)
    construct, unmapped, estimated = _new_event, outcome.unmapped, raw.estimated_delivery
    key = shipment_key(carrier, tn)
    events: list[NormalizedEvent] = []
    for ev in raw.events:
        when = ev.when
        if when is None:
            outcome.errors.append(_error("unparseable",
                                         f"{tn or carrier}: an event without a readable time was skipped"))
            continue
        codes, description, location = ev.codes, _bounded(ev.description), ev.location
        mapped = classify(table, codes, description, ev.coarse)
        if not mapped.code_known:
            unmapped.append((table, "/".join(codes), description))
        occurred, local, basis = resolve(when, ev.zone, ev.utc, location)
        events.append(construct(
            event_id=shipment_event_id(key, occurred, ev.carrier_code, description, location),
            carrier=carrier, tracking_number=tn, status=mapped.status, exception_class=mapped.exception_class,
            occurred_at=occurred, occurred_at_local=local, time_basis=basis, description=description,
            carrier_code=ev.carrier_code, location=location, estimated_delivery=estimated,
            signed_by=ev.signed_by, provenance=provenance[mapped.mapped_by], taxonomy_version="1"))
    shipment = NormalizedShipment(tn, carrier, Status.UNKNOWN, None, raw.estimated_delivery, raw.signed_by,
                                  events)
    if not events and (raw.status_codes or raw.status_text or raw.coarse):
        mapped = classify(table, raw.status_codes, raw.status_text, raw.coarse)
        shipment.status, shipment.exception_class = mapped.status, mapped.exception_class
    return shipment


def _merge(into: NormalizedShipment, other: NormalizedShipment) -> None:
    into.events.extend(other.events)
    into.estimated_delivery = into.estimated_delivery or other.estimated_delivery
    into.signed_by = into.signed_by or other.signed_by
    if not into.events and other.status is not Status.UNKNOWN:
        into.status, into.exception_class = other.status, other.exception_class


def _settle(shipment: NormalizedShipment) -> None:
    """Dedupe by event_id, order newest first, and derive the state by the shipment rules."""
    if not shipment.events:
        return
    unique = list({e.event_id: e for e in shipment.events}.values())
    unique.sort(key=lambda e: e.occurred_at, reverse=True)
    shipment.events = unique
    state = fold(unique)
    if state.last_event_id is not None:
        shipment.status, shipment.exception_class = state.status, state.exception_class
    shipment.anomalies = state.anomalies
    if shipment.signed_by is None:
        shipment.signed_by = next((e.signed_by for e in unique if e.signed_by), None)


def record(outcome: Outcome, path: str) -> dict:
    """The CLI contract's JSON object for one input, as plain JSON values (the reference for `record_json`)."""
    return {
        "path": path, "carrier": outcome.carrier, "parser": outcome.parser, "ok": outcome.ok,
        "shipments": [{
            "tracking_number": s.tracking_number or None, "carrier": s.carrier, "status": s.status.value,
            "exception_class": s.exception_class.value if s.exception_class else None,
            "estimated_delivery": s.estimated_delivery, "signed_by": s.signed_by,
            "events": [_event_record(e) for e in s.events],
        } for s in outcome.shipments],
        "errors": [{"kind": e.kind, "message": e.message} for e in outcome.errors],
    }


def _event_record(e: NormalizedEvent) -> dict:
    loc = e.location
    return {
        "event_id": e.event_id, "occurred_at": utc_text(e.occurred_at),
        "occurred_at_local": e.occurred_at_local.isoformat(), "time_basis": e.time_basis.value,
        "status": e.status.value, "exception_class": e.exception_class.value if e.exception_class else None,
        "carrier_code": e.carrier_code, "description": e.description, "mapped_by": e.provenance.mapped_by.value,
        "location": None if loc is None else {"city": loc.city, "region": loc.region,
                                              "postal_code": loc.postal_code, "country": loc.country},
    }


# `record_json` hands orjson the enums and datetimes themselves, spelled in Rust instead of Python (the
# formatting was most of the output's cost). With these options orjson writes a UTC instant exactly as
# `utc_text` does (`Z`, whole seconds), and a local time exactly as `isoformat` does, except for three
# cases that keep their Python spelling: fractional seconds, a zero offset (`Z` instead of `+00:00`) and
# an offset with seconds (historical local mean time, which orjson rounds to the minute).
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_APPEND_NEWLINE
_UTC = timezone.utc
_ORJSON_ZONES = (timezone, ZoneInfo)  # tzinfo types orjson reads the offset of itself
# A model keeps its field values in its __dict__: one C call reads the ten an output event needs.
_EVENT_FIELDS = itemgetter("event_id", "occurred_at", "occurred_at_local", "time_basis", "status", "exception_class",
                           "carrier_code", "description", "provenance", "location")


def record_json(outcome: Outcome, path: str) -> bytes:
    """`orjson.dumps(record(outcome, path)) + b"\\n"`, byte for byte, at a fraction of the cost: the CLI's line."""
    places: dict[int, dict] = {}  # parsers share one Location per place: one dict each
    shipments = []
    for s in outcome.shipments:
        events = []
        for e in s.events:
            event_id, at, local, basis, status, cls, code, text, provenance, loc = _EVENT_FIELDS(e.__dict__)
            if at.tzinfo is not _UTC:
                at = utc_text(at)
            if local.microsecond or type(local.tzinfo) not in _ORJSON_ZONES:
                local = local.isoformat()
            else:
                offset = local.utcoffset()
                if not offset or offset.seconds % 60 or offset.microseconds:
                    local = local.isoformat()
            if loc is not None:
                place = places.get(id(loc))
                if place is None:
                    place = places[id(loc)] = {"city": loc.city, "region": loc.region,
                                               "postal_code": loc.postal_code, "country": loc.country}
                loc = place
            events.append({
                "event_id": event_id, "occurred_at": at, "occurred_at_local": local, "time_basis": basis,
                "status": status, "exception_class": cls, "carrier_code": code, "description": text,
                "mapped_by": provenance.mapped_by, "location": loc})
        shipments.append({
            "tracking_number": s.tracking_number or None, "carrier": s.carrier, "status": s.status,
            "exception_class": s.exception_class, "estimated_delivery": s.estimated_delivery,
            "signed_by": s.signed_by, "events": events})
    return orjson.dumps({
        "path": path, "carrier": outcome.carrier, "parser": outcome.parser, "ok": outcome.ok,
        "shipments": shipments, "errors": [{"kind": e.kind, "message": e.message} for e in outcome.errors],
    }, option=_OPTIONS)
