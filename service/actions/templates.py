"""Customer notification templates: sandboxed Jinja2, one file per part, per locale, checked at start-up.

Templates are files (`templates/<locale>/<name>.subject|.txt|.html`, shipped as
package data and read through importlib.resources) so that wording changes are
reviewable text, and an operator can override any file, or add a locale, from a
directory of the same layout without a release. Because an override is
operator-supplied text rendered with carrier-supplied values, it runs in Jinja's
`SandboxedEnvironment` (no `_` attributes, no reaching Python internals) with
`StrictUndefined` (a misspelt variable is an error, not a blank), and
`validate()` renders every template of every locale against both a complete and
a minimal sample context at start-up, so a broken template stops the service
from starting instead of failing one customer's notification at 3 a.m.

Only `.html` parts are autoescaped: carrier descriptions are text and go into
the text part and subject verbatim. Names starting with `_` (`_layout.html`)
are partials, not templates. A locale falls back `fr-CA` → `fr` → `en`, and all
parts of one rendering come from the same locale.
"""
from __future__ import annotations

import importlib.resources
import operator
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.loaders import split_template_path
from jinja2.sandbox import SandboxedEnvironment

from taxonomy.carriers import registry, tracking_url

PARTS = ("subject", "txt", "html")
REQUIRED_PARTS = ("subject", "txt")
DEFAULT_LOCALE = "en"
MAX_SEQUENCE = 100_000  # longest string/list a template may build with `*`: a typo'd `* 10**9` is not an outage
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")

# The render context, as documented: what `validate()` proves every template can use. Anything else a caller
# passes is dropped, so a template can only name what start-up validation has seen.
_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "email", "phone"),
    "shipment": ("carrier", "tracking_number", "status", "exception_class", "estimated_delivery"),
    "event": ("description", "occurred_at", "location", "carrier_code"),
    "location": ("city", "region", "postal_code", "country"),
}
_SCALARS = ("order_id", "merchant", "tracking_url")


class TemplateProblem(ValueError):
    """A template that cannot be used; `problems` lists each as (file, line, message)."""

    def __init__(self, problems: list[tuple[str, int | None, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{file}{f':{line}' if line else ''}: {message}"
                                   for file, line, message in problems))


@dataclass(frozen=True, slots=True)
class Rendered:
    """One notification ready to send; `shipment` travels along for channels that forward data (webhooks)."""

    subject: str
    text: str
    html: str | None
    locale: str
    template: str = ""
    shipment: Mapping[str, Any] = field(default_factory=dict)


class _ResourceLoader(BaseLoader):
    """Loads from package data via importlib.resources (works from a wheel or zip, not only a checkout)."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        node = self.root
        for piece in split_template_path(template):  # refuses `..`: no reading outside the templates
            node = node.joinpath(piece)
        if not node.is_file():
            raise TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), str(node), lambda: True


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox, plus a bound on `*` and `**` so a template cannot exhaust memory building a value."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponent too large in a template")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_SEQUENCE:
                raise SecurityError("sequence too long in a template")
        return operator.mul(left, right)


class Templates:
    """The notification templates: shipped ones, overridden file by file by `override_dir`."""

    def __init__(self, override_dir: str | Path | None = None) -> None:
        shipped = importlib.resources.files("service.actions").joinpath("templates")
        loaders: list[BaseLoader] = [_ResourceLoader(shipped)]
        roots: list[Traversable] = [shipped]
        if override_dir is not None:
            override = Path(override_dir)
            if not override.is_dir():
                raise TemplateProblem([(str(override), None, "template override directory does not exist")])
            loaders.insert(0, FileSystemLoader(str(override)))
            roots.append(override)
        self._env = _Sandbox(
            loader=ChoiceLoader(loaders), undefined=StrictUndefined, autoescape=select_autoescape(["html"]),
            trim_blocks=True, lstrip_blocks=True, finalize=lambda value: "" if value is None else value)
        self._env.filters.update(datetime=_format_datetime, date=_format_date, place=_place, carrier=_carrier,
                                 http_url=_http_url)
        # (locale, template) -> parts present in either source
        self._index: dict[tuple[str, str], set[str]] = {}
        for root in roots:
            for locale, name, part in _walk(root):
                self._index.setdefault((locale, name), set()).add(part)

    @property
    def names(self) -> list[str]:
        return sorted({name for _, name in self._index})

    @property
    def locales(self) -> list[str]:
        return sorted({locale for locale, _ in self._index})

    def validate(self) -> None:
        """Render every part of every template in every locale with sample contexts; raise all problems at once."""
        problems: list[tuple[str, int | None, str]] = []
        for (locale, name), parts in sorted(self._index.items()):
            for part in REQUIRED_PARTS:
                if part not in parts:
                    problems.append((f"{locale}/{name}.{part}", None, "missing (needed beside the other parts)"))
            for context in (sample_context(), minimal_context()):
                for part in sorted(parts):
                    problem = self._try(f"{locale}/{name}.{part}", {**context, "locale": locale})
                    if problem and problem not in problems:
                        problems.append(problem)
        if problems:
            raise TemplateProblem(problems)

    def render(self, template: str, locale: str | None, context: Mapping[str, Any]) -> Rendered:
        """Render `template` in the best available locale; TemplateProblem if unknown or if rendering fails."""
        chosen = next((cand for cand in locale_chain(locale) if (cand, template) in self._index), None)
        if chosen is None:
            raise TemplateProblem([(template, None, f"unknown template (known: {', '.join(self.names)})")])
        ctx = {**complete_context(context), "locale": chosen}
        if not ctx["tracking_url"]:  # the merchant's own page when it gave one, else the carrier's public page
            ctx["tracking_url"] = tracking_url(ctx["shipment"]["carrier"], ctx["shipment"]["tracking_number"])
        parts = self._index[(chosen, template)]
        out: dict[str, str | None] = {}
        for part in PARTS:
            if part not in parts:
                out[part] = None
                continue
            name = f"{chosen}/{template}.{part}"
            try:
                out[part] = self._env.get_template(name).render(ctx)
            except Exception as exc:  # SecurityError, UndefinedError, ... : the cause stays attached
                raise TemplateProblem([_locate(exc, name)]) from exc
        return Rendered(subject=" ".join((out["subject"] or "").split()), text=(out["txt"] or "").strip() + "\n",
                        html=out["html"], locale=chosen, template=template, shipment=dict(ctx["shipment"]))

    def _try(self, name: str, context: dict[str, Any]) -> tuple[str, int | None, str] | None:
        try:
            self._env.get_template(name).render(context)
        except Exception as exc:  # besides TemplateError, a template can divide by zero or compare str with int
            return _locate(exc, name)
        return None


def locale_chain(locale: str | None) -> list[str]:
    """`fr_ca` → [`fr-CA`, `fr`, `en`]; anything that is not a locale tag falls to `en` (it names a directory)."""
    chain: list[str] = []
    if locale and _LOCALE.fullmatch(locale.strip()):
        pieces = re.split(r"[-_]", locale.strip())
        pieces = [pieces[0].lower()] + [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower()
                                        for p in pieces[1:]]
        chain = ["-".join(pieces[:n]) for n in range(len(pieces), 0, -1)]
    return chain + ([DEFAULT_LOCALE] if DEFAULT_LOCALE not in chain else [])


def complete_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The documented context from whatever the caller has (dicts or objects, enums or strings), gaps as None."""
    out: dict[str, Any] = {key: _plain(_get(context, key)) for key in _SCALARS}
    for key in ("customer", "shipment", "event"):
        source = _get(context, key)
        out[key] = {name: _plain(_get(source, name)) for name in _FIELDS[key]}
    location = _get(_get(context, "event"), "location")
    out["event"]["location"] = {name: _plain(_get(location, name)) for name in _FIELDS["location"]}
    return out


def sample_context() -> dict[str, Any]:
    """Every field filled: the context `validate()` renders with (and a reference for template authors)."""
    return complete_context({
        "customer": {"name": "Camille Martin", "email": "camille@example.com", "phone": "+15145550100"},
        "order_id": "100234", "merchant": "Example Store", "tracking_url": "https://example.com/track/100234",
        "shipment": {"carrier": "ups", "tracking_number": "1Z4F7W390361553013", "status": "exception",
                     "exception_class": "weather_delay", "estimated_delivery": "2026-03-14"},
        "event": {"description": "Severe weather conditions have delayed delivery <b>&</b>",
                  "occurred_at": datetime.fromisoformat("2026-03-12T14:33:16-04:00"), "carrier_code": "7E",
                  "location": {"city": "Montréal", "region": "QC", "postal_code": "H2X 1Y4", "country": "CA"}},
    })


def minimal_context() -> dict[str, Any]:
    """Only what every notification has: templates must cope with every optional value missing."""
    return complete_context({"shipment": {"carrier": "ups", "tracking_number": "1Z4F7W390361553013",
                                          "status": "exception"},
                             "event": {"description": "Exception"}})


def _walk(root: Traversable) -> Iterator[tuple[str, str, str]]:
    for locale_dir in root.iterdir():
        if not locale_dir.is_dir() or not _LOCALE.fullmatch(locale_dir.name):
            continue
        for entry in locale_dir.iterdir():
            name, _, part = entry.name.rpartition(".")
            if entry.is_file() and part in PARTS and _NAME.fullmatch(name):
                yield locale_dir.name, name, part


def _locate(exc: BaseException, name: str) -> tuple[str, int | None, str]:
    """File and line of a template failure: syntax errors carry them; render errors have template frames."""
    kind = type(exc).__name__
    if isinstance(exc, TemplateSyntaxError):
        return exc.filename or name, exc.lineno, f"{kind}: {exc.message}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.rsplit(".", 1)[-1] in PARTS]
    if frames:
        return frames[-1].filename, frames[-1].lineno, f"{kind}: {exc}"
    return name, None, f"{kind}: {exc}"


def _get(source: Any, key: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _parse(value: Any) -> date | None:
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _format_datetime(value: Any, fmt: str = "%Y-%m-%d %H:%M", date_fmt: str = "%Y-%m-%d") -> str:
    """A moment as the carrier's wall time (no conversion: the customer reads the scan's local time).

    A value that is only a date (estimates often are) gets `date_fmt`, not a made-up midnight."""
    parsed = _parse(value)
    if parsed is None:
        return "" if value is None else str(value)
    return parsed.strftime(fmt if isinstance(parsed, datetime) else date_fmt)


def _format_date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    parsed = _parse(value)
    if parsed is None:
        return "" if value is None else str(value)
    return parsed.strftime(fmt)


def _carrier(slug: Any) -> str:
    """The carrier as customers know it (`canadapost` → `Canada Post`: the registry's display name)."""
    if not slug:
        return ""
    known = registry().get(str(slug))
    return known.name if known is not None else str(slug).replace("_", " ").upper()


def _http_url(value: Any) -> str:
    """A link target only if it is http(s): a `javascript:` URL in configuration must not become a link."""
    text = str(value or "").strip()
    return text if re.match(r"https?://[^\s]+$", text, re.IGNORECASE) else ""


def _place(location: Any) -> str:
    """`Montréal, QC, CA` from whichever parts the carrier gave."""
    return ", ".join(str(part) for part in (_get(location, k) for k in ("city", "region", "country")) if part)
