"""Carrier API credentials from the environment, and the clients they allow.

A carrier is polled only if its credentials are configured: `clients_from_env`
builds a client for exactly those carriers. Half-configured credentials (an id
without its secret) stop the start with every problem named, rather than
silently leaving a carrier unpolled.

    CARRIER_EVENTS_POLL_<CARRIER>_BASE_URL       default: the carrier's production URL
    CARRIER_EVENTS_POLL_<CARRIER>_CLIENT_ID      ups, fedex, usps (OAuth client credentials)
    CARRIER_EVENTS_POLL_<CARRIER>_CLIENT_SECRET
    CARRIER_EVENTS_POLL_<CARRIER>_API_KEY        dhl
    CARRIER_EVENTS_POLL_<CARRIER>_USERNAME       canadapost
    CARRIER_EVENTS_POLL_<CARRIER>_PASSWORD

each credential also as `<NAME>_FILE`, a file holding it (`service.envvars`),
with <CARRIER> a carrier whose registry entry names a poll client
(`service.poll` in taxonomy/data/carriers.toml: UPS, FEDEX, USPS, DHL, CANADAPOST).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import aiohttp

from taxonomy.carriers import registry

from ..envvars import POLL_PREFIX, POLL_SETTINGS, EnvReader
from .base import CarrierClient, HttpCarrierClient
from .oauth import OAuthCarrierClient


def _client(carrier: str, path: str) -> type[HttpCarrierClient]:
    """The class a registry entry's `service.poll` ("module:Class") names; ImportError/TypeError if it is wrong."""
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, HttpCarrierClient)) or cls.carrier != carrier:
        raise TypeError(f"carrier registry: {carrier}'s poll client {path} is not an HttpCarrierClient for {carrier}")
    return cls


CLIENTS: dict[str, type[HttpCarrierClient]] = {c: _client(c, p) for c, p in registry().poll_clients().items()}
DEFAULT_BASE_URLS = {carrier: cls.default_base_url for carrier, cls in CLIENTS.items()}
PREFIX = POLL_PREFIX
_SETTINGS = tuple(s for s in POLL_SETTINGS if s != "base_url")


@dataclass(frozen=True, slots=True)
class CarrierCredentials:
    """One carrier's API access. Secrets are left out of repr (and so out of any log line built from it)."""

    carrier: str
    base_url: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, carrier: str, env: Mapping[str, str]) -> CarrierCredentials:
        if carrier not in CLIENTS:
            raise ValueError(f"unknown carrier {carrier!r}; known: {', '.join(CLIENTS)}")
        prefix = f"{PREFIX}{carrier.upper()}_"
        reader = EnvReader(env)
        values = {name: (reader.raw(prefix + name.upper(), file_allowed=True) or "").strip() or None
                  for name in _SETTINGS}
        base_url = (reader.raw(prefix + "BASE_URL") or "").strip() or DEFAULT_BASE_URLS[carrier]
        if reader.errors:
            raise ValueError("; ".join(reader.errors))
        return cls(carrier, base_url, **values)

    @property
    def required(self) -> tuple[str, ...]:
        return CLIENTS[self.carrier].required

    @property
    def configured(self) -> bool:
        """Every credential this carrier needs is set."""
        return all(getattr(self, name) for name in self.required)

    def problems(self) -> list[str]:
        """Names of the variables missing from a partial configuration (none set is not a problem)."""
        given = [f.name for f in fields(self) if f.name in _SETTINGS and getattr(self, f.name)]
        if not given:
            return []
        prefix = f"{PREFIX}{self.carrier.upper()}_"
        missing = [prefix + name.upper() for name in self.required if not getattr(self, name)]
        unused = [prefix + name.upper() for name in given if name not in self.required]
        out = [f"{self.carrier}: missing {', '.join(missing)}"] if missing else []
        if unused:
            out.append(f"{self.carrier}: {', '.join(unused)} not used by this carrier")
        return out

    def client_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base_url, **{name: getattr(self, name) for name in self.required}}


def credentials_from_env(env: Mapping[str, str]) -> dict[str, CarrierCredentials]:
    """The carriers with complete credentials; ValueError naming every half-configured one."""
    creds = [CarrierCredentials.from_env(carrier, env) for carrier in CLIENTS]
    problems = [p for c in creds for p in c.problems()]
    if problems:
        raise ValueError("carrier polling credentials: " + "; ".join(problems))
    return {c.carrier: c for c in creds if c.configured}


def clients_from_env(env: Mapping[str, str], session: aiohttp.ClientSession | None,
                     **client_kwargs: Any) -> dict[str, CarrierClient]:
    """A client per carrier with credentials, sharing `session` (which its owner closes).

    `client_kwargs` (timeout, clock, ...) go to every client that takes them.
    """
    clients: dict[str, CarrierClient] = {}
    for carrier, creds in credentials_from_env(env).items():
        cls = CLIENTS[carrier]
        clients[carrier] = cls(session, **creds.client_kwargs(), **_accepted(cls, client_kwargs))
    return clients


def _accepted(cls: type[HttpCarrierClient], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Token settings (clock, token_margin) only for the OAuth clients; the rest for all."""
    oauth_only = {"clock", "token_margin"}
    if issubclass(cls, OAuthCarrierClient):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k not in oauth_only}
