"""A room's layout over partitions: when it grows and shrinks, what readers read while
it changes, where a connection's membership goes, and how a fan-out's partitions are
cut into hand-offs."""

from __future__ import annotations

import itertools
import random

from handlers.chat.shards import BRANCHES, Shard, split_range
from handlers.chat.store import MAX_PARTITIONS, Layout, bucket, next_extent, partition_key

SIZE = 1500


def test_a_room_keeps_one_partition_up_to_the_size() -> None:
    assert next_extent(0, 1, SIZE) == 1
    assert next_extent(SIZE, 1, SIZE) == 1
    assert next_extent(SIZE + 1, 1, SIZE) == 3  # 500 each: at most half full


def test_it_grows_to_at_most_half_full_partitions() -> None:
    assert next_extent(10_000, 1, SIZE) == 14  # a room found large at once: ~714 each
    assert next_extent(3_001, 2, SIZE) == 5
    assert next_extent(9_001, 6, SIZE) == 13
    assert next_extent(13 * SIZE + 1, 13, SIZE) == 27
    assert next_extent(20 * SIZE + 1, 20, SIZE) == 41  # at least doubling
    assert next_extent(10**9, 1, SIZE) == MAX_PARTITIONS


def test_between_growing_and_shrinking_it_stays() -> None:
    for estimate in range(14 * SIZE // 8, 14 * SIZE + 1, 97):
        assert next_extent(estimate, 14, SIZE) == 14


def test_it_shrinks_to_half_full_once_under_an_eighth() -> None:
    assert next_extent(14 * SIZE // 8 - 1, 14, SIZE) == 4
    assert next_extent(100, 14, SIZE) == 1
    assert next_extent(0, MAX_PARTITIONS, SIZE) == 1


def test_readers_read_a_wider_old_extent_until_it_lapses() -> None:
    assert Layout().read_at(0) == 1
    shrunk = Layout(write=2, old=14, old_until=1000)
    assert shrunk.read_at(999) == 14
    assert shrunk.read_at(1000) == 2
    regrown = Layout(write=20, old=14, old_until=1000)
    assert regrown.read_at(0) == 20


def test_connections_spread_evenly_and_stably_over_partitions() -> None:
    rng = random.Random(7)
    ids = [
        "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=15))
        + "="
        for _ in range(14_000)
    ]
    counts = [0] * 14
    for cid in ids:
        counts[Layout(write=14).partition_of(cid)] += 1
    assert min(counts) > 850 and max(counts) < 1150  # 1,000 each, give or take 4.7 sd
    assert bucket("L0SM9cOFvHcCIhw=") == bucket("L0SM9cOFvHcCIhw=")  # not salted per process
    assert bucket("L0SM9cOFvHcCIhw=") == 2653083714


def test_partition_keys_keep_the_base_key_and_never_meet_another_rooms() -> None:
    assert partition_key("lobby", 0) == "R#lobby"
    assert partition_key("lobby", 3) == "R#lobby#3"


def test_a_range_is_cut_into_at_most_branches_contiguous_ranges() -> None:
    assert split_range(1, 1) == []
    assert split_range(1, 4) == [(1, 2), (2, 3), (3, 4)]
    cut = split_range(1, 1334)
    assert len(cut) == BRANCHES
    assert cut[0][0] == 1 and cut[-1][1] == 1334
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cut))
    assert max(e - f for f, e in cut) - min(e - f for f, e in cut) <= 1


def test_a_tree_of_hand_offs_reaches_every_partition_once_in_few_hops() -> None:
    """Each invocation delivers the first partition of its range and hands on the rest."""
    delivered = [0]  # the message function delivers the base and hands the rest off
    depth = 0
    level = [(1, f, e) for f, e in split_range(1, 1334)]  # (hops, first, end)
    while level:
        nxt = []
        for hops, first, end in level:
            delivered.append(first)
            depth = max(depth, hops)
            nxt += [(hops + 1, f, e) for f, e in split_range(first + 1, end)]
        level = nxt
    assert sorted(delivered) == list(range(1334))
    assert depth <= 4  # hand-offs on the way to the farthest partition


def test_shard_events_name_their_kind() -> None:
    ids = Shard("big", "{}", ("a=", "b="), partition=3).event("https://x/dev")
    assert ids == {
        "room": "big",
        "payload": "{}",
        "endpoint": "https://x/dev",
        "connectionIds": ["a=", "b="],
        "partition": 3,
    }
    parts = Shard("big", "{}", partitions=(2, 9), skip="s=").event(None)
    assert parts == {
        "room": "big",
        "payload": "{}",
        "endpoint": None,
        "partitions": [2, 9],
        "skip": "s=",
    }
