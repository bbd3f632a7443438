"""How every source writes posts: framed, partitioned by dedupe key, batched, with backpressure.

Posts are grouped per partition of the raw topic by :func:`stream.pipeline.dedupe.post_keys` routing key,
so all copies of a post (and copy-paste variants of a text) reach the same worker, and written as frames of up
to ``max_frame_posts`` posts, one Kafka record each.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord
from stream.pipeline.dedupe import partition_for, post_keys
from stream.settings import Settings

__all__ = ["PostProducer", "partition_of"]


def partition_of(post: Any, settings: Settings) -> int:
    """The raw-topic partition of a post dict; anything unparseable goes to 0 and is dead-lettered there."""
    if not isinstance(post, dict):
        return 0
    platform, post_id, text = post.get("platform"), post.get("post_id"), post.get("text") or ""
    if not isinstance(platform, str) or not isinstance(post_id, str) or not isinstance(text, str):
        return 0

    def text_field(name: str) -> str | None:
        value = post.get(name)
        return value if isinstance(value, str) else None

    keys = post_keys(
        platform,
        post_id,
        text,
        text_field("repost_of"),
        settings.near_dup_min_tokens,
        text_field("reply_to"),
        text_field("conversation_id"),
    )
    return partition_for(keys.routing, settings.partitions)


class PostProducer:
    """Buffers posts per partition and writes a frame when it is full or ``linger_s`` has passed."""

    def __init__(
        self,
        settings: Settings,
        frame_posts: int | None = None,
        linger_s: float = 0.05,
        max_in_flight: int = 64,
        client_id: str = "social-triage-source",
    ) -> None:
        self.settings = settings
        self.frame_posts = frame_posts or settings.max_frame_posts
        self.linger_s = linger_s
        self.sink = BatchSink.from_settings(settings, client_id)
        self._buffers: dict[int, list[Any]] = defaultdict(list)
        self._oldest: dict[int, float] = {}
        self._in_flight: list[asyncio.Future[None]] = []
        self._max_in_flight = max_in_flight
        self.posts_sent = 0
        self.frames_sent = 0

    async def start(self) -> None:
        await self.sink.start()

    async def stop(self) -> None:
        await self.flush()
        await self.sink.stop()

    async def __aenter__(self) -> PostProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def buffered(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    async def add(self, post: Any) -> None:
        await self.add_many((post,))

    async def add_many(self, posts: Iterable[Any]) -> None:
        """Buffer posts by partition, stamped with one ingest time, and send what is full or due. A
        firehose source hands over a chunk per tick (source CPU at 9,000 posts/s: 0.32 cores with a call
        per post, 0.29 with chunks)."""
        stamp = datetime.now(UTC).isoformat()
        now = time.monotonic()
        for post in posts:
            if isinstance(post, dict) and not post.get("ingested_at"):
                post = {**post, "ingested_at": stamp}
            p = partition_of(post, self.settings)
            buf = self._buffers[p]
            if not buf:
                self._oldest[p] = now
            buf.append(post)
            if len(buf) >= self.frame_posts:
                await self._send(p)
        if self._oldest and time.monotonic() - min(self._oldest.values()) >= self.linger_s:
            await self._send_due()

    async def add_raw(self, value: bytes, partition: int = 0) -> None:
        """Write a record as it is (for systems that produce their own records, and for tests)."""
        await self._track(
            await self.sink.send(self.settings.topics.raw, [OutRecord(value, partition=partition)])
        )

    async def _send_due(self) -> None:
        now = time.monotonic()
        for p in [p for p, t in self._oldest.items() if now - t >= self.linger_s]:
            await self._send(p)

    async def _send(self, partition: int) -> None:
        posts = self._buffers.pop(partition, [])
        self._oldest.pop(partition, None)
        if not posts:
            return
        stored = await self.sink.send(
            self.settings.topics.raw, [OutRecord(orjson.dumps(posts), partition=partition)]
        )
        self.posts_sent += len(posts)
        self.frames_sent += 1
        await self._track(stored)

    async def _track(self, stored: asyncio.Future[None]) -> None:
        """Backpressure: at most ``max_in_flight`` unacknowledged frames; a slow broker slows the source."""
        self._in_flight.append(stored)
        if len(self._in_flight) >= self._max_in_flight:
            await self._await_in_flight()

    async def _await_in_flight(self) -> None:
        """Wait for every write in flight. A failed write raises once, here; the futures are dropped either
        way, so a source that reconnects after a Kafka outage starts clean instead of re-raising forever."""
        in_flight, self._in_flight = self._in_flight, []
        await asyncio.gather(*in_flight)

    async def flush(self) -> None:
        for p in list(self._buffers):
            await self._send(p)
        if self._in_flight:
            await self._await_in_flight()
