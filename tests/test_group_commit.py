"""Intake's group commit: a request that goes away while its group commits does not stop the commit,
and the others in the group still get their answers."""
from __future__ import annotations

import asyncio
from hashlib import sha256

from service.core.intake import LARGE_BODY_BYTES, large
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


class LargeHeldStore:
    """Holds every commit with a large body until released; commits of small ones go through at once."""

    def __init__(self) -> None:
        self.large_committing = asyncio.Event()
        self.release = asyncio.Event()
        self.commits: list[list[Incoming]] = []
        self.ids = 0

    async def accept(self, items: list[Incoming]) -> list[Accepted]:
        self.commits.append(list(items))
        if any(large(i) for i in items):
            self.large_committing.set()
            await self.release.wait()
        out = []
        for _ in items:
            self.ids += 1
            out.append(Accepted(self.ids, False))
        return out


async def test_small_webhooks_are_committed_while_a_large_body_is_being_stored():
    store = LargeHeldStore()
    committer = GroupCommitter(store)  # type: ignore[arg-type]
    committer.start()
    big = _doc(b"x" * (LARGE_BODY_BYTES + 1))
    storing = asyncio.create_task(committer.submit(big))
    await store.large_committing.wait()
    small = await asyncio.wait_for(asyncio.gather(*(committer.submit(_doc(b"%d" % n)) for n in range(5))), 10)
    assert not storing.done()  # the small ones were answered while the large one was still being stored
    assert {a.duplicate for a in small} == {False}
    store.release.set()
    assert (await storing).duplicate is False
    [large_commit] = [c for c in store.commits if any(large(i) for i in c)]
    assert len(large_commit) == 1  # committed alone: no small webhook waits in its group
    assert large_commit[0].digest == sha256(big.body).digest()  # hashed ahead, the same digest
    assert committer.waiting == 0
    await committer.close()


async def test_close_commits_what_both_lanes_hold():
    store = LargeHeldStore()
    store.release.set()
    committer = GroupCommitter(store)  # type: ignore[arg-type]
    committer.start()
    submitted = [asyncio.create_task(committer.submit(_doc(body)))
                 for body in (b"a", b"y" * (LARGE_BODY_BYTES + 5), b"b")]
    await asyncio.sleep(0)
    await committer.close()
    assert all(t.done() for t in submitted)
    assert sorted(len(i.body) for c in store.commits for i in c) == [1, 1, LARGE_BODY_BYTES + 5]


async def test_a_large_body_whose_hashing_fails_fails_alone_and_the_lane_goes_on(monkeypatch):
    store = LargeHeldStore()
    store.release.set()
    committer = GroupCommitter(store)  # type: ignore[arg-type]
    committer.start()
    hashed = Incoming.hashed

    def failing(item: Incoming) -> Incoming:
        if item.body.startswith(b"bad"):
            raise MemoryError("no room to hash")
        return hashed(item)

    monkeypatch.setattr(Incoming, "hashed", failing)
    bad = asyncio.create_task(committer.submit(_doc(b"bad" + b"x" * LARGE_BODY_BYTES)))
    good = asyncio.create_task(committer.submit(_doc(b"good" + b"x" * LARGE_BODY_BYTES)))
    assert (await good).duplicate is False
    try:
        await bad
    except MemoryError:
        pass
    else:
        raise AssertionError("the request whose body could not be hashed was answered as stored")
    assert [len(c) for c in store.commits] == [1]  # only the good one was committed
    assert committer.waiting == 0
    await committer.close()
