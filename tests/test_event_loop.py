"""The loop `serve` and `worker` run on does what the service relies on: executor threads (the store),
thread-safe callbacks (intake answers), signal handlers (graceful shutdown)."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading

import pytest

from service import event_loop


def test_uvloop_is_the_loop_where_it_is_declared():
    if sys.platform == "win32" or sys.implementation.name != "cpython":
        pytest.skip("uvloop is declared for CPython on POSIX only")
    loop = event_loop.new()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert event_loop.name() == "uvloop"
    finally:
        loop.close()


def test_the_services_loop_runs_executors_threadsafe_callbacks_and_signals():
    async def exercise() -> tuple[int, str, bool]:
        loop = asyncio.get_running_loop()
        from_executor = await loop.run_in_executor(None, sum, [1, 2, 3])
        answered: asyncio.Future[str] = loop.create_future()
        threading.Thread(target=loop.call_soon_threadsafe, args=(answered.set_result, "from a thread")).start()
        signalled = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, signalled.set)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(signalled.wait(), 5)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
        return from_executor, await asyncio.wait_for(answered, 5), signalled.is_set()

    with asyncio.Runner(loop_factory=event_loop.factory()) as runner:
        assert runner.run(exercise()) == (6, "from a thread", True)
