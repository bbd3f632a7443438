"""The offset guard and the partition reader: no record may be counted as done without reaching a stage.
Each scenario is one the SIGKILL drill produced under Faust (see benchmarks/RESULTS.md, reliability)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from stream.kafka.offsets import Fill, OffsetGuard, StoredOffsets
from stream.kafka.readers import read_range
from stream.settings import Settings

TP = ("triage.raw", 3)


def test_records_in_order_need_nothing_first() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    assert guard.needs_start(TP)
    assert guard.admit(TP, 120, start=120) is None
    assert not guard.needs_start(TP)
    assert [guard.admit(TP, o) for o in (121, 122, 123)] == [None] * 3


def test_first_record_past_the_commit_needs_the_skipped_records_first() -> None:
    # After a rebalance the consumer's read offset ran ahead of its seek: records 120..1000 were counted as
    # read and never delivered; the first one we see is 1001.
    guard = OffsetGuard()
    guard.on_assignment({TP})
    fill = guard.admit(TP, 1001, start=120)
    assert isinstance(fill, Fill) and (fill.start, fill.end) == (120, 1001)
    assert guard.admit(TP, 1002) is None


def test_first_record_before_the_commit_is_a_harmless_repeat() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    assert guard.admit(TP, 90, start=120) is None
    assert guard.admit(TP, 91) is None


def test_unknown_start_does_not_block_the_stream() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    assert guard.admit(TP, 500, start=None) is None
    assert guard.admit(TP, 502) == Fill(501, 502, "jumped from offset 500 to 502")


def test_a_jump_mid_stream_needs_the_skipped_records_first() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    guard.admit(TP, 0, start=0)
    guard.admit(TP, 1)
    fill = guard.admit(TP, 40)
    assert fill is not None and (fill.start, fill.end) == (2, 40)
    assert "jumped from offset 1 to 40" in fill.reason
    assert guard.admit(TP, 41) is None


def test_a_replay_after_a_seek_back_is_not_a_jump() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    guard.admit(TP, 0, start=0)
    guard.admit(TP, 500)  # (a fill of 1..499 was asked for)
    assert [guard.admit(TP, o) for o in (1, 2, 3)] == [None] * 3  # the consumer delivers them anyway


def test_every_assignment_checks_every_partition_again() -> None:
    # A partition kept across a rebalance is sought back to its commit too, and can be skipped the same way.
    other = ("triage.raw", 4)
    guard = OffsetGuard()
    guard.on_assignment({TP, other})
    guard.admit(TP, 10, start=10)
    guard.admit(other, 0, start=0)
    guard.on_assignment({TP})
    assert guard.needs_start(TP) and not guard.needs_start(other)
    assert guard.admit(TP, 50, start=11) == Fill(
        11, 50, "first record after the assignment is 50, the group is at 11"
    )


def test_after_losing_and_regaining_a_partition_a_jump_is_legitimate() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    guard.admit(TP, 0, start=0)
    guard.on_assignment(set())
    guard.on_assignment({TP})  # another worker processed 1..699 meanwhile and committed 700
    assert guard.admit(TP, 700, start=700) is None


# --- what may be committed ------------------------------------------------------------------------------


def test_commit_waits_for_the_first_unstored_record() -> None:
    offsets = StoredOffsets()
    marks = {o: offsets.track(TP, o) for o in range(100, 105)}
    assert offsets.committable() == {}
    marks[101]()
    marks[102]()
    assert offsets.committable() == {}  # 100 is not stored: committing 103 would skip it
    marks[100]()
    assert offsets.committable() == {TP: 103}
    offsets.committed({TP: 103})
    assert offsets.committable() == {}
    marks[104]()
    marks[103]()
    assert offsets.committable() == {TP: 105}


def test_a_replay_never_moves_the_commit_back() -> None:
    offsets = StoredOffsets()
    offsets.track(TP, 500)()
    offsets.committed(offsets.committable())
    for o in (400, 401):  # re-delivered after a rebalance
        offsets.track(TP, o)()
    assert offsets.committable() == {}
    assert offsets.stored(TP) == 501


def test_partitions_given_up_are_forgotten() -> None:
    offsets = StoredOffsets()
    offsets.track(TP, 7)()
    offsets.on_assignment(set())
    assert offsets.committable() == {} and offsets.stored(TP) is None


async def test_read_range_reads_exactly_the_asked_offsets_from_the_broker(topics: Settings) -> None:
    topic = topics.topics.raw
    producer = AIOKafkaProducer(**topics.kafka.client_kwargs())
    await producer.start()
    try:
        for i in range(60):
            await producer.send(topic, f"r{i}".encode(), partition=1)
        await producer.flush()
    finally:
        await producer.stop()
    got = [r async for batch in read_range(topics.kafka, topic, 1, 10, 45) for r in batch]
    assert [r.offset for r in got] == list(range(10, 45))
    assert [r.value for r in got] == [f"r{i}".encode() for i in range(10, 45)]
    assert [r async for r in read_range(topics.kafka, topic, 1, 5, 5)] == []


async def test_read_range_gives_up_on_a_range_that_never_arrives(topics: Settings) -> None:
    with pytest.raises(TimeoutError, match="nothing to read"):
        async for _ in read_range(topics.kafka, topics.topics.raw, 2, 0, 10, timeout_s=1.5):
            pass


def test_records_handled_by_the_stall_repair_count_as_handled() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    guard.admit(TP, 1037, start=1037)
    assert guard.first_unhandled(TP, committed=1030) == 1038
    assert guard.first_unhandled(TP, committed=1100) == 1100
    guard.filled(TP, 1050)
    assert guard.first_unhandled(TP, committed=1038) == 1050
    assert not guard.needs_start(TP)
    assert guard.admit(TP, 1050) is None  # the stream carries on after the repaired range without a jump


def test_records_handled_already_are_known_so_a_redelivery_is_not_handled_twice() -> None:
    guard = OffsetGuard()
    guard.on_assignment({TP})
    guard.admit(TP, 19, start=19)
    guard.filled(TP, 202)  # the stall repair read 20..201 itself
    assert guard.already_handled(TP, 20) and guard.already_handled(TP, 201)
    assert not guard.already_handled(TP, 202)
    # kept across a rebalance: the consumer seeks back to the commit (150) and delivers 150.. again
    guard.on_assignment({TP})
    assert guard.already_handled(TP, 150)
    assert guard.admit(TP, 202, start=150) is None  # 150..201 were handled here: nothing to fill
    assert guard.admit(TP, 203) is None


def test_records_in_flight_are_counted_until_stored() -> None:
    offsets = StoredOffsets()
    a = offsets.track(TP, 7)
    offsets.track(TP, 8)
    assert offsets.in_flight(TP) == 2
    a()
    assert offsets.in_flight(TP) == 1
