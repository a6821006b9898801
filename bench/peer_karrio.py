"""The peer library (karrio) parsing the same UPS document, when installed (`pip install -e '.[bench]'`)."""
from __future__ import annotations

from collections.abc import Callable


def karrio_ups_parse(document: bytes) -> tuple[Callable[[], int], int] | None:
    """(a call running karrio's UPS tracking parse of `document`, events it yields), or None without karrio."""
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

    return parse, parse()
