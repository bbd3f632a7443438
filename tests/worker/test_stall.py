"""Stall detection per partition, and the repair: read a partition again when its commit is stuck behind
records that never reached the agent (the consumer counted them as read)."""

from __future__ import annotations

from classifiers import LexiconScorer
from stream.settings import Settings
from stream.worker.runtime import PipelineRuntime

TP = ("raw", 2)


def runtime() -> PipelineRuntime:
    return PipelineRuntime(
        Settings(kafka_bootstrap_servers="127.0.0.1:1", stall_after_s=60), scorer=LexiconScorer()
    )


def test_an_idle_partition_is_not_stalled() -> None:
    rt = runtime()
    assert rt._check_stall({TP: (0, 500)}, now=0) == []
    assert rt._check_stall({TP: (0, 500)}, now=1000) == [] and not rt.stalled


def test_a_slow_partition_that_keeps_committing_is_not_stalled() -> None:
    rt = runtime()
    for i, t in enumerate(range(0, 600, 30)):
        assert rt._check_stall({TP: (900, 100 + i)}, now=t) == []
    assert not rt.stalled


def test_waiting_input_that_never_reached_us_is_handed_over_and_flagged() -> None:
    # The consumer counted records 1038..1049 as read and never delivered them; nothing more arrives.
    rt = runtime()
    rt.offsets.on_assignment({TP})
    rt.offsets.admit(TP, 1037, start=1037)
    assert rt._check_stall({TP: (12, 1038)}, now=0) == []
    assert rt._check_stall({TP: (12, 1038)}, now=59) == [] and not rt.stalled
    assert rt._check_stall({TP: (12, 1038)}, now=61) == [(TP, 1038, 1050)]
    assert rt.stalled and rt.metrics.stalled._value.get() == 1
    assert rt._check_stall({TP: (0, 1050)}, now=70) == [] and not rt.stalled


def test_a_stuck_commit_of_records_we_already_handled_is_flagged_only() -> None:
    # Everything waiting reached us; its outputs are not stored (Kafka away?): nothing to re-read, but the
    # liveness probe must see it.
    rt = runtime()
    rt.offsets.on_assignment({TP})
    rt.offsets.admit(TP, 1049, start=1049)
    rt._check_stall({TP: (12, 1038)}, now=0)
    assert rt._check_stall({TP: (12, 1038)}, now=61) == [] and rt.stalled


def test_a_partition_waiting_on_the_workers_own_writes_is_slow_not_stalled() -> None:
    # Draining a backlog: records 1038..1045 reached us, their outputs queue behind other writes, and the
    # writer keeps storing. Nothing to re-read, and no reason for a liveness probe to restart the worker.
    rt = runtime()
    rt.offsets.on_assignment({TP})
    rt.offsets.admit(TP, 1038, start=1038)
    for o in range(1038, 1046):
        rt.stored_offsets.track(TP, o)
        if o > 1038:
            rt.offsets.admit(TP, o)
    for t in range(0, 300, 2):
        rt.sink.flushes += 1  # the writer is moving
        assert rt._check_stall({TP: (500, 1038)}, now=t) == []
    assert not rt.stalled
    # the writer stops storing anything: that is a stall (the probe must see it)
    for t in range(300, 400, 2):
        rt._check_stall({TP: (500, 1038)}, now=t)
    assert rt.stalled
