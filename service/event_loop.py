"""The event loop the long-running processes (`serve`, `worker`) run on.

uvloop (libuv) where it is installed: it changes no behaviour the service
relies on (signals, executors, thread-safe callbacks), but an HTTP request
costs the event loop about a quarter less CPU, which measured as about a
third more durable webhooks per second and shorter queues ahead of every
answer. Without uvloop (another platform, another interpreter) the standard
loop is used; the service is correct on either.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

try:
    import uvloop
except ImportError:  # pragma: no cover - the dependency is declared for CPython on POSIX
    uvloop = None  # type: ignore[assignment]


def factory() -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop if uvloop is not None else asyncio.new_event_loop


def name() -> str:
    return "uvloop" if uvloop is not None else "asyncio"


def new() -> asyncio.AbstractEventLoop:
    return factory()()
