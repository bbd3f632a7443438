"""Exact ingest-to-ticket latency: read every ticket back and subtract its post's ``ingested_at`` from the
ticket record's Kafka timestamp (set when the worker wrote it). Exact per ticket, so p99 is not a
histogram-bucket interpolation. The post that made a write is the ticket's newest one (a reply threads
into its root's ticket), so the newest ``ingested_at`` is used, once per (ticket, newest post).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.settings import Settings

__all__ = ["TicketTap", "quantiles"]

_FIELD = b'"ingested_at":"'


def quantiles(values: list[float], qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[str, float | None]:
    if not values:
        return {f"p{round(q * 100)}": None for q in qs}
    s = sorted(values)
    return {f"p{round(q * 100)}": round(s[min(len(s) - 1, int(q * len(s)))], 4) for q in qs}


def _newest_ingested(value: bytes) -> float | None:
    """The newest ``ingested_at`` of the ticket's posts: the post that made this write."""
    newest: float | None = None
    i = value.find(_FIELD)
    while i >= 0:
        start = i + len(_FIELD)
        end = value.index(b'"', start)
        ts = datetime.fromisoformat(value[start:end].decode()).timestamp()
        newest = ts if newest is None or ts > newest else newest
        i = value.find(_FIELD, end)
    return newest


class TicketTap:
    """Consumes the tickets topic from the start, outside any consumer group, in the harness process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.points: list[tuple[float, float]] = []  # (ticket written at, latency s)
        self.records = 0
        self.unparsed = 0
        self.rewrites = 0
        self._seen: set[tuple[bytes | None, float]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self.settings.kafka.reader_kwargs())
        await consumer.start()
        consumer.assign(
            [TopicPartition(self.settings.topics.tickets, p) for p in range(self.settings.partitions)]
        )
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for records in batches.values():
                    for r in records:
                        self.records += 1
                        ingested = _newest_ingested(r.value or b"")
                        if ingested is None:
                            self.unparsed += 1
                            continue
                        # A ticket is re-written when a reply joins it (its newest post is the new one) and on
                        # lifecycle changes (same newest post): count each (ticket, newest post) once.
                        seen = (r.key, ingested)
                        if seen in self._seen:
                            self.rewrites += 1
                            continue
                        self._seen.add(seen)
                        written = r.timestamp / 1000.0
                        self.points.append((written, written - ingested))
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
