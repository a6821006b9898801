"""The carrier registry (`taxonomy/data/carriers.toml`) as typed, validated data.

A carrier's facts (display name, aggregator codes, number formats, tracking
page, home zone, webhook scheme, poll client) used to be copied into a dozen
literal tables; now every reader asks here, so adding a carrier is one entry.
The file is validated as a whole when first read: a broken entry stops the
import with every problem named, rather than surfacing as a wrong slug in
production. Pure data: service facts (scheme names, client paths) are kept
as strings that the service checks against its own code.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .checkdigits import SCHEMES

KINDS = ("carrier", "aggregator", "channel")
URL_FIELD = "{tracking_number}"
_SLUG = re.compile(r"[a-z0-9_]{2,32}")
_SCAC = re.compile(r"[A-Z]{2,4}")
_POLL = re.compile(r"[a-z_][a-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_URL_SAFE = re.compile(r"[A-Za-z0-9]+")
_FIELDS = {"name", "kind", "country", "zone", "tracking_url", "names", "scac", "aliases", "numbers", "service"}
_NUMBER_FIELDS = {"pattern", "check", "example", "detect", "borrowed"}
_SERVICE_FIELDS = {"webhook", "poll"}


class RegistryError(ValueError):
    """The registry file is invalid; `problems` lists each as one sentence naming the slug and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("carrier registry: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """One tracking-number format: a whole-number regex and the check-digit scheme that guards it."""

    pattern: re.Pattern[str]
    check: str
    example: str
    detect: bool = True  # False: documented, but too plain to name the carrier by its shape alone
    borrowed: bool = False  # another carrier's format that this carrier's labels also carry

    def fits(self, number: str) -> bool:
        """`number` already compact and upper-case (see `compact`)."""
        return self.pattern.fullmatch(number) is not None and SCHEMES[self.check](number)


@dataclass(frozen=True, slots=True)
class Carrier:
    slug: str
    name: str
    kind: str = "carrier"
    country: str | None = None
    zone: str | None = None
    tracking_url: str | None = None  # template with {tracking_number}
    names: tuple[str, ...] = ()
    scac: tuple[str, ...] = ()
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))  # aggregator -> codes
    numbers: tuple[NumberFormat, ...] = ()
    webhook: str | None = None  # default authentication scheme of its webhook source
    poll: str | None = None  # "module:Class" of its tracking API client

    def url_for(self, tracking_number: str) -> str | None:
        """The public tracking page of one number, or None without a template or a number."""
        if not self.tracking_url or not tracking_number:
            return None
        number = tracking_number if _URL_SAFE.fullmatch(tracking_number) else quote(tracking_number, safe="")
        return self.tracking_url.replace(URL_FIELD, number)


class Registry:
    """Every entry by slug, in file order, with the derived lookups the readers need."""

    def __init__(self, entries: Mapping[str, Carrier]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, slug: str) -> Carrier:
        return self._entries[slug]

    def __contains__(self, slug: object) -> bool:
        return slug in self._entries

    def __iter__(self) -> Iterator[Carrier]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, slug: str | None) -> Carrier | None:
        return self._entries.get(slug) if slug else None

    def of_kind(self, kind: str) -> list[Carrier]:
        return [c for c in self if c.kind == kind]

    def aggregators(self) -> tuple[str, ...]:
        """The alias vocabularies: one per aggregator entry."""
        return tuple(c.slug for c in self.of_kind("aggregator"))

    def aliases(self, aggregator: str) -> dict[str, str]:
        """An aggregator's codes as it spells them -> our slug."""
        return {alias: c.slug for c in self for alias in c.aliases.get(aggregator, ())}

    def scac(self) -> dict[str, str]:
        return {code: c.slug for c in self for code in c.scac}

    def names(self) -> dict[str, str]:
        """Every spelling (slug, display name, other names, aggregator codes), folded by `fold`, -> slug."""
        out: dict[str, str] = {}
        for c in self:
            for spelling in (c.slug, c.name, *c.names, *(a for codes in c.aliases.values() for a in codes)):
                out.setdefault(fold(spelling), c.slug)
        return out

    def webhook_sources(self) -> dict[str, str]:
        """Webhook source -> its default scheme, in file order."""
        return {c.slug: c.webhook for c in self if c.webhook}

    def poll_clients(self) -> dict[str, str]:
        return {c.slug: c.poll for c in self if c.poll}

    def tracking_url(self, slug: str | None, tracking_number: str | None) -> str | None:
        carrier = self.get(slug)
        return carrier.url_for(tracking_number) if carrier is not None and tracking_number else None


def fold(name: str) -> str:
    """Case- and punctuation-blind key: 'Canada Post', 'canada-post', 'CANADA_POST' -> 'canada_post'."""
    return _NOT_WORD.sub("_", name.lower()).strip("_")


def compact(number: str) -> str:
    """A tracking number as number formats are matched: no spaces or dashes, upper case."""
    return re.sub(r"[\s-]", "", number or "").upper()


@cache
def registry() -> Registry:
    """The shipped registry, read and validated once."""
    return load(resources.files("taxonomy").joinpath("data/carriers.toml").read_text("utf-8"))


def tracking_url(carrier: str | None, tracking_number: str | None) -> str | None:
    """The carrier's public tracking page for a number; None for unknown carriers or those without one."""
    return registry().tracking_url(carrier, tracking_number)


def load(text: str) -> Registry:
    """Parse and validate a registry document; RegistryError lists every problem at once."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError([f"not valid TOML: {exc}"]) from None
    problems: list[str] = []
    aggregators = [slug for slug, body in raw.items() if isinstance(body, dict) and body.get("kind") == "aggregator"]
    entries: dict[str, Carrier] = {}
    for slug, body in raw.items():
        if not isinstance(body, dict):
            problems.append(f"{slug}: must be a table")
            continue
        found = _entry(slug, body, aggregators, problems)
        if found is not None:
            entries[slug] = found
    _check_unique(entries, aggregators, problems)
    if problems:
        raise RegistryError(problems)
    return Registry(entries)


def _entry(slug: str, body: dict, aggregators: list[str], problems: list[str]) -> Carrier | None:
    before = len(problems)

    def bad(message: str) -> None:
        problems.append(f"{slug}: {message}")

    if not _SLUG.fullmatch(slug):
        bad("the slug must be 2-32 characters of a-z, 0-9 and _")
    for key in sorted(set(body) - _FIELDS):
        bad(f"unknown field {key!r}")
    kind = body.get("kind", "carrier")
    if kind not in KINDS:
        bad(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    name = _text(body, "name", bad, required=True)
    country, zone = _text(body, "country", bad), _text(body, "zone", bad)
    url = _text(body, "tracking_url", bad)
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        bad(f"country must be an ISO 3166-1 alpha-2 code, not {country!r}")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            bad(f"zone {zone!r} is not an IANA time zone")
    if url is not None and (not url.startswith("https://") or url.count(URL_FIELD) != 1
                            or url.replace(URL_FIELD, "").count("{") or url.replace(URL_FIELD, "").count("}")):
        bad(f"tracking_url must be https with {URL_FIELD} exactly once: {url!r}")
    names, scac = _strings(body, "names", bad), _strings(body, "scac", bad)
    for code in scac:
        if not _SCAC.fullmatch(code):
            bad(f"scac {code!r} is not 2-4 capital letters")
    aliases = _aliases(body.get("aliases"), aggregators, kind, bad)
    numbers = _numbers(body.get("numbers", []), bad)
    webhook, poll = _service(body.get("service", {}), bad)
    if kind == "carrier":
        for required, value in (("country", country), ("zone", zone), ("tracking_url", url)):
            if value is None:
                bad(f"a carrier needs {required}")
        if not body.get("numbers"):
            bad("a carrier needs at least one [[numbers]] format")
    if len(problems) > before:
        return None
    return Carrier(slug, name or slug, kind, country, zone, url, names, scac, aliases, numbers, webhook, poll)


def _text(body: dict, key: str, bad, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            bad(f"{key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        bad(f"{key} must be a non-empty string")
        return None
    return value


def _strings(body: dict, key: str, bad) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        bad(f"{key} must be a list of non-empty strings")
        return ()
    return tuple(value)


def _aliases(value: object, aggregators: list[str], kind: str, bad) -> Mapping[str, tuple[str, ...]]:
    if value is None:
        if kind == "carrier":
            bad(f"a carrier needs [aliases] with every aggregator ({', '.join(aggregators)}; [] when it has none)")
        return MappingProxyType({})
    if not isinstance(value, dict):
        bad("aliases must be a table")
        return MappingProxyType({})
    for key in sorted(set(value) - set(aggregators)):
        bad(f"aliases.{key}: not an aggregator entry")
    if kind == "carrier":
        for key in aggregators:
            if key not in value:
                bad(f"aliases.{key} missing ([] when {key} does not carry it)")
    out = {}
    for key in aggregators:
        codes = _strings(value, key, lambda m, key=key: bad(f"aliases.{m}"))
        out[key] = codes
    return MappingProxyType(out)


def _numbers(value: object, bad) -> tuple[NumberFormat, ...]:
    if not isinstance(value, list):
        bad("numbers must be an array of tables ([[<slug>.numbers]])")
        return ()
    out = []
    for i, item in enumerate(value):
        where = f"numbers[{i}]"
        if not isinstance(item, dict):
            bad(f"{where} must be a table")
            continue
        for key in sorted(set(item) - _NUMBER_FIELDS):
            bad(f"{where}: unknown field {key!r}")
        pattern, check, example = item.get("pattern"), item.get("check"), item.get("example")
        detect, borrowed = item.get("detect", True), item.get("borrowed", False)
        if not isinstance(detect, bool) or not isinstance(borrowed, bool):
            bad(f"{where}: detect and borrowed must be true or false")
            continue
        if check not in SCHEMES:
            bad(f"{where}: check must name a scheme ({', '.join(SCHEMES)}), not {check!r}")
            continue
        if not isinstance(pattern, str) or not pattern:
            bad(f"{where}: pattern is required")
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            bad(f"{where}: pattern {pattern!r} does not compile: {exc}")
            continue
        if not isinstance(example, str) or not example:
            bad(f"{where}: example (a valid number of this format) is required")
            continue
        form = NumberFormat(compiled, check, example, detect, borrowed)
        if example != compact(example) or not form.fits(example):
            bad(f"{where}: example {example!r} does not fit its pattern and {check} check")
            continue
        out.append(form)
    return tuple(out)


def _service(value: object, bad) -> tuple[str | None, str | None]:
    if not isinstance(value, dict):
        bad("service must be a table")
        return None, None
    for key in sorted(set(value) - _SERVICE_FIELDS):
        bad(f"service: unknown field {key!r}")
    webhook = _text(value, "webhook", lambda m: bad(f"service.{m}"))
    poll = _text(value, "poll", lambda m: bad(f"service.{m}"))
    if poll is not None and not _POLL.fullmatch(poll):
        bad(f"service.poll must be 'module:Class', not {poll!r}")
    return webhook, poll


def _check_unique(entries: dict[str, Carrier], aggregators: list[str], problems: list[str]) -> None:
    """No code may name two carriers: within an aggregator's vocabulary, among SCACs, or once folded."""
    for vocabulary in aggregators:
        _first_owner(((a.lower(), c.slug) for c in entries.values() for a in c.aliases.get(vocabulary, ())),
                     f"{vocabulary} code", problems)
    _first_owner(((s, c.slug) for c in entries.values() for s in c.scac), "scac", problems)
    spellings = ((fold(s), c.slug) for c in entries.values()
                 for s in (c.slug, c.name, *c.names, *(a for codes in c.aliases.values() for a in codes)))
    _first_owner(spellings, "name", problems)


def _first_owner(pairs, what: str, problems: list[str]) -> None:
    owner: dict[str, str] = {}
    for key, slug in pairs:
        if owner.setdefault(key, slug) != slug:
            problems.append(f"{slug}: {what} {key!r} already names {owner[key]}")
