"""The stage's view of its state: pending writes are read back at once, reach the changelog as records,
and reach the disk only once Kafka has stored them, with the offset they were stored at."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.state.changelog_store import ChangelogStore


def partition_of(key: bytes) -> int:
    return key[0] % 2


def store(tmp_path: Path) -> ChangelogStore:
    s = ChangelogStore(tmp_path, partition_of, b"test/1")
    s.open_partition(0)
    s.open_partition(1)
    return s


def test_a_write_is_read_back_before_it_is_stored_and_reaches_disk_only_once_stored(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"  # b"a" = 97: partition 1
    assert s[b"a"] == b"1" and b"a" in s
    batch = s.drain()
    assert [(r.key, r.value, r.partition) for r in batch.records] == [(b"a", b"1", 1)]
    assert s.partitions[1].get(b"a") is None  # not on disk while Kafka has not stored it
    s.stored(batch, {1: 41})
    assert s.partitions[1].get(b"a") == b"1" and s.partitions[1].next_offset == 42
    assert s.pending == 0 and s[b"a"] == b"1"


def test_a_later_write_is_not_undone_when_an_earlier_batch_is_stored(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"
    first = s.drain()
    s[b"a"] = b"2"
    second = s.drain()
    s.stored(first, {1: 10})
    assert s[b"a"] == b"2"  # still pending: the newer write wins over the disk's older one
    assert s.partitions[1].get(b"a") == b"1"
    s.stored(second, {1: 11})
    assert s.partitions[1].get(b"a") == b"2" and s.pending == 0


def test_a_write_not_yet_drained_survives_an_earlier_batch_being_stored(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"
    first = s.drain()
    s[b"a"] = b"2"  # written, not drained yet
    s.stored(first, {1: 10})
    assert s[b"a"] == b"2" and s.pending == 1


def test_a_delete_is_a_tombstone_and_forgets_the_key(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"
    s.stored(s.drain(), {1: 0})
    del s[b"a"]
    assert b"a" not in s
    with pytest.raises(KeyError):
        s[b"a"]
    batch = s.drain()
    assert [(r.key, r.value) for r in batch.records] == [(b"a", None)]
    s.stored(batch, {1: 1})
    assert s.partitions[1].get(b"a") is None and b"a" not in s
    with pytest.raises(KeyError):
        del s[b"a"]


def test_iteration_covers_disk_and_pending_without_repeats(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"
    s[b"b"] = b"2"
    s.stored(s.drain(), {0: 0, 1: 0})
    s[b"a"] = b"3"
    s[b"c"] = b"4"
    del s[b"b"]
    assert dict(s.items_of([0, 1])) == {b"a": b"3", b"c": b"4"}
    assert sorted(s) == [b"a", b"c"] and len(s) == 2


def test_a_revoked_partition_is_closed_and_its_pending_writes_dropped(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"
    batch = s.drain()
    s.close_partition(1)
    assert b"a" not in s
    s.stored(batch, {1: 5})  # stored after the revocation: nothing to write locally
    assert 1 not in s.partitions
    again = s.open_partition(1)
    assert again.get(b"a") is None and again.next_offset == 0


def test_the_last_write_of_a_key_before_a_drain_is_the_one_sent(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"
    s[b"a"] = b"2"
    s[b"b"] = b"3"
    assert [(r.key, r.value) for r in s.drain().records] == [(b"a", b"2"), (b"b", b"3")]
    assert s.drain().records == []  # drained once


def test_a_watched_partition_notes_the_keys_written_during_a_scan(tmp_path: Path) -> None:
    s = store(tmp_path)
    s[b"a"] = b"1"  # partition 1
    s.stored(s.drain(), {1: 0})
    newer = s.watch(1)
    s[b"c"] = b"2"  # 99: partition 1
    s[b"b"] = b"3"  # 98: partition 0, not watched
    del s[b"a"]
    assert newer == {b"c", b"a"}
    s.unwatch(1)
    s[b"e"] = b"4"
    assert newer == {b"c", b"a"}
