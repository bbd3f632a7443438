"""Ticket state for the partitions this worker is assigned: opened from local disk, brought to the end of
the changelog, indexed, and only then handed to the route stage.

Duties: on an assignment, open each new partition's store and recover it in the background (the rebalance
callback never waits for it); let the route stage wait per partition (:meth:`StateRecovery.wait`) until
its state is whole, so a worker never routes on a state older than the changelog; then index the
partition's open tickets (backlog, SLA clocks) in slices that yield to the event loop, while its records
already flow (indexing a million tickets takes about a minute; the state is whole in seconds); report
progress for readiness; and on a revocation cancel, forget and close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stream.kafka.connection import KafkaConnection
from stream.state.changelog_store import ChangelogStore
from stream.state.recovery import recover_partition
from stream.worker.metrics import Metrics

__all__ = ["RecoveryProgress", "StateRecovery"]

log = logging.getLogger(__name__)

INDEX_SLICE = 2000  # states indexed between two yields to the event loop


@dataclass(slots=True)
class RecoveryProgress:
    """One partition's restore: changelog records replayed out of (an estimate of) how many."""

    partition: int
    replayed: int = 0
    to_replay: int = 0
    indexed: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the state is whole: records may flow
    indexing: bool = True  # open tickets still joining the backlog and SLA clocks
    started: float = field(default_factory=time.monotonic)


class StateRecovery:
    def __init__(
        self,
        connection: KafkaConnection,
        changelog_topic: str,
        store: ChangelogStore,
        *,
        index: Callable[[bytes, bytes], None],
        forget: Callable[[int], None],
        metrics: Metrics,
    ) -> None:
        """``index(key, value)``: a recovered state joins the backlog and SLA clocks. ``forget(partition)``:
        a revoked partition's tickets leave them."""
        self.connection = connection
        self.changelog_topic = changelog_topic
        self.store = store
        self.index = index
        self.forget = forget
        self.metrics = metrics
        self.progress: dict[int, RecoveryProgress] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def assign(self, partitions: set[int]) -> None:
        """The partitions of the route stage this worker now holds: recover the new ones, drop the others."""
        for p in sorted(set(self.progress) - partitions):
            self._drop(p)
        for p in sorted(partitions - set(self.progress)):
            self.progress[p] = RecoveryProgress(p)
            self._tasks[p] = asyncio.create_task(self._recover(p), name=f"recover-state-{p}")
        self._gauge()

    async def wait(self, partition: int) -> None:
        progress = self.progress.get(partition)
        if progress is None:  # a record of a partition not (or no longer) assigned: recover it first
            self.assign(set(self.progress) | {partition})
            progress = self.progress[partition]
        await progress.done.wait()

    def restoring(self) -> dict[int, RecoveryProgress]:
        return {p: r for p, r in self.progress.items() if not r.done.is_set()}

    def indexing(self) -> dict[int, RecoveryProgress]:
        return {p: r for p, r in self.progress.items() if r.done.is_set() and r.indexing}

    async def stop(self) -> None:
        for p in list(self.progress):
            task = self._tasks.pop(p, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.progress.clear()
        self.store.close()

    def _drop(self, partition: int) -> None:
        self.progress.pop(partition, None)
        self.forget(partition)
        task = self._tasks.pop(partition, None)
        if task is not None and not task.done():
            # it may hold an iterator over the store: close the store once the task has ended
            task.cancel()
            task.add_done_callback(lambda _: self._close_unless_held(partition))
        else:
            self._close_unless_held(partition)

    def _close_unless_held(self, partition: int) -> None:
        if partition not in self.progress:
            self.store.close_partition(partition)

    async def _recover(self, partition: int) -> None:
        progress = self.progress[partition]
        delay = 0.5
        while True:
            try:
                store = self.store.open_partition(partition)

                def report(replayed: int, to_replay: int) -> None:
                    progress.replayed, progress.to_replay = replayed, to_replay

                done = await recover_partition(
                    self.connection, self.changelog_topic, partition, store, progress=report
                )
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away: the partition waits, the worker stays not ready
                log.warning(
                    "recovering state partition %d failed (%r); retrying in %.1fs", partition, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.metrics.state_restored_records.inc(done.records)
        if done.reset is not None:
            self.metrics.state_resets.inc()
        # The state is whole: records of the partition may flow now. Its open tickets join the backlog
        # and SLA clocks meanwhile, in slices; a state the route stage writes during the scan is newer
        # than what the scan reads, and is indexed by the stage itself, so the scan skips it.
        newer = self.store.watch(partition)
        progress.done.set()
        self._gauge()
        log.info(
            "state partition %d ready: %d changelog records replayed, %.2fs; indexing its tickets",
            partition,
            done.records,
            time.monotonic() - progress.started,
        )
        n = 0
        try:
            for key, value in store.items():
                if key not in newer:
                    self.index(key, value)
                n += 1
                if n % INDEX_SLICE == 0:
                    progress.indexed = n
                    await asyncio.sleep(0)  # a million states must not freeze health checks and heartbeats
        finally:
            self.store.unwatch(partition)
        progress.indexed, progress.indexing = n, False
        self._gauge()
        log.info(
            "state partition %d indexed: %d states in %.2fs",
            partition,
            n,
            time.monotonic() - progress.started,
        )

    def _gauge(self) -> None:
        self.metrics.state_partitions_restoring.set(len(self.restoring()))
        self.metrics.state_partitions_indexing.set(len(self.indexing()))
