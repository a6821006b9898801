"""Where parser plugins come from.

Built-ins: every module in `parsers.formats` that defines `PLUGINS` (a list of
ParserPlugin instances). Third parties: the entry-point group
`carrier_events.parsers`, each entry naming a plugin instance, a plugin class
or a list of instances. A new carrier is one module, one mapping table and one
entry in the carrier registry (taxonomy/data/carriers.toml).
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache
from importlib.metadata import entry_points

from . import formats
from .base import ParserPlugin

ENTRY_POINT_GROUP = "carrier_events.parsers"
log = logging.getLogger(__name__)


def _as_plugins(obj: object) -> list[ParserPlugin]:
    if isinstance(obj, ParserPlugin):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, ParserPlugin):
        return [obj()]
    if isinstance(obj, (list, tuple)):
        return [p for item in obj for p in _as_plugins(item)]
    raise TypeError(f"not a parser plugin: {obj!r}")


def builtin_plugins() -> list[ParserPlugin]:
    found: list[ParserPlugin] = []
    for info in sorted(pkgutil.iter_modules(formats.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{formats.__name__}.{info.name}")
        if hasattr(module, "PLUGINS"):
            found.extend(_as_plugins(module.PLUGINS))
    return found


def entry_point_plugins() -> list[ParserPlugin]:
    found: list[ParserPlugin] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.extend(_as_plugins(ep.load()))
        except Exception:  # a broken third-party plugin must not take the built-ins down
            log.exception("parser plugin entry point %s failed to load; skipped", ep.name)
    return found


@cache
def plugins() -> tuple[ParserPlugin, ...]:
    """All plugins, built-ins first; a later plugin with a taken name is refused."""
    result: dict[str, ParserPlugin] = {}
    for plugin in builtin_plugins() + entry_point_plugins():
        if plugin.name in result:
            log.warning("parser plugin %s registered twice; keeping the first", plugin.name)
            continue
        result[plugin.name] = plugin
    return tuple(result.values())


def by_name(name: str) -> ParserPlugin | None:
    return next((p for p in plugins() if p.name == name), None)


def families() -> set[str]:
    return {p.family for p in plugins()} | {s for p in plugins() for s in p.slugs}
