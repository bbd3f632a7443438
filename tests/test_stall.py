"""Stall detection per partition, and the repair: read a partition again when its commit is stuck behind
records that never reached the agent (the consumer counted them as read)."""

from __future__ import annotations

from classifiers import LexiconScorer
from stream.runtime import PipelineRuntime
from stream.settings import Settings

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
