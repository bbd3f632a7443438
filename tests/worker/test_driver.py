"""The record driver: records reach their stage once and in order, skipped records are read and handled
before the record that revealed them, and commits never pass a record whose outputs are not stored. Its
collaborators are plain functions, so no broker is needed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from stream.kafka.records import TopicPartition
from stream.worker.driver import RecordDriver
from stream.worker.metrics import Metrics

TP = TopicPartition("triage.raw", 3)


def driver() -> RecordDriver:
    async def nowhere(topic: str, partition: int) -> int | None:
        raise AssertionError("not asked in this test")

    async def no_reads(topic: str, partition: int, start: int, end: int) -> Any:
        raise AssertionError("not asked in this test")
        yield []

    async def no_commit(offsets: dict[TopicPartition, int]) -> bool:
        return False

    return RecordDriver(Metrics(), start_offset=nowhere, read_range=no_reads, commit=no_commit)


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes = b""
    timestamp: float = 0.0


class Event:
    def __init__(self, offset: int) -> None:
        self.message = Msg(TP[0], TP[1], offset)
        self.acked = False

    def ack(self) -> None:
        self.acked = True


@dataclass
class Record:
    offset: int
    value: bytes = b""


def test_the_stream_loop_stores_skipped_records_before_the_one_that_revealed_them() -> None:
    reads: list[tuple[int, int]] = []
    handled: list[int] = []
    stored: list[int] = []

    async def start_offset(topic: str, partition: int) -> int | None:
        return 120

    async def fake_read_range(topic: str, partition: int, start: int, end: int) -> Any:
        reads.append((start, end))
        for first in range(start, end, 100):
            yield [Record(o) for o in range(first, min(first + 100, end))]

    async def handle(value: bytes | None, topic: str, partition: int, offset: int) -> Any:
        handled.append(offset)

        async def store() -> None:
            await asyncio.sleep(0.001 if offset < 1001 else 0)  # the skipped records are slower to store
            stored.append(offset)

        return asyncio.ensure_future(store())

    commits: list[dict[tuple[str, int], int]] = []

    async def commit(offsets: dict[tuple[str, int], int]) -> bool:
        commits.append(dict(offsets))
        return True

    rt = RecordDriver(Metrics(), start_offset=start_offset, read_range=fake_read_range, commit=commit)
    rt.on_assignment({TP})
    events = [Event(o) for o in (1001, 1002, 1003)]

    async def stream() -> AsyncIterator[Event]:
        for e in events:
            yield e

    async def run() -> None:
        await rt.process_stream("triage", stream(), handle)
        await asyncio.sleep(0.05)
        await rt.commit_stored()

    asyncio.run(run())
    assert reads == [(120, 1001)]
    assert handled == list(range(120, 1004))
    assert stored.index(1000) < stored.index(1001)  # acking 1001 can never commit past an unstored record
    assert all(e.acked for e in events)
    assert commits == [{TP: 1004}]  # one past the last record, every record before it stored
    assert rt.metrics.rereads.labels(TP[0])._value.get() == 1


def test_the_stream_loop_skips_records_the_repair_already_handled() -> None:
    rt = driver()
    rt.on_assignment({TP})
    rt.offsets.admit(TP, 19, start=19)
    rt.offsets.filled(TP, 25)
    handled: list[int] = []

    async def handle(value: bytes | None, topic: str, partition: int, offset: int) -> Any:
        handled.append(offset)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    events = [Event(o) for o in range(20, 28)]

    async def stream() -> AsyncIterator[Event]:
        for e in events:
            yield e

    asyncio.run(rt.process_stream("triage", stream(), handle))
    assert handled == [25, 26, 27]
    assert all(e.acked for e in events)
    assert rt.metrics.redelivered.labels(TP[0])._value.get() == 5


def test_a_log_that_started_over_is_handled_anew_not_skipped_as_repeats() -> None:
    # The embedded broker restarted empty: offsets begin at 0 again while this worker had committed 500.
    rt = driver()
    rt.on_assignment({TP})
    rt.offsets.admit(TP, 499, start=499)
    rt.stored_offsets.track(TP, 499)()
    rt.stored_offsets.committed(rt.stored_offsets.committable())
    assert rt.stored_offsets.last_committed(TP) == 500
    handled: list[int] = []

    async def handle(value: bytes | None, topic: str, partition: int, offset: int) -> Any:
        handled.append(offset)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def start_offset(topic: str, partition: int) -> int | None:
        return 0  # the new log's start; the group has no committed offset any more

    rt._start_offset_of = start_offset
    events = [Event(o) for o in range(0, 5)]

    async def stream() -> AsyncIterator[Event]:
        for e in events:
            yield e

    asyncio.run(rt.process_stream("triage", stream(), handle))
    assert handled == [0, 1, 2, 3, 4]  # before: all five skipped as "already handled"
    assert rt.metrics.log_restarts.labels(TP[0])._value.get() == 1
    assert rt.metrics.redelivered.labels(TP[0])._value.get() == 0
