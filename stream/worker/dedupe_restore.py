"""Dedupe state that survives restarts: one binary delta record per frame on a changelog topic.

A Faust table would write one changelog record per key, i.e. per post; a delta per frame costs one record
for hundreds of posts. The changelog is partitioned like the raw topic, so a worker that is assigned raw
partition ``p`` restores exactly changelog partition ``p`` (give it ``retention.ms`` of the window).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as ClientTopicPartition  # aiokafka's own type, at its calls

from stream.kafka.connection import KafkaConnection
from stream.pipeline.dedupe import DedupeWindow, decode_delta

__all__ = ["restore_windows"]


async def restore_windows(
    connection: KafkaConnection, topic: str, windows: Mapping[int, DedupeWindow]
) -> dict[int, int]:
    """Replay the changelog partitions of ``windows`` into them, all with one consumer (starting a consumer
    costs more than reading an empty partition). Returns the number of keys restored per partition."""
    tps = {ClientTopicPartition(topic, p): p for p in windows}
    restored = dict.fromkeys(windows, 0)
    if not tps:
        return restored
    consumer = AIOKafkaConsumer(**connection.reader_kwargs(fetch_max_wait_ms=500))
    try:
        await consumer.start()  # inside: a start that fails (broker down) must still stop the client
        consumer.assign(list(tps))
        ends = await consumer.end_offsets(list(tps))
        await consumer.seek_to_beginning(*tps)
        # Read past the reported end until a fetch brings nothing more: some brokers report the first
        # offset of the last write batch plus one as the end (see stream.state.recovery).
        todo = set(tps)
        empty = dict.fromkeys(tps, 0)
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=500, max_records=5000)
            for tp in list(todo):
                empty[tp] = 0 if batch.get(tp) else empty[tp] + 1
                if empty[tp] and (await consumer.position(tp) >= ends[tp] or empty[tp] >= 3):
                    todo.discard(tp)  # past the reported end (or long idle) and nothing more came
            for tp, records in batch.items():
                window = windows[tps[tp]]
                for record in records:
                    if record.value is None:
                        continue
                    at, keys = decode_delta(record.value)
                    window.add(keys, at)
                    restored[tps[tp]] += len(keys)
    finally:
        await consumer.stop()
    return restored
