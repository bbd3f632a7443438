"""Drives an agent's records through a stage handler, at least once and in order.

Duties: hand each record to its stage once (a redelivery after a stall repair or a rebalance is skipped);
notice records the consumer skipped and have them read by a separate reader and handled first; pipeline
the outputs' writes; and commit, per partition, exactly the prefix of records whose outputs Kafka has
stored (``stream.kafka.offsets``). Faust's own commits are off: its commit logic can pass a record it
never delivered.

Collaborators come in through the constructor: the group's committed-offset lookup, the range reader and
the commit call are small functions, so tests drive the loop without a broker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from stream.kafka.offsets import Fill, OffsetGuard, StoredOffsets
from stream.kafka.records import TopicPartition
from stream.worker.metrics import Metrics

__all__ = ["CommitFn", "Delivery", "Handler", "RangeReader", "RecordDriver"]

log = logging.getLogger(__name__)

Delivery = asyncio.Future[None]
# a stage: (value, topic, partition, offset) -> a future for "every output of this record is stored"
Handler = Callable[[bytes | None, str, int, int], Awaitable[Delivery]]
# reads records start <= offset < end of a partition, in batches (stream.kafka.partition_reader.read_range)
RangeReader = Callable[[str, int, int, int], AsyncIterator[list[Any]]]
CommitFn = Callable[[dict[TopicPartition, int]], Awaitable[bool]]
StartOffsetFn = Callable[[str, int], Awaitable[int | None]]


class RecordDriver:
    def __init__(
        self,
        metrics: Metrics,
        *,
        start_offset: StartOffsetFn,
        read_range: RangeReader,
        commit: CommitFn,
        before_revoke: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.metrics = metrics
        self._start_offset_of = start_offset
        self._read_range = read_range
        self._commit = commit
        self._before_revoke = before_revoke
        self.offsets = OffsetGuard()
        self.stored_offsets = StoredOffsets()
        self._locks: dict[TopicPartition, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        # per input topic, the stage handler the stall repair hands unread records to
        self._handlers: dict[str, Handler] = {}
        self._commit_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._commit_task = asyncio.create_task(self._commit_loop(), name="commit")

    async def stop(self) -> None:
        if self._commit_task is not None:
            self._commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_task
        try:
            await asyncio.wait_for(self.commit_stored(), timeout=5.0)
        except Exception as exc:  # the group may be gone already; the next owner replays a little more
            log.info("final commit skipped: %r", exc)

    def log_restarted(self, tp: TopicPartition) -> None:
        """The partition's log went back to its start under us (the broker lost it): what this worker
        handled and committed before no longer exists, so none of it may mark a new record as a repeat."""
        self.offsets.reset(tp)
        self.stored_offsets.reset(tp)
        self.metrics.log_restarts.labels(tp[0]).inc()

    def on_assignment(self, assigned: set[TopicPartition]) -> None:
        self.offsets.on_assignment(set(assigned))
        self.stored_offsets.on_assignment(set(assigned))

    async def process_stream(
        self, stage: str, events: Any, handle: Handler, max_in_flight: int = 256
    ) -> None:
        """Drive an agent's stream: records are processed in order, outputs are written pipelined, and each
        input counts as done (so its offset may be committed) only once its outputs are stored.

        Awaiting each frame's outputs before the next would put a broker round trip (acks=all) on every
        record: fine for 1000-post frames, ruinous for the small frames a quiet stream makes.
        """
        in_flight: collections.deque[Delivery] = collections.deque()
        async for event in events:
            msg = event.message
            if msg.timestamp:  # Faust gives seconds
                self.metrics.record_age.labels(stage).observe(max(0.0, time.time() - msg.timestamp))
            tp = TopicPartition(msg.topic, msg.partition)
            async with self._locks[tp]:
                committed = self.stored_offsets.last_committed(tp)
                if committed is not None and msg.offset < committed:
                    # The consumer seeks to the committed offset, never before it, unless the log itself
                    # started over (a broker back empty resets the position to the new log's start).
                    log.warning(
                        "%s/%d: offset %d arrives after %d was committed: the log started over; its "
                        "offset guards start over too",
                        *tp,
                        msg.offset,
                        committed,
                    )
                    self.log_restarted(tp)
                if self.offsets.already_handled(tp, msg.offset):
                    event.ack()  # handled already (stall repair, or before a rebalance): not twice
                    self.metrics.redelivered.labels(msg.topic).inc()
                    continue
                start = None
                if self.offsets.needs_start(tp):  # first record of the partition since the assignment
                    self._handlers[msg.topic] = handle  # for the stall repair
                    start = await self._start_offset(tp)
                fill = self.offsets.admit(tp, msg.offset, start)
                if fill is not None:
                    # Stored before this record is tracked, so its commit can never pass them.
                    await self._fill(fill, tp, handle)
                delivery = await handle(msg.value, msg.topic, msg.partition, msg.offset)
                stored = self.stored_offsets.track(tp, msg.offset)
            delivery.add_done_callback(functools.partial(self._on_stored, event, stored))
            in_flight.append(delivery)
            while in_flight and in_flight[0].done():
                in_flight.popleft().result()  # re-raises a failed write: crash, restart, replay uncommitted
            if len(in_flight) >= max_in_flight:
                await in_flight[0]

    async def fill_unread(self, tp: TopicPartition, start: int, end: int) -> bool:
        """Input waits on a partition, nothing reaches the agent, and the records were never handed to us:
        the consumer counted them as read. Handle them with the separate reader. True if any were."""
        handle = self._handlers.get(tp[0])
        if handle is None:
            return False
        async with self._locks[tp]:
            start = self.offsets.first_unhandled(tp, start)
            if start >= end:
                return False
            await self._fill(Fill(start, end, "input waits and none of it reaches the agent"), tp, handle)
            self.offsets.filled(tp, end)
            self.stored_offsets.track(tp, end - 1)()
        return True

    async def _fill(self, fill: Fill, tp: TopicPartition, handle: Handler) -> None:
        """Handle records the consumer skipped, read with a separate reader, and wait until their outputs are
        stored. Their offsets are committed along with the record that revealed the gap."""
        log.warning("%s/%d: %s; handling offsets %d..%d first", *tp, fill.reason, fill.start, fill.end - 1)
        self.metrics.rereads.labels(tp[0]).inc()
        pending: list[Delivery] = []
        n = 0
        async for batch in self._read_range(tp[0], tp[1], fill.start, fill.end):
            for record in batch:
                pending.append(await handle(record.value, tp[0], tp[1], record.offset))
            n += len(batch)
        await asyncio.gather(*pending)
        log.info("%s/%d: %d skipped records handled", *tp, n)

    async def _start_offset(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of a partition (else its log start). Asked until the broker answers:
        without it, records skipped before the first one we see could be committed unseen."""
        delay = 0.5
        while True:
            try:
                return await self._start_offset_of(*tp)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker hiccup: wait for it, the stream waits with us
                log.warning("could not look up the committed offset of %s/%d (%r); retrying", *tp, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _commit_loop(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.commit_stored()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed commit is retried next time; the records are stored either way
                log.exception("commit failed")

    async def commit_stored(self, only: set[TopicPartition] | None = None) -> None:
        """Commit, per partition, up to the last record whose outputs (and every earlier one's) are stored."""
        offsets = self.stored_offsets.committable()
        if only is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp in only}
        if offsets and await self._commit(offsets):
            self.stored_offsets.committed(offsets)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what is stored before the partitions go: their next owner starts there."""
        if self._before_revoke is not None:
            await self._before_revoke()  # e.g. merged frames waiting for their linger go now
        try:
            await self.commit_stored(only=revoked)
        except Exception as exc:  # the next owner replays a little more; nothing is lost
            log.warning("commit on revocation failed: %r", exc)

    def _on_stored(self, event: Any, stored: Callable[[], None], delivery: Delivery) -> None:
        msg = event.message
        if not delivery.cancelled() and delivery.exception() is None:
            stored()
            event.ack()  # Faust's bookkeeping (shutdown waits for acks); commits are ours
        else:
            problem = "cancelled" if delivery.cancelled() else repr(delivery.exception())
            log.error(
                "outputs of %s/%d@%d were not stored: %s", msg.topic, msg.partition, msg.offset, problem
            )
