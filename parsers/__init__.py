"""Carrier format plugins and the machinery around them: bytes -> normalized shipments.

Pure functions, no I/O. Depends on `taxonomy` only.
"""
from .base import CarrierEvent, CarrierShipment, ParseError, ParseOutput, ParserPlugin
from .document import Document
from .normalize import NormalizedShipment, Outcome, normalize_document, record

__all__ = ["CarrierEvent", "CarrierShipment", "Document", "NormalizedShipment", "Outcome", "ParseError",
           "ParseOutput", "ParserPlugin", "normalize_document", "record"]
