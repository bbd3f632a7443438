"""The worker's runtime: the parts around the two pure stages, built once and started in order.

Duties, each in a module of its own: the record driver (``driver``: offsets, gap repair, commits), the
stages' I/O (``stages``), data followed on every worker (``shared_data``), SLA clocks (``sla_monitor``),
periodic upkeep with the stall check (``upkeep``, ``stall``), and dedupe windows restored for newly
assigned partitions (``dedupe_restore``). This module only builds them from the settings and the few
functions the Faust app supplies (commit, recovery state, consumer state), and fans out the assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from classifiers import TextScorer, load_scorer
from stream.kafka.batch_sink import BatchSink
from stream.kafka.deadletter import dead_letter, reason_kind
from stream.kafka.frame_merger import FrameMerger
from stream.kafka.lag import LagMonitor
from stream.kafka.readers import read_range
from stream.kafka.records import TopicPartition
from stream.ops.sla_policy import load_sla_policy
from stream.ops.spikes import SpikeConfig, SpikeDetector
from stream.pipeline.triage import TriageStage
from stream.settings import Settings
from stream.state.changelog_store import ChangelogStore
from stream.state.partition_store import StoreOptions
from stream.tickets.customers import CustomerDirectory
from stream.tickets.ids import ticket_partition
from stream.tickets.routing import Router, load_rules
from stream.tickets.stage import TicketingStage
from stream.tickets.state import STATE_FORMAT, TicketState
from stream.worker.dedupe_restore import restore_windows
from stream.worker.driver import CommitFn, Delivery, Handler, RecordDriver
from stream.worker.gc_tuning import tune_gc
from stream.worker.metrics import Metrics
from stream.worker.shared_data import SharedData
from stream.worker.sla_monitor import SlaMonitor
from stream.worker.stages import RouteHandler, TriageHandler
from stream.worker.stall import StallDetector
from stream.worker.state_recovery import StateRecovery
from stream.worker.upkeep import Upkeep

__all__ = ["Delivery", "PipelineRuntime"]

log = logging.getLogger(__name__)


async def _no_commit(_: dict[TopicPartition, int]) -> bool:
    return False


class PipelineRuntime:
    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        scorer: TextScorer | None = None,
        store: ChangelogStore | None = None,
        commit: CommitFn = _no_commit,
        consumer_state: Callable[[], str] = lambda: "unknown",
    ) -> None:
        """``store``: the ticket states (default: on disk under ``settings.state_dir``); their changelog is
        written with each input's other outputs. ``commit``: commits the group's offsets of input
        partitions (through Faust's consumer; Faust's own commits are off)."""
        self.settings = settings
        topics = settings.topics
        kafka = settings.kafka
        self.metrics = metrics = metrics or Metrics()
        self.scorer = scorer or load_scorer(settings.model_dir)
        rules = load_rules(settings.rules_path)
        self.sink = BatchSink.from_settings(settings, f"{settings.app_id}-sink")
        # actionable frames of many raw records merged per partition: stage 2 pays per record
        self.forward = FrameMerger(
            self.sink,
            topics.actionable,
            linger_s=settings.forward_linger_s,
            max_bytes=min(settings.forward_max_bytes, settings.max_record_bytes // 2),
        )
        self.triage = TriageStage(settings, self.scorer)
        self.customers = CustomerDirectory()
        self.ticket_store = (
            store
            if store is not None
            else ChangelogStore(
                settings.state_dir,
                lambda key: ticket_partition(key.decode(), settings.partitions),
                STATE_FORMAT,
                StoreOptions(cache_bytes=settings.state_cache_mb * 1024 * 1024),
            )
        )
        self.recovery = StateRecovery(
            kafka,
            settings.ticket_changelog_topic,
            self.ticket_store,
            index=self._index_state,
            forget=self._forget_partition,
            metrics=metrics,
        )
        self.ticketing = TicketingStage(Router(rules), settings, self.ticket_store, self.customers)
        self.sla = SlaMonitor(
            load_sla_policy(settings.sla_path, queues={q.name for q in rules.queues} or None), metrics
        )
        self.spikes = SpikeDetector(SpikeConfig())
        self.shared = SharedData(
            kafka,
            customers_topic=topics.customers,
            rules_topic=topics.rules,
            customers=self.customers,
            apply_rules=self._apply_router,
            rules_source=str(settings.rules_path or "bundled default"),
            metrics=metrics,
            dead_letter=self._dead_letter,
            rules_limits={"max_rules": settings.rules_max_count, "max_bytes": settings.rules_max_bytes},
        )
        self.lag = LagMonitor(kafka, settings.app_id)
        self.driver = RecordDriver(
            metrics,
            start_offset=self.lag.start_offset,
            read_range=lambda topic, partition, start, end: read_range(kafka, topic, partition, start, end),
            commit=commit,
            before_revoke=self.forward.flush,
        )
        self.stall = StallDetector(settings.stall_after_s)
        self.handle_raw: Handler = TriageHandler(
            self.triage,
            sink=self.sink,
            forward=self.forward,
            spikes=self.spikes,
            metrics=metrics,
            topics=topics,
            score_chunk=settings.score_chunk,
            ensure_restored=self._ensure_restored,
        )
        self.handle_ticketing = RouteHandler(
            self.ticketing,
            store=self.ticket_store,
            changelog_topic=settings.ticket_changelog_topic,
            state_ready=self.recovery.wait,
            sla=self.sla,
            sink=self.sink,
            metrics=metrics,
            topics=topics,
        )
        self.upkeep = Upkeep(
            ticketing=self.ticketing,
            sla=self.sla,
            spikes=self.spikes,
            sink=self.sink,
            lag=self.lag,
            driver=self.driver,
            stall=self.stall,
            metrics=metrics,
            topics=topics,
            assigned=self.assigned_tps,
            restoring=lambda: set(self.recovery.restoring()),
            sweep=self.handle_ticketing.sweep,
            consumer_state=consumer_state,
        )
        self.ready = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._assigned_tps: set[TopicPartition] = set()
        self._assigned: set[int] = set()  # raw-topic partitions of the current assignment
        self._restored: set[int] = set()

    # --- what the web server and the ops API read ------------------------------------------------------
    @property
    def router(self) -> Router:
        return self.ticketing.router

    @property
    def rules_source(self) -> str:
        return self.shared.rules_source

    @property
    def stalled(self) -> bool:
        return self.stall.stalled

    def assigned_tps(self) -> set[TopicPartition]:
        return set(self._assigned_tps)

    def _apply_router(self, router: Router) -> None:
        self.ticketing.router = router

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready once started and every held partition's ticket state is whole; else what is restoring."""
        restoring, indexing = self.recovery.restoring(), self.recovery.indexing()
        kafka_ok = self.upkeep.broker_ok and not self.sink.retrying
        detail: dict[str, Any] = {"ready": self.ready.is_set() and not restoring and kafka_ok}
        if not kafka_ok:  # an outage: the worker waits and retries, losing nothing, and says so
            detail["kafka"] = "writes retrying" if self.sink.retrying else "unreachable"
        if restoring:
            detail["restoring"] = {
                str(p): {"replayed": r.replayed, "to_replay": r.to_replay}
                for p, r in sorted(restoring.items())
            }
        if indexing:  # ready: records flow; the backlog figures of these partitions are still filling in
            detail["indexing"] = {str(p): {"indexed": r.indexed} for p, r in sorted(indexing.items())}
        return bool(detail["ready"]), detail

    def _dead_letter(self, record: Any, reason: str) -> None:
        """A refused record of a followed topic (customers, rules) goes to the dead-letter topic."""
        letter = dead_letter(
            record.value or b"", reason, "route", record.topic, record.partition, record.offset, time.time()
        )
        self.metrics.dead_letters.labels("route", reason_kind(reason)).inc()

        async def send() -> None:
            try:
                await (await self.sink.send(self.settings.topics.deadletter, [letter]))
            except Exception:
                log.exception(
                    "dead letter for %s/%d@%d not written", record.topic, record.partition, record.offset
                )

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not running (a test calling the follower's callback directly)
            log.warning(
                "dead letter for %s/%d@%d not written: no event loop",
                record.topic,
                record.partition,
                record.offset,
            )
            return
        task = loop.create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _index_state(self, key: bytes, value: bytes) -> None:
        state = TicketState.loads(value)
        self.ticketing.index_state(state)
        if state.is_open:
            self.sla.open_state(state)

    def _forget_partition(self, partition: int) -> None:
        for tid, t in list(self.ticketing.open.items()):
            if t.partition == partition:
                self.sla.tracker.forget(tid)
        self.ticketing.forget_partition(partition)

    # --- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        tune_gc(self.settings.gc_young_threshold)  # after the model and rules are loaded: they stay frozen
        await self.sink.start()
        await self.shared.start()
        await self.lag.start()
        await self.upkeep.start()
        await self.driver.start()
        self.ready.set()
        log.info(
            "pipeline runtime started (scorer %s, %d routing rules)",
            self.scorer.version,
            len(self.router.rules.rules),
        )

    async def stop(self) -> None:
        self.ready.clear()
        await self.upkeep.stop()
        await self.forward.flush()
        await self.driver.stop()  # its final commit, after the merged frames went
        await self.shared.stop()
        await self.lag.stop()
        await self.sink.stop()
        await asyncio.sleep(0)  # the last stored writes reach the local stores (their done callbacks)
        await self.recovery.stop()  # closes the stores: each records how far its changelog reaches

    async def process_stream(self, stage: str, events: Any, handle: Handler) -> None:
        await self.driver.process_stream(stage, events, handle)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.driver.on_revoked(revoked)

    # --- assignment ------------------------------------------------------------------------------------
    def on_assignment(self, assigned: set[TopicPartition]) -> None:
        """Forget windows of partitions this worker lost or newly got: a new owner restores from the log."""
        topics = self.settings.topics
        assigned = {TopicPartition(*tp) for tp in assigned}
        for topic in (topics.raw, topics.actionable):
            self.metrics.assigned_partitions.labels(topic).set(sum(1 for t, _ in assigned if t == topic))
        self.driver.on_assignment(assigned)
        self._assigned_tps = assigned
        self.recovery.assign({p for t, p in assigned if t == topics.actionable})
        raw_partitions = {p for t, p in assigned if t == topics.raw}
        newly = raw_partitions - self._assigned
        for p in list(self.triage.windows):
            if p not in raw_partitions or p in newly:
                del self.triage.windows[p]
        self._restored = (self._restored & raw_partitions) - newly
        self._assigned = set(raw_partitions)

    async def _ensure_restored(self, partition: int) -> None:
        """Before the first frame of a newly assigned partition: restore every assigned raw partition that
        still needs it, in one pass."""
        if partition in self._restored:
            return
        wanted = (self._assigned | {partition}) - self._restored
        started = time.perf_counter()
        counts = await restore_windows(
            self.settings.kafka,
            self.settings.topics.dedupe_changelog,
            {p: self.triage.window(p) for p in wanted},
        )
        self._restored |= wanted
        self.metrics.dedupe_restored.inc(sum(counts.values()))
        log.info(
            "restored %d dedupe keys for partitions %s in %.2fs",
            sum(counts.values()),
            sorted(wanted),
            time.perf_counter() - started,
        )


def where_of(record: Any) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset
