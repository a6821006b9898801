"""Which stored documents to re-normalize: the filter shared by the CLI, the admin API and both stores.

Replaying is marking stored rows `pending` again: whichever normalizer runs
(in `serve`, a `worker`, embedded or RabbitMQ) takes them as if they had just
arrived. Effects stay idempotent: a document quarantined until a parser or
mapping fix now yields its events once; an event its own document now yields
with another status or class is corrected (`service.core.apply`: rewritten,
published again as `shipment.event.corrected.v1` with a higher revision); a
second replay yields nothing. The dry run's report of what would change:
`service.replay_preview`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

REPLAYABLE = ("quarantined", "dead", "done")


@dataclass(frozen=True)
class ReplayFilter:
    """Which stored documents to re-normalize; every given condition must hold."""

    states: tuple[str, ...] = ("quarantined", "dead")
    source: str | None = None  # the webhook source (or poll source) the document came in on
    carrier: str | None = None  # documents whose events name this carrier, or that came in on that source
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before
    reason: str | None = None  # substring of the quarantine/dead reason
    limit: int = 100_000

    def __post_init__(self) -> None:
        bad = sorted(set(self.states) - set(REPLAYABLE))
        if bad or not self.states:
            raise ValueError(f"states must be among {', '.join(REPLAYABLE)}, not {', '.join(bad) or 'none'}")


def utc_bound(moment: datetime) -> datetime:
    """A filter bound as an aware UTC instant (a naive one is read as UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
