"""Merges the frames that many input records send to one partition of a stage topic into fewer, bigger
records.

Why: the route stage pays Faust's cost per record (~450 us, FACTS.md). Each raw frame splits its actionable
posts over every ticket partition. At 5,000 posts/s over 4 partitions a source's 50 ms frame holds ~60 posts,
about half of them actionable, so a raw frame became up to four stage-2 records of ~7 posts each (arithmetic,
not counted), and stage 2 paid a record's cost for every few posts. Here
the frames bound for a partition wait up to ``linger_s`` (or until ``max_bytes``) and go out as one JSON
array. Frames are JSON arrays, so merging is byte splicing: nothing is parsed again.

Each caller gets a future that completes once Kafka has stored the merged record holding its frames, so an
input is still committed only after its outputs are stored (at-least-once, as with the sink alone).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from stream.kafka.batch_sink import BatchSink
from stream.kafka.records import OutRecord

__all__ = ["FrameMerger", "merge_frames"]


def merge_frames(frames: Iterable[bytes]) -> bytes:
    """``[a,b]`` and ``[c]`` -> ``[a,b,c]``: the elements of JSON-array frames, in order, in one array."""
    bodies = [f[1:-1].strip() for f in frames]
    return b"[" + b",".join(b for b in bodies if b) + b"]"


@dataclass
class _Buffer:
    frames: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class FrameMerger:
    def __init__(self, sink: BatchSink, topic: str, *, linger_s: float, max_bytes: int) -> None:
        self.sink = sink
        self.topic = topic
        self.linger_s = linger_s
        self.max_bytes = max_bytes
        self._buffers: dict[int, _Buffer] = {}
        self._flushing: set[asyncio.Task[None]] = set()
        self.records_in = 0
        self.records_out = 0

    @property
    def buffered_bytes(self) -> int:
        return sum(b.nbytes for b in self._buffers.values())

    async def add(self, records: Iterable[OutRecord]) -> asyncio.Future[None]:
        """Queue frames (records with a partition and a JSON-array value); the result completes once every
        one of them is stored. ``linger_s`` <= 0 sends them on at once, unmerged."""
        recs = list(records)
        loop = asyncio.get_running_loop()
        if self.linger_s <= 0:
            return await self.sink.send(self.topic, recs)
        waits: list[asyncio.Future[None]] = []
        for rec in recs:
            if rec.partition is None or rec.value is None:
                raise ValueError("a frame to merge needs its partition and a value")
            self.records_in += 1
            buf = self._buffers.setdefault(rec.partition, _Buffer())
            if buf.nbytes and buf.nbytes + len(rec.value) > self.max_bytes:
                await self._flush(rec.partition)
                buf = self._buffers.setdefault(rec.partition, _Buffer())
            done: asyncio.Future[None] = loop.create_future()
            buf.frames.append(rec.value)
            buf.nbytes += len(rec.value)
            buf.waiters.append(done)
            waits.append(done)
            if buf.nbytes >= self.max_bytes:
                await self._flush(rec.partition)
            elif buf.timer is None:
                buf.timer = loop.call_later(self.linger_s, self._due, rec.partition)
        return asyncio.ensure_future(_all(waits))

    def _due(self, partition: int) -> None:
        task = asyncio.ensure_future(self._flush(partition))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, partition: int) -> None:
        buf = self._buffers.pop(partition, None)
        if buf is None or not buf.frames:
            return
        if buf.timer is not None:
            buf.timer.cancel()
        value = buf.frames[0] if len(buf.frames) == 1 else merge_frames(buf.frames)
        self.records_out += 1
        try:
            stored = await self.sink.send(self.topic, [OutRecord(value=value, partition=partition)])
        except Exception as exc:  # the sink is gone: the inputs must not be committed
            for w in buf.waiters:
                if not w.done():
                    w.set_exception(exc)
            return
        stored.add_done_callback(lambda f: _settle(f, buf.waiters))

    async def flush(self) -> None:
        """Send everything buffered now (before stopping, or to make a commit catch up)."""
        for p in list(self._buffers):
            await self._flush(p)
        if self._flushing:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._flushing)


def _settle(stored: asyncio.Future[None], waiters: list[asyncio.Future[None]]) -> None:
    exc = None if stored.cancelled() else stored.exception()
    for w in waiters:
        if w.done():
            continue
        if stored.cancelled():
            w.cancel()
        elif exc is not None:
            w.set_exception(exc)
        else:
            w.set_result(None)


async def _all(waits: list[asyncio.Future[None]]) -> None:
    await asyncio.gather(*waits)
