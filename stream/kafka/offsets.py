"""Which records an agent must see before a given one, so that no offset is committed unless its record was
handled.

Faust's consumer can count records as read without handing them to the agent (after a rebalance its read
offset can run ahead of the seek to the committed offset, and the gap it then notes is treated as
acknowledged). Our topics have no holes in their offsets, so the agent can tell:

- the first record of a partition after each assignment must be the group's committed offset (or the log
  start); a later one means the records in between were skipped;
- after that, each record must follow the previous one.

Skipped records are read again with a separate reader (see ``partition_reader``) and handled before the
record that revealed the gap.

Offsets are committed from :class:`StoredOffsets`, not from Faust's acknowledgements: Faust's commit logic
treats the gaps it notes as done and can commit one past a record it never delivered, while this commits,
per partition, exactly the prefix of handled records whose outputs Kafka has stored.

Pure bookkeeping: the runtime looks up the committed offset, reads, and commits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from stream.kafka.records import TopicPartition

__all__ = ["Fill", "OffsetGuard", "StoredOffsets"]


@dataclass(frozen=True, slots=True)
class Fill:
    """Handle the records ``start <= offset < end`` first; they never reached the agent."""

    start: int
    end: int
    reason: str


class OffsetGuard:
    def __init__(self) -> None:
        self.handled: dict[TopicPartition, int] = {}  # last offset handed to a stage, per partition
        self._unchecked: set[TopicPartition] = set()  # first record after the assignment not seen yet
        self._held: set[TopicPartition] = set()

    def on_assignment(self, assigned: set[TopicPartition]) -> None:
        """Every assignment makes the consumer seek each partition to its committed offset again, so every
        partition's first record is checked again."""
        for tp in assigned ^ self._held:
            self.handled.pop(tp, None)  # someone else did the work meanwhile: a jump is legitimate
        self._held = set(assigned)
        self._unchecked = set(assigned)

    def reset(self, tp: TopicPartition) -> None:
        """The partition's log started over (a broker that came back empty): nothing handled before
        counts, and its next record is checked against the group's offset again."""
        self.handled.pop(tp, None)
        if tp in self._held:
            self._unchecked.add(tp)

    def needs_start(self, tp: TopicPartition) -> bool:
        """Whether ``admit`` wants this partition's starting offset (one lookup per assignment)."""
        return tp in self._unchecked

    def first_unhandled(self, tp: TopicPartition, committed: int) -> int:
        """The first offset at or after ``committed`` that no stage has been handed yet."""
        last = self.handled.get(tp)
        return committed if last is None else max(committed, last + 1)

    def filled(self, tp: TopicPartition, end: int) -> None:
        """Records up to ``end`` (exclusive) were handled outside the stream (the stall repair)."""
        self._unchecked.discard(tp)
        self.handled[tp] = max(end - 1, self.handled.get(tp, -1))

    def already_handled(self, tp: TopicPartition, offset: int) -> bool:
        """The record was handed to a stage before: by the stall repair's reader, or before a rebalance that
        left the partition here (the consumer seeks back to the committed offset). Its outputs are stored
        or on their way, and its commit is tracked: handling it again would count its posts twice."""
        last = self.handled.get(tp)
        return last is not None and offset <= last

    def admit(self, tp: TopicPartition, offset: int, start: int | None = None) -> Fill | None:
        """Note that the record at ``offset`` is being handled; returns the records to handle before it, if
        any. ``start``: where the group's reading of ``tp`` begins (committed offset, else the log start),
        only looked at for the first record after an assignment (None: unknown, not checked)."""
        fill = None
        if tp in self._unchecked:
            self._unchecked.discard(tp)
            begin = None if start is None else self.first_unhandled(tp, start)
            if begin is not None and offset > begin:
                fill = Fill(
                    begin, offset, f"first record after the assignment is {offset}, the group is at {start}"
                )
        else:
            last = self.handled.get(tp)
            if last is not None and offset > last + 1:
                fill = Fill(last + 1, offset, f"jumped from offset {last} to {offset}")
        self.handled[tp] = offset
        return fill


class StoredOffsets:
    """Per partition, the offset the group may commit: one past the last record such that it and every
    record handled before it have their outputs stored. Records are tracked in the order they are handled
    (the guard makes that order gap-free); their outputs may be stored in any order."""

    def __init__(self) -> None:
        self._pending: dict[TopicPartition, deque[list[int | bool]]] = {}
        self._stored: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def on_assignment(self, assigned: set[TopicPartition]) -> None:
        """Forget partitions this worker no longer holds (it cannot commit them any more)."""
        for table in (self._pending, self._stored, self._committed):
            for tp in set(table) - assigned:
                del table[tp]

    def track(self, tp: TopicPartition, offset: int) -> Callable[[], None]:
        """Note a handled record; call the result once its outputs are stored."""
        entry: list[int | bool] = [offset, False]
        self._pending.setdefault(tp, deque()).append(entry)

        def stored() -> None:
            entry[1] = True

        return stored

    def stored(self, tp: TopicPartition) -> int | None:
        self._advance(tp)
        return self._stored.get(tp)

    def in_flight(self, tp: TopicPartition) -> int:
        """Records of ``tp`` handed to a stage whose outputs (or an earlier record's) are not stored yet."""
        self._advance(tp)
        return len(self._pending.get(tp, ()))

    def _advance(self, tp: TopicPartition) -> None:
        pending = self._pending.get(tp)
        while pending and pending[0][1]:
            offset = int(pending.popleft()[0])
            if offset + 1 > self._stored.get(tp, -1):  # a replay after a rebalance can go backwards
                self._stored[tp] = offset + 1

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit now: partitions whose stored prefix moved past what was last committed."""
        out = {}
        for tp in list(self._pending):
            self._advance(tp)
            stored = self._stored.get(tp)
            if stored is not None and stored > self._committed.get(tp, -1):
                out[tp] = stored
        return out

    def last_committed(self, tp: TopicPartition) -> int | None:
        return self._committed.get(tp)

    def reset(self, tp: TopicPartition) -> None:
        """The partition's log started over: forget what was tracked and committed for it."""
        for table in (self._pending, self._stored, self._committed):
            table.pop(tp, None)

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self._committed[tp] = max(offset, self._committed.get(tp, -1))
