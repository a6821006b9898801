"""The peer library (karrio) parsing the same UPS document, when installed (`pip install -e '.[bench]'`)."""
from __future__ import annotations

from .timing import best_round


def karrio_ups_events_per_s(document: bytes, seconds: float) -> float | None:
    """karrio's UPS tracking parse of `document` in events/s, or None if karrio is not installed."""
    try:
        import karrio.lib as lib
        from karrio.mappers.ups.settings import Settings
        from karrio.providers.ups.tracking import parse_tracking_response
    except ImportError:
        return None
    settings = Settings(client_id="bench", client_secret="bench", account_number="bench")

    def parse() -> int:
        response = lib.Deserializable([("bench", lib.to_dict(document.decode()))], lambda v: v)
        details, _ = parse_tracking_response(response, settings)
        return sum(len(d.events) for d in details)

    events = parse()
    return events / best_round(lambda _doc: parse(), [document], seconds)
