"""Contract models: the normalized event, its shipment summary and the CLI record.

Pydantic models give the JSON Schemas we publish. Hot paths build instances
with `model_construct` from values the mapping layer has already checked, so
validation cost is paid where data enters, not once per field per event.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .enums import Channel, ExceptionClass, MappedBy, Status, TimeBasis


class Location(BaseModel):
    """Where a scan happened; every part optional, country as ISO 3166-1 alpha-2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    def is_empty(self) -> bool:
        return not (self.city or self.region or self.postal_code or self.country)


class Provenance(BaseModel):
    """How an event reached us and which code decided its status."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    inbox_id: str | None = None
    received_at: AwareDatetime | None = None
    parser: str
    parser_version: str
    mapped_by: MappedBy


class NormalizedEvent(BaseModel):
    """One carrier scan in taxonomy v1 terms. `event_id` is stable across sources."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    carrier: str = Field(pattern=r"^[a-z0-9_]+$")
    tracking_number: str
    status: Status
    exception_class: ExceptionClass | None = None
    occurred_at: AwareDatetime
    occurred_at_local: AwareDatetime
    time_basis: TimeBasis
    description: str
    carrier_code: str | None = None
    location: Location | None = None
    estimated_delivery: str | None = Field(
        default=None, description="ISO 8601 date or date-time (with offset) as the carrier estimated it")
    signed_by: str | None = None
    provenance: Provenance
    taxonomy_version: Literal["1"] = "1"


class EventSummary(BaseModel):
    """An event as the `normalize` CLI prints it (contract subset of NormalizedEvent)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    occurred_at: AwareDatetime
    occurred_at_local: AwareDatetime
    time_basis: TimeBasis
    status: Status
    exception_class: ExceptionClass | None = None
    carrier_code: str | None = None
    description: str
    mapped_by: MappedBy
    location: Location | None = None


class ShipmentSummary(BaseModel):
    """A shipment's state as derived from its events (newest first)."""

    model_config = ConfigDict(extra="forbid")

    tracking_number: str | None = Field(
        description="null when the document does not carry the number (it was in the carrier request) and "
                    "none was given (`normalize --tracking-number`)")
    carrier: str
    status: Status
    exception_class: ExceptionClass | None = None
    estimated_delivery: str | None = None
    signed_by: str | None = None
    events: list[EventSummary]


class ErrorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["carrier_error", "unparseable", "unsupported"]
    message: str


class NormalizeRecord(BaseModel):
    """One line of `python -m service normalize` output: the result for one input file."""

    model_config = ConfigDict(extra="forbid")

    path: str
    carrier: str | None
    parser: str | None
    ok: bool
    shipments: list[ShipmentSummary]
    errors: list[ErrorEntry]


def utc_text(moment: datetime) -> str:
    """RFC 3339 UTC with a `Z`, the one spelling of an instant on every contract (callers pass UTC).

    Built from the fields rather than strftime: it runs several times per event.
    """
    m = moment
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def builder(cls: type[BaseModel]):
    """A constructor that trusts its caller, for hot paths that build from already-checked values.

    It does what `model_construct` does minus default handling (every field is
    passed), at a third of the cost. Callers pass every field; tests check
    that what it builds equals a validated instance.
    """
    fields_set = frozenset(cls.model_fields)
    new, set_attr = cls.__new__, object.__setattr__

    def build(**values):
        model = new(cls)
        set_attr(model, "__dict__", values)
        set_attr(model, "__pydantic_fields_set__", fields_set)
        set_attr(model, "__pydantic_extra__", None)
        set_attr(model, "__pydantic_private__", None)
        return model

    return build
