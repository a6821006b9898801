"""JSON Schemas of the published contracts: the taxonomy models and every HTTP API body.

`write_schemas` writes them together with the OpenAPI and AsyncAPI documents
(`service.contracts`), by default into the committed copies in
`service/published/`.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from taxonomy import NormalizedEvent, NormalizeRecord, ShipmentSummary
from taxonomy.crosswalk import crosswalk

from .web.bodies import BODIES

CONTRACTS: dict[str, type[BaseModel]] = {
    "normalized-event.v1": NormalizedEvent,
    "shipment-summary.v1": ShipmentSummary,
    "normalize-record.v1": NormalizeRecord,
    **BODIES,
}


def schemas() -> dict[str, dict]:
    out = {}
    for name, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:carrier-events:schema:{name}"
        out[name] = schema
    out["status-crosswalk.v1"] = {
        "$id": "urn:carrier-events:schema:status-crosswalk.v1",
        "description": "Taxonomy v1 status -> AfterShip tag, EasyPost status, Shippo status",
        "x-crosswalk": {s.value: {"aftership": c.aftership, "easypost": c.easypost, "shippo": c.shippo}
                        for s, c in crosswalk().items()},
    }
    return out


def write_schemas(directory: Path | None = None) -> list[Path]:
    """Every published contract file into `directory` (default: the committed `service/published/`)."""
    # contracts builds on schemas(): imported here, not at the top, to avoid an import cycle
    from . import contracts

    return contracts.write(contracts.PUBLISHED if directory is None else directory)
