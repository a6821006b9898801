"""Crosswalk from taxonomy statuses to AfterShip tags, EasyPost and Shippo statuses."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .enums import Status


@dataclass(frozen=True, slots=True)
class Crosswalk:
    aftership: str
    easypost: str
    shippo: str
    aftership_subtag: str | None = None


@cache
def crosswalk() -> dict[Status, Crosswalk]:
    """The crosswalk table, keyed by every Status (the data file must cover them all)."""
    raw = tomllib.loads(resources.files("taxonomy").joinpath("data/crosswalk.toml").read_text("utf-8"))
    table = {Status(name): Crosswalk(**row) for name, row in raw.items()}
    missing = set(Status) - set(table)
    if missing:
        raise ValueError(f"crosswalk.toml lacks statuses: {sorted(s.value for s in missing)}")
    return table
