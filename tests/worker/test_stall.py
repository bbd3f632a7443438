"""Stall detection per partition, as a pure decision (no runtime, no broker), and the upkeep that acts on
it: flag the stall for the liveness probe and hand records that never reached the agent to the reader."""

from __future__ import annotations

import asyncio

from classifiers import LexiconScorer
from stream.kafka.offsets import OffsetGuard, StoredOffsets
from stream.kafka.records import TopicPartition
from stream.settings import Settings
from stream.worker.runtime import PipelineRuntime
from stream.worker.stall import StallCheck, StallDetector

TP = TopicPartition("raw", 2)


class Partition:
    """The guard and in-flight bookkeeping a detector consults, with a sink flush counter."""

    def __init__(self) -> None:
        self.offsets = OffsetGuard()
        self.stored = StoredOffsets()
        self.flushes = 0
        self.offsets.on_assignment({TP})

    def check(
        self, detector: StallDetector, lag: dict[TopicPartition, tuple[int, int]], now: float
    ) -> StallCheck:
        return detector.check(
            lag,
            now,
            sink_flushes=self.flushes,
            in_flight=self.stored.in_flight,
            first_unhandled=self.offsets.first_unhandled,
        )


def test_an_idle_partition_is_not_stalled() -> None:
    d, p = StallDetector(60), Partition()
    assert p.check(d, {TP: (0, 500)}, now=0).unread == []
    verdict = p.check(d, {TP: (0, 500)}, now=1000)
    assert verdict.unread == [] and not verdict.stalled and not d.stalled


def test_a_slow_partition_that_keeps_committing_is_not_stalled() -> None:
    d, p = StallDetector(60), Partition()
    for i, t in enumerate(range(0, 600, 30)):
        assert p.check(d, {TP: (900, 100 + i)}, now=t) == StallCheck()
    assert not d.stalled


def test_waiting_input_that_never_reached_us_is_handed_over_and_flagged() -> None:
    # The consumer counted records 1038..1049 as read and never delivered them; nothing more arrives.
    d, p = StallDetector(60), Partition()
    p.offsets.admit(TP, 1037, start=1037)
    assert p.check(d, {TP: (12, 1038)}, now=0).unread == []
    assert not p.check(d, {TP: (12, 1038)}, now=59).stalled
    verdict = p.check(d, {TP: (12, 1038)}, now=61)
    assert verdict.unread == [(TP, 1038, 1050)] and verdict.began and verdict.stuck == {"raw/2": 12}
    verdict = p.check(d, {TP: (0, 1050)}, now=70)
    assert verdict.unread == [] and verdict.ended and not d.stalled


def test_a_stuck_commit_of_records_we_already_handled_is_flagged_only() -> None:
    # Everything waiting reached us; its outputs are not stored (Kafka away?): nothing to re-read, but the
    # liveness probe must see it.
    d, p = StallDetector(60), Partition()
    p.offsets.admit(TP, 1049, start=1049)
    p.check(d, {TP: (12, 1038)}, now=0)
    verdict = p.check(d, {TP: (12, 1038)}, now=61)
    assert verdict.unread == [] and verdict.stalled and d.stalled


def test_a_partition_waiting_on_the_workers_own_writes_is_slow_not_stalled() -> None:
    # Draining a backlog: records 1038..1045 reached us, their outputs queue behind other writes, and the
    # writer keeps storing. Nothing to re-read, and no reason for a liveness probe to restart the worker.
    d, p = StallDetector(60), Partition()
    p.offsets.admit(TP, 1038, start=1038)
    for o in range(1038, 1046):
        p.stored.track(TP, o)
        if o > 1038:
            p.offsets.admit(TP, o)
    for t in range(0, 300, 2):
        p.flushes += 1  # the writer is moving
        assert p.check(d, {TP: (500, 1038)}, now=t) == StallCheck()
    assert not d.stalled
    # the writer stops storing anything: that is a stall (the probe must see it)
    for t in range(300, 400, 2):
        p.check(d, {TP: (500, 1038)}, now=t)
    assert d.stalled


def test_partitions_no_longer_held_are_forgotten() -> None:
    d, p = StallDetector(60), Partition()
    p.offsets.admit(TP, 1037, start=1037)
    p.check(d, {TP: (12, 1038)}, now=0)
    p.check(d, {}, now=30)  # the partition went to another worker
    assert not p.check(d, {TP: (12, 1038)}, now=61).stalled  # its clock started again at 61 - 0


def test_the_upkeep_flags_a_stall_for_the_probe_and_hands_unread_records_to_the_driver() -> None:
    rt = PipelineRuntime(
        Settings(kafka_bootstrap_servers="127.0.0.1:1", stall_after_s=60), scorer=LexiconScorer()
    )
    rt.on_assignment({TP})
    rt.driver.offsets.admit(TP, 1037, start=1037)
    handed: list[tuple[TopicPartition, int, int]] = []

    async def fill_unread(tp: TopicPartition, start: int, end: int) -> bool:
        handed.append((tp, start, end))
        return True

    rt.driver.fill_unread = fill_unread  # type: ignore[method-assign]

    async def run() -> None:
        await rt.upkeep.check_stall({TP: (12, 1038)}, now=0)
        await rt.upkeep.check_stall({TP: (12, 1038)}, now=61)
        assert rt.stalled and rt.metrics.stalled._value.get() == 1
        await rt.upkeep.check_stall({TP: (0, 1050)}, now=70)

    asyncio.run(run())
    assert handed == [(TP, 1038, 1050)]
    assert not rt.stalled and rt.metrics.stalled._value.get() == 0
