"""The published contracts as files: JSON Schemas, the OpenAPI and the AsyncAPI document.

`python -m service schema --out service/published` writes them into `service/published/`, where they
are committed and shipped as package data: reviewers see a contract change as
a diff, consumers read them without running the service, and `/openapi.json`
serves the file as committed. A test regenerates them and fails when the
committed copies are stale. Output is deterministic (sorted keys, fixed
indentation) so an unchanged contract regenerates byte for byte.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..schema import schemas
from . import asyncapi, openapi

PUBLISHED = Path(__file__).resolve().parent.parent / "published"
OPENAPI = "openapi.json"
ASYNCAPI = "asyncapi.json"
SCHEMA_SUFFIX = ".schema.json"


def documents() -> dict[str, dict[str, Any]]:
    """Every published file name -> its content, freshly generated from the code."""
    out = {f"{name}{SCHEMA_SUFFIX}": schema for name, schema in schemas().items()}
    out[OPENAPI] = openapi.build()
    out[ASYNCAPI] = asyncapi.build()
    return dict(sorted(out.items()))


def render(document: dict[str, Any]) -> str:
    """The one text form of a published file."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write(directory: Path = PUBLISHED) -> list[Path]:
    """Write every document; remove contract schemas (`<name>.v<N>.schema.json`) no contract produces any
    more (a renamed or dropped schema must not linger as if it were still published). Other files are left
    alone: the directory may be any (`schema --out` defaults to the current one)."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh = documents()
    for stale in sorted(directory.glob(f"*{SCHEMA_SUFFIX}")):
        if stale.name not in fresh and re.fullmatch(r"[a-z0-9-]+\.v\d+" + re.escape(SCHEMA_SUFFIX), stale.name):
            stale.unlink()
    written = []
    for name, document in fresh.items():
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written
