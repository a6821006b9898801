"""The coalescing frame writer: queued frames leave in one write, in order, and no drain is lost."""
from __future__ import annotations

import asyncio

import aiormq.connection
from aiormq.abc import ChannelFrame

from service.amqp import coalesce
from service.amqp.coalesce import CoalescingFrameGenerator


def frame(payload: bytes, *, drain: asyncio.Future | None = None, close: bool = False) -> ChannelFrame:
    return ChannelFrame(payload=payload, should_close=close, drain_future=drain)


async def test_queued_frames_merge_in_order_and_every_drain_is_completed():
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    first, third = loop.create_future(), loop.create_future()
    for item in (frame(b"a", drain=first), frame(b"b"), frame(b"c", drain=third)):
        queue.put_nowait(item)
    merged = await CoalescingFrameGenerator(queue).__anext__()
    assert merged.payload == b"abc" and not merged.should_close and merged.should_drain
    merged.drain()
    assert first.done() and third.done() and queue.empty()


async def test_a_close_frame_ends_the_batch_and_nothing_after_it_is_taken():
    queue: asyncio.Queue = asyncio.Queue()
    for item in (frame(b"a"), frame(b"close", close=True), frame(b"late")):
        queue.put_nowait(item)
    merged = await CoalescingFrameGenerator(queue).__anext__()
    assert merged.payload == b"aclose" and merged.should_close
    assert queue.qsize() == 1  # "late" is left for the writer, which stops at the close


async def test_a_lone_frame_goes_out_as_it_is():
    queue: asyncio.Queue = asyncio.Queue()
    only = frame(b"x")
    queue.put_nowait(only)
    assert await CoalescingFrameGenerator(queue).__anext__() is only


def test_installed_with_room_for_a_window():
    coalesce.install()
    assert aiormq.connection.FrameGenerator is CoalescingFrameGenerator
    assert aiormq.connection.Connection.FRAME_BUFFER_SIZE >= coalesce.QUEUED_FRAMES
