"""The I/O side of the two stages: read a record, run the pure stage, write its outputs, count.

An input's offset is committed (by this runtime, see ``stream.kafka.offsets``) only once Kafka has stored its
outputs and those of every input before it: at-least-once. Ticket ids are deterministic and lifecycle
events carry ids, so a replay rewrites the same tickets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from classifiers import TextScorer, load_scorer
from schemas.events import Outcome
from schemas.ops import Alert
from schemas.rules import RoutingRules
from schemas.timestamps import utc_from_epoch
from stream.kafka.batch_sink import BatchSink, OutRecord
from stream.kafka.follower import TopicFollower
from stream.kafka.frame_merger import FrameMerger
from stream.kafka.lag import LagMonitor
from stream.kafka.offsets import Fill, OffsetGuard, StoredOffsets
from stream.kafka.partition_reader import read_range
from stream.ops.sla import SlaStatus, SlaTracker, SlaTransition, load_sla_policy
from stream.ops.spikes import SpikeConfig, SpikeDetector, SpikeEvent
from stream.pipeline.dedupe import encode_delta
from stream.pipeline.triage import TriageOutput, TriageStage
from stream.settings import Settings
from stream.tickets.customers import CustomerDirectory
from stream.tickets.routing import Router, load_rules
from stream.tickets.stage import TicketingOutput, TicketingStage
from stream.tickets.store import ChangelogStore
from stream.worker.dedupe_restore import restore_windows
from stream.worker.gc_tuning import tune_gc
from stream.worker.metrics import Metrics

__all__ = ["Delivery", "PipelineRuntime"]


Delivery = asyncio.Future[None]

log = logging.getLogger(__name__)


class PipelineRuntime:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        scorer: TextScorer | None = None,
        store: MutableMapping[bytes, bytes] | None = None,
        changelog_topic: str | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.scorer = scorer or load_scorer(settings.model_dir)
        self.triage = TriageStage(settings, self.scorer)
        self.customers = CustomerDirectory()
        rules = load_rules(settings.rules_path)
        # ticket states: the table's data; their changelog is written with each input's other outputs
        self.ticket_store = ChangelogStore(store if store is not None else {})
        self.changelog_topic = changelog_topic
        self.ticketing = TicketingStage(Router(rules), settings, self.ticket_store, self.customers)
        self.sla_policy = load_sla_policy(settings.sla_path, queues={q.name for q in rules.queues} or None)
        self.sla = SlaTracker(self.sla_policy)
        self.spikes = SpikeDetector(SpikeConfig())
        self.rules_source = str(settings.rules_path or "bundled default")
        self.sink = BatchSink(settings, client_id=f"{settings.app_id}-sink")
        # actionable frames of many raw records merged per partition: stage 2 pays per record
        self.forward = FrameMerger(
            self.sink,
            settings.topics.actionable,
            linger_s=settings.forward_linger_s,
            max_bytes=min(settings.forward_max_bytes, settings.max_record_bytes // 2),
        )
        self.followers = [
            TopicFollower(settings, settings.topics.customers, self._on_customer),
            TopicFollower(settings, settings.topics.rules, self._on_rules),
        ]
        self.is_recovering: Callable[[], bool] = lambda: False
        self.ready = asyncio.Event()
        self._restored: set[int] = set()
        self._assigned: set[int] = set()  # raw-topic partitions of the current assignment
        self._assigned_tps: set[tuple[str, int]] = set()
        self._indexed: frozenset[int] | None = None
        self._ops_task: asyncio.Task[None] | None = None
        self.lag = LagMonitor(settings)
        self._retries_seen = 0
        self._committed_seen: dict[tuple[str, int], tuple[int, float]] = {}  # committed offset, since when
        self._flushes_seen = 0  # the sink's flush count at the last stall check
        self.offsets = OffsetGuard()
        self.stored_offsets = StoredOffsets()
        self._partition_locks: dict[tuple[str, int], asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        # per input topic, the stage handler the stall repair hands unread records to
        self._handlers: dict[str, Callable[[bytes | None, str, int, int], Awaitable[Delivery]]] = {}
        self.stalled = False
        self.consumer_state: Callable[[], str] = lambda: "unknown"
        # commits the group's offsets of input partitions (the app sets it; Faust's own commits are off)
        self.commit: Callable[[dict[tuple[str, int], int]], Awaitable[bool]] | None = None
        self._commit_task: asyncio.Task[None] | None = None

    @property
    def router(self) -> Router:
        return self.ticketing.router

    async def start(self) -> None:
        tune_gc(self.settings.gc_young_threshold)  # after the model and rules are loaded: they stay frozen
        await self.sink.start()
        for follower in self.followers:
            await follower.start()
        await self.lag.start()
        self._ops_task = asyncio.create_task(self._ops_loop(), name="ops-refresh")
        self._commit_task = asyncio.create_task(self._commit_loop(), name="commit")
        self.ready.set()
        log.info(
            "pipeline runtime started (scorer %s, %d routing rules)",
            self.scorer.version,
            len(self.router.rules.rules),
        )

    async def stop(self) -> None:
        self.ready.clear()
        for task in (self._ops_task, self._commit_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.forward.flush()
        try:
            await asyncio.wait_for(self.commit_stored(), timeout=5.0)
        except Exception as exc:  # the group may be gone already; the next owner replays a little more
            log.info("final commit skipped: %r", exc)
        for follower in self.followers:
            await follower.stop()
        await self.lag.stop()
        await self.sink.stop()

    # --- assignment ------------------------------------------------------------------------------------
    def assigned_tps(self) -> set[tuple[str, int]]:
        return set(self._assigned_tps)

    def on_assignment(self, assigned: set[tuple[str, int]]) -> None:
        """Forget windows of partitions this worker lost or newly got: a new owner restores from the log."""
        topics = self.settings.topics
        for topic in (topics.raw, topics.actionable):
            self.metrics.assigned_partitions.labels(topic).set(sum(1 for t, _ in assigned if t == topic))
        self.offsets.on_assignment(set(assigned))
        self.stored_offsets.on_assignment(set(assigned))
        self._assigned_tps = set(assigned)
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
        counts = await restore_windows(self.settings, {p: self.triage.window(p) for p in wanted})
        self._restored |= wanted
        self.metrics.dedupe_restored.inc(sum(counts.values()))
        log.info(
            "restored %d dedupe keys for partitions %s in %.2fs",
            sum(counts.values()),
            sorted(wanted),
            time.perf_counter() - started,
        )

    # --- shared data followed on every worker ----------------------------------------------------------
    def _on_customer(self, record: ConsumerRecord) -> None:
        self.customers.on_record(record)
        self.metrics.customers_known.set(len(self.customers))

    def _on_rules(self, record: ConsumerRecord) -> None:
        """A rules document from the rules topic replaces the rules in force; a bad one is refused and the
        rules in force stay (the ops API validates before writing; this guards against other writers)."""
        if record.value is None:
            return
        try:
            rules = RoutingRules.model_validate_json(record.value)
        except ValidationError as exc:
            self.metrics.rules_updates.labels("rejected").inc()
            log.error("routing rules at offset %d refused, previous rules stay: %s", record.offset, exc)
            return
        self.ticketing.router = Router(rules)
        self.rules_source = f"{self.settings.topics.rules}@{record.offset}"
        self.metrics.rules_updates.labels("applied").inc()
        log.info("routing rules version %s applied from %s", rules.version, self.rules_source)

    # --- periodic: open-ticket index after a rebalance, backlog gauges ---------------------------------
    async def _ops_loop(self, every_s: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                alerts = self.refresh_ops(time.time())
                if alerts:
                    await (await self.sink.send(self.settings.topics.alerts, alerts))
                t = self.settings.topics
                inputs = {t.raw, t.actionable, t.ticket_events, t.commands}
                lag = await self.lag.measure({tp for tp in self._assigned_tps if tp[0] in inputs})
                self.metrics.consumer_lag.clear()
                for (topic, partition), (n, _) in lag.items():
                    self.metrics.consumer_lag.labels(topic, str(partition)).set(n)
                for tp, start, end in self._check_stall(lag, time.monotonic()):
                    await self._fill_stuck(tp, start, end)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep refreshing; a bug here must not stop the pipeline
                log.exception("ops refresh failed")

    def refresh_ops(self, now: float) -> list[OutRecord]:
        """Re-index after a rebalance, advance SLA clocks and spike buckets, refresh the backlog gauges.
        Returns the alerts to write."""
        held = frozenset(p for t, p in self._assigned_tps if t == self.settings.topics.actionable)
        if held != self._indexed and not self.is_recovering():
            n = self.ticketing.rebuild_index(held)
            self._rebuild_sla()
            self._indexed = held
            log.info("indexed %d open tickets of partitions %s", n, sorted(held))
        alerts = [self._sla_alert(tr) for tr in self.sla.advance(utc_from_epoch(now))]
        alerts += self._spike_alerts(self.spikes.tick(now))
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

    # --- stall detection ----------------------------------------------------------------------------------
    async def _fill_stuck(self, tp: tuple[str, int], start: int, end: int) -> None:
        """Input waits on a partition, nothing reaches the agent, and the records were never handed to us:
        the consumer counted them as read. Handle them with the separate reader."""
        handle = self._handlers.get(tp[0])
        if handle is None:
            return
        async with self._partition_locks[tp]:
            start = self.offsets.first_unhandled(tp, start)
            if start >= end:
                return
            await self._fill(Fill(start, end, "input waits and none of it reaches the agent"), tp, handle)
            self.offsets.filled(tp, end)
            self.stored_offsets.track(tp, end - 1)()
        self._committed_seen.pop(tp, None)

    def _check_stall(
        self, lag: dict[tuple[str, int], tuple[int, int]], now: float
    ) -> list[tuple[tuple[str, int], int, int]]:
        """A partition we hold with input waiting whose committed offset has not moved for ``stall_after_s``:
        say so (metric; /healthz 503 so a liveness probe restarts the worker; the consumer's state in the
        log). Per partition, because traffic on the others would hide one that is stuck. Returns the ranges
        (partition, start, end) that never reached the agent, to be handled with the separate reader."""
        stuck = {}
        unread = []
        sink_moving = self.sink.flushes != self._flushes_seen
        self._flushes_seen = self.sink.flushes
        for tp, (waiting, committed) in lag.items():
            seen = self._committed_seen.get(tp)
            # Records handed to a stage and not yet stored mean the partition waits on the sink (a worker
            # draining a backlog can queue its writes for many seconds): slow, not stuck, and a restart by
            # a liveness probe would only make it slower. A sink that stores nothing is caught below.
            busy = sink_moving and self.stored_offsets.in_flight(tp) > 0
            if waiting == 0 or seen is None or seen[0] != committed or busy:
                self._committed_seen[tp] = (committed, now)
            elif now - seen[1] >= self.settings.stall_after_s:
                stuck[f"{tp[0]}/{tp[1]}"] = waiting
                end = committed + waiting
                if self.offsets.first_unhandled(tp, committed) < end:  # waiting, never handed to us
                    unread.append((tp, committed, end))
        for tp in set(self._committed_seen) - set(lag):
            del self._committed_seen[tp]
        if stuck and not self.stalled:
            log.error(
                "pipeline stalled: input waiting %s, nothing committed for %.0fs; handled %s; stored %s; "
                "sink queue %d bytes after %d flushes; consumer: %s",
                stuck,
                self.settings.stall_after_s,
                self.offsets.handled,
                {tp: self.stored_offsets.stored(tp) for tp in self.offsets.handled},
                self.sink.queued_bytes,
                self.sink.flushes,
                self.consumer_state(),
            )
        elif self.stalled and not stuck:
            log.warning("pipeline moving again")
        self.stalled = bool(stuck)
        self.metrics.stalled.set(1 if self.stalled else 0)
        return unread

    # --- SLA and spikes ---------------------------------------------------------------------------------
    def _rebuild_sla(self) -> None:
        """SLA clocks follow from the open tickets' timestamps, so after a rebalance they are rebuilt."""
        self.sla = SlaTracker(self.sla_policy)
        for tid in list(self.ticketing.open):
            state = self.ticketing.load(tid)
            if state is None:
                continue
            self.sla.open(tid, state.queue, state.priority, utc_from_epoch(state.created_at))
            if state.first_response_at is not None:
                self.sla.first_response(tid, utc_from_epoch(state.first_response_at))

    def _track_sla(self, out: TicketingOutput) -> None:
        """Move the SLA clocks with the ticket changes; record what stopped (time to first response...)."""
        m = self.metrics
        for c in out.changes:
            t, tid = c.after, c.after.ticket_id
            if c.change in ("created", "new_episode", "updated", "escalated"):
                if c.change == "new_episode":
                    self.sla.forget(tid)
                self.sla.open(
                    tid, t.queue, t.priority, utc_from_epoch(t.created_at)
                )  # an upsert moves the deadlines
            elif c.change == "reopened":
                self.sla.reopened(tid, utc_from_epoch(t.updated_at))
            elif c.change == "reassigned":
                self.sla.reassigned(tid, t.queue)
            elif c.change == "first_response" and t.first_response_at is not None:
                measured = self.sla.first_response(tid, utc_from_epoch(t.first_response_at))
                if measured is not None:
                    m.time_to_first_response.labels(t.queue).observe(measured.wall_s)
                    if measured.within_sla:
                        m.first_responses_within_sla.labels(t.queue).inc()
            elif c.change == "resolved" and t.resolved_at is not None:
                measured = self.sla.resolved(tid, utc_from_epoch(t.resolved_at))
                if measured is not None:
                    m.time_to_resolution.labels(t.queue).observe(measured.wall_s)

    def _sla_alert(self, tr: SlaTransition) -> OutRecord:
        at_risk = tr.status == SlaStatus.AT_RISK
        counter = self.metrics.sla_at_risk if at_risk else self.metrics.sla_breaches
        counter.labels(tr.queue, tr.target.value).inc()
        alert = Alert(
            alert_id=tr.event_id,
            kind="sla_at_risk" if at_risk else "sla_breached",
            ticket_id=tr.ticket_id,
            queue=tr.queue,
            target="first_response" if tr.target.value == "first_response" else "resolution",
            detail=f"P{tr.priority} {tr.target.value} {'at risk' if at_risk else 'breached'}, "
            f"due {tr.due_at.isoformat()}",
            at=tr.at,
        )
        return OutRecord(alert.model_dump_json().encode(), key=tr.ticket_id.encode())

    def _spike_alerts(self, events: list[SpikeEvent]) -> list[OutRecord]:
        records = []
        for e in events:
            if e.state == "started":
                self.metrics.spike_alerts.labels(e.kind).inc()
            alert = Alert(
                alert_id=f"spike:{e.kind}:{e.key}:{int(e.at)}:{e.state}",
                kind="spike_started" if e.state == "started" else "spike_ended",
                key=e.key,
                detail=f"{e.kind} {e.key}: {e.volume} posts in {e.bucket_s:g}s vs {e.baseline:.1f} usual, "
                f"negative share {e.negative_share:.0%} (usually {e.baseline_negative_share:.0%})",
                at=utc_from_epoch(e.at),
            )
            records.append(OutRecord(alert.model_dump_json().encode(), key=f"{e.kind}:{e.key}".encode()))
        return records

    # --- driving the agents ----------------------------------------------------------------------------
    async def process_stream(
        self,
        stage: str,
        events: Any,
        handle: Callable[[bytes | None, str, int, int], Awaitable[Delivery]],
        max_in_flight: int = 256,
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
            tp = (msg.topic, msg.partition)
            async with self._partition_locks[tp]:
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

    async def _fill(
        self,
        fill: Fill,
        tp: tuple[str, int],
        handle: Callable[[bytes | None, str, int, int], Awaitable[Delivery]],
    ) -> None:
        """Handle records the consumer skipped, read with a separate reader, and wait until their outputs are
        stored. Their offsets are committed along with the record that revealed the gap."""
        log.warning("%s/%d: %s; handling offsets %d..%d first", *tp, fill.reason, fill.start, fill.end - 1)
        self.metrics.rereads.labels(tp[0]).inc()
        pending: list[Delivery] = []
        n = 0
        async for batch in read_range(self.settings, tp[0], tp[1], fill.start, fill.end):
            for record in batch:
                pending.append(await handle(record.value, tp[0], tp[1], record.offset))
            n += len(batch)
        await asyncio.gather(*pending)
        log.info("%s/%d: %d skipped records handled", *tp, n)

    async def _start_offset(self, tp: tuple[str, int]) -> int | None:
        """The group's committed offset of a partition (else its log start). Asked until the broker answers:
        without it, records skipped before the first one we see could be committed unseen."""
        delay = 0.5
        while True:
            try:
                return await self.lag.start_offset(*tp)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker hiccup: wait for it, the stream waits with us
                log.warning("could not look up the committed offset of %s/%d (%r); retrying", *tp, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # --- commits -----------------------------------------------------------------------------------------
    async def _commit_loop(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.commit_stored()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed commit is retried next time; the records are stored either way
                log.exception("commit failed")

    async def commit_stored(self, only: set[tuple[str, int]] | None = None) -> None:
        """Commit, per partition, up to the last record whose outputs (and every earlier one's) are stored."""
        offsets = self.stored_offsets.committable()
        if only is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp in only}
        if offsets and self.commit is not None and await self.commit(offsets):
            self.stored_offsets.committed(offsets)

    async def on_revoked(self, revoked: set[tuple[str, int]]) -> None:
        """Commit what is stored before the partitions go: their next owner starts there."""
        await self.forward.flush()  # merged frames waiting for their linger go now, not after the handover
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

    def _delivery(
        self,
        pending: list[asyncio.Future[None]],
        on_stored: Callable[[], None],
        then: list[tuple[str, list[OutRecord]]] | None = None,
    ) -> Delivery:
        """A future for "every output of this record is stored". ``then`` is written only after the others:
        a stored dedupe delta must imply stored forwards (or a crash in between would make the replayed
        posts look like duplicates of posts that never reached a ticket), and a stored ticket must imply the
        stored state it shows."""

        async def deliver() -> None:
            await asyncio.gather(*pending)
            if then:
                await asyncio.gather(*[await self.sink.send(topic, records) for topic, records in then])
            on_stored()

        return asyncio.ensure_future(deliver())

    # --- stage one --------------------------------------------------------------------------------------
    async def handle_raw(self, value: bytes | None, topic: str, partition: int, offset: int) -> Delivery:
        """Process one raw record and queue its outputs; the future completes once Kafka has stored them."""
        started = time.perf_counter()
        await self._ensure_restored(partition)
        now = time.time()
        items, out = self.triage.decode(value, topic, partition, offset, now)
        chunk = self.settings.score_chunk
        for i in range(0, len(items), chunk):
            if i:
                await asyncio.sleep(0)  # a huge frame must not starve the heartbeat and the web server
            self.triage.process(items[i : i + chunk], topic, partition, offset, now, out)
        topics = self.settings.topics
        pending: list[asyncio.Future[None]] = []
        if out.forward:
            pending.append(await self.forward.add(out.forward))
        if out.dead_letters:
            pending.append(await self.sink.send(topics.deadletter, out.dead_letters))
        if out.audit:
            audit = OutRecord(orjson.dumps(out.audit), partition=partition)
            pending.append(await self.sink.send(topics.audit, [audit]))
        spikes = self._spike_alerts(self.spikes.observe_batch(out.signals))
        if spikes:
            pending.append(await self.sink.send(topics.alerts, spikes))
        delta = OutRecord(encode_delta(out.new_keys, now), partition=partition) if out.new_keys else None
        return self._delivery(
            pending,
            lambda: self._count_triage(out, time.perf_counter() - started),
            then=[(topics.dedupe_changelog, [delta])] if delta is not None else [],
        )

    def _count_triage(self, out: TriageOutput, elapsed: float) -> None:
        m = self.metrics
        m.stage_records.labels("triage").inc()
        m.stage_posts.labels("triage").inc(out.posts_in)
        m.stage_seconds.labels("triage").observe(elapsed)
        m.posts_in.inc(out.posts_in)
        for outcome in (Outcome.FILTERED, Outcome.DUPLICATE, Outcome.DEAD_LETTER):
            if out.outcomes[outcome]:
                m.posts_out.labels(outcome.value).inc(out.outcomes[outcome])
        for kind, n in out.duplicate_kinds.items():
            m.duplicates.labels(kind).inc(n)
        for kind, n in out.dead_kinds.items():
            m.dead_letters.labels("triage", kind).inc(n)
        if out.misrouted:
            m.misrouted.inc(out.misrouted)
        m.dedupe_keys.set(sum(len(w) for w in self.triage.windows.values()))
        m.dedupe_bytes.set(sum(w.nbytes for w in self.triage.windows.values()))

    # --- stage two --------------------------------------------------------------------------------------
    async def handle_ticketing(
        self, value: bytes | None, topic: str, partition: int, offset: int
    ) -> Delivery:
        """One record of the route stage: a frame of actionable posts, a lifecycle event or an ops command;
        queue the tickets it changed. See :meth:`handle_raw`."""
        started = time.perf_counter()
        topics = self.settings.topics
        now = time.time()
        if topic == topics.ticket_events:
            out = self.ticketing.process_event(value, topic, partition, offset, now)
        elif topic == topics.commands:
            out = self.ticketing.process_command(value, topic, partition, offset, now)
        else:
            out = self.ticketing.process(value, topic, partition, offset, now)
        self._track_sla(out)
        pending: list[asyncio.Future[None]] = []
        changelog = self.ticket_store.drain()
        if self.changelog_topic is not None and changelog:
            pending.append(await self.sink.send(self.changelog_topic, changelog))
        then = [(topics.tickets, out.tickets)] if out.tickets else []
        if out.dead_letters:
            pending.append(await self.sink.send(topics.deadletter, out.dead_letters))
        if out.audit:
            audit = OutRecord(orjson.dumps(out.audit), partition=partition)
            pending.append(await self.sink.send(topics.audit, [audit]))
        # Tickets after the state they show is stored: a replay after a crash then finds that state and
        # re-emits the very same ticket instead of recomputing one.
        return self._delivery(
            pending, lambda: self._count_route(out, time.perf_counter() - started), then=then
        )

    def _count_route(self, out: TicketingOutput, elapsed: float) -> None:
        written = time.time()
        m = self.metrics
        m.stage_records.labels("route").inc()
        m.stage_posts.labels("route").inc(out.posts + out.dead_posts)
        m.stage_seconds.labels("route").observe(elapsed)
        if out.posts:
            m.posts_out.labels(Outcome.TICKET.value).inc(out.posts)
        if out.dead_posts:
            m.posts_out.labels(Outcome.DEAD_LETTER.value).inc(out.dead_posts)
        for kind, n in out.dead_kinds.items():
            m.dead_letters.labels("route", kind).inc(n)
        for key, n in out.events.items():
            kind, result = key.split("/", 1)
            m.ticket_events.labels(kind, result).inc(n)
        # counted per record, not per change: a labels() lookup costs about as much as the increment
        per_queue: collections.Counter[tuple[str, int]] = collections.Counter()
        per_change: collections.Counter[tuple[Any, str]] = collections.Counter()
        lifecycle = {
            "resolved": m.resolved,
            "reopened": m.reopened,
            "escalated": m.escalated,
            "reassigned": m.reassigned,
        }
        latency: dict[str, Any] = {}  # a platform's histogram child, looked up once per record
        for c in out.changes:
            t = c.after
            per_queue[(t.queue, t.priority)] += 1
            if c.ingested_at is not None:
                child = latency.get(c.platform)
                if child is None:
                    child = latency[c.platform] = m.ingest_to_ticket.labels(c.platform)
                child.observe(max(0.0, written - c.ingested_at))
            if c.change in ("created", "new_episode"):
                per_change[(m.created, t.queue)] += 1
            elif c.change == "first_response" and c.before is not None and c.before.first_response_at is None:
                per_change[(m.first_responded, t.queue)] += 1
            elif c.change in lifecycle:
                per_change[(lifecycle[c.change], t.queue)] += 1
        for (queue, priority), n in per_queue.items():
            m.tickets.labels(queue, str(priority)).inc(n)
        for (counter, queue), n in per_change.items():
            counter.labels(queue).inc(n)
