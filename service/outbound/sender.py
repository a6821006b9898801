"""One signed delivery of one event to one subscriber, and what came of it.

The request is the Standard Webhooks shape (`webhook-id` = the CloudEvent
id, so a receiver dedupes redeliveries on it; a fresh `webhook-timestamp`
and signature per attempt) posted with `service.actions.channels.post_signed`,
the notification channel's sender: one implementation of signing and of
classifying answers. While a rotated secret's overlap lasts, both
signatures are sent, the new one first, so a receiver verifies with
whichever secret it holds. Every answer but 2xx is a failure; the outcome
carries the status, the receiver's Retry-After and the latency for the
delivery log.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata

import aiohttp

from ..actions.channels import post_signed
from ..rows import Subscription
from .guard import IPNetwork, literal_refusal
from .times import epoch


def _version() -> str:
    try:
        return metadata.version("carrier-events")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


USER_AGENT = f"carrier-events/{_version()}"


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status: int | None  # None: no HTTP answer (refused, timed out, not allowed)
    error: str | None  # None when delivered
    retry_after: float | None  # the receiver's Retry-After, in seconds
    latency_ms: float


def previous_secret_valid(subscription: Subscription, now: float) -> bool:
    """The previous secret still signs while its overlap lasts."""
    until = subscription.previous_secret_until
    if not subscription.previous_secret or not until:
        return False
    return epoch(until) > now


class Sender:
    """Posts through one shared session (whose resolver is the guard's) with a per-request timeout."""

    def __init__(self, session: aiohttp.ClientSession, allow_nets: Sequence[IPNetwork] = (), timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._session, self._allow, self._timeout, self._clock = session, tuple(allow_nets), timeout, clock
        # the connect-time check of a URL's literal address, once per URL (it parses the URL)
        self._refusal = lru_cache(maxsize=1024)(lambda url: literal_refusal(url, self._allow))

    async def send(self, subscription: Subscription, event_id: str, body: bytes) -> Outcome:
        refused = self._refusal(subscription.url)
        if refused is not None:  # aiohttp connects to an IP literal without asking the resolver
            return Outcome(False, None, f"not sent: {refused}", None, 0.0)
        previous = subscription.previous_secret if previous_secret_valid(subscription, self._clock()) else None
        started = time.perf_counter()
        result = await post_signed(subscription.url, subscription.secret, event_id, body, session=self._session,
                                   timeout=self._timeout, clock=self._clock, also_sign_with=previous,
                                   extra_headers={"user-agent": USER_AGENT})
        latency = (time.perf_counter() - started) * 1000
        return Outcome(result.ok, result.status, None if result.ok else result.detail, result.retry_after, latency)
