"""The ticket-state store: reads and writes go to the table's data, and every write becomes one changelog
record (latest value per key), which the runtime stores with the input's other outputs."""

from __future__ import annotations

import pytest

from stream.tickets.store import ChangelogStore


def test_writes_are_visible_and_drained_once_as_changelog_records() -> None:
    data: dict[bytes, bytes] = {b"t0": b"old"}
    store = ChangelogStore(data)
    assert store[b"t0"] == b"old" and len(store) == 1
    store[b"t1"] = b"v1"
    store[b"t1"] = b"v2"  # two writes while handling one record: only the state it ends with is logged
    store[b"t2"] = b"w"
    assert data == {b"t0": b"old", b"t1": b"v2", b"t2": b"w"}
    records = store.drain()
    assert [(r.key, r.value) for r in records] == [(b"t1", b"v2"), (b"t2", b"w")]
    assert all(r.partition is None for r in records)  # partitioned by key, like the ticket records
    assert store.drain() == []
    assert sorted(store) == [b"t0", b"t1", b"t2"]


def test_deleting_a_state_is_refused() -> None:
    store = ChangelogStore({b"t": b"v"})
    with pytest.raises(NotImplementedError):
        del store[b"t"]
