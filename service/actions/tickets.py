"""Escalation changes forwarded to a ticketing system's webhook, in order, signed, at-least-once.

The store's audit table is the outbox; this forwarder keeps its own cursor
(`escalations.webhook`) and moves it past a change only after the receiver
answered 2xx. A failure stops the pass there, so a ticket never sees
"resolved" before "opened"; a retryable failure is tried again after a
growing pause, a refused one (4xx) is logged and skipped, because one
malformed change must not hold every later ticket hostage. The
`webhook-id` is the change's CloudEvent id: a resend after a crash is
recognisable.
"""
from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from ..duties import Duty
from ..store.ports import Coordination, EscalationChanges
from .channels import post_signed

log = logging.getLogger(__name__)
CURSOR = "escalations.webhook"


class TicketForwarder:
    def __init__(self, store: EscalationChanges, coordination: Coordination, url: str, secret: str,
                 session: aiohttp.ClientSession, batch: int = 100, max_pause: float = 300.0) -> None:
        self._store, self._url, self._secret, self._session = store, url, secret, session
        self._batch, self._max_pause = batch, max_pause
        self._failures, self._not_before = 0, 0.0
        self._lock = asyncio.Lock()  # one pass at a time: two would send the same changes twice
        self.duty = Duty(coordination, f"cursor:{CURSOR}")  # and one process among all follows the cursor

    async def forward(self) -> int:
        """Send what is new; the number of changes the receiver took."""
        async with self._lock:
            return await self._forward()

    async def _forward(self) -> int:
        if time.monotonic() < self._not_before or not await self.duty.held():
            return 0
        taken = 0
        for change in await self._store.escalation_changes(CURSOR, self._batch):
            result = await post_signed(self._url, self._secret, change.id, change.body, session=self._session)
            if not result.ok and result.retryable:
                self._failures += 1
                pause = min(self._max_pause, result.retry_after or 2.0 ** min(self._failures, 8))
                self._not_before = time.monotonic() + pause
                log.warning("ticket webhook: %s not taken (%s); retrying in %.0f s", change.id, result.detail, pause)
                return taken
            if not result.ok:
                log.error("ticket webhook refused %s (%s); skipped", change.id, result.detail)
            self._failures = 0
            await self._store.advance_escalation_cursor(CURSOR, change.seq)
            taken += result.ok
        return taken
