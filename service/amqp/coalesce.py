"""One socket write for every AMQP frame waiting to go out, instead of one per publish.

aiormq's connection writer takes one queued `ChannelFrame` (a publish is one:
method, header and body frames) at a time, writes it and awaits a drain,
so a window of 500 confirmed publishes costs 500 `send` calls and 500 drain
round trips through the event loop; at 1,000 webhooks/s that was the largest
single item in the serve process's profile. `CoalescingFrameGenerator` hands
the writer everything already queued as one `ChannelFrame` whose payload is
the concatenation, in order, and whose `drain()` completes every part's drain
future. Order and semantics are unchanged: frames still go out in queue
order, a close frame still ends the batch (nothing is sent after it), and a
publisher waiting for its drain is released only after the write that carried
its bytes was drained.

Installed by replacing `aiormq.connection.FrameGenerator`, the name the
writer looks up when a connection starts (aiormq 7.x); `install()` is
idempotent and checks that the name still exists, so an aiormq release that
drops it fails loudly at start-up instead of silently.
"""
from __future__ import annotations

import asyncio
import dataclasses

import aiormq.connection
from aiormq.abc import ChannelFrame

MAX_PARTS = 512  # frames merged into one write at most
MAX_BYTES = 1 << 20  # bytes merged into one write at most (bigger bodies still go alone)


@dataclasses.dataclass(frozen=True)
class _Merged(ChannelFrame):
    parts: tuple[ChannelFrame, ...] = ()

    def drain(self) -> None:
        for part in self.parts:
            part.drain()

    @property
    def should_drain(self) -> bool:
        return any(part.should_drain for part in self.parts)


class CoalescingFrameGenerator(aiormq.connection.FrameGenerator):
    async def __anext__(self) -> ChannelFrame:
        first = await super().__anext__()
        if first.should_close:
            return first
        # One turn of the loop: publishers woken together (a window) queue their frames before the write.
        await asyncio.sleep(0)
        if self.queue.empty():
            return first
        parts, size = [first], len(first.payload)
        while not self.queue.empty() and len(parts) < MAX_PARTS and size < MAX_BYTES:
            frame: ChannelFrame = self.queue.get_nowait()
            self.queue.task_done()
            parts.append(frame)
            size += len(frame.payload)
            if frame.should_close:
                break
        return _Merged(payload=b"".join(p.payload for p in parts), should_close=parts[-1].should_close,
                       parts=tuple(parts))


_ORIGINAL = getattr(aiormq.connection, "FrameGenerator", None)
_ORIGINAL_SIZE = getattr(aiormq.connection.Connection, "FRAME_BUFFER_SIZE", 10)


QUEUED_FRAMES = 1024  # a connection's outgoing queue: aiormq's 10 makes publishers queue one write each


def install() -> None:
    if _ORIGINAL is None or not hasattr(aiormq.connection.Connection, "FRAME_BUFFER_SIZE"):
        raise RuntimeError("aiormq internals changed (FrameGenerator, FRAME_BUFFER_SIZE): update "
                           "service.amqp.coalesce")
    aiormq.connection.FrameGenerator = CoalescingFrameGenerator
    # With room for only 10 frames, the 11th publisher of a window waits for the writer, which then takes
    # one frame per turn: the window leaves in ~1 frame per write whatever the generator does. A window is
    # bounded by the publish window setting, so the queue stays bounded too.
    aiormq.connection.Connection.FRAME_BUFFER_SIZE = max(QUEUED_FRAMES,
                                                         aiormq.connection.Connection.FRAME_BUFFER_SIZE)


def uninstall() -> None:
    aiormq.connection.FrameGenerator = _ORIGINAL
    aiormq.connection.Connection.FRAME_BUFFER_SIZE = _ORIGINAL_SIZE


__all__ = ["CoalescingFrameGenerator", "install", "uninstall"]
