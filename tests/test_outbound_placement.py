"""Placement of subscriptions over the live dispatchers (rendezvous hashing): a partition, balanced, the same in
every process, and moving only the share of a dispatcher that joins or leaves."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from service.outbound.placement import owner, share

SUBS = [f"sub_{n:024x}" for n in range(100)]
NODES = ["api-1:4711:a3f09c:1b2c3d", "api-2:4711:77e1d0:9f8e7d", "api-3:52:0c0c0c:000001"]

holder_names = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=6, unique=True)
sub_ids = st.lists(st.text(min_size=1, max_size=30), max_size=60, unique=True)


def shares(holders: list[str], subs: list[str]) -> dict[str, frozenset[str]]:
    return {h: share(h, holders, subs) for h in holders}


def test_a_hundred_subscriptions_over_three_dispatchers_are_balanced():
    placed = shares(NODES, SUBS)
    sizes = sorted(len(s) for s in placed.values())
    assert all(20 <= size <= 47 for size in sizes), sizes
    assert sum(sizes) == len(SUBS)


def test_balance_holds_for_many_subscriptions_and_dispatchers():
    subs = [f"sub_{n:024x}" for n in range(5000)]
    nodes = [f"node-{i}:{1000 + i}:{i:06x}" for i in range(8)]
    sizes = [len(s) for s in shares(nodes, subs).values()]
    assert sum(sizes) == len(subs)
    assert min(sizes) > 0.8 * len(subs) / len(nodes) and max(sizes) < 1.2 * len(subs) / len(nodes), sizes


def test_a_lone_dispatcher_sends_everything_even_before_its_announcement_is_read():
    assert share(NODES[0], [NODES[0]], SUBS) == frozenset(SUBS)
    assert share(NODES[0], [], SUBS) == frozenset(SUBS)
    assert owner([], SUBS[0]) is None


def test_the_order_holders_are_listed_in_changes_nothing():
    assert shares(NODES, SUBS) == shares(list(reversed(NODES)), SUBS)


def test_every_process_computes_the_same_placement():
    """The weight is not Python's salted `hash`: another interpreter (another hash seed) agrees."""
    code = ("import sys, json; from service.outbound.placement import owner; "
            "subs, nodes = json.loads(sys.argv[1]); print(json.dumps([owner(nodes, s) for s in subs]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps([SUBS, NODES])], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "12345"}, cwd=Path(__file__).parents[1])
    assert json.loads(out.stdout) == [owner(NODES, s) for s in SUBS]


@given(holder_names, sub_ids)
def test_shares_partition_the_subscriptions(holders, subs):
    placed = shares(holders, subs)
    assert sum(len(s) for s in placed.values()) == len(subs)
    assert frozenset().union(*placed.values()) == frozenset(subs)
    assert all(owner(holders, s) in placed and s in placed[owner(holders, s)] for s in subs)


@given(holder_names, sub_ids, st.text(min_size=1, max_size=20))
def test_a_joining_dispatcher_takes_only_what_it_wins(holders, subs, newcomer):
    if newcomer in holders:
        return
    before = {s: owner(holders, s) for s in subs}
    after = {s: owner(holders + [newcomer], s) for s in subs}
    moved = {s for s in subs if before[s] != after[s]}
    assert all(after[s] == newcomer for s in moved)  # nothing moves between the dispatchers already there
    assert moved == share(newcomer, holders + [newcomer], subs)


@given(holder_names.filter(lambda h: len(h) >= 2), sub_ids, st.data())
def test_a_leaving_dispatcher_hands_over_only_its_own(holders, subs, data):
    leaving = data.draw(st.sampled_from(holders))
    rest = [h for h in holders if h != leaving]
    before = {s: owner(holders, s) for s in subs}
    after = {s: owner(rest, s) for s in subs}
    assert {s for s in subs if before[s] != after[s]} == {s for s in subs if before[s] == leaving}


def test_a_third_dispatcher_joining_moves_about_a_third():
    two, three = shares(NODES[:2], SUBS), shares(NODES, SUBS)
    moved = [s for s in SUBS if owner(NODES[:2], s) != owner(NODES, s)]
    assert set(moved) == three[NODES[2]]
    assert 20 <= len(moved) <= 47
    for node in NODES[:2]:
        assert three[node] <= two[node]  # the first two only gave subscriptions away
