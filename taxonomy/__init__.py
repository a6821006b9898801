"""Taxonomy v1: the contract every carrier event is normalized into.

Pure data and pure functions: statuses, exception classes, the normalized
event models, the stable event id, per-carrier mapping tables and the mapping
ladder. No I/O beyond reading the package's own data files.
"""
from .enums import (CLASSED_STATUSES, TAXONOMY_VERSION, TERMINAL_STATUSES, Channel, ExceptionClass, MappedBy,
                    Status, TimeBasis)
from .identity import event_id
from .mapping import Classification, classify
from .models import (ErrorEntry, EventSummary, Location, NormalizedEvent, NormalizeRecord, Provenance,
                     ShipmentSummary)

__all__ = [
    "CLASSED_STATUSES", "TAXONOMY_VERSION", "TERMINAL_STATUSES", "Channel", "Classification", "ErrorEntry",
    "EventSummary", "ExceptionClass", "Location", "MappedBy", "NormalizeRecord", "NormalizedEvent", "Provenance",
    "ShipmentSummary", "Status", "TimeBasis", "classify", "event_id",
]
