"""Which accepted documents are new and which are duplicates: the intake rules both store adapters apply.

A document is a duplicate of an earlier one when the same source delivered
the same bytes before, or when its signed delivery id (Standard Webhooks
`webhook-id`) was seen before. Within one group commit the first copy is the
original and the others are its duplicates. The adapter finds what is known
(stored bodies, remembered delivery ids) and stores what these functions
say is new.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..rows import Accepted, Incoming

DeliveryKey = tuple[str, str]  # (source, delivery id)
BodyKey = tuple[str, bytes]  # (source, sha256 of the body)

# A body this large is committed on its own, beside (not ahead of) the small ones: storing and syncing
# megabytes takes tens of milliseconds, which every small webhook in the same commit would wait for.
LARGE_BODY_BYTES = 256 * 1024


def large(item: Incoming) -> bool:
    return len(item.body) > LARGE_BODY_BYTES


def delivery_key(item: Incoming) -> DeliveryKey | None:
    return (item.source, item.delivery_id) if item.delivery_id else None


@dataclass(frozen=True, slots=True)
class Routing:
    by_body: list[int]  # indexes of the items to store (or match) by their body
    first_of: dict[DeliveryKey, int]  # a new delivery id -> the index of its first item in the group


def route(items: list[Incoming], known: Mapping[DeliveryKey, int]) -> Routing:
    """Items whose delivery id is known are duplicates already; of those with a new id, the first goes on."""
    by_body: list[int] = []
    first_of: dict[DeliveryKey, int] = {}
    for index, item in enumerate(items):
        key = delivery_key(item)
        if key is None:
            by_body.append(index)
        elif key not in known and key not in first_of:
            first_of[key] = index
            by_body.append(index)
    return Routing(by_body, first_of)


def by_body(keys: list[BodyKey], existing: Mapping[BodyKey, int], created: Mapping[BodyKey, int]) -> list[Accepted]:
    """The answer per body: a stored body is a duplicate; of new identical bodies, the first is the original."""
    out: list[Accepted] = []
    first_use: set[BodyKey] = set()
    for key in keys:
        if key in existing:
            out.append(Accepted(existing[key], True))
        else:
            out.append(Accepted(created[key], key in first_use))
            first_use.add(key)
    return out


def answers(items: list[Incoming], routing: Routing, stored: Mapping[int, Accepted],
            known: Mapping[DeliveryKey, int]) -> list[Accepted]:
    """One answer per item, in order: its own, or the original it duplicates."""
    out: list[Accepted] = []
    for index, item in enumerate(items):
        key = delivery_key(item)
        if index in stored:
            out.append(stored[index])
        elif key in known:
            out.append(Accepted(known[key], True))  # type: ignore[index]
        else:
            out.append(Accepted(stored[routing.first_of[key]].id, True))  # type: ignore[index]
    return out
