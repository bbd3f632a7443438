"""Topic creation with the configured partitions, so every process agrees on the partition count.

Sources partition posts by their dedupe key: if the raw topic had a different partition count than the
settings say, duplicates would land on different workers. So topics are created up front, not on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from stream.settings import Settings

__all__ = ["ensure_topics"]

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
