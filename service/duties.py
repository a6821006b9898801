"""Work that must happen once among all processes (a sweep, an SLA check, a publishing cursor).

Each such duty is a named lease in the store (`Coordination.lease`): the
process holding it does the work and renews it; the others skip. A process
that dies stops renewing, and another takes the duty over when the lease
ends. The holder id names this process (host, pid and a random part), so a
restarted process on the same host is a new holder.
"""
from __future__ import annotations

import os
import secrets
import socket
import time

from .store.ports import Coordination

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def instance_holder() -> str:
    """A holder of this process's own for one component instance: two services in one process (as tests run
    them) then compete for a duty like two processes, instead of both holding it as `HOLDER`."""
    return f"{HOLDER}:{secrets.token_hex(3)}"


class Duty:
    """`await duty.held()` before doing the duty's work: True while this process holds it.

    The lease is renewed when a third of it has passed, so asking is cheap;
    a process that stops asking (dead, or stopped) loses it after `ttl`.
    """

    def __init__(self, store: Coordination, name: str, ttl: float = 15.0, holder: str = HOLDER) -> None:
        self._store, self.name, self._ttl, self.holder = store, name, ttl, holder
        self._until = 0.0  # monotonic time up to which the lease is surely ours

    async def held(self) -> bool:
        now = time.monotonic()
        if now < self._until - self._ttl * 2 / 3:
            return True
        if await self._store.lease(self.name, self.holder, self._ttl):
            self._until = now + self._ttl
            return True
        self._until = 0.0
        return False

    @property
    def holds(self) -> bool:
        """Whether the lease is ours as of its last renewal (no store read): what this process is doing now."""
        return time.monotonic() < self._until

    async def release(self) -> None:
        """Give the duty up at once (a clean shutdown), so another process need not wait for the lease."""
        if self._until:
            self._until = 0.0
            await self._store.release(self.name, self.holder)
