"""Carrier code/description -> taxonomy status, by the documented ladder.

code table (data file per carrier format) -> keyword rules on the description
(the table's own first, then the global ones) -> the carrier's coarse status
-> `unknown`. The rung that decided is recorded as `mapped_by`.

A code the table marks `generic = true` is one the carrier prints for many
different scans (UPS legacy responses carry movement code `I:DS`, "Destination
Scan", with the text "OUT FOR DELIVERY"): its status is only the default. A
more specific code the scan also carries decides first; then, when the keyword
rules read another status in the description, the description decides
(`mapped_by` keyword); otherwise the generic code does, as any code would.

Tables are TOML files under `taxonomy/maps/`, readable without reading code:

    carrier = "ups"                    # slug the events carry
    extends = ["ups_common"]           # tables consulted after this one
    [codes]                            # carrier code -> status (+ class), carrier text verbatim
    "X:7E" = { status = "exception", exception_class = "weather_delay", text = "..." }
    "I:DS" = { status = "in_transit", generic = true, text = "..." }  # the text's milestone wins
    [coarse]                           # the carrier's coarse status -> status
    D = "delivered"
    coarse_words = true                # (top level) a coarse status no [coarse] entry knows is read
                                       # as words by the keyword rules (READY_TO_PICKUP)
    [[keywords]]                       # regex on the description, first match wins
    match = "held for customs"
    status = "exception"
    exception_class = "customs_hold"
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from .enums import CLASSED_STATUSES, ExceptionClass, MappedBy, Status


class Classification(NamedTuple):
    status: Status
    exception_class: ExceptionClass | None
    mapped_by: MappedBy
    code_known: bool  # False when the event had a code that no table knows (counted as unmapped)


@dataclass(frozen=True, slots=True)
class CodeEntry:
    status: Status
    exception_class: ExceptionClass | None
    text: str
    generic: bool = False  # the carrier's catch-all: a milestone named in the description wins


@dataclass(frozen=True, slots=True)
class KeywordRule:
    pattern: re.Pattern[str]
    status: Status
    exception_class: ExceptionClass | None


@dataclass(slots=True)
class MappingTable:
    name: str
    carrier: str
    codes: dict[str, CodeEntry] = field(default_factory=dict)
    coarse: dict[str, Status] = field(default_factory=dict)
    keywords: list[KeywordRule] = field(default_factory=list)
    extends: tuple[str, ...] = ()
    coarse_words: bool = False  # read an unknown coarse status as words by the keyword rules


class MappingError(ValueError):
    """A mapping data file is invalid; raised at load so a bad table never reaches traffic."""


def _status(value: object, where: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise MappingError(f"{where}: unknown status {value!r}") from None


def _class(value: object, status: Status, where: str) -> ExceptionClass | None:
    if value is None:
        return None
    try:
        cls = ExceptionClass(value)
    except ValueError:
        raise MappingError(f"{where}: unknown exception_class {value!r}") from None
    if status not in CLASSED_STATUSES:
        raise MappingError(f"{where}: exception_class {cls.value!r} is not allowed with status {status.value!r}")
    return cls


def _rules(raw: list[dict], where: str) -> list[KeywordRule]:
    rules = []
    for i, rule in enumerate(raw):
        here = f"{where} keywords[{i}]"
        try:
            pattern = re.compile(rule["match"], re.IGNORECASE)
        except (KeyError, re.error) as exc:
            raise MappingError(f"{here}: bad or missing 'match': {exc}") from None
        status = _status(rule.get("status"), here)
        rules.append(KeywordRule(pattern, status, _class(rule.get("exception_class"), status, here)))
    return rules


def parse_table(name: str, text: str) -> MappingTable:
    """Validate one table's TOML text (exposed so tests and tools can check a draft)."""
    where = f"taxonomy/maps/{name}.toml"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{where}: {exc}") from None
    coarse_words = raw.get("coarse_words", False)
    if not isinstance(coarse_words, bool):
        raise MappingError(f"{where}: coarse_words must be true or false")
    table = MappingTable(name=name, carrier=str(raw.get("carrier", name)),
                         extends=tuple(raw.get("extends", ())), coarse_words=coarse_words)
    for code, entry in raw.get("codes", {}).items():
        here = f"{where} codes[{code!r}]"
        if not isinstance(entry, dict):
            raise MappingError(f"{here}: expected {{ status = ..., text = ... }}")
        status = _status(entry.get("status"), here)
        generic = entry.get("generic", False)
        if not isinstance(generic, bool):
            raise MappingError(f"{here}: 'generic' must be true or false, not {generic!r}")
        table.codes[code.strip().upper()] = CodeEntry(
            status, _class(entry.get("exception_class"), status, here), str(entry.get("text", "")), generic)
    for coarse, status in raw.get("coarse", {}).items():
        table.coarse[coarse.strip().upper()] = _status(status, f"{where} coarse[{coarse!r}]")
    table.keywords = _rules(raw.get("keywords", []), where)
    return table


_local_dir: Path | None = None


@cache
def load_table(name: str) -> MappingTable:
    path = resources.files("taxonomy").joinpath(f"maps/{name}.toml")
    if not path.is_file():
        raise MappingError(f"no mapping table taxonomy/maps/{name}.toml")
    table = parse_table(name, path.read_text("utf-8"))
    local = _local_dir / f"{name}.toml" if _local_dir is not None else None
    if local is not None and local.is_file():
        table = _overlay(table, parse_table(name, local.read_text("utf-8")))
    return table


def _overlay(base: MappingTable, local: MappingTable) -> MappingTable:
    """A local table adds to the shipped one: its codes and coarse values win, its keyword rules run first."""
    return MappingTable(name=base.name, carrier=base.carrier, codes={**base.codes, **local.codes},
                        coarse={**base.coarse, **local.coarse}, keywords=[*local.keywords, *base.keywords],
                        extends=base.extends, coarse_words=base.coarse_words)


def use_local_tables(directory: str | Path | None) -> list[str]:
    """Overlay `<directory>/<table>.toml` files on the shipped tables (None: shipped tables only).

    This is how operators teach the mapping new carrier codes without a
    release: drop a file with the new `[codes]`, restart, replay. Every local
    file is validated here, so a broken one stops the start instead of
    mis-mapping traffic. Returns the tables overlaid.
    """
    global _local_dir
    names: list[str] = []
    path = Path(directory) if directory is not None else None
    if path is not None:
        if not path.is_dir():
            raise MappingError(f"local mapping directory {path} does not exist")
        known = set(table_names())
        for file in sorted(path.glob("*.toml")):
            if file.stem not in known:
                raise MappingError(f"{file}: no shipped table {file.stem!r} to add to (known: {', '.join(sorted(known))})")
            parse_table(file.stem, file.read_text("utf-8"))
            names.append(file.stem)
    _local_dir = path
    load_table.cache_clear()
    _chain.cache_clear()
    _classify.cache_clear()
    return names


@cache
def global_rules() -> tuple[KeywordRule, ...]:
    text = resources.files("taxonomy").joinpath("data/keywords.toml").read_text("utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"taxonomy/data/keywords.toml: {exc}") from None
    return tuple(_rules(raw.get("keywords", []), "taxonomy/data/keywords.toml"))


def table_names() -> list[str]:
    root = resources.files("taxonomy").joinpath("maps")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


@cache
def _chain(name: str) -> tuple[MappingTable, ...]:
    """The table and everything it extends, depth first, each once."""
    seen: dict[str, MappingTable] = {}

    def walk(n: str) -> None:
        if n in seen:
            return
        seen[n] = load_table(n)
        for parent in seen[n].extends:
            walk(parent)

    walk(name)
    return tuple(seen.values())


def _keyword(chain: tuple[MappingTable, ...], description: str) -> KeywordRule | None:
    for table in chain:
        for rule in table.keywords:
            if rule.pattern.search(description):
                return rule
    for rule in global_rules():
        if rule.pattern.search(description):
            return rule
    return None


def _class_from_text(chain: tuple[MappingTable, ...], description: str) -> ExceptionClass | None:
    """The first keyword-stated reason, to refine a code that says 'exception' but not why."""
    if not description:
        return None
    for rules in [t.keywords for t in chain] + [global_rules()]:
        for rule in rules:
            if rule.exception_class is not None and rule.pattern.search(description):
                return rule.exception_class
    return None


def _finish(chain: tuple[MappingTable, ...], status: Status, cls: ExceptionClass | None,
            description: str) -> ExceptionClass | None:
    if status not in CLASSED_STATUSES:
        return None
    if cls is None:
        cls = _class_from_text(chain, description)
    if cls is None and status is Status.EXCEPTION:
        cls = ExceptionClass.OTHER
    return cls


# Keyword rules read at most this much of a text: a scan's wording is in its first sentences, and a
# hostile megabyte of text must not cost every rule a megabyte of regex search.
KEYWORD_TEXT_LIMIT = 1024


def classify(table: str, codes: tuple[str, ...], description: str, coarse: str | None) -> Classification:
    """Map one scan. Pure and cached: the same (table, codes, text, coarse) recurs constantly.

    Texts are cut to `KEYWORD_TEXT_LIMIT` characters first, so one scan costs
    bounded work (and the cache holds bounded keys) whatever a document sends.
    """
    limit = KEYWORD_TEXT_LIMIT
    return _classify(table, tuple(c[:64] if c else c for c in codes[:16]),
                     description[:limit] if description else description, coarse[:limit] if coarse else coarse)


@lru_cache(maxsize=65536)
def _classify(table: str, codes: tuple[str, ...], description: str, coarse: str | None) -> Classification:
    chain = _chain(table)
    keys = [c.strip().upper() for c in codes if c and c.strip()]
    default: CodeEntry | None = None  # the first generic code found: it decides only if nothing better does
    for key in keys:
        entry = next((e for t in chain if (e := t.codes.get(key)) is not None), None)
        if entry is None:
            continue
        if not entry.generic:
            return Classification(entry.status, _finish(chain, entry.status, entry.exception_class, description),
                                  MappedBy.CODE, True)
        if default is None:
            default = entry
    if default is not None:
        rule = _keyword(chain, description) if description else None
        if rule is not None and rule.status not in (default.status, Status.UNKNOWN):
            return Classification(rule.status, _finish(chain, rule.status, rule.exception_class, description),
                                  MappedBy.KEYWORD, True)
        return Classification(default.status, _finish(chain, default.status, default.exception_class, description),
                              MappedBy.CODE, True)
    known = not keys
    rule = _keyword(chain, description) if description else None
    if rule is not None:
        return Classification(rule.status, _finish(chain, rule.status, rule.exception_class, description),
                              MappedBy.KEYWORD, known)
    if coarse:
        key = coarse.strip().upper()
        for t in chain:
            status = t.coarse.get(key)
            if status is not None:
                return Classification(status, _finish(chain, status, None, description), MappedBy.COARSE, known)
        if chain[0].coarse_words:
            words = _words(coarse)
            rule = _keyword(chain, words) if words else None
            if rule is not None:
                return Classification(rule.status, _finish(chain, rule.status, rule.exception_class, words),
                                      MappedBy.COARSE, known)
    return Classification(Status.UNKNOWN, None, MappedBy.UNKNOWN, known)


_WORD_BREAK = re.compile(r"[_\W]+|(?<=[a-z])(?=[A-Z])")


def _words(value: str) -> str:
    """'READY_TO_PICKUP', 'ReadyToPickup', 'ready-to-pickup' -> 'ready to pickup'."""
    return " ".join(w for w in _WORD_BREAK.split(value) if w).lower()


def carrier_of(table: str) -> str:
    return load_table(table).carrier
