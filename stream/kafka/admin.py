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

from stream.kafka.connection import KafkaConnection
from stream.kafka.records import TopicSpec

__all__ = ["ensure_topics"]

log = logging.getLogger(__name__)


async def ensure_topics(connection: KafkaConnection, specs: list[TopicSpec], attempts: int = 20) -> list[str]:
    """Create every topic of ``specs`` that does not exist yet. Returns the names it created."""
    last: Exception | None = None
    for _ in range(attempts):
        admin = AIOKafkaAdminClient(**connection.client_kwargs(), request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [s for s in specs if s.name not in existing]
            if wanted:
                new = [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                    for s in wanted
                ]
                with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                    await admin.create_topics(new)
            return [s.name for s in wanted]
        except KafkaConnectionError as exc:
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise RuntimeError(f"could not reach Kafka at {connection.bootstrap}: {last}")
