"""Dedupe state that survives restarts: one binary delta record per frame on a changelog topic.

A Faust table would write one changelog record per key, i.e. per post; a delta per frame costs one record
for hundreds of posts. The changelog is partitioned like the raw topic, so a worker that is assigned raw
partition ``p`` restores exactly changelog partition ``p`` (give it ``retention.ms`` of the window).
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.dedupe import DedupeWindow, decode_delta
from stream.settings import Settings

__all__ = ["restore_window"]


async def restore_window(settings: Settings, partition: int, window: DedupeWindow) -> int:
    """Replay changelog partition ``partition`` into ``window``; returns the number of keys restored."""
    tp = TopicPartition(settings.topics.dedupe_changelog, partition)
    consumer = AIOKafkaConsumer(
        **settings.aiokafka_kwargs(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    restored = 0
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            for record in batch.get(tp, []):
                if record.value is None:
                    continue
                at, keys = decode_delta(record.value)
                window.add(keys, at)
                restored += len(keys)
    finally:
        await consumer.stop()
    return restored
