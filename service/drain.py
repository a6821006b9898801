"""Leaving a load balancer's rotation before stopping.

At SIGTERM (or SIGINT) `serve` first says it is not ready: `/readyz` answers
503 with `"draining": true` while the server goes on answering everything,
webhooks included. A balancer that checks `/readyz` every second takes the
node out within a couple of checks, so requests it already routed here still
get their 202 instead of a refused connection. After `drain_seconds` the
usual graceful stop follows (listening stops, requests in flight finish, the
bus drains what intake stored). A second signal stops at once.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time

from aiohttp.web_runner import GracefulExit

log = logging.getLogger(__name__)


class Drain:
    """The node's draining state; `install` replaces aiohttp's immediate-stop signal handlers."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.since: float | None = None  # wall clock when draining began; None while serving
        self._timer: asyncio.TimerHandle | None = None

    @property
    def draining(self) -> bool:
        return self.since is not None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.begin, loop, sig)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests), or no signals here
                return

    def begin(self, loop: asyncio.AbstractEventLoop, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.since is not None:
            log.warning("%s while draining: stopping now", sig.name)
            if self._timer is not None:  # else it would fire again in the middle of the graceful stop
                self._timer.cancel()
            _stop()
        self.since = time.time()
        if self.seconds <= 0:
            _stop()
        log.info("%s: draining (/readyz answers 503) for %.1f s, then stopping", sig.name, self.seconds)
        self._timer = loop.call_later(self.seconds, _stop)


def _stop() -> None:
    """aiohttp's graceful exit: raised from a loop callback, it ends `run_app`'s loop, which then stops the
    site, waits for requests in flight (`shutdown_timeout`) and runs the cleanup contexts."""
    raise GracefulExit()
