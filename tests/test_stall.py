"""Stall detection per partition, and the repair: read a partition again when its commit is stuck behind
records we already processed (the consumer counted one that never reached us)."""

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


def test_a_stuck_commit_with_our_acks_past_it_is_rewound_and_flagged() -> None:
    rt = runtime()
    rt.acked[TP] = 1037  # we stored outputs well past the commit: a record went missing before us
    assert rt._check_stall({TP: (913, 125)}, now=0) == []
    assert rt._check_stall({TP: (913, 125)}, now=59) == [] and not rt.stalled
    assert rt._check_stall({TP: (913, 125)}, now=61) == [("raw", 2, 125)]
    assert rt.stalled and rt.metrics.stalled._value.get() == 1
    assert rt._check_stall({TP: (0, 1038)}, now=70) == [] and not rt.stalled


def test_a_stuck_commit_we_have_not_reached_yet_is_flagged_but_not_rewound() -> None:
    rt = runtime()
    rt.acked[TP] = 100  # behind the commit: nothing went missing, we are just slow or blocked
    rt._check_stall({TP: (913, 125)}, now=0)
    assert rt._check_stall({TP: (913, 125)}, now=61) == [] and rt.stalled
