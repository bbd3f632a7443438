"""A partition's state on disk: writes and the changelog offset land together, survive reopening, and a
store of another format or a broken one is discarded instead of stopping the worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.state.partition_store import PartitionStore, StoreInUse

FORMAT = b"test/1"


def test_entries_and_the_offset_survive_a_reopen(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "0", FORMAT).open()
    assert store.next_offset == 0 and list(store.items()) == []
    store.apply([(b"a", b"1"), (b"b", b"2")], next_offset=2)
    store.apply([(b"a", None), (b"c", b"3")], next_offset=4)
    store.close()
    again = PartitionStore(tmp_path / "0", FORMAT).open()
    assert again.next_offset == 4 and again.discarded is None
    assert list(again.items()) == [(b"b", b"2"), (b"c", b"3")]
    assert again.get(b"a") is None and again.get(b"c") == b"3"


def test_the_recorded_offset_never_moves_back(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "0", FORMAT).open()
    store.apply([(b"a", b"1")], next_offset=10)
    store.apply([(b"a", b"2")], next_offset=7)
    store.apply([(b"a", b"3")], next_offset=None)
    assert store.next_offset == 10 and store.get(b"a") == b"3"


def test_a_store_of_another_format_is_discarded_with_its_reason(tmp_path: Path) -> None:
    old = PartitionStore(tmp_path / "0", b"test/0").open()
    old.apply([(b"a", b"1")], next_offset=5)
    old.close()
    store = PartitionStore(tmp_path / "0", FORMAT).open()
    assert store.discarded is not None and "test/0" in store.discarded
    assert store.next_offset == 0 and list(store.items()) == []


def test_a_broken_store_is_discarded_not_fatal(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "0", FORMAT).open()
    store.apply([(b"a", b"1")], next_offset=5)
    store.close()
    for f in (tmp_path / "0").iterdir():  # truncate every file: what a full disk or a bad copy leaves
        if f.is_file():
            f.write_bytes(f.read_bytes()[:7])
    again = PartitionStore(tmp_path / "0", FORMAT).open()
    assert again.discarded is not None
    assert again.next_offset == 0 and list(again.items()) == []
    again.apply([(b"b", b"2")], next_offset=1)
    assert again.get(b"b") == b"2"


def test_a_store_held_open_elsewhere_is_refused_never_discarded(tmp_path: Path) -> None:
    held = PartitionStore(tmp_path / "0", FORMAT).open()  # e.g. a leftover worker on the same directory
    held.apply([(b"a", b"1")], next_offset=3)
    with pytest.raises(StoreInUse, match="in use"):
        PartitionStore(tmp_path / "0", FORMAT).open()
    assert held.get(b"a") == b"1" and held.next_offset == 3  # its files are untouched
