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
                new = [NewTopic(t, settings.partitions, settings.replication_factor) for t in wanted]
                with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                    await admin.create_topics(new)
            return wanted
        except KafkaConnectionError as exc:
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise RuntimeError(f"could not reach Kafka at {settings.bootstrap}: {last}")
