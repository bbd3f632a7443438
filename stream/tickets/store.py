"""The ticket-state store: the Faust table's in-memory data, with its changelog written by the runtime.

Faust would send a table's changelog attached to the input record and publish it when it commits that
record. The runtime commits instead (``stream.kafka.offsets``), so the changelog records of an input are
written with its other outputs and counted in its delivery: a commit then implies the state it produced is
stored, and a worker restored after a crash never holds a state older than the tickets already emitted.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from stream.kafka.records import OutRecord

__all__ = ["ChangelogStore"]


class ChangelogStore(MutableMapping[bytes, bytes]):
    """Reads and writes go to ``data``; writes and deletes are also kept for :meth:`drain` (latest per key)."""

    def __init__(self, data: MutableMapping[bytes, bytes]) -> None:
        self.data = data
        self._written: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        return self.data[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.data[key] = value
        self._written[key] = value

    def __delitem__(self, key: bytes) -> None:
        """Forget a state: a tombstone on the changelog, so a restore forgets it too."""
        del self.data[key]
        self._written[key] = None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def drain(self) -> list[OutRecord]:
        """Changelog records for the writes since the last drain, keyed like the table (partition by key)."""
        records = [OutRecord(value=v, key=k) for k, v in self._written.items()]
        self._written.clear()
        return records
