"""What the FedEx formats share: scan text, lookup keys, duplicate results, errors.

FedEx prints a scan as an event type with its description ("DE", "Delivery
exception") plus, for many scans, an exception code and description that say
why ("08", "Customer not available or business closed"). The tracking page
shows both lines; the event keeps both, in that order, so the reason reaches
the mapping (the class of a delivery exception comes from it) and both
formats of the family describe the same scan the same way (same event id).
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..base import CarrierShipment

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def describe(event_text: str, exception_text: str) -> str:
    """'Delivery exception: Customer not available or business closed'; either part alone when one is empty."""
    if not exception_text or exception_text.casefold() in event_text.casefold():
        return event_text
    if not event_text:
        return exception_text
    return f"{event_text}: {exception_text}"


def lookup_keys(event_type: str, exception_code: str) -> tuple[str, ...]:
    """Table keys, most specific first: 'DE:08' (event type with exception code), then 'DE'."""
    if not event_type:
        return ()
    if exception_code:
        return (f"{event_type}:{exception_code}", event_type)
    return (event_type,)


def error_text(code: str, message: str) -> str:
    """A carrier error as 'CODE: message' (either part alone when the other is empty)."""
    return f"{code}: {message}".strip(": ") if code or message else ""


def _latest(shipment: CarrierShipment) -> datetime:
    newest = _EPOCH
    for ev in shipment.events:
        when = ev.when if ev.when.tzinfo is not None else ev.when.replace(tzinfo=timezone.utc)
        if when > newest:
            newest = when
    return newest


def keep_latest(found: list[tuple[CarrierShipment, str]]) -> tuple[list[CarrierShipment], list[str]]:
    """One result per tracking number: the package with the most recent scan.

    FedEx reuses tracking numbers; it then answers with several results for one
    number, each a different package (a different unique id). Their scans must
    not be merged into one history, so the package scanned last is kept and
    the others are reported as skipped. Results sharing a unique id are the
    same package and are all kept (the normalizer merges and dedupes them).
    """
    by_number: dict[str, list[tuple[CarrierShipment, str]]] = {}
    for shipment, unique_id in found:
        by_number.setdefault(shipment.tracking_number, []).append((shipment, unique_id))
    kept: list[CarrierShipment] = []
    skipped: list[str] = []
    for number, results in by_number.items():
        if len({uid for _, uid in results}) <= 1:
            kept.extend(s for s, _ in results)
            continue
        # On a tie the later result wins (max keeps the first of equals, so look from the end).
        best_uid = max(reversed(results), key=lambda r: _latest(r[0]))[1]
        for shipment, uid in results:
            if uid == best_uid:
                kept.append(shipment)
            else:
                skipped.append(f"{number}: result {uid or '(no unique id)'} is an earlier package with a "
                               f"reused tracking number ({len(shipment.events)} scans); kept {best_uid}")
    return kept, skipped
