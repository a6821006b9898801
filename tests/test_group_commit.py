"""Intake's group commit: a request that goes away while its group commits does not stop the commit,
and the others in the group still get their answers."""
from __future__ import annotations

import asyncio

from service.group_commit import GroupCommitter
from service.store import Accepted, Incoming


class SlowStore:
    def __init__(self) -> None:
        self.committing = asyncio.Event()
        self.release = asyncio.Event()
        self.committed: list[list[bytes]] = []

    async def accept(self, items: list[Incoming]) -> list[Accepted]:
        self.committing.set()
        await self.release.wait()
        self.committed.append([i.body for i in items])
        return [Accepted(n, False) for n, _ in enumerate(items, 1)]


def _doc(body: bytes) -> Incoming:
    return Incoming(source="ups", body=body, content_type="application/json", headers={})


async def test_a_cancelled_request_is_still_committed_and_its_group_answered():
    store = SlowStore()
    committer = GroupCommitter(store)  # type: ignore[arg-type]
    committer.start()
    gone = asyncio.create_task(committer.submit(_doc(b"a")))
    stays = asyncio.create_task(committer.submit(_doc(b"b")))
    await store.committing.wait()
    gone.cancel()  # the client hung up while its group was being committed
    await asyncio.sleep(0)
    store.release.set()
    assert await stays == Accepted(2, False)
    assert store.committed == [[b"a", b"b"]]
    assert gone.cancelled()
    assert committer.waiting == 0  # the cancelled one is not counted as waiting any more
    await committer.close()
