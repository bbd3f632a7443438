"""Bounded reads with a plain consumer outside the consumer group: a range of one partition, or a whole
topic to its end. Neither commits, so neither can disturb the workers' group.

The worker uses :func:`read_range` to fill a gap its group consumer skipped: seeking the group consumer
back races with Faust's own read-offset bookkeeping (its fetch loop can overwrite the position we set),
while a separate reader has no such state to fight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition as ClientTopicPartition  # aiokafka's own type, at its calls

from stream.kafka.connection import KafkaConnection

__all__ = ["read_range", "read_topic"]


async def read_range(
    connection: KafkaConnection, topic: str, partition: int, start: int, end: int, timeout_s: float = 60.0
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of the records with ``start <= offset < end``, in order. Offsets deleted by retention are
    simply absent. Raises TimeoutError when no record arrives for ``timeout_s``: the caller has then not
    stored anything past the gap, and a restart replays it from the committed offset."""
    if start >= end:
        return
    tp = ClientTopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**connection.reader_kwargs())
    try:
        await consumer.start()  # inside: a start that fails (broker down) must still stop the client
        consumer.assign([tp])
        consumer.seek(tp, start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                position = await consumer.position(tp)
                raise TimeoutError(
                    f"{topic}/{partition}: nothing to read at offset {position} for {timeout_s}s"
                )
            fetched = await consumer.getmany(tp, timeout_ms=int(min(left, 1.0) * 1000), max_records=500)
            batch = [r for r in fetched.get(tp, []) if start <= r.offset < end]
            if batch:
                yield batch
                deadline = loop.time() + timeout_s
            if await consumer.position(tp) >= end:
                return
    finally:
        await consumer.stop()


async def read_topic(
    connection: KafkaConnection, topic: str, idle_s: float = 1.5, within_s: float = 120.0
) -> list[Any]:
    """Every record of ``topic`` up to its end offsets as of the call, in order within each partition.

    Complete however slow the broker is: waiting for an idle gap could stop early on a loaded machine, and
    one fetch stops at a size limit. ``idle_s`` bounds one empty fetch; ``TimeoutError`` after ``within_s``.
    """
    consumer = AIOKafkaConsumer(**connection.reader_kwargs())
    records: list[Any] = []
    try:
        await consumer.start()  # inside: a start that fails (broker down) must still stop the client
        await consumer.topics()  # partitions_for_topic only answers from metadata already fetched
        tps = [ClientTopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + within_s
        while todo and time.monotonic() < deadline:
            batch = await consumer.getmany(*todo, timeout_ms=int(idle_s * 1000), max_records=50_000)
            for recs in batch.values():
                records.extend(recs)
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
        if todo:
            raise TimeoutError(f"could not read {topic} to its end within {within_s:.0f} s")
    finally:
        await consumer.stop()
    return records
