"""Which records an agent must see before a given one, so that no offset is committed unless its record was
handled.

Faust's consumer can count records as read without handing them to the agent (after a rebalance its read
offset can run ahead of the seek to the committed offset, and the gap it then notes is treated as
acknowledged). Our topics have no holes in their offsets, so the agent can tell:

- the first record of a partition after each assignment must be the group's committed offset (or the log
  start); a later one means the records in between were skipped;
- after that, each record must follow the previous one.

Skipped records are read again with a separate reader (see ``partition_reader``) and handled before the
record that revealed the gap. Pure bookkeeping: the runtime looks up the committed offset and reads.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Fill", "OffsetGuard"]

TopicPartition = tuple[str, int]


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

    def needs_start(self, tp: TopicPartition) -> bool:
        """Whether ``admit`` wants this partition's starting offset (one lookup per assignment)."""
        return tp in self._unchecked

    def admit(self, tp: TopicPartition, offset: int, start: int | None = None) -> Fill | None:
        """Note that the record at ``offset`` is being handled; returns the records to handle before it, if
        any. ``start``: where the group's reading of ``tp`` begins (committed offset, else the log start),
        only looked at for the first record after an assignment (None: unknown, not checked)."""
        fill = None
        if tp in self._unchecked:
            self._unchecked.discard(tp)
            if start is not None and offset > start:
                fill = Fill(
                    start, offset, f"first record after the assignment is {offset}, the group is at {start}"
                )
        else:
            last = self.handled.get(tp)
            if last is not None and offset > last + 1:
                fill = Fill(last + 1, offset, f"jumped from offset {last} to {offset}")
        self.handled[tp] = offset
        return fill
