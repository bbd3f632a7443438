"""The worker's periodic upkeep, every two seconds: what no input record triggers.

Duties: re-index the open tickets after a rebalance (and rebuild their SLA clocks), advance SLA clocks and
spike buckets and write the alerts they raise, refresh the backlog gauges, measure consumer lag, and run
the stall check, handing records that never reached an agent to the driver's separate reader.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from stream.kafka.batch_sink import BatchSink
from stream.kafka.lag import LagMonitor
from stream.kafka.records import OutRecord, TopicPartition
from stream.ops.spikes import SpikeDetector
from stream.settings import TopicNames
from stream.tickets.stage import TicketingStage
from stream.worker.driver import RecordDriver
from stream.worker.metrics import Metrics
from stream.worker.sla_monitor import SlaMonitor
from stream.worker.stages import spike_alerts
from stream.worker.stall import StallDetector

__all__ = ["Upkeep"]

log = logging.getLogger(__name__)


class Upkeep:
    def __init__(
        self,
        *,
        ticketing: TicketingStage,
        sla: SlaMonitor,
        spikes: SpikeDetector,
        sink: BatchSink,
        lag: LagMonitor,
        driver: RecordDriver,
        stall: StallDetector,
        metrics: Metrics,
        topics: TopicNames,
        assigned: Callable[[], set[TopicPartition]],
        restoring: Callable[[], set[int]],
        sweep: Callable[[float], Awaitable[int]],
        consumer_state: Callable[[], str],
        every_s: float = 2.0,
    ) -> None:
        self.ticketing = ticketing
        self.sla = sla
        self.spikes = spikes
        self.sink = sink
        self.lag = lag
        self.driver = driver
        self.stall = stall
        self.metrics = metrics
        self.topics = topics
        self.assigned = assigned
        self.restoring = restoring  # partitions of the route stage whose state is being restored
        self.sweep = sweep  # expires idle tickets, forgets closed ones past their reopen window
        self.consumer_state = consumer_state
        self.every_s = every_s
        self._retries_seen = 0
        self.broker_ok = True  # the last look at the group's offsets got an answer
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="ops-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.run_once(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:  # keep refreshing; a bug here must not stop the pipeline
                log.exception("ops refresh failed")

    async def run_once(self, now: float) -> None:
        await self.sweep(now)
        alerts = self.refresh(now)
        if alerts:
            await (await self.sink.send(self.topics.alerts, alerts))
        t = self.topics
        inputs = {t.raw, t.actionable, t.ticket_events, t.commands}
        stage2 = {t.actionable, t.ticket_events, t.commands}
        restoring = self.restoring()
        # a partition whose state is being restored waits by design: neither lag to report as stuck nor
        # a stall to repair (its records reach the route stage once the state is whole)
        held = {
            tp for tp in self.assigned() if tp[0] in inputs and not (tp[0] in stage2 and tp[1] in restoring)
        }
        try:
            lag = await self.lag.measure(held)
        except Exception:
            self.broker_ok = False  # not ready until the broker answers again
            raise
        self.broker_ok = True
        self._notice_lost_logs(lag)
        self.metrics.consumer_lag.clear()
        for (topic, partition), (n, _) in lag.items():
            self.metrics.consumer_lag.labels(topic, str(partition)).set(n)
        await self.check_stall(lag, time.monotonic())

    def _notice_lost_logs(self, lag: dict[TopicPartition, tuple[int, int]]) -> None:
        """A broker that comes back empty (the embedded one keeps nothing across a restart) has lost the
        group's offsets too: a partition this worker committed past 0 now reads as uncommitted. Its guards
        would take every new record for a repeat of an old one and skip it, so they start over."""
        stored = self.driver.stored_offsets
        for tp, (_, committed) in lag.items():
            ours = stored.last_committed(tp)
            if ours is not None and ours > 0 and committed == 0:
                log.warning(
                    "%s/%d: the group's committed offset went from %d back to 0: the broker lost this "
                    "partition's log; its offset guards start over (records from offset 0 are new)",
                    tp[0],
                    tp[1],
                    ours,
                )
                self.driver.log_restarted(tp)

    async def check_stall(self, lag: dict[TopicPartition, tuple[int, int]], now: float) -> None:
        driver = self.driver
        verdict = self.stall.check(
            {TopicPartition(*tp): v for tp, v in lag.items()},
            now,
            sink_flushes=self.sink.flushes,
            in_flight=driver.stored_offsets.in_flight,
            first_unhandled=driver.offsets.first_unhandled,
        )
        if verdict.began:
            log.error(
                "pipeline stalled: input waiting %s, nothing committed for %.0fs; handled %s; stored %s; "
                "sink queue %d bytes after %d flushes; consumer: %s",
                verdict.stuck,
                self.stall.stall_after_s,
                driver.offsets.handled,
                {tp: driver.stored_offsets.stored(tp) for tp in driver.offsets.handled},
                self.sink.queued_bytes,
                self.sink.flushes,
                self.consumer_state(),
            )
        elif verdict.ended:
            log.warning("pipeline moving again")
        self.metrics.stalled.set(1 if verdict.stalled else 0)
        for tp, start, end in verdict.unread:
            if await driver.fill_unread(tp, start, end):
                self.stall.forget(tp)

    def refresh(self, now: float) -> list[OutRecord]:
        """Advance SLA clocks and spike buckets, refresh the backlog gauges (the index of open tickets is
        kept by the stage, and filled per partition as its state is restored). Returns the alerts."""
        alerts = self.sla.advance(now)
        alerts += spike_alerts(self.spikes.tick(now), self.metrics)
        open_tickets = self.ticketing.open
        oldest = open_tickets.oldest()
        m = self.metrics
        m.backlog.clear()  # queues and agents that emptied must drop out, not keep their last value
        backlog: collections.Counter[tuple[str, str, str]] = collections.Counter()
        for (queue, priority, agent), n in open_tickets.counts.items():
            backlog[(queue, str(priority), agent or "")] += n
        for labels, n in backlog.items():
            m.backlog.labels(*labels).set(n)
        m.oldest_open.clear()
        for queue, created in oldest.items():
            m.oldest_open.labels(queue).set(max(0.0, now - created))
        if self.sink.retries > self._retries_seen:
            m.write_retries.inc(self.sink.retries - self._retries_seen)
            self._retries_seen = self.sink.retries
        m.spike_active.clear()
        for spike in self.spikes.active():
            m.spike_active.labels(spike.kind, spike.key).set(1)
        return alerts
