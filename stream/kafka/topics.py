"""Topic creation with the configured partitions, so every process agrees on the partition count; and reading
a topic whole.

Sources partition posts by their dedupe key: if the raw topic had a different partition count than the
settings say, duplicates would land on different workers. So topics are created up front, not on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from stream.settings import Settings

__all__ = ["ensure_topics", "read_topic"]

log = logging.getLogger(__name__)


def _new_topic(settings: Settings, name: str) -> NewTopic:
    topics = settings.topics
    configs: dict[str, str] = {}
    partitions = settings.partitions
    if name in (topics.customers, topics.rules):
        configs["cleanup.policy"] = "compact"  # latest profile per customer; latest rules document
    if name == topics.rules:
        partitions = 1  # one order of rule changes for every worker
    if name == topics.dedupe_changelog:
        configs["retention.ms"] = str(max(settings.dedupe_window_s * 2, 3600) * 1000)
    return NewTopic(name, partitions, settings.replication_factor, topic_configs=configs)


async def ensure_topics(settings: Settings, attempts: int = 20) -> list[str]:
    """Create every pipeline topic that does not exist yet. Returns the names it created."""
    last: Exception | None = None
    for _ in range(attempts):
        admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs(), request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [t for t in settings.topics.all() if t not in existing]
            if wanted:
                new = [_new_topic(settings, t) for t in wanted]
                with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                    await admin.create_topics(new)
            return wanted
        except KafkaConnectionError as exc:
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise RuntimeError(f"could not reach Kafka at {settings.bootstrap}: {last}")


async def read_topic(
    settings: Settings, topic: str, idle_s: float = 1.5, within_s: float = 120.0
) -> list[Any]:
    """Every record of ``topic`` up to its end offsets as of the call, in order within each partition.

    Complete however slow the broker is: waiting for an idle gap could stop early on a loaded machine, and
    one fetch stops at a size limit. ``idle_s`` bounds one empty fetch; ``TimeoutError`` after ``within_s``.
    """
    consumer = AIOKafkaConsumer(**settings.reader_kwargs())
    records: list[Any] = []
    try:
        await consumer.start()  # inside: a start that fails (broker down) must still stop the client
        await consumer.topics()  # partitions_for_topic only answers from metadata already fetched
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
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
