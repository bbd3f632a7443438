"""When the states a worker holds come due: open tickets for expiry, closed ones for eviction.

The sweep (``TicketingStage.sweep``) must find what is due without scanning every state, and the index
must cost little per ticket: with the states on disk, it is most of what a ticket costs in memory. So each
partition keeps two heaps of plain ints, each packing a due second and a ticket id's 80 bits (52 bytes an
entry, where a ``(float, str)`` tuple takes ~160).

The heaps are hints, invalidated lazily. An entry says a ticket may be due then. The sweep checks the
state when the entry comes up, and puts the ticket back with its real due time if it had activity since.
An entry is added when a ticket opens (or is indexed) and when it closes, not on every change, so a busy
ticket costs one entry. A ticket that closed and reopened before its entry came up may have two. The
later one finds nothing to do.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator

__all__ = ["Deadlines", "DueIndex"]

_ID_BITS = 80  # a ticket id is "tkt_" + 20 hex digits (stream.tickets.ids, schemas' pattern)
_ID_MASK = (1 << _ID_BITS) - 1


def pack(due: float, tid: str) -> int:
    """One heap entry: the due time rounded up to the second, above the id's bits."""
    if len(tid) != 24 or not tid.startswith("tkt_"):
        raise ValueError(f"not a ticket id: {tid!r}")
    return math.ceil(due) << _ID_BITS | int(tid[4:], 16)


def unpack(entry: int) -> tuple[int, str]:
    return entry >> _ID_BITS, f"tkt_{entry & _ID_MASK:020x}"


class Deadlines:
    """Ticket ids by due second, earliest first (a min-heap of packed ints)."""

    __slots__ = ("_heap",)

    def __init__(self, entries: Iterable[int] = ()) -> None:
        self._heap = list(entries)
        heapq.heapify(self._heap)

    def push(self, due: float, tid: str) -> None:
        heapq.heappush(self._heap, pack(due, tid))

    def next_due(self) -> int | None:
        return self._heap[0] >> _ID_BITS if self._heap else None

    def pop(self) -> tuple[int, str]:
        return unpack(heapq.heappop(self._heap))

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return (unpack(e) for e in self._heap)


class DueIndex:
    """Per partition held: ``expiring`` (open tickets by last activity + expiry time) and ``evictable``
    (closed tickets by closing time + reopen window)."""

    def __init__(self) -> None:
        self.expiring: dict[int, Deadlines] = {}
        self.evictable: dict[int, Deadlines] = {}

    def expire_at(self, partition: int, due: float, tid: str) -> None:
        heap = self.expiring.get(partition)
        if heap is None:
            heap = self.expiring[partition] = Deadlines()
        heap.push(due, tid)

    def evict_at(self, partition: int, due: float, tid: str) -> None:
        heap = self.evictable.get(partition)
        if heap is None:
            heap = self.evictable[partition] = Deadlines()
        heap.push(due, tid)

    def forget(self, partition: int) -> None:
        """The partition went to another worker: nothing of it may be swept here any more."""
        self.expiring.pop(partition, None)
        self.evictable.pop(partition, None)

    def clear(self) -> None:
        self.expiring.clear()
        self.evictable.clear()

    def next_due(self) -> int | None:
        """The earliest due second of any entry, or None when there is none."""
        dues = [h.next_due() for heaps in (self.expiring, self.evictable) for h in heaps.values()]
        return min((d for d in dues if d is not None), default=None)

    def pop_due(self, now: float) -> tuple[bool, int, str] | None:
        """The earliest entry due before ``now``, removed: (is an expiry, partition, ticket id); None when
        nothing is due."""
        best: tuple[int, bool, int] | None = None
        for expiring, heaps in ((True, self.expiring), (False, self.evictable)):
            for partition, heap in heaps.items():
                due = heap.next_due()
                if due is not None and due < now and (best is None or due < best[0]):
                    best = (due, expiring, partition)
        if best is None:
            return None
        _, expiring, partition = best
        _, tid = (self.expiring if expiring else self.evictable)[partition].pop()
        return expiring, partition, tid

    def __len__(self) -> int:
        return sum(len(h) for heaps in (self.expiring, self.evictable) for h in heaps.values())
