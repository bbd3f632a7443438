"""Merging actionable frames of many raw records: fewer stage-2 records, and an input still counts as
stored only once the merged record holding its posts is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

import orjson
import pytest

from stream.kafka.batch_sink import BatchSink
from stream.kafka.frame_merger import FrameMerger, merge_frames
from stream.kafka.records import OutRecord


class RecordingSink:
    """Stands in for the Kafka sink: records what was sent and lets the test decide when it is stored."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutRecord, asyncio.Future[None]]] = []

    async def send(self, topic: str, records: Iterable[OutRecord]) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for rec in records:
            self.sent.append((topic, rec, fut))
        return fut

    def store_all(self, exc: Exception | None = None) -> None:
        for _, _, fut in self.sent:
            if not fut.done():
                fut.set_exception(exc) if exc else fut.set_result(None)


def frame(*items: Any, partition: int = 0) -> OutRecord:
    return OutRecord(value=orjson.dumps(list(items)), partition=partition)


def merger(sink: RecordingSink, linger_s: float = 0.05, max_bytes: int = 10_000) -> FrameMerger:
    return FrameMerger(cast(BatchSink, sink), "act", linger_s=linger_s, max_bytes=max_bytes)


def test_merged_frames_keep_every_item_in_order() -> None:
    frames = [orjson.dumps([1, {"a": "x,]"}]), orjson.dumps([]), orjson.dumps(["[y]"])]
    assert orjson.loads(merge_frames(frames)) == [1, {"a": "x,]"}, "[y]"]


async def test_frames_of_many_inputs_leave_as_one_record_per_partition_after_the_linger() -> None:
    sink = RecordingSink()
    m = merger(sink)
    d1 = await m.add([frame(1, 2, partition=0), frame(3, partition=1)])
    d2 = await m.add([frame(4, partition=0)])
    assert sink.sent == []  # waiting for more
    await asyncio.sleep(0.1)
    got = {rec.partition: orjson.loads(rec.value) for _, rec, _ in sink.sent}
    assert got == {0: [1, 2, 4], 1: [3]}
    assert not d1.done() and not d2.done()  # sent is not stored
    sink.store_all()
    await asyncio.wait_for(asyncio.gather(d1, d2), 1)


async def test_a_full_buffer_goes_out_at_once_and_an_input_waits_for_all_its_records() -> None:
    sink = RecordingSink()
    m = merger(sink, linger_s=10, max_bytes=28)  # a frame of one 10-char string is 14 bytes
    d1 = await m.add([frame("a" * 10), frame("b" * 10, partition=1)])
    d2 = await m.add([frame("c" * 10)])  # partition 0 reaches 28 bytes: sent without waiting 10 s
    assert [orjson.loads(r.value) for _, r, _ in sink.sent] == [["a" * 10, "c" * 10]]
    sink.store_all()
    await asyncio.wait_for(d2, 1)
    assert not d1.done()  # its partition-1 frame is still buffered
    await m.flush()
    sink.store_all()
    await asyncio.wait_for(d1, 1)
    assert m.records_in == 3 and m.records_out == 2


async def test_a_failed_write_fails_every_input_in_the_merged_record() -> None:
    sink = RecordingSink()
    m = merger(sink, linger_s=0.01)
    d1 = await m.add([frame(1)])
    d2 = await m.add([frame(2)])
    await asyncio.sleep(0.05)
    sink.store_all(RuntimeError("broker gone"))
    for d in (d1, d2):
        with pytest.raises(RuntimeError, match="broker gone"):
            await asyncio.wait_for(d, 1)


async def test_no_linger_sends_each_inputs_frames_as_they_are() -> None:
    sink = RecordingSink()
    m = merger(sink, linger_s=0)
    await m.add([frame(1), frame(2, partition=1)])
    assert [(r.partition, orjson.loads(r.value)) for _, r, _ in sink.sent] == [(0, [1]), (1, [2])]
