"""What intake checks before it stores anything: who sent it, how fast, how many at once.

One `SourceGuard` per webhook source, built once at start-up from the
settings, so a misconfigured scheme or secret stops the service with a clear
message instead of failing a carrier's webhook at three in the morning. A
source without a secret is refused unless an operator opened it explicitly;
each open source is logged as a warning at every start.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from .. import signatures
from ..config import SOURCES, Settings
from ..ratelimit import ClientBudget, TokenBucket

log = logging.getLogger(__name__)


@dataclass
class SourceGuard:
    source: str
    scheme: signatures.Scheme | None  # None: no secret and not opened -> every request is refused
    bucket: TokenBucket
    max_body: int

    @property
    def refusal(self) -> str:
        key = self.source.upper()
        return (f"webhook source {self.source!r} has no secret configured; set CARRIER_EVENTS_SECRET_{key} "
                f"(or open it explicitly with CARRIER_EVENTS_OPEN_SOURCES)")


@dataclass
class Guards:
    sources: dict[str, SourceGuard]
    max_in_flight: int
    in_flight: int = 0
    # Refused requests per client address, their own small budget (see `service.web.intake`)
    clients: ClientBudget = field(default_factory=ClientBudget)
    # Requests from addresses over that budget that still carry a plausible credential: a few slots of
    # their own and a short body timeout, so they never hold the slots verified senders need
    suspect_in_flight: int = 0
    max_suspect: int = 16
    suspect_body_timeout: float = 2.0
    _last_warning: dict[str, float] = field(default_factory=dict)

    def refused(self, source: str, reason: str, client: str | None = None) -> None:
        """Charge the client's refusal budget; a warning per source at most once a second (a flood of
        forgeries must not become a flood of logs)."""
        if client is not None:
            self.clients.refused(client)
        now = time.monotonic()
        if now - self._last_warning.get(source, -1.0) >= 1.0:
            self._last_warning[source] = now
            log.warning("webhook from %s refused: %s", source, reason)


def build_guards(settings: Settings) -> Guards:
    """Every source's scheme from the settings; ValueError lists every misconfigured source at once."""
    problems: list[str] = []
    sources: dict[str, SourceGuard] = {}
    for source in SOURCES:
        secrets = settings.secrets.get(source, ())
        opened = source in settings.open_sources or settings.auth.get(source) == "open"
        name = "open" if opened else settings.auth.get(source) or signatures.DEFAULT_SCHEMES[source]
        scheme: signatures.Scheme | None = None
        if opened and secrets:
            problems.append(f"{source}: opened and given a secret; choose one")
        elif opened or secrets:
            try:
                scheme = signatures.build(name, secrets, settings.signature_tolerance)
            except ValueError as exc:
                problems.append(f"{source}: {exc}")
        elif source in settings.auth:  # a scheme chosen but its secret forgotten
            problems.append(f"{source}: scheme {name!r} configured but CARRIER_EVENTS_SECRET_{source.upper()} is not")
        if isinstance(scheme, signatures.Open):
            log.warning("webhook source %s is OPEN: its webhooks are accepted without authentication", source)
        sources[source] = SourceGuard(source, scheme, TokenBucket(settings.rate_for(source)),
                                      settings.max_body_for(source))
    if problems:
        raise ValueError("webhook authentication misconfigured: " + "; ".join(problems))
    return Guards(sources, settings.max_in_flight)
