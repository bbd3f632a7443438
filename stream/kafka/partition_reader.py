"""Read a range of offsets of one partition with a plain consumer, outside the consumer group.

The worker uses it to fill a gap its group consumer skipped: seeking the group consumer back races with
Faust's own read-offset bookkeeping (its fetch loop can overwrite the position we set), while a separate
reader has no such state to fight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream.settings import Settings

__all__ = ["read_range"]


async def read_range(
    settings: Settings, topic: str, partition: int, start: int, end: int, timeout_s: float = 60.0
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of the records with ``start <= offset < end``, in order. Offsets deleted by retention are
    simply absent. Raises TimeoutError when no record arrives for ``timeout_s``: the caller has then not
    stored anything past the gap, and a restart replays it from the committed offset."""
    if start >= end:
        return
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(**settings.reader_kwargs())
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
