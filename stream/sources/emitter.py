"""The one path from an adapter to Kafka: produce, count, and store the resume position only once it is safe.

Positions passed with posts are *pending* until a commit has flushed the producer; only then are they
written to the checkpoint. Waiting posts are bounded by ``commit_every``: at that count the emitter flushes,
and while the flush (or the producer's own in-flight limit) waits on Kafka the adapter is not reading.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from stream.sources.checkpoint import CheckpointStore
from stream.sources.metrics import SourceMetrics
from stream.sources.post_sink import PostSink

__all__ = ["Emitter"]

log = logging.getLogger(__name__)


def _created_ts(post: dict[str, Any]) -> float | None:
    value = post.get("created_at")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return value.timestamp() if isinstance(value, datetime) else None


class Emitter:
    """Hands posts to a :class:`PostSink`, tracks what waits on Kafka, and commits resume positions."""

    def __init__(
        self,
        name: str,
        sink: PostSink,
        metrics: SourceMetrics,
        store: CheckpointStore | None,
        *,
        commit_every: int = 1000,
        commit_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.sink = sink
        self.metrics = metrics
        self.store = store
        self.commit_every = max(1, commit_every)
        self.commit_interval_s = commit_interval_s
        self.clock = clock
        self.state: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self._committing: dict[str, Any] = {}
        self.waiting = 0
        self.produced = 0
        self._last_commit = time.monotonic()
        self._lock = asyncio.Lock()
        self._m_produced = metrics.produced.labels(name)
        self._m_waiting = metrics.waiting.labels(name)
        self._m_blocked = metrics.blocked.labels(name)
        self._m_last = metrics.last_event.labels(name)
        self._m_lag = metrics.lag.labels(name)

    def restore(self) -> dict[str, Any]:
        """Load the committed position (``{}`` when starting fresh)."""
        self.state = self.store.load(self.name) if self.store is not None else {}
        self._pending.clear()
        return dict(self.state)

    @property
    def position(self) -> dict[str, Any]:
        """Where to resume now: the committed state plus positions of posts handed over since."""
        return {**self.state, **self._committing, **self._pending}

    async def emit(self, post: dict[str, Any], **position: Any) -> None:
        """Produce one post; ``position`` (e.g. ``cursor=...``) becomes durable with the next commit."""
        start = time.monotonic()
        await self.sink.add(post)
        waited = time.monotonic() - start
        if waited > 0.005:
            self._m_blocked.inc(waited)
        self.waiting += 1
        self.produced += 1
        self._m_waiting.set(self.waiting)
        self._m_produced.inc()
        now = self.clock()
        self._m_last.set(now)
        created = _created_ts(post)
        if created is not None:
            self._m_lag.set(max(0.0, now - created))
        if position:
            self._pending.update(position)
        await self.maybe_commit()

    async def advance(self, **position: Any) -> None:
        """Move the position without a post (filtered events, empty polls)."""
        self._pending.update(position)
        await self.maybe_commit()

    async def maybe_commit(self) -> None:
        if self.waiting >= self.commit_every or (
            (self.waiting or self._pending) and time.monotonic() - self._last_commit >= self.commit_interval_s
        ):
            await self.commit()

    async def commit(self) -> None:
        """Flush the producer, then store the positions handed over before the flush began. If the flush
        fails, pending positions are dropped so the adapter resumes from the last stored one (re-sending
        rather than skipping)."""
        async with self._lock:
            taken, self._pending = self._pending, {}
            self._committing = taken
            covered = self.waiting
            start = time.monotonic()
            try:
                await self.sink.flush()
            except BaseException:
                self._pending.clear()
                raise
            finally:
                self._committing = {}
                waited = time.monotonic() - start
                if waited > 0.005:
                    self._m_blocked.inc(waited)
            self.waiting -= covered
            self._m_waiting.set(self.waiting)
            self._last_commit = time.monotonic()
            if taken:
                self.state.update(taken)
                if self.store is not None:
                    self.store.save(self.name, self.state)
                    self.metrics.checkpoint.labels(self.name).set(self.clock())
