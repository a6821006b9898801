"""Which dispatcher sends which subscription: rendezvous (highest-random-weight) hashing over the live ones.

Every dispatcher computes the same answer from the same inputs (the live
holders it reads from the store, and the subscription ids) without asking
the others: a subscription goes to the holder whose weight
`hash(holder, subscription)` is highest. Each holder wins about 1/n of the
subscriptions; a holder that joins takes from the others only what it now
wins (about 1/n of each one's), and one that leaves hands only its own over,
spread over the rest, so nothing else moves (no follower restarts, no
re-sent batches).

The weight is a stable digest (BLAKE2b), not Python's `hash`, which is
salted differently in every process. Two dispatchers whose views of the
live holders briefly differ may both claim a subscription: placement only
says whom to follow; the subscription's lease still lets one of them send.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def weight(holder: str, subscription_id: str) -> int:
    """The holder's bid for the subscription: the same in every process, independent for every pair."""
    digest = hashlib.blake2b(f"{holder}\x00{subscription_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(holders: Sequence[str], subscription_id: str) -> str | None:
    """The holder that sends the subscription (None without holders); ties (never seen with 64-bit weights)
    go to the greater holder name, so every process still agrees."""
    return max(holders, key=lambda h: (weight(h, subscription_id), h), default=None)


def share(holder: str, holders: Iterable[str], subscription_ids: Iterable[str]) -> frozenset[str]:
    """The subscriptions `holder` sends among the live `holders`. The holder asking counts as live even if
    its own announcement is not in `holders` (not yet written, or read before it was): a lone process then
    sends everything, as it would with no placement at all."""
    live = sorted(set(holders) | {holder})
    return frozenset(s for s in subscription_ids if owner(live, s) == holder)
