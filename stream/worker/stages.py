"""The I/O side of the two stages: run the pure stage on one record, queue its outputs, count.

Each handler returns a future for "every output of this record is stored", which the record driver waits
on before the record's offset may be committed (at-least-once). Ticket ids are deterministic and lifecycle
events carry ids, so a replay rewrites the same tickets.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from schemas.events import Outcome, audit_decision
from schemas.timestamps import iso_utc_from_epoch
from stream.kafka.batch_sink import BatchSink
from stream.kafka.deadletter import dead_letter, reason_kind
from stream.kafka.frame_merger import FrameMerger
from stream.kafka.records import OutRecord
from stream.ops.alerts import spike_alert
from stream.ops.spikes import SpikeDetector, SpikeEvent
from stream.pipeline.dedupe import encode_delta
from stream.pipeline.triage import TriageOutput, TriageStage
from stream.settings import TopicNames
from stream.state.changelog_store import ChangelogBatch, ChangelogStore
from stream.tickets.stage import TicketingOutput, TicketingStage
from stream.worker.driver import Delivery
from stream.worker.metrics import Metrics
from stream.worker.sla_monitor import SlaMonitor

__all__ = ["RouteHandler", "TriageHandler", "deliver", "spike_alerts"]

log = logging.getLogger(__name__)


def deliver(
    sink: BatchSink,
    pending: list[asyncio.Future[None]],
    on_stored: Callable[[], None],
    then: list[tuple[str, list[OutRecord]]] | None = None,
) -> Delivery:
    """A future for "every output of this record is stored". ``then`` is written only after the others:
    a stored dedupe delta must imply stored forwards (or a crash in between would make the replayed posts
    look like duplicates of posts that never reached a ticket), and a stored ticket must imply the stored
    state it shows."""

    async def run() -> None:
        await asyncio.gather(*pending)
        if then:
            await asyncio.gather(*[await sink.send(topic, records) for topic, records in then])
        on_stored()

    return asyncio.ensure_future(run())


def spike_alerts(events: list[SpikeEvent], metrics: Metrics) -> list[OutRecord]:
    for e in events:
        if e.state == "started":
            metrics.spike_alerts.labels(e.kind).inc()
    return [spike_alert(e) for e in events]


class TriageHandler:
    """Stage one: a raw frame in; forwards, dead letters, audit, spike alerts and the dedupe delta out."""

    def __init__(
        self,
        stage: TriageStage,
        *,
        sink: BatchSink,
        forward: FrameMerger,
        spikes: SpikeDetector,
        metrics: Metrics,
        topics: TopicNames,
        score_chunk: int,
        ensure_restored: Callable[[int], Awaitable[None]],
    ) -> None:
        self.stage = stage
        self.sink = sink
        self.forward = forward
        self.spikes = spikes
        self.metrics = metrics
        self.topics = topics
        self.score_chunk = score_chunk
        self.ensure_restored = ensure_restored  # the partition's dedupe window, before its first frame

    async def __call__(self, value: bytes | None, topic: str, partition: int, offset: int) -> Delivery:
        started = time.perf_counter()
        await self.ensure_restored(partition)
        now = time.time()
        items, out = self.stage.decode(value, topic, partition, offset, now)
        chunk = self.score_chunk
        for i in range(0, len(items), chunk):
            if i:
                await asyncio.sleep(0)  # a huge frame must not starve the heartbeat and the web server
            self.stage.process_safely(items[i : i + chunk], topic, partition, offset, now, out)
        topics = self.topics
        pending: list[asyncio.Future[None]] = []
        if out.forward:
            pending.append(await self.forward.add(out.forward))
        if out.dead_letters:
            pending.append(await self.sink.send(topics.deadletter, out.dead_letters))
        if out.audit:
            audit = OutRecord(orjson.dumps(out.audit), partition=partition)
            pending.append(await self.sink.send(topics.audit, [audit]))
        spikes = spike_alerts(self.spikes.observe_batch(out.signals), self.metrics)
        if spikes:
            pending.append(await self.sink.send(topics.alerts, spikes))
        delta = OutRecord(encode_delta(out.new_keys, now), partition=partition) if out.new_keys else None
        return deliver(
            self.sink,
            pending,
            lambda: self._count(out, time.perf_counter() - started),
            then=[(topics.dedupe_changelog, [delta])] if delta is not None else [],
        )

    def _count(self, out: TriageOutput, elapsed: float) -> None:
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
        windows = self.stage.windows.values()
        m.dedupe_keys.set(sum(len(w) for w in windows))
        m.dedupe_bytes.set(sum(w.nbytes for w in windows))


class RouteHandler:
    """Stage two: a frame of actionable posts, a lifecycle event or an ops command in; the ticket states'
    changelog, tickets, dead letters and audit out."""

    def __init__(
        self,
        stage: TicketingStage,
        *,
        store: ChangelogStore,
        changelog_topic: str,
        state_ready: Callable[[int], Awaitable[None]],
        sla: SlaMonitor,
        sink: BatchSink,
        metrics: Metrics,
        topics: TopicNames,
    ) -> None:
        self.stage = stage
        self.store = store
        self.changelog_topic = changelog_topic
        self.state_ready = state_ready  # the partition's ticket state restored to its changelog's end
        self.sla = sla
        self.sink = sink
        self.metrics = metrics
        self.topics = topics
        self._changelog_order = asyncio.Lock()

    async def __call__(self, value: bytes | None, topic: str, partition: int, offset: int) -> Delivery:
        await self.state_ready(partition)
        started = time.perf_counter()
        topics = self.topics
        now = time.time()
        try:
            if topic == topics.ticket_events:
                out = self.stage.process_event(value, topic, partition, offset, now)
            elif topic == topics.commands:
                out = self.stage.process_command(value, topic, partition, offset, now)
            else:
                out = self.stage.process(value, topic, partition, offset, now)
        except (
            Exception
        ) as exc:  # the last net: a record that breaks the stage is a dead letter, never a crash
            log.exception("route stage failed on %s/%d@%d; dead-lettered", topic, partition, offset)
            out = self._failed(value, topic, partition, offset, now, exc)
        return await self._publish(out, partition, started)

    def _failed(
        self, value: bytes | None, topic: str, partition: int, offset: int, now: float, exc: Exception
    ) -> TicketingOutput:
        """A record the stage raised on: one dead letter with the reason; a frame's posts count as dead
        letters, so the books still balance (each post that entered has an outcome)."""
        reason = f"internal error in the route stage: {type(exc).__name__}: {exc}"[:500]
        out = TicketingOutput()
        out.dead_letters.append(dead_letter(value or b"", reason, "route", topic, partition, offset, now))
        out.dead_kinds[reason_kind(reason)] += 1
        out.audit.append(audit_decision("route", "?", Outcome.DEAD_LETTER, reason, iso_utc_from_epoch(now)))
        if topic == self.topics.actionable:
            try:
                items = orjson.loads(value or b"")
                posts = [i for i in items if not (isinstance(i, dict) and "brand_reply" in i)]
                out.dead_posts += len(posts) if isinstance(items, list) else 1
            except (orjson.JSONDecodeError, TypeError):
                out.dead_posts += 1
        else:
            out.events["record/internal_error"] += 1
        return out

    async def sweep(self, now: float, max_items: int = 1000) -> int:
        """Expire idle open tickets and forget closed ones past their reopen window, in bounded slices
        (``TicketingStage.sweep``), writing what changed like any input's outputs. Returns the changes."""
        changed = 0
        while True:
            started = time.perf_counter()
            out = self.stage.sweep(now, max_items=max_items)
            if out.changes or out.evicted or out.tickets:
                changed += len(out.changes) + out.evicted
                await (await self._publish(out, None, started))
            if not out.more_due:
                return changed
            await asyncio.sleep(0)

    async def _publish(self, out: TicketingOutput, partition: int | None, started: float) -> Delivery:
        """Queue what one step of the route stage changed: the states' changelog first, the tickets once
        it is stored, dead letters and audit alongside."""
        topics = self.topics
        self.sla.track(out)
        pending: list[asyncio.Future[None]] = []
        # Drains are enqueued in the order they were taken, so each key's changelog records keep the order
        # of its writes even when the upkeep's sweep and the agent interleave.
        async with self._changelog_order:
            changelog = self.store.drain()
            if changelog.records:
                offsets: dict[int, int] = {}
                written = await self.sink.send(self.changelog_topic, changelog.records, offsets=offsets)
                written.add_done_callback(functools.partial(self._stored, changelog, offsets))
                pending.append(written)
        then = [(topics.tickets, out.tickets)] if out.tickets else []
        if out.dead_letters:
            pending.append(await self.sink.send(topics.deadletter, out.dead_letters))
        if out.audit:
            audit = OutRecord(orjson.dumps(out.audit), partition=partition)
            pending.append(await self.sink.send(topics.audit, [audit]))
        # Tickets after the state they show is stored: a replay after a crash then finds that state and
        # re-emits the very same ticket instead of recomputing one.
        return deliver(self.sink, pending, lambda: self._count(out, time.perf_counter() - started), then=then)

    def _stored(self, changelog: ChangelogBatch, offsets: dict[int, int], written: Delivery) -> None:
        """Kafka stored the states: now they may reach the local stores, with the offsets they got."""
        if not written.cancelled() and written.exception() is None:
            self.store.stored(changelog, offsets)

    def _count(self, out: TicketingOutput, elapsed: float) -> None:
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
        for queue, n in out.expired.items():
            m.expired.labels(queue).inc(n)
        if out.evicted:
            m.states_evicted.inc(out.evicted)
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
