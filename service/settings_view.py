"""`carrier-events config`: the effective configuration, one variable a line, secrets masked.

Shows what the service would run with, and where each value came from (default, env, file, flag), so a
deployment can be checked without starting it and without printing a secret.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from .config import _PER_SOURCE, POLL_CARRIERS, SECRET_FIELDS, URL_FIELDS, Settings, load, variable
from .envvars import POLL_MASKED, POLL_PREFIX, POLL_SETTINGS, PREFIX, EnvReader

MASK = "****"


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by the mask."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def rows(env: Mapping[str, str] | None = None, **flags: object) -> list[tuple[str, str, str]]:
    """(variable, shown value, origin) for every setting, per-source and polling variables that are set."""
    env = os.environ if env is None else env
    settings, origin = load(env, **flags)
    out = []
    for name in (n for n in Settings.__dataclass_fields__ if n not in _PER_SOURCE.values()):
        value = getattr(settings, name)
        if name in SECRET_FIELDS and value:
            shown = MASK
        elif name in URL_FIELDS and value:
            shown = mask_url(value)
        else:
            shown = _show(value)
        out.append((variable(name), shown, origin.get(variable(name), "default")))
    for prefix, name in _PER_SOURCE.items():
        for source, value in getattr(settings, name).items():
            var = f"{PREFIX}{prefix}{source.upper()}"
            shown = " ".join([MASK] * len(value)) if name in SECRET_FIELDS else _show(value)
            out.append((var, shown, origin.get(var, "env")))
    reader = EnvReader(env)
    for carrier in POLL_CARRIERS:
        for setting in POLL_SETTINGS:
            var = f"{POLL_PREFIX}{carrier.upper()}_{setting.upper()}"
            value = reader.raw(var, file_allowed=setting != "base_url")
            if value is not None:
                out.append((var, MASK if setting in POLL_MASKED else value, reader.origin[var]))
    return out


def render(env: Mapping[str, str] | None = None, **flags: object) -> str:
    """The lines `carrier-events config` prints: `NAME=value  # origin`."""
    table = rows(env, **flags)
    width = max(len(f"{n}={v}") for n, v, _ in table)
    return "\n".join(f"{n}={v}".ljust(width) + f"  # {o}" for n, v, o in table) + "\n"

