"""JSON Schemas of the published contracts, generated from the taxonomy models."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from taxonomy import NormalizedEvent, NormalizeRecord, ShipmentSummary
from taxonomy.crosswalk import crosswalk

CONTRACTS: dict[str, type[BaseModel]] = {
    "normalized-event.v1": NormalizedEvent,
    "shipment-summary.v1": ShipmentSummary,
    "normalize-record.v1": NormalizeRecord,
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


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
