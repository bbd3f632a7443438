"""The I/O side of the two stages: read a record, run the pure stage, write its outputs, count.

Outputs are awaited (stored by Kafka) before the agent moves on, and Faust commits an offset only after
that: at-least-once. Ticket ids are deterministic, so a replay rewrites the same tickets.
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

from classifiers import TextScorer, load_scorer
from schemas.events import Outcome
from stream.dedupe import encode_delta
from stream.dedupe_state import restore_windows
from stream.metrics import Metrics
from stream.routing import Router, load_rules
from stream.settings import Settings
from stream.sink import BatchSink, OutRecord
from stream.ticketing import TicketingOutput, TicketingStage
from stream.triage import TriageOutput, TriageStage

__all__ = ["Delivery", "PipelineRuntime"]

Delivery = asyncio.Future[None]

log = logging.getLogger(__name__)


class PipelineRuntime:
    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, scorer: TextScorer | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.scorer = scorer or load_scorer(settings.model_dir)
        self.router = Router(load_rules(settings.rules_path))
        self.triage = TriageStage(settings, self.scorer)
        self.ticketing = TicketingStage(self.router)
        self.sink = BatchSink(settings, client_id=f"{settings.app_id}-sink")
        self.ready = asyncio.Event()
        self._restored: set[int] = set()
        self._assigned: set[int] = set()  # raw-topic partitions of the current assignment

    async def start(self) -> None:
        await self.sink.start()
        self.ready.set()
        log.info(
            "pipeline runtime started (scorer %s, %d routing rules)",
            self.scorer.version,
            len(self.router.rules.rules),
        )

    async def stop(self) -> None:
        self.ready.clear()
        await self.sink.stop()

    def on_assignment(self, assigned: set[tuple[str, int]]) -> None:
        """Forget windows of partitions this worker lost or newly got: a new owner restores from the log."""
        topics = self.settings.topics
        for topic in (topics.raw, topics.actionable):
            self.metrics.assigned_partitions.labels(topic).set(sum(1 for t, _ in assigned if t == topic))
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

    async def process_stream(
        self,
        stage: str,
        events: Any,
        handle: Callable[[bytes | None, str, int, int], Awaitable[Delivery]],
        max_in_flight: int = 256,
    ) -> None:
        """Drive an agent's stream: records are processed in order, outputs are written pipelined, and each
        input is acknowledged (so its offset may be committed) only once its outputs are stored.

        Awaiting each frame's outputs before the next would put a broker round trip (linger + acks=all) on
        every record: fine for 1000-post frames, ruinous for the small frames a quiet stream makes.
        """
        in_flight: collections.deque[Delivery] = collections.deque()
        async for event in events:
            msg = event.message
            if msg.timestamp:
                self.metrics.record_age.labels(stage).observe(
                    max(0.0, time.time() - msg.timestamp)
                )  # seconds
            delivery = await handle(msg.value, msg.topic, msg.partition, msg.offset)
            delivery.add_done_callback(functools.partial(self._ack_when_stored, event))
            in_flight.append(delivery)
            while in_flight and in_flight[0].done():
                in_flight.popleft().result()  # re-raises a failed write: crash, restart, replay uncommitted
            if len(in_flight) >= max_in_flight:
                await in_flight[0]

    @staticmethod
    def _ack_when_stored(event: Any, delivery: Delivery) -> None:
        if not delivery.cancelled() and delivery.exception() is None:
            event.ack()

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
            pending.append(await self.sink.send(topics.actionable, out.forward))
        if out.dead_letters:
            pending.append(await self.sink.send(topics.deadletter, out.dead_letters))
        if out.audit:
            audit = OutRecord(orjson.dumps(out.audit), partition=partition)
            pending.append(await self.sink.send(topics.audit, [audit]))
        if out.new_keys:
            delta = OutRecord(encode_delta(out.new_keys, now), partition=partition)
            pending.append(await self.sink.send(topics.dedupe_changelog, [delta]))
        return self._delivery(pending, lambda: self._count_triage(out, time.perf_counter() - started))

    def _delivery(self, pending: list[asyncio.Future[None]], on_stored: Callable[[], None]) -> Delivery:
        async def deliver() -> None:
            await asyncio.gather(*pending)
            on_stored()

        return asyncio.ensure_future(deliver())

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

    async def handle_actionable(
        self, value: bytes | None, topic: str, partition: int, offset: int
    ) -> Delivery:
        """Route one frame of actionable posts and queue the tickets; see :meth:`handle_raw`."""
        started = time.perf_counter()
        out = self.ticketing.process(value, topic, partition, offset, time.time())
        topics = self.settings.topics
        pending: list[asyncio.Future[None]] = []
        if out.tickets:
            pending.append(await self.sink.send(topics.tickets, out.tickets))
        if out.dead_letters:
            pending.append(await self.sink.send(topics.deadletter, out.dead_letters))
        if out.audit:
            audit = OutRecord(orjson.dumps(out.audit), partition=partition)
            pending.append(await self.sink.send(topics.audit, [audit]))
        return self._delivery(pending, lambda: self._count_route(out, time.perf_counter() - started))

    def _count_route(self, out: TicketingOutput, elapsed: float) -> None:
        written = time.time()
        m = self.metrics
        m.stage_records.labels("route").inc()
        m.stage_posts.labels("route").inc(out.posts)
        m.stage_seconds.labels("route").observe(elapsed)
        if out.emitted:
            m.posts_out.labels(Outcome.TICKET.value).inc(len(out.emitted))
        if out.dead_letters:
            m.posts_out.labels(Outcome.DEAD_LETTER.value).inc(len(out.dead_letters))
        for kind, n in out.dead_kinds.items():
            m.dead_letters.labels("route", kind).inc(n)
        for t in out.emitted:
            m.tickets.labels(t.queue, str(t.priority)).inc()
            m.ingest_to_ticket.labels(t.platform).observe(max(0.0, written - t.ingested_at))
