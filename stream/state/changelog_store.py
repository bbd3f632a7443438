"""The state of the partitions a worker holds, as one mapping: the stage reads and writes it like a dict.

A write is kept in memory (pending) and drained as a changelog record with the input's other outputs.
Only once Kafka has stored it is it written to the partition's RocksDB, with the offset it was stored at
(:meth:`ChangelogStore.stored`). So the local store never holds a state its changelog lacks, and after any
restart, replaying the changelog from the recorded offset gives exactly the latest state of every key.
Reads see pending writes first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from stream.kafka.records import OutRecord
from stream.state.partition_store import PartitionStore, StoreOptions

__all__ = ["ChangelogBatch", "ChangelogStore"]

Entry = tuple[bytes, bytes | None]


@dataclass(slots=True)
class ChangelogBatch:
    """The writes drained together: the records to send, and what to apply once they are stored."""

    seq: int
    records: list[OutRecord] = field(default_factory=list)
    entries: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)  # partition, key, value


class ChangelogStore(MutableMapping[bytes, bytes]):
    def __init__(
        self,
        root: Path,
        partition_of: Callable[[bytes], int],
        format_id: bytes,
        options: StoreOptions | None = None,
    ) -> None:
        self.root = root
        self.partition_of = partition_of
        self.format_id = format_id
        self.options = options or StoreOptions()
        self.partitions: dict[int, PartitionStore] = {}
        self._pending: dict[bytes, tuple[bytes | None, int]] = {}  # latest unstored write, and its batch
        self._written: dict[bytes, bytes | None] = {}  # since the last drain
        self._seq = itertools.count(1)
        self._watched: dict[int, set[bytes]] = {}  # per partition: keys written while someone scans it

    # --- partitions ----------------------------------------------------------------------------------
    def open_partition(self, partition: int) -> PartitionStore:
        store = self.partitions.get(partition)
        if store is None:
            store = PartitionStore(self.root / str(partition), self.format_id, self.options).open()
            self.partitions[partition] = store
        return store

    def watch(self, partition: int) -> set[bytes]:
        """From now on, note the keys of ``partition`` written or deleted: a long scan of its store (an
        iterator sees the store as it was when it began) skips them, as they are newer than what it reads.
        :meth:`unwatch` ends it."""
        return self._watched.setdefault(partition, set())

    def unwatch(self, partition: int) -> None:
        self._watched.pop(partition, None)

    def _watch(self, key: bytes) -> None:
        keys = self._watched.get(self.partition_of(key))
        if keys is not None:
            keys.add(key)

    def close_partition(self, partition: int) -> None:
        """The partition went to another worker: close it (its files stay for a later return)."""
        store = self.partitions.pop(partition, None)
        if store is not None:
            store.close()
        self.unwatch(partition)
        for key in [k for k in self._pending if self.partition_of(k) == partition]:
            del self._pending[key]

    def close(self) -> None:
        for partition in list(self.partitions):
            self.close_partition(partition)

    # --- the mapping ---------------------------------------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        pending = self._pending.get(key)
        if pending is not None:
            if pending[0] is None:
                raise KeyError(key)
            return pending[0]
        store = self.partitions.get(self.partition_of(key))
        value = store.get(key) if store is not None else None
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._written[key] = value
        self._pending[key] = (value, 0)
        if self._watched:
            self._watch(key)

    def __delitem__(self, key: bytes) -> None:
        """Forget a state: a tombstone on the changelog, so a restore forgets it too."""
        if key not in self:
            raise KeyError(key)
        self._written[key] = None
        self._pending[key] = (None, 0)
        if self._watched:
            self._watch(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[bytes]:
        """Every key held: a scan of the open partitions (for rare requests, not the hot path)."""
        for key, _ in self.items_of(sorted(self.partitions)):
            yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items_of(self, partitions: list[int]) -> Iterator[tuple[bytes, bytes]]:
        """Keys and values of ``partitions``, pending writes included."""
        wanted = set(partitions)
        pending = {k: v for k, (v, _) in self._pending.items() if self.partition_of(k) in wanted}
        for p in partitions:
            store = self.partitions.get(p)
            if store is None:
                continue
            for key, value in store.items():
                if key in pending:
                    continue
                yield key, value
        for key, maybe in pending.items():
            if maybe is not None:
                yield key, maybe

    # --- the changelog -------------------------------------------------------------------------------
    def drain(self) -> ChangelogBatch:
        """The writes since the last drain as changelog records (latest per key; None is a tombstone),
        keyed like the store, so each goes to its key's partition."""
        batch = ChangelogBatch(next(self._seq))
        for key, value in self._written.items():
            partition = self.partition_of(key)
            batch.records.append(OutRecord(value=value, key=key, partition=partition))
            batch.entries.append((partition, key, value))
            self._pending[key] = (value, batch.seq)
        self._written.clear()
        return batch

    def stored(self, batch: ChangelogBatch, offsets: dict[int, int]) -> None:
        """Kafka stored ``batch`` (``offsets``: the last offset per partition): write it to disk, with how
        far the changelog now reaches, and drop the pending writes it settles."""
        by_partition: dict[int, list[Entry]] = {}
        for partition, key, value in batch.entries:
            by_partition.setdefault(partition, []).append((key, value))
        for partition, entries in by_partition.items():
            store = self.partitions.get(partition)
            if store is not None:  # else: revoked meanwhile; its next owner replays the changelog
                last = offsets.get(partition)
                store.apply(entries, last + 1 if last is not None else None)
            for key, _ in entries:
                pending = self._pending.get(key)
                if pending is not None and pending[1] == batch.seq:
                    del self._pending[key]

    @property
    def pending(self) -> int:
        return len(self._pending)
