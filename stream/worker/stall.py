"""Stall detection, as a pure decision over lag readings: no runtime, no Kafka, no clock of its own.

A partition we hold with input waiting whose committed offset has not moved for ``stall_after_s`` is
stuck. Per partition, because traffic on the others would hide one that is stuck. Records handed to a
stage and not yet stored mean the partition waits on the sink (a worker draining a backlog can queue its
writes for many seconds): slow, not stuck, and a restart by a liveness probe would only make it slower.
A sink that stores nothing is caught all the same, because then the sink's flush count stops moving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stream.kafka.records import TopicPartition

__all__ = ["StallCheck", "StallDetector", "Unread"]

# (partition, first offset, end offset): waiting records that never reached the agent
Unread = tuple[TopicPartition, int, int]


@dataclass(frozen=True, slots=True)
class StallCheck:
    """One check's verdict: the partitions stuck (with how many records wait), the ranges to hand over to
    the separate reader, and whether the stall just began or just ended (for one log line each)."""

    stuck: dict[str, int] = field(default_factory=dict)
    unread: list[Unread] = field(default_factory=list)
    began: bool = False
    ended: bool = False

    @property
    def stalled(self) -> bool:
        return bool(self.stuck)


class StallDetector:
    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self.stalled = False
        self._committed_seen: dict[TopicPartition, tuple[int, float]] = {}  # committed offset, since when
        self._flushes_seen = 0  # the sink's flush count at the last check

    def check(
        self,
        lag: Mapping[TopicPartition, tuple[int, int]],
        now: float,
        *,
        sink_flushes: int,
        in_flight: Callable[[TopicPartition], int],
        first_unhandled: Callable[[TopicPartition, int], int],
    ) -> StallCheck:
        """``lag``: per held partition, (records waiting, committed offset). ``in_flight(tp)``: records
        handed to a stage whose outputs are not stored yet. ``first_unhandled(tp, committed)``: the first
        offset from ``committed`` on that never reached a stage."""
        stuck: dict[str, int] = {}
        unread: list[Unread] = []
        sink_moving = sink_flushes != self._flushes_seen
        self._flushes_seen = sink_flushes
        for tp, (waiting, committed) in lag.items():
            seen = self._committed_seen.get(tp)
            busy = sink_moving and in_flight(tp) > 0
            if waiting == 0 or seen is None or seen[0] != committed or busy:
                self._committed_seen[tp] = (committed, now)
            elif now - seen[1] >= self.stall_after_s:
                stuck[f"{tp[0]}/{tp[1]}"] = waiting
                end = committed + waiting
                if first_unhandled(tp, committed) < end:  # waiting, never handed to us
                    unread.append((TopicPartition(*tp), committed, end))
        for tp in set(self._committed_seen) - set(lag):
            del self._committed_seen[tp]
        began, ended = bool(stuck) and not self.stalled, self.stalled and not stuck
        self.stalled = bool(stuck)
        return StallCheck(stuck, unread, began, ended)

    def forget(self, tp: TopicPartition) -> None:
        """The partition's waiting records were just handed over: start its clock again."""
        self._committed_seen.pop(tp, None)
