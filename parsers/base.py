"""What a parser plugin is and what it returns.

A plugin turns one decoded document into carrier events: the carrier's own
codes, text, wall-clock times and places, untouched. Mapping to the taxonomy,
time-zone resolution and event ids happen afterwards in one place
(`parsers.normalize`), so every plugin gets them the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from taxonomy import Location

from .document import Document


class ParseError(Exception):
    """The plugin recognized nothing it can use in this document; the chain moves on."""


@dataclass(slots=True)
class CarrierEvent:
    """One scan as the carrier reported it.

    `when` is the carrier's timestamp: aware if it carried an offset, naive if
    it was wall-clock time. `zone` names the zone the carrier printed (IANA
    name or abbreviation) and `utc` is the instant when the carrier gave it
    separately; with neither, the zone is inferred from `location`.
    """

    when: datetime
    description: str
    codes: tuple[str, ...] = ()  # lookup keys for the mapping table, most specific first
    carrier_code: str | None = None  # the carrier's code(s) as printed
    coarse: str | None = None  # the carrier's coarse status for this scan, if any
    location: Location | None = None
    zone: str | None = None
    utc: datetime | None = None
    signed_by: str | None = None


@dataclass(slots=True)
class CarrierShipment:
    tracking_number: str
    carrier: str  # slug of the carrier that moves the parcel (not the aggregator)
    events: list[CarrierEvent] = field(default_factory=list)
    estimated_delivery: str | None = None  # ISO date or date-time as the carrier estimated it
    signed_by: str | None = None
    # The carrier's shipment-level status, used only when there are no events.
    status_codes: tuple[str, ...] = ()
    status_text: str = ""
    coarse: str | None = None
    table: str | None = None  # mapping table for this shipment when it differs from the plugin's


@dataclass(slots=True)
class ParseOutput:
    shipments: list[CarrierShipment] = field(default_factory=list)
    carrier_errors: list[str] = field(default_factory=list)  # the carrier's own error responses
    skipped: list[str] = field(default_factory=list)  # parts of the document left out, with the reason

    def empty(self) -> bool:
        return not self.shipments and not self.carrier_errors


class ParserPlugin:
    """Base for format plugins: declare how to recognize the format, implement `parse`.

    Detection is declarative so it lives in one place (`parsers.detect`):
    `media` (json/xml/edi), `json_keys` (top-level keys; each one present counts,
    and a full match counts more), `xml_roots` (root element local names),
    `content_types`, and an optional `sniff` for what those cannot say.
    """

    name: ClassVar[str]  # "ups.track_json": <family>.<format>
    family: ClassVar[str]  # carrier family for the fallback chain ("ups")
    table: ClassVar[str]  # mapping table under taxonomy/maps/
    version: ClassVar[str] = "1"
    media: ClassVar[str]  # "json" | "xml" | "edi"
    json_keys: ClassVar[tuple[str, ...]] = ()
    xml_roots: ClassVar[tuple[str, ...]] = ()
    content_types: ClassVar[tuple[str, ...]] = ()
    slugs: ClassVar[tuple[str, ...]] = ()  # extra --carrier slugs that select this plugin
    generic: ClassVar[bool] = False  # the heuristic last resort

    def sniff(self, doc: Document) -> float:
        """Extra confidence 0..1 from the document's content beyond the declared keys/roots."""
        return 0.0

    def parse(self, doc: Document) -> ParseOutput:
        raise NotImplementedError
